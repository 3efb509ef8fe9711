"""cli layer of the workstation."""
