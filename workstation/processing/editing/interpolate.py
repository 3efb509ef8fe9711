"""Fill between slices: shape-based interpolation of a segment painted on some slices.

Each painted slice (non-empty along array axis 0) gets an in-plane signed distance map
in mm to its edge, taken half a pixel (half the smaller in-plane spacing) from the pixel
centres: inside, minus (distance to the nearest outside pixel - half a pixel); outside,
distance to the nearest inside pixel - half a pixel; outside the image counts as outside.
An empty slice strictly between two painted ones takes the voxels where the distances
of those two, linearly interpolated by slice index, are <= 0.  Painted slices and slices
before the first or after the last painted one are left as they are.  The maps are
computed on the segment's in-plane bounding box plus a one-voxel margin, which is exact:
no interpolated voxel can lie outside that box.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import ndimage

from workstation.core import geometry
from workstation.processing.regions import foreground_region


def interpolate_slices(mask: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Copy of ``mask`` with the empty slices between painted ones filled by interpolation."""
    result = np.array(mask, dtype=bool, copy=True)
    region = foreground_region(result)
    if region is None:
        return result
    block = result[:, region[1], region[2]]  # a view: filling it fills the result
    painted = np.flatnonzero(block.any(axis=(1, 2)))
    gaps = [(int(a), int(b)) for a, b in itertools.pairwise(painted) if b - a > 1]
    if not gaps:
        return result
    sampling = geometry.voxel_spacing(affine)[1:]
    distances: dict[int, np.ndarray] = {}
    for first, last in gaps:
        for key in (first, last):
            if key not in distances:
                distances[key] = signed_distance_mm(block[key], sampling)
        low, high = distances[first], distances[last]
        for index in range(first + 1, last):
            weight = (index - first) / (last - first)
            block[index] = (1.0 - weight) * low + weight * high <= 0.0
    return result


def signed_distance_mm(plane: np.ndarray, sampling: np.ndarray) -> np.ndarray:
    """In-plane signed distance (mm) of a 2D mask to its edge: negative inside, positive outside.

    The edge lies half a pixel (half the smaller spacing) beyond the pixel centres, which
    keeps shapes from shrinking towards the smaller key slice.  Computed with a one-pixel
    outside border, so the image edge bounds the inside too.
    """
    padded = np.pad(np.asarray(plane, dtype=bool), 1)
    half_pixel = 0.5 * float(np.min(sampling))
    to_inside = ndimage.distance_transform_edt(~padded, sampling=sampling)
    to_outside = ndimage.distance_transform_edt(padded, sampling=sampling)
    signed = np.where(padded, half_pixel - to_outside, to_inside - half_pixel)
    return signed[1:-1, 1:-1]
