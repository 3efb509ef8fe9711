"""Logical operations between label maps on the same grid."""

from __future__ import annotations

import numpy as np

from workstation.core.errors import SegmentationError
from workstation.core.volume import LabelMap


def _check_same_grid(first: LabelMap, second: LabelMap) -> None:
    if not first.same_grid(second):
        raise SegmentationError(
            f"Segmentations '{first.name}' and '{second.name}' are on different image grids "
            f"({first.shape} vs {second.shape}); combine only segmentations of the same image."
        )


def union(first: LabelMap, second: LabelMap, name: str | None = None) -> LabelMap:
    """Voxels in either label map."""
    _check_same_grid(first, second)
    return first.with_array(np.logical_or(first.array, second.array).view(np.uint8), name)


def subtract(first: LabelMap, second: LabelMap, name: str | None = None) -> LabelMap:
    """Voxels in ``first`` but not in ``second``."""
    _check_same_grid(first, second)
    result = np.logical_and(first.array, np.logical_not(second.array))
    return first.with_array(result.view(np.uint8), name)


def intersect(first: LabelMap, second: LabelMap, name: str | None = None) -> LabelMap:
    """Voxels in both label maps."""
    _check_same_grid(first, second)
    return first.with_array(np.logical_and(first.array, second.array).view(np.uint8), name)
