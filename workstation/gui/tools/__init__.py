"""Interaction tools of the slice and 3D views, one module per tool, in a registry."""
