"""processing layer of the workstation."""
