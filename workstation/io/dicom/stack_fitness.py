"""How well a stack suits a bone model: CT, thin slices and a bone or sharp kernel.

Slices thinner than THIN_SLICE_MM come first: a thick slice blurs a bone surface into
steps whatever the kernel.  Among thin (or among thick) stacks a bone kernel beats a
sharp one, a sharp one an unnamed one, and any of these a soft-tissue kernel; then the
thinner slices, then the scan's confidence.
"""

from __future__ import annotations

import math

import numpy as np

from workstation.io.dicom.header_geometry import stack_geometry
from workstation.io.dicom.kernels import kernel_rank
from workstation.io.dicom.model import Stack

#: Slices up to this size (mm) are thin enough for a printed bone model.
THIN_SLICE_MM = 1.25
#: Slack on THIN_SLICE_MM for rounding in the headers.
THIN_SLICE_TOLERANCE_MM = 0.01


def slice_mm(stack: Stack) -> float | None:
    """Effective slice size in mm: the larger of slice spacing and Slice Thickness.

    The spacing is the median distance between slice positions along the normal; None
    when neither it nor a Slice Thickness is known.
    """
    spacing = stack_geometry(stack.frames).spacing[2] if stack.frames else None
    thicknesses = [f.slice_thickness for f in stack.frames if f.slice_thickness is not None]
    thickness = float(np.median(thicknesses)) if thicknesses else None
    known = [value for value in (spacing, thickness) if value is not None and value > 0]
    return max(known) if known else None


def is_thin(size_mm: float | None) -> bool:
    """True when slices of ``size_mm`` are thin enough for a bone model."""
    return size_mm is not None and size_mm <= THIN_SLICE_MM + THIN_SLICE_TOLERANCE_MM


def model_rank(stack: Stack) -> tuple[bool, bool, bool, int, float, float, int]:
    """Sort key, higher is better: CT, single volume, thin, kernel, thinner, confidence."""
    size = slice_mm(stack)
    return (
        stack.identity.modality == "CT",
        stack.kind == "volume",
        is_thin(size),
        kernel_rank(stack.convolution_kernel),
        -(size if size is not None else math.inf),
        stack.confidence,
        len(stack.frames),
    )


def format_mm(size_mm: float) -> str:
    """A slice size as users read it: '0.6', '0.625', '5'."""
    return f"{size_mm:.3g}"
