"""services layer of the workstation."""
