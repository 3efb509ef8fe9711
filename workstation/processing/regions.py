"""Bounding boxes of foreground voxels and padded working regions, to avoid whole-volume work."""

from __future__ import annotations

import numpy as np

Region = tuple[slice, slice, slice]


def foreground_region(mask: np.ndarray) -> Region | None:
    """Tight index slices around the non-zero voxels of a 3D array, or None when empty."""
    per_slice = mask.any(axis=(1, 2))
    slices = np.flatnonzero(per_slice)
    if slices.size == 0:
        return None
    s0, s1 = int(slices[0]), int(slices[-1]) + 1
    plane = np.any(mask[s0:s1], axis=0)
    rows = np.flatnonzero(plane.any(axis=1))
    cols = np.flatnonzero(plane.any(axis=0))
    return (
        slice(s0, s1),
        slice(int(rows[0]), int(rows[-1]) + 1),
        slice(int(cols[0]), int(cols[-1]) + 1),
    )


def range_region(
    array: np.ndarray, above: float, upper: float | None = None, slab: int = 16
) -> Region | None:
    """Tight index slices around voxels with ``above < value (<= upper)``, slab by slab.

    Same result as ``foreground_region`` of the mask, without a full-size mask in memory.
    """
    slices: list[int] = []
    rows = np.zeros(array.shape[1], dtype=bool)
    cols = np.zeros(array.shape[2], dtype=bool)
    for start in range(0, array.shape[0], slab):
        inside = array[start : start + slab] > above
        if upper is not None:
            inside &= array[start : start + slab] <= upper
        per_slice = inside.any(axis=(1, 2))
        if not per_slice.any():
            continue
        slices.extend((start + np.flatnonzero(per_slice)).tolist())
        plane = np.any(inside, axis=0)
        rows |= plane.any(axis=1)
        cols |= plane.any(axis=0)
    if not slices:
        return None
    row_index, col_index = np.flatnonzero(rows), np.flatnonzero(cols)
    return (
        slice(slices[0], slices[-1] + 1),
        slice(int(row_index[0]), int(row_index[-1]) + 1),
        slice(int(col_index[0]), int(col_index[-1]) + 1),
    )


def expand_region(region: Region, margin: np.ndarray | int, shape: tuple[int, ...]) -> Region:
    """``region`` grown by ``margin`` voxels per axis, clipped to an array of ``shape``."""
    margins = np.broadcast_to(np.asarray(margin, dtype=int), (3,))
    return tuple(  # type: ignore[return-value]
        slice(max(part.start - int(m), 0), min(part.stop + int(m), int(n)))
        for part, m, n in zip(region, margins, shape, strict=True)
    )


def padded_block(
    array: np.ndarray, region: Region, margin: np.ndarray | int, fill: float = 0
) -> tuple[np.ndarray, Region, Region]:
    """Copy of ``region`` grown by ``margin``, padded with ``fill`` where it leaves the array.

    Returns (block, image_region, block_region): ``block[block_region]`` corresponds to
    ``array[image_region]`` (the part of the grown region inside the image).
    """
    margins = np.broadcast_to(np.asarray(margin, dtype=int), (3,))
    inside = expand_region(region, margins, array.shape)
    shape = tuple(
        part.stop - part.start + 2 * int(m) for part, m in zip(region, margins, strict=True)
    )
    block = np.full(shape, fill, dtype=array.dtype)
    block_region = tuple(
        slice(
            int(m) - (part.start - grown.start),
            int(m) - (part.start - grown.start) + (grown.stop - grown.start),
        )
        for part, grown, m in zip(region, inside, margins, strict=True)
    )
    block[block_region] = array[inside]
    return block, inside, block_region  # type: ignore[return-value]
