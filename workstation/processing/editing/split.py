"""Split a segment into its islands: each 6-connected piece as a mask of its own."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from workstation.processing.islands import STRUCTURE_6
from workstation.processing.regions import foreground_region


class TooManyIslands(ValueError):
    """More islands qualify than the caller allows (each would take a full-size mask)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count:,} islands")
        self.count = count


def split_islands(
    mask: np.ndarray, min_voxels: int = 1, limit: int | None = None
) -> list[np.ndarray]:
    """Full-size masks of the 6-connected islands with >= ``min_voxels`` voxels, largest first.

    Islands of equal size come in the order of their first voxel in the flat (C) order.
    More than ``limit`` qualifying islands raise ``TooManyIslands`` before any mask is made.
    """
    source = np.asarray(mask, dtype=bool)
    region = foreground_region(source)
    if region is None:
        return []
    components = np.empty(tuple(part.stop - part.start for part in region), dtype=np.int32)
    count = int(ndimage.label(source[region], structure=STRUCTURE_6, output=components))
    sizes = np.bincount(components.ravel(), minlength=count + 1)[1:]
    # ndimage.label numbers islands in raster order of their first voxel: number breaks ties
    order = np.lexsort((np.arange(count), -sizes))
    qualifying = int(np.count_nonzero(sizes >= min_voxels))
    if limit is not None and qualifying > limit:
        raise TooManyIslands(qualifying)
    boxes = ndimage.find_objects(components)
    islands = []
    for position in order:
        if sizes[position] < min_voxels:
            continue
        box = boxes[position]
        island = np.zeros(source.shape, dtype=bool)
        target = tuple(
            slice(outer.start + inner.start, outer.start + inner.stop)
            for outer, inner in zip(region, box, strict=True)
        )
        island[target] = components[box] == position + 1
        islands.append(island)
    return islands
