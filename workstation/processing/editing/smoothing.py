"""Smoothing a segment with a Gaussian kernel whose width is given in millimetres."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from workstation.core import geometry
from workstation.processing.regions import expand_region, foreground_region

#: The Gaussian kernel is cut at this many standard deviations (scipy's default).
TRUNCATE = 4.0

#: Margin, in standard deviations, added around the segment's bounding box.
MARGIN_SIGMAS = 3.0


def smooth_mask(mask: np.ndarray, affine: np.ndarray, radius_mm: float) -> np.ndarray:
    """Segment smoothed by a Gaussian of standard deviation ``radius_mm`` mm, kept where >= 0.5.

    The mask (0/1, float32) is blurred with sigma = radius_mm / step length per array axis
    (``geometry.voxel_spacing``), the kernel truncated at 4 sigma, outside the image taken
    as 0; voxels whose blurred value is >= 0.5 are inside.  Computed on the bounding box
    plus a 3-sigma margin (values beyond the box are below 0.5).  Radius 0 returns a copy.
    """
    if not np.isfinite(radius_mm) or radius_mm < 0:
        raise ValueError(f"the smoothing radius must be a number of mm >= 0, got {radius_mm}")
    source = np.asarray(mask, dtype=bool)
    region = foreground_region(source)
    if region is None or radius_mm == 0:
        return source.copy()
    sigma = radius_mm / geometry.voxel_spacing(affine)
    margin = np.ceil(MARGIN_SIGMAS * sigma).astype(int)
    grown = expand_region(region, margin, source.shape)
    blurred = ndimage.gaussian_filter(
        source[grown].astype(np.float32), sigma, mode="constant", cval=0.0, truncate=TRUNCATE
    )
    result = np.zeros(source.shape, dtype=bool)
    result[grown] = blurred >= 0.5
    return result
