"""Mirror a model across a plane, e.g. the mid-sagittal plane to rebuild a side from the other."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.processing.mesh_edit import with_arrays

#: The normal of a mid-sagittal plane in LPS (left-right).
SAGITTAL_NORMAL_LPS = (1.0, 0.0, 0.0)


def unit_normal(normal_lps: Sequence[float], what: str = "plane normal") -> np.ndarray:
    """``normal_lps`` scaled to length 1 (MeshToolError for a zero or non-finite vector)."""
    try:
        vector = np.asarray(normal_lps, dtype=np.float64).reshape(3)
    except (TypeError, ValueError):
        raise MeshToolError(f"A {what} needs three numbers.") from None
    length = float(np.linalg.norm(vector))
    if not np.isfinite(length) or length == 0:
        raise MeshToolError(f"A {what} must be a non-zero vector of finite numbers.")
    return vector / length


def point3(point_lps: Sequence[float], what: str = "plane point") -> np.ndarray:
    """``point_lps`` as a float array of three finite numbers (else MeshToolError)."""
    try:
        point = np.asarray(point_lps, dtype=np.float64).reshape(3)
    except (TypeError, ValueError):
        raise MeshToolError(f"A {what} needs three numbers.") from None
    if not np.isfinite(point).all():
        raise MeshToolError(f"A {what} must be finite numbers.")
    return point


def mirror_matrix(point_lps: Sequence[float], normal_lps: Sequence[float]) -> np.ndarray:
    """The 4x4 reflection across the plane through ``point_lps`` with normal ``normal_lps``."""
    normal = unit_normal(normal_lps)
    point = point3(point_lps)
    matrix = np.eye(4)
    matrix[:3, :3] = np.eye(3) - 2.0 * np.outer(normal, normal)
    matrix[:3, 3] = 2.0 * float(point @ normal) * normal
    return matrix


def mirror_mesh(
    mesh: Mesh, point_lps: Sequence[float], normal_lps: Sequence[float], name: str | None = None
) -> Mesh:
    """``mesh`` reflected across the plane; triangles re-wound so normals still point outwards."""
    normal = unit_normal(normal_lps)
    point = point3(point_lps)
    distances = (mesh.vertices - point) @ normal
    vertices = mesh.vertices - 2.0 * distances[:, None] * normal
    faces = mesh.faces[:, [0, 2, 1]]
    mirrored = with_arrays(mesh, vertices, faces, [])
    mirrored.name = name or f"{mesh.name} mirrored"
    return mirrored
