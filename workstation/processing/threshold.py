"""Threshold segmentation: voxels whose intensity lies in [lower, upper]."""

from __future__ import annotations

import numpy as np

from workstation.core.volume import LabelMap, Volume


def threshold_mask(array: np.ndarray, lower: float, upper: float | None = None) -> np.ndarray:
    """Boolean mask of ``lower <= array <= upper`` (no upper bound when ``upper`` is None)."""
    mask = np.greater_equal(array, lower)
    if upper is not None:
        mask &= np.less_equal(array, upper)
    return mask


def threshold(
    volume: Volume, lower: float, upper: float | None = None, name: str = "Threshold"
) -> LabelMap:
    """Label map of the voxels with ``lower <= value <= upper`` on ``volume``'s grid."""
    if upper is not None and upper < lower:
        lower, upper = upper, lower
    mask = threshold_mask(volume.array, lower, upper)
    return LabelMap(mask.view(np.uint8), volume.affine.copy(), name=name)


def describe_range(volume: Volume, lower: float, upper: float | None) -> str:
    """'The threshold 226..3071 HU' or 'The threshold 300 HU and above' (no unit unless HU)."""
    unit = " HU" if volume.units == "HU" else ""
    if upper is None:
        return f"The threshold {lower:g}{unit} and above"
    return f"The threshold {lower:g}..{upper:g}{unit}"


def nothing_selected(volume: Volume, lower: float, upper: float | None) -> str:
    """The one-line error for a threshold range that selects no voxel of ``volume``."""
    low, high = float(volume.array.min()), float(volume.array.max())
    return (
        f"{describe_range(volume, lower, upper)} selects no voxels (image values "
        f"{low:g}..{high:g}); choose another preset or threshold."
    )
