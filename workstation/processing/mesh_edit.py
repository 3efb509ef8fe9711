"""Deriving a changed mesh: new arrays or a subset of its triangles, keeping its metadata."""

from __future__ import annotations

import numpy as np

from workstation.core.mesh import Mesh
from workstation.processing.decimation import own_vertices


def with_arrays(mesh: Mesh, vertices: np.ndarray, faces: np.ndarray, report: list[str]) -> Mesh:
    """``mesh`` with new ``vertices`` and ``faces``: same name and colour, ``report`` appended."""
    return Mesh(vertices, faces, name=mesh.name, color=mesh.color, report=[*mesh.report, *report])


def keep_faces(mesh: Mesh, keep: np.ndarray, report: list[str] | None = None) -> Mesh:
    """The mesh of the triangles where ``keep`` is True, without the points they leave unused."""
    vertices, faces = own_vertices(mesh.vertices, mesh.faces[keep])
    return with_arrays(mesh, vertices, faces, report or [])
