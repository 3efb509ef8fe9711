"""gui layer of the workstation."""
