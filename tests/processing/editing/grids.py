"""Test grids for the editing tools: axial, double-oblique and tilted affines, voxel centres."""

from __future__ import annotations

import numpy as np

from tests.processing.spheres import rotation


def axial_affine(spacing=(1.5, 0.6, 0.7), origin=(-3.0, -4.0, 5.0)) -> np.ndarray:
    """Axial grid: slices along +z, rows along +y, columns along +x (spacing slice, row, col)."""
    affine = np.eye(4)
    affine[:3, 0] = (0.0, 0.0, spacing[0])
    affine[:3, 1] = (0.0, spacing[1], 0.0)
    affine[:3, 2] = (spacing[2], 0.0, 0.0)
    affine[:3, 3] = origin
    return affine


def double_oblique_affine() -> np.ndarray:
    """The axial grid rotated 30 degrees about z after 20 degrees about x."""
    affine = axial_affine()
    affine[:3, :3] = rotation("z", 30.0) @ rotation("x", 20.0) @ affine[:3, :3]
    return affine


def tilted_affine(tilt_degrees: float = 15.0) -> np.ndarray:
    """The axial grid with gantry tilt: the slice step leans towards the row direction."""
    affine = axial_affine()
    affine[1, 0] = affine[2, 0] * np.tan(np.radians(tilt_degrees))
    return affine


GRIDS = {
    "axial": axial_affine(),
    "double-oblique": double_oblique_affine(),
    "tilted": tilted_affine(),
}


def voxel_centres(shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    """LPS centres of every voxel, shaped ``shape + (3,)``, computed point by point."""
    index = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1)
    flat = index.reshape(-1, 3).astype(np.float64)
    points = np.array([affine[:3, :3] @ p + affine[:3, 3] for p in flat])
    return points.reshape(*shape, 3)


def grid_centre(shape: tuple[int, int, int], affine: np.ndarray) -> np.ndarray:
    """LPS point at the middle of the grid."""
    middle = (np.asarray(shape, dtype=np.float64) - 1) / 2
    return affine[:3, :3] @ middle + affine[:3, 3]
