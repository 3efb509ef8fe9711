"""Header-level stack geometry: orientation label, slice steps, tilt and geometry warnings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workstation.core.geometry import orientation_name
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.slice_geometry import (
    DUPLICATE_TOLERANCE_MM,
    TILT_TOLERANCE_DEGREES,
    tilt_degrees,
)

#: Two frames are at the same slice location when their distance along the normal is below.
POSITION_TOLERANCE_MM = DUPLICATE_TOLERANCE_MM
#: A slice step is regular when within max(absolute, relative * median) of the median.
STEP_TOLERANCE_MM = 0.01
STEP_RELATIVE_TOLERANCE = 0.01


@dataclass(frozen=True)
class StackGeometry:
    """Header-level geometry of a stack, in the scan report's order (column, row, slice)."""

    dims: tuple[int, int, int]
    spacing: tuple[float | None, float | None, float | None]
    orientation: str
    steps: tuple[float, ...]
    tilt_degrees: float | None


def _unit(vector: Sequence[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


def orientation_label(orientation: Sequence[float] | None) -> str:
    """'axial', 'coronal', 'sagittal' or 'oblique' for an IOP; 'unknown' without one."""
    if orientation is None:
        return "unknown"
    row, col = _unit(orientation[:3]), _unit(orientation[3:])
    normal = np.cross(row, col)
    if np.linalg.norm(normal) < 1e-6:
        return "unknown"
    affine = np.eye(4)
    affine[:3, 0] = normal
    affine[:3, 1] = col
    affine[:3, 2] = row
    return orientation_name(affine)


def has_geometry(frame: FrameRef) -> bool:
    """Whether a frame has usable Image Position and Image Orientation (Patient)."""
    return (
        frame.position is not None
        and frame.orientation is not None
        and frame.geometry_problem is None
    )


def _mm(value: float) -> str:
    return f"{value:.2f}"


def join_words(values: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]


def stack_geometry(frames: Sequence[FrameRef]) -> StackGeometry:
    """Dims, spacing, orientation, steps along the normal and tilt of a set of frames."""
    first = frames[0]
    spacing = first.pixel_spacing
    col_spacing = spacing[1] if spacing else None
    row_spacing = spacing[0] if spacing else None
    orientation = orientation_label(first.orientation)
    steps: tuple[float, ...] = ()
    tilt = None
    positioned = [f for f in frames if f.position is not None]
    normal = first.normal
    if normal is not None and len(positioned) >= 2:
        points = np.array([f.position for f in positioned], dtype=np.float64)
        projections = points @ normal
        order = np.argsort(projections, kind="stable")
        sorted_projections = projections[order]
        differences = np.diff(sorted_projections)
        steps = tuple(float(step) for step in differences if step > POSITION_TOLERANCE_MM)
        start, end = points[order[0]], points[order[-1]]
        if np.linalg.norm(end - start) > POSITION_TOLERANCE_MM:
            tilt = tilt_degrees(start, end, normal)
    slice_spacing = float(np.median(steps)) if steps else None
    return StackGeometry(
        dims=(first.columns, first.rows, len(frames)),
        spacing=(col_spacing, row_spacing, slice_spacing),
        orientation=orientation,
        steps=steps,
        tilt_degrees=tilt,
    )


def _step_tolerance(median: float) -> float:
    return max(STEP_TOLERANCE_MM, STEP_RELATIVE_TOLERANCE * median)


def geometry_warnings(frames: Sequence[FrameRef]) -> list[str]:
    """Tilt, missing-slice and uneven-spacing warnings from header positions.

    The warnings come from the positions projected on the slice normal; the loader
    repeats the exact analysis when it builds the volume.
    """
    geometry = stack_geometry(frames)
    warnings = []
    if geometry.tilt_degrees is not None and geometry.tilt_degrees > TILT_TOLERANCE_DEGREES:
        warnings.append(
            f"Gantry tilt of {geometry.tilt_degrees:.1f}° detected from slice positions "
            "(slices are not stacked along the plane normal)"
        )
    steps = geometry.steps
    if len(steps) < 2:
        return warnings
    median = float(np.median(steps))
    tolerance = _step_tolerance(median)
    normal = frames[0].normal
    if normal is None:  # steps exist only along a normal: never here
        return warnings
    projections = sorted(
        float(np.dot(frame.position, normal)) for frame in frames if frame.position is not None
    )
    locations = [projections[0]]
    for value in projections[1:]:
        if value - locations[-1] > POSITION_TOLERANCE_MM:
            locations.append(value)
    gaps, uneven = [], []
    for index, step in enumerate(steps):
        if abs(step - median) <= tolerance:
            continue
        multiple = round(step / median)
        if multiple >= 2 and abs(step - multiple * median) <= tolerance * multiple:
            gaps.append((index, step, multiple - 1))
        else:
            uneven.append(step)
    for index, step, missing in gaps[:3]:
        warnings.append(
            f"Missing slice{'s' if missing > 1 else ''}: gap of {_mm(step)} mm after the "
            f"slice at {_mm(locations[index])} mm along the normal (slice {index + 1} of "
            f"{len(locations)}; expected {_mm(median)} mm, about {missing} slice"
            f"{'s' if missing > 1 else ''} missing)"
        )
    if len(gaps) > 3:
        warnings.append(f"{len(gaps) - 3} more gaps in the slice positions")
    if uneven:
        distinct = sorted({round(step, 2) for step in steps})
        shown = [_mm(value) for value in distinct[:6]]
        if len(distinct) > 6:
            shown.append("...")
        warnings.append(
            f"Uneven slice spacing: steps of {join_words(shown)} mm along the normal "
            f"(median {_mm(median)} mm)"
        )
    return warnings
