"""Surgical planning workstation: DICOM to geometrically exact, printable 3D models."""

__version__ = "0.1.0"
