"""Grow from seeds: split touching structures by growing several segments at once.

A marker-based watershed (scikit-image) floods the image's gradient magnitude in mm
from each segment's seed voxels, with 6-connectivity; with an intensity range only the
voxels inside it (inclusive) can be reached.  The work is done on the bounding box of
the in-range voxels 6-connected to a seed, plus a margin, not on the whole volume.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.morphology import flood
from skimage.segmentation import watershed

from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.processing.regions import Region, expand_region, foreground_region

#: Voxels around the grown region kept so the gradient at its edge sees its neighbours.
MARGIN = 2

#: Normalisation of scipy's 3D Sobel filter to a central difference per index step.
SOBEL_SCALE = 32.0


def grow_from_seeds(
    image: np.ndarray,
    affine: np.ndarray,
    seeds: dict[str, list[tuple[int, int, int]]],
    intensity_range: tuple[float, float] | None,
    cancel: CancelToken | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, np.ndarray]:
    """Full-volume masks, per segment name, of the voxels the watershed from its seeds claims.

    Seeds are voxel indices (slice, row, col).  ValueError names the segment when it has no
    seed, a seed lies outside the image or outside ``intensity_range`` (inclusive), or two
    segments share a seed voxel.  Without a range every voxel can be reached and the whole
    image is computed.
    """
    report = progress or no_progress
    array = np.asarray(image)
    markers = _seed_indices(array.shape, seeds)
    in_range = None
    if intensity_range is not None:
        in_range = _in_range(array, intensity_range)
        _check_seeds_in_range(in_range, markers)
    _check_cancel(cancel)
    report(0.0, "Finding the region to grow")
    region = _grow_region(array.shape, in_range, markers)
    block_region = expand_region(region, MARGIN, array.shape)
    _check_cancel(cancel)
    report(0.2, "Computing edges")
    gradient = gradient_magnitude_mm(array[block_region], affine)
    _check_cancel(cancel)
    report(0.4, "Growing segments")
    labels = np.zeros(gradient.shape, dtype=np.int32)
    starts = np.array([part.start for part in block_region])
    for number, indices in enumerate(markers.values(), start=1):
        local = indices - starts
        labels[local[:, 0], local[:, 1], local[:, 2]] = number
    mask = None if in_range is None else in_range[block_region]
    grown = watershed(gradient, labels, mask=mask, connectivity=1)
    _check_cancel(cancel)
    results: dict[str, np.ndarray] = {}
    for number, name in enumerate(markers, start=1):
        result = np.zeros(array.shape, dtype=bool)
        result[block_region] = grown == number
        results[name] = result
    report(1.0, "Segments grown")
    return results


def gradient_magnitude_mm(block: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Sobel gradient magnitude in value per mm, on anisotropic and sheared grids alike.

    The per-index derivatives g are mapped exactly to patient space: |grad|² = g^T (A^T A)^-1 g
    (A = the affine's 3x3 part), so a linear ramp gives its slope in value per mm.
    """
    values = np.asarray(block, dtype=np.float32)
    derivatives = [
        ndimage.sobel(values, axis=axis, mode="nearest") / np.float32(SOBEL_SCALE)
        for axis in range(3)
    ]
    linear = np.asarray(affine, dtype=np.float64)[:3, :3]
    inverse_metric = np.linalg.inv(linear.T @ linear).astype(np.float32)
    squared = np.zeros(values.shape, dtype=np.float32)
    for i in range(3):
        for j in range(3):
            if inverse_metric[i, j] != 0:
                squared += inverse_metric[i, j] * derivatives[i] * derivatives[j]
    return np.sqrt(np.maximum(squared, 0, out=squared), out=squared)


def _seed_indices(
    shape: tuple[int, ...], seeds: dict[str, list[tuple[int, int, int]]]
) -> dict[str, np.ndarray]:
    """Seed voxels as (N, 3) int arrays per segment, checked against the image and each other."""
    if not seeds:
        raise ValueError("growing needs at least one segment with seeds")
    markers: dict[str, np.ndarray] = {}
    for name, points in seeds.items():
        indices = np.asarray(points, dtype=np.int64).reshape(-1, 3)
        if not indices.size:
            raise ValueError(f"segment {name!r} has no seed voxel")
        outside = np.any((indices < 0) | (indices >= np.asarray(shape[:3])), axis=1)
        if outside.any():
            raise ValueError(f"a seed of segment {name!r} lies outside the image")
        markers[name] = indices
    names = list(markers)
    flat = np.ravel_multi_index(np.concatenate(list(markers.values())).T, shape[:3])
    owners = np.repeat(np.arange(len(names)), [len(v) for v in markers.values()])
    order = np.lexsort((owners, flat))
    flat, owners = flat[order], owners[order]
    clashes = np.flatnonzero((flat[1:] == flat[:-1]) & (owners[1:] != owners[:-1]))
    if clashes.size:
        first = int(clashes[0])
        voxel = tuple(int(i) for i in np.unravel_index(flat[first], shape[:3]))
        raise ValueError(
            f"segments {names[owners[first]]!r} and {names[owners[first + 1]]!r} both have "
            f"a seed at voxel {voxel}"
        )
    return markers


def _in_range(array: np.ndarray, intensity_range: tuple[float, float]) -> np.ndarray:
    """Boolean mask of low <= value <= high."""
    low, high = (float(v) for v in intensity_range)
    if not low <= high:
        raise ValueError(f"the intensity range must have low <= high, got {intensity_range}")
    inside = array >= low
    inside &= array <= high
    return inside


def _check_seeds_in_range(in_range: np.ndarray, markers: dict[str, np.ndarray]) -> None:
    """ValueError naming the first segment with a seed voxel outside the intensity range."""
    for name, indices in markers.items():
        if not in_range[indices[:, 0], indices[:, 1], indices[:, 2]].all():
            raise ValueError(f"a seed of segment {name!r} lies outside the intensity range")


def _grow_region(
    shape: tuple[int, ...], in_range: np.ndarray | None, markers: dict[str, np.ndarray]
) -> Region:
    """Bounding box of the in-range voxels 6-connected to a seed (the image without a range)."""
    if in_range is None:
        return tuple(slice(0, int(n)) for n in shape[:3])  # type: ignore[return-value]
    reached = np.zeros(in_range.shape, dtype=bool)
    as_bytes = in_range.view(np.uint8)
    pending = np.concatenate(list(markers.values()))
    while pending.size:
        reached |= flood(as_bytes, tuple(int(i) for i in pending[0]), connectivity=1)
        pending = pending[~reached[pending[:, 0], pending[:, 1], pending[:, 2]]]
    region = foreground_region(reached)
    assert region is not None  # every seed is in range, so reached holds it
    return region


def _check_cancel(cancel: CancelToken | None) -> None:
    """Raise Cancelled between stages when the user asked to stop."""
    if cancel is not None:
        cancel.raise_if_cancelled()
