"""Qt-free core types: volumes, label maps, meshes, geometry, errors, progress.

Depends on numpy and the standard library only.
"""
