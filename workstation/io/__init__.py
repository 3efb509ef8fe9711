"""Input/output: DICOM reading and mesh export, on top of the core types."""
