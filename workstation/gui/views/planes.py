"""Slice-plane geometry of the three 2D views, in patient LPS millimetres (no Qt, no VTK).

Display convention, like radiology and 3D Slicer: the axial view is seen from the feet
(patient's left on the screen's right, anterior up), the coronal view from the front
(left on the right, superior up), the sagittal view from the patient's left (anterior on
the screen's left, superior up).  ``right``/``up`` are the LPS directions of the screen's
+x/+y; ``normal`` is the direction in which the slice index grows (S, A and L).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core import geometry
from workstation.processing.roi_statistics import step_along

SLICE_VIEW_NAMES = ("axial", "coronal", "sagittal")

#: (right, up, normal) per view for patient-aligned planes.
_PATIENT_AXES = {
    "axial": ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0), (0.0, 0.0, 1.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (1.0, 0.0, 0.0)),
}


@dataclass(frozen=True)
class ViewPlane:
    """Orthonormal screen axes of one slice view, as LPS unit vectors."""

    name: str
    right: np.ndarray
    up: np.ndarray
    normal: np.ndarray

    def labels(self) -> dict[str, str]:
        """Orientation letters for the four sides of the view: right, left, top, bottom."""
        right = geometry.direction_letters(self.right)
        top = geometry.direction_letters(self.up)
        return {
            "right": right,
            "left": geometry.opposite_letters(right),
            "top": top,
            "bottom": geometry.opposite_letters(top),
        }

    def frame(self, origin: np.ndarray) -> np.ndarray:
        """4x4 map from plane coordinates (u, v, w) to LPS: origin + u*right + v*up + w*normal."""
        matrix = np.eye(4)
        matrix[:3, 0], matrix[:3, 1], matrix[:3, 2] = self.right, self.up, self.normal
        matrix[:3, 3] = origin
        return matrix

    def to_plane(self, origin: np.ndarray, lps: np.ndarray) -> np.ndarray:
        """Plane coordinates (u, v, w) of an LPS point."""
        offset = np.asarray(lps, dtype=np.float64) - origin
        return np.array([offset @ self.right, offset @ self.up, offset @ self.normal])

    def to_lps(self, origin: np.ndarray, u: float, v: float, w: float) -> np.ndarray:
        """LPS point of plane coordinates (u, v, w)."""
        return origin + u * self.right + v * self.up + w * self.normal


def patient_plane(name: str) -> ViewPlane:
    """The patient-aligned plane of a view: axial, coronal or sagittal."""
    right, up, normal = (np.array(v) for v in _PATIENT_AXES[name])
    return ViewPlane(name, right, up, normal)


def volume_aligned_plane(name: str, affine: np.ndarray) -> ViewPlane:
    """The plane of a view rotated onto the volume's own axes (Slicer's 'rotate to volume').

    Each patient axis of the view is replaced by the orthonormal volume axis (column
    direction, row direction, plane normal) closest to it, with the sign kept.  For an
    oblique acquisition the orientation letters then show the true obliquity (e.g. 'LP').
    """
    directions = geometry.axis_directions(affine)
    column_dir, row_dir = directions[:, 2], directions[:, 1]
    candidates = [column_dir, row_dir, geometry.slice_normal(affine)]
    template = patient_plane(name)
    chosen: list[np.ndarray] = []
    used: set[int] = set()
    for target in (template.normal, template.right, template.up):
        scores = [
            -1.0 if index in used else abs(float(candidate @ target))
            for index, candidate in enumerate(candidates)
        ]
        best = int(np.argmax(scores))
        used.add(best)
        vector = candidates[best]
        chosen.append(vector if vector @ target >= 0 else -vector)
    normal, right, up = chosen
    return ViewPlane(name, right, up, normal)


@dataclass(frozen=True)
class SliceGrid:
    """Where a view can cut the volume: ``count`` planes from ``first`` every ``step`` mm."""

    first: float
    step: float
    count: int

    def position(self, index: int) -> float:
        """Plane offset w (mm) of slice ``index`` (clamped to the grid)."""
        return self.first + self.step * int(np.clip(index, 0, self.count - 1))

    def index(self, offset: float) -> int:
        """Nearest slice index of a plane offset w (clamped)."""
        return int(np.clip(round((offset - self.first) / self.step), 0, self.count - 1))


def slice_grid(
    shape: tuple[int, int, int], affine: np.ndarray, plane: ViewPlane, origin: np.ndarray
) -> SliceGrid:
    """The slice positions along a view's normal that pass through voxel centres."""
    corners = geometry.corner_points(shape, affine) - origin
    offsets = corners @ plane.normal
    step = step_along(affine, plane.normal)
    low, high = float(offsets.min()), float(offsets.max())
    count = round((high - low) / step) + 1
    return SliceGrid(low, step, max(int(count), 1))


def in_plane_extent(
    shape: tuple[int, int, int], affine: np.ndarray, plane: ViewPlane, origin: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first (u, v), spacing (su, sv), size (nu, nv)) of a pixel grid covering the volume.

    The grid is anchored on the first voxel centre so axis-aligned cuts sample voxel
    centres exactly.
    """
    corners = geometry.corner_points(shape, affine) - origin
    u_values, v_values = corners @ plane.right, corners @ plane.up
    spacing = np.array([step_along(affine, plane.right), step_along(affine, plane.up)])
    anchor = np.array([(affine[:3, 3] - origin) @ plane.right, (affine[:3, 3] - origin) @ plane.up])
    low = np.array([u_values.min(), v_values.min()])
    high = np.array([u_values.max(), v_values.max()])
    first_k = np.floor((low - anchor) / spacing + 1e-6)
    last_k = np.ceil((high - anchor) / spacing - 1e-6)
    first = anchor + first_k * spacing
    size = (last_k - first_k + 1).astype(int)
    return first, spacing, size
