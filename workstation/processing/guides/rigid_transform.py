"""Rigid transforms of models (rotation + translation only), checked, built and applied exactly."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.processing.mesh_edit import with_arrays

#: How far from orthonormal (and from determinant +1, last row 0 0 0 1) a matrix may be.
RIGID_TOLERANCE = 1e-6

#: Named rotation axes in LPS: left, posterior, superior (and x, y, z for the same).
AXES = {
    "L": (1.0, 0.0, 0.0),
    "P": (0.0, 1.0, 0.0),
    "S": (0.0, 0.0, 1.0),
    "X": (1.0, 0.0, 0.0),
    "Y": (0.0, 1.0, 0.0),
    "Z": (0.0, 0.0, 1.0),
}


def rigid_matrix(matrix: object, tolerance: float = RIGID_TOLERANCE) -> np.ndarray:
    """``matrix`` as a 4x4 float array if it is rotation + translation; else MeshToolError why."""
    try:
        array = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise MeshToolError("The transform must be a 4x4 matrix of numbers.") from None
    if array.shape != (4, 4):
        raise MeshToolError(f"The transform must be a 4x4 matrix, not {array.shape}.")
    if not np.isfinite(array).all():
        raise MeshToolError("The transform holds values that are not finite numbers.")
    if np.abs(array[3] - (0.0, 0.0, 0.0, 1.0)).max() > tolerance:
        raise MeshToolError("The transform's last row must be 0 0 0 1 (no projection).")
    rotation = array[:3, :3]
    error = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
    if error > tolerance:
        raise MeshToolError(
            "The transform is not rigid: its 3x3 part is not orthonormal "
            f"(scaling or shear, off by {error:.3g}); only rotation and translation are allowed."
        )
    if np.linalg.det(rotation) < 0:
        raise MeshToolError(
            "The transform is not rigid: it mirrors (determinant -1); use the mirror tool."
        )
    return array


def translation_matrix(offset_lps: Sequence[float]) -> np.ndarray:
    """The 4x4 matrix moving points by ``offset_lps`` mm."""
    matrix = np.eye(4)
    matrix[:3, 3] = np.asarray(offset_lps, dtype=np.float64).reshape(3)
    return matrix


def axis_vector(axis: str | Sequence[float]) -> np.ndarray:
    """Unit vector of a named axis (L, P, S or x, y, z; a leading '-' reverses) or of a vector."""
    if isinstance(axis, str):
        name = axis.strip().upper()
        sign = -1.0 if name.startswith("-") else 1.0
        name = name.lstrip("+-")
        if name not in AXES:
            raise MeshToolError(f"Unknown axis '{axis}'; use L, P, S (or x, y, z) or a vector.")
        return sign * np.asarray(AXES[name])
    vector = np.asarray(axis, dtype=np.float64).reshape(3)
    length = float(np.linalg.norm(vector))
    if not np.isfinite(length) or length == 0:
        raise MeshToolError("A rotation axis must be a non-zero vector.")
    return vector / length


def rotation_matrix(
    axis: str | Sequence[float], angle_deg: float, about_lps: Sequence[float] | None = None
) -> np.ndarray:
    """The 4x4 matrix rotating by ``angle_deg`` (right hand) about ``axis`` through a point."""
    unit = axis_vector(axis)
    angle = np.radians(float(angle_deg))
    cross = np.array([[0.0, -unit[2], unit[1]], [unit[2], 0.0, -unit[0]], [-unit[1], unit[0], 0.0]])
    rotation = np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * (cross @ cross)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    if about_lps is not None:
        centre = np.asarray(about_lps, dtype=np.float64).reshape(3)
        matrix[:3, 3] = centre - rotation @ centre
    return matrix


def compose(*matrices: np.ndarray) -> np.ndarray:
    """The matrix applying ``matrices`` in the order given (the first one first)."""
    result = np.eye(4)
    for matrix in matrices:
        result = np.asarray(matrix, dtype=np.float64) @ result
    return result


def transform_mesh(mesh: Mesh, matrix: object) -> Mesh:
    """``mesh`` moved by a rigid ``matrix`` (checked; winding kept, so normals stay outward)."""
    rigid = rigid_matrix(matrix)
    vertices = mesh.vertices @ rigid[:3, :3].T + rigid[:3, 3]
    return with_arrays(mesh, vertices, mesh.faces.copy(), [])
