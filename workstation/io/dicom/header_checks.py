"""Physical and size checks of the header values that drive allocation and geometry.

One place decides what a header value may be before the reader uses it:
- the frames a file claims (Rows x Columns x Number of Frames) against the image data
  it really holds, before anything is allocated;
- bits allocated and stored;
- pixel spacing within 0.001-1000 mm, positions within a kilometre of the origin;
- orientation vectors unit length within 1e-3 and perpendicular within 1e-3 rad:
  within tolerance they are corrected (and a correction beyond decimal rounding is
  reported), beyond it the frame is refused for 3D with the deviation in words.
A refused geometry never becomes a silently scaled or sheared volume.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from workstation.core.memory_budget import format_size
from workstation.io.dicom.pixel_extent import PixelExtent

SPACING_RANGE_MM = (1e-3, 1e3)
MAX_POSITION_MM = 1e6
#: Orientation vectors may be this far from unit length / perpendicular and be corrected.
UNIT_LENGTH_TOLERANCE = 1e-3
ORTHOGONALITY_TOLERANCE_RAD = 1e-3
#: Deviations below this are decimal rounding of the header's text: corrected silently.
ROUNDING_DEVIATION = 1e-5
SUPPORTED_BITS_ALLOCATED = (1, 8, 16, 32, 64)


@dataclass(frozen=True)
class Checked:
    """A checked header value: the value to use, a correction note, or why it is refused."""

    value: tuple[float, ...] | None
    note: str | None = None
    problem: str | None = None


def _norm(vector: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in vector))


def _scaled(vector: Sequence[float], factor: float) -> list[float]:
    return [v * factor for v in vector]


def _unit(vector: Sequence[float]) -> list[float]:
    return _scaled(vector, 1 / _norm(vector))


def check_orientation(
    values: Sequence[float], keyword: str = "Image Orientation (Patient)"
) -> Checked:
    """Orthonormalised direction cosines, with a note, or a problem beyond tolerance."""
    row, col = list(values[:3]), list(values[3:6])
    row_length, col_length = _norm(row), _norm(col)
    if row_length < 1e-6 or col_length < 1e-6:
        return Checked(None, problem=f"{keyword} has a zero direction vector")
    worst_length = max(abs(row_length - 1.0), abs(col_length - 1.0))
    row_unit, col_unit = _scaled(row, 1 / row_length), _scaled(col, 1 / col_length)
    dot = sum(a * b for a, b in zip(row_unit, col_unit, strict=True))
    off_right_angle = abs(math.asin(max(-1.0, min(1.0, dot))))
    if worst_length > UNIT_LENGTH_TOLERANCE:
        return Checked(
            None,
            problem=(
                f"{keyword} is not unit length (row direction {row_length:.4f}, column "
                f"direction {col_length:.4f}; tolerance {UNIT_LENGTH_TOLERANCE:g}): a volume "
                "from it would be scaled"
            ),
        )
    if off_right_angle > ORTHOGONALITY_TOLERANCE_RAD:
        return Checked(
            None,
            problem=(
                f"{keyword} row and column directions are "
                f"{90 - math.degrees(off_right_angle):.3f}° apart, not 90° (off by "
                f"{off_right_angle:.4f} rad; tolerance {ORTHOGONALITY_TOLERANCE_RAD:g} rad): "
                "a volume from it would be sheared"
            ),
        )
    if worst_length == 0.0 and dot == 0.0:
        return Checked(tuple(float(value) for value in values[:6]))
    # Symmetric correction: keep the bisector, turn both vectors by half the error.
    bisector = _unit([r + c for r, c in zip(row_unit, col_unit, strict=True)])
    across = _unit([r - c for r, c in zip(row_unit, col_unit, strict=True)])
    half = 1 / math.sqrt(2)
    row_fixed = [(b + a) * half for b, a in zip(bisector, across, strict=True)]
    col_fixed = [(b - a) * half for b, a in zip(bisector, across, strict=True)]
    note = None
    if max(worst_length, off_right_angle) > ROUNDING_DEVIATION:
        note = (
            f"{keyword} corrected to unit, perpendicular directions (was off by up to "
            f"{max(worst_length, off_right_angle):.1e})"
        )
    return Checked((*row_fixed, *col_fixed), note=note)


def check_spacing(values: Sequence[float], keyword: str) -> Checked:
    """A pixel spacing pair within the physical range, or the problem."""
    low, high = SPACING_RANGE_MM
    if all(low <= value <= high for value in values):
        return Checked(tuple(values))
    shown = "\\".join(f"{value:g}" for value in values)
    return Checked(
        None,
        problem=f"{keyword} {shown} mm is outside the physical range {low:g}-{high:g} mm",
    )


def check_position(values: Sequence[float]) -> Checked:
    """An image position within MAX_POSITION_MM of the origin, or the problem."""
    if all(abs(value) <= MAX_POSITION_MM for value in values):
        return Checked(tuple(values))
    shown = "\\".join(f"{value:g}" for value in values)
    return Checked(
        None,
        problem=f"Image Position (Patient) {shown} mm is more than {MAX_POSITION_MM:g} mm "
        "from the origin",
    )


def bits_problem(bits_allocated: int, bits_stored: int) -> str | None:
    """Why Bits Allocated / Bits Stored cannot describe stored pixels, else None."""
    if bits_allocated not in SUPPORTED_BITS_ALLOCATED:
        return f"Bits Allocated {bits_allocated} is not a valid pixel size"
    if not 1 <= bits_stored <= bits_allocated:
        return f"Bits Stored {bits_stored} does not fit Bits Allocated {bits_allocated}"
    return None


def frame_bits(rows: int, columns: int, samples: int, bits_allocated: int) -> int:
    """Bits one uncompressed frame occupies."""
    return rows * columns * max(samples, 1) * bits_allocated


def frames_problem(
    claimed_frames: int,
    rows: int,
    columns: int,
    samples: int,
    bits_allocated: int,
    extent: PixelExtent | None,
) -> str | None:
    """Why the image data cannot hold the frames the header claims, else None.

    Native data must hold every frame (an odd byte of padding allowed); compressed data
    needs at least one fragment per frame.  Without a known extent nothing is checked.
    """
    if extent is None:
        return None
    if extent.damage:
        return extent.damage
    frames_word = "frame" if claimed_frames == 1 else "frames"
    if extent.length is not None:
        needed_bits = frame_bits(rows, columns, samples, bits_allocated) * claimed_frames
        needed = (needed_bits + 7) // 8
        if extent.length >= needed:
            return None
        one = (frame_bits(rows, columns, samples, bits_allocated) + 7) // 8
        held = extent.length // one if one else 0
        return (
            f"the header claims {claimed_frames} {frames_word} of {columns}x{rows} "
            f"({format_size(needed)}) but the image data holds {format_size(extent.length)}"
            f" ({held} whole frame{'s' if held != 1 else ''})"
        )
    if extent.fragments is not None and extent.fragments < claimed_frames:
        return (
            f"the header claims {claimed_frames} {frames_word} but the compressed image data "
            f"holds {extent.fragments} fragment{'s' if extent.fragments != 1 else ''}"
        )
    return None
