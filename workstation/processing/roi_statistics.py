"""Measurements on a volume: distances, angles and value statistics inside a plane ROI.

Everything works in patient LPS millimetres.  An ROI is a rectangle or an ellipse drawn
on a plane (given by a point and two orthonormal in-plane axes); the voxels counted are
those whose nearest-neighbour sample points, on a grid aligned with the voxel centres,
fall inside the shape.  No Qt, no VTK.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core import geometry

ROI_SHAPES = ("rectangle", "ellipse")


@dataclass(frozen=True)
class RoiStatistics:
    """Value statistics of the samples inside an ROI; ``area_mm2`` = count x pixel area."""

    count: int
    mean: float
    std: float
    minimum: float
    maximum: float
    area_mm2: float

    def text(self, units: str = "") -> str:
        """One line for the user, e.g. 'mean 41.2 ± 3.0 HU, min 30, max 55, area 120.5 mm²'."""
        if not self.count:
            return "ROI outside the volume"
        unit = f" {units}" if units else ""
        return (
            f"mean {self.mean:.1f} ± {self.std:.1f}{unit}, min {self.minimum:.6g}, "
            f"max {self.maximum:.6g}, area {self.area_mm2:.1f} mm²"
        )


def distance_mm(point_a: np.ndarray, point_b: np.ndarray) -> float:
    """Euclidean distance between two LPS points in mm."""
    return float(np.linalg.norm(np.asarray(point_b, float) - np.asarray(point_a, float)))


def angle_degrees(point_a: np.ndarray, vertex: np.ndarray, point_b: np.ndarray) -> float:
    """Angle A-vertex-B in degrees (0..180); ValueError when an arm has zero length."""
    arm_a = np.asarray(point_a, float) - np.asarray(vertex, float)
    arm_b = np.asarray(point_b, float) - np.asarray(vertex, float)
    norms = np.linalg.norm(arm_a) * np.linalg.norm(arm_b)
    if norms < 1e-12:
        raise ValueError("an angle needs three distinct points")
    cosine = float(np.dot(arm_a, arm_b) / norms)
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def step_along(affine: np.ndarray, direction: np.ndarray) -> float:
    """Grid step in mm along a unit LPS direction: moving it changes some index by one."""
    inverse = np.linalg.inv(np.asarray(affine, float)[:3, :3])
    per_mm = np.abs(inverse @ np.asarray(direction, float))
    return float(1.0 / per_mm.max())


def region_statistics(
    values: np.ndarray, inside: np.ndarray, pixel_area_mm2: float
) -> RoiStatistics:
    """Statistics of ``values[inside]`` (NaN samples ignored) with the area they cover."""
    selected = np.asarray(values, dtype=np.float64)[np.asarray(inside, bool)]
    selected = selected[np.isfinite(selected)]
    if not selected.size:
        return RoiStatistics(0, float("nan"), float("nan"), float("nan"), float("nan"), 0.0)
    return RoiStatistics(
        count=int(selected.size),
        mean=float(selected.mean()),
        std=float(selected.std()),
        minimum=float(selected.min()),
        maximum=float(selected.max()),
        area_mm2=float(selected.size * pixel_area_mm2),
    )


def plane_roi_statistics(
    array: np.ndarray,
    affine: np.ndarray,
    plane_point: np.ndarray,
    u_axis: np.ndarray,
    v_axis: np.ndarray,
    corner_a: np.ndarray,
    corner_b: np.ndarray,
    shape: str = "rectangle",
) -> RoiStatistics:
    """Statistics of ``array`` inside a rectangle/ellipse spanned by two LPS corners on a plane.

    The plane passes through ``plane_point`` with orthonormal in-plane axes ``u_axis`` and
    ``v_axis``; the shape is axis-aligned in (u, v) with opposite corners ``corner_a`` and
    ``corner_b`` (projected onto the plane).  The ellipse is inscribed in that rectangle.
    """
    if shape not in ROI_SHAPES:
        raise ValueError(f"unknown ROI shape {shape!r}; choose one of: {', '.join(ROI_SHAPES)}")
    matrix = np.asarray(affine, dtype=np.float64)
    origin = np.asarray(plane_point, dtype=np.float64)
    u_axis = np.asarray(u_axis, dtype=np.float64)
    v_axis = np.asarray(v_axis, dtype=np.float64)
    corners = np.array([corner_a, corner_b], dtype=np.float64) - origin
    u_low, u_high = np.sort(corners @ u_axis)
    v_low, v_high = np.sort(corners @ v_axis)

    step_u, step_v = step_along(matrix, u_axis), step_along(matrix, v_axis)
    # Anchor the sample grid on the first voxel centre so axis-aligned planes hit centres.
    anchor = matrix[:3, 3] - origin
    u_phase, v_phase = float(anchor @ u_axis), float(anchor @ v_axis)
    tolerance = 1e-6
    u_samples = _grid_between(u_low, u_high, u_phase, step_u, tolerance)
    v_samples = _grid_between(v_low, v_high, v_phase, step_v, tolerance)
    if not u_samples.size or not v_samples.size:
        return region_statistics(np.empty(0), np.empty(0, bool), step_u * step_v)

    grid_u, grid_v = np.meshgrid(u_samples, v_samples, indexing="xy")
    if shape == "ellipse":
        centre_u, centre_v = (u_low + u_high) / 2.0, (v_low + v_high) / 2.0
        radius_u, radius_v = max((u_high - u_low) / 2.0, 1e-9), max((v_high - v_low) / 2.0, 1e-9)
        inside = ((grid_u - centre_u) / radius_u) ** 2 + ((grid_v - centre_v) / radius_v) ** 2
        inside = inside <= 1.0 + tolerance
    else:
        inside = np.ones(grid_u.shape, dtype=bool)

    points = origin + grid_u[..., None] * u_axis + grid_v[..., None] * v_axis
    values = sample_nearest(array, matrix, points.reshape(-1, 3)).reshape(grid_u.shape)
    return region_statistics(values, inside, step_u * step_v)


def sample_nearest(array: np.ndarray, affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Nearest-voxel values of ``array`` at (N, 3) LPS points; NaN outside the volume."""
    indices = np.rint(geometry.lps_to_index(affine, points)).astype(np.int64)
    shape = np.asarray(array.shape)
    valid = np.all((indices >= 0) & (indices < shape), axis=1)
    values = np.full(len(points), np.nan)
    kept = indices[valid]
    values[valid] = array[kept[:, 0], kept[:, 1], kept[:, 2]]
    return values


def _grid_between(low: float, high: float, phase: float, step: float, tol: float) -> np.ndarray:
    """Grid positions phase + k*step that lie within [low, high]."""
    first = np.ceil((low - phase) / step - tol)
    last = np.floor((high - phase) / step + tol)
    if last < first:
        return np.empty(0)
    return phase + np.arange(first, last + 1) * step
