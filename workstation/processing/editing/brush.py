"""Brush dabs: the voxels a sphere or disc brush paints, computed on the dab's box only."""

from __future__ import annotations

import numpy as np

from workstation.core import geometry
from workstation.processing.regions import Region, foreground_region
from workstation.processing.roi_statistics import step_along

#: The brush shapes: a ball, or a ball cut to the one voxel plane through its centre.
BRUSH_KINDS = ("sphere", "disc")

#: Relative tolerance on the comparisons, so voxels exactly on the brush's edge are painted.
RELATIVE_TOLERANCE = 1e-9


def brush_block(
    shape: tuple[int, int, int],
    affine: np.ndarray,
    center_lps: np.ndarray,
    radius_mm: float,
    kind: str = "sphere",
    normal_lps: np.ndarray | None = None,
) -> tuple[Region, np.ndarray] | None:
    """The voxels one brush dab paints, as (tight region, boolean block), or None if none.

    A voxel is painted when its centre (through ``affine``) lies within ``radius_mm`` of
    ``center_lps``: distance² <= radius² x (1 + 1e-9).  A "disc" also needs the centre
    within half the grid step along ``normal_lps`` (default: the image planes' normal) of
    the plane through ``center_lps`` with that normal, |offset . normal| <= step/2 x
    (1 + 1e-9): a disc one voxel plane thick.  Only the ball's index box is computed.
    """
    if kind not in BRUSH_KINDS:
        raise ValueError(f"unknown brush {kind!r}; choose one of: {', '.join(BRUSH_KINDS)}")
    if not np.isfinite(radius_mm) or radius_mm <= 0:
        raise ValueError(f"the brush radius must be a positive number of mm, got {radius_mm}")
    matrix = np.asarray(affine, dtype=np.float64)
    linear = matrix[:3, :3]
    centre = np.asarray(center_lps, dtype=np.float64).reshape(3)
    if not np.all(np.isfinite(centre)):
        raise ValueError("the brush centre must be a finite LPS point")
    start, stop = _ball_index_box(shape, matrix, centre, radius_mm)
    if np.any(stop <= start):
        return None
    axes = [np.arange(a, b, dtype=np.float64) for a, b in zip(start, stop, strict=True)]
    s, r, c = axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]
    offset = matrix[:3, 3] - centre
    delta = [linear[k, 0] * s + linear[k, 1] * r + linear[k, 2] * c + offset[k] for k in range(3)]
    painted = delta[0] ** 2 + delta[1] ** 2 + delta[2] ** 2 <= radius_mm**2 * (
        1 + RELATIVE_TOLERANCE
    )
    if kind == "disc":
        normal = _unit_normal(matrix, normal_lps)
        half_step = step_along(matrix, normal) / 2.0
        height = normal[0] * delta[0] + normal[1] * delta[1] + normal[2] * delta[2]
        painted &= np.abs(height) <= half_step * (1 + RELATIVE_TOLERANCE)
    tight = foreground_region(painted)
    if tight is None:
        return None
    region = tuple(
        slice(int(first) + part.start, int(first) + part.stop)
        for first, part in zip(start, tight, strict=True)
    )
    return region, painted[tight]  # type: ignore[return-value]


def _ball_index_box(
    shape: tuple[int, ...], matrix: np.ndarray, centre: np.ndarray, radius_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Index range [start, stop) per axis holding every voxel centre of the ball, clipped."""
    linear = matrix[:3, :3]
    inverse_metric = np.linalg.inv(linear.T @ linear)
    extent = radius_mm * np.sqrt(np.diag(inverse_metric)) * (1 + RELATIVE_TOLERANCE) + 1e-9
    centre_index = geometry.lps_to_index(matrix, centre)[0]
    start = np.maximum(np.ceil(centre_index - extent), 0).astype(int)
    stop = np.minimum(np.floor(centre_index + extent) + 1, np.asarray(shape[:3])).astype(int)
    return start, stop


def _unit_normal(matrix: np.ndarray, normal_lps: np.ndarray | None) -> np.ndarray:
    """The disc's unit normal: ``normal_lps`` normalised, or the image planes' normal."""
    if normal_lps is None:
        return geometry.slice_normal(matrix)
    normal = np.asarray(normal_lps, dtype=np.float64).reshape(3)
    length = float(np.linalg.norm(normal))
    if not np.isfinite(length) or length < 1e-12:
        raise ValueError("the disc normal must be a non-zero direction")
    return normal / length
