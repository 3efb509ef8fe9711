"""Connected components ("islands") of a label map: keep the largest, keep the one at a seed,
drop the small ones.

Connectivity is 6 (face neighbours).  Evidence: the surface extractor (flying edges at 0.5
on the mask) turns two voxels that touch only along an edge or at a corner into two
separate closed surfaces (see tests/processing/test_islands.py::test_surface_separates_
diagonal_voxels), so 6-connected islands are exactly the bodies of the printed model;
26-connected islands would call "one piece" what prints as several pieces, joined by
zero-thickness contacts.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from workstation.core import geometry
from workstation.core.errors import SegmentationError
from workstation.core.volume import LabelMap
from workstation.processing.body import BodyMask
from workstation.processing.regions import Region, foreground_region

#: Face connectivity (6 neighbours) for foreground components.
STRUCTURE_6 = ndimage.generate_binary_structure(3, 1)


def _components(label: LabelMap) -> tuple[np.ndarray, int, tuple[slice, slice, slice]] | None:
    region = foreground_region(label.array)
    if region is None:
        return None
    components = np.empty(tuple(part.stop - part.start for part in region), dtype=np.int32)
    count = ndimage.label(label.array[region], structure=STRUCTURE_6, output=components)
    return components, int(count), region


def _from_keep(
    label: LabelMap, components: np.ndarray, keep: np.ndarray, region: Region
) -> LabelMap:
    result = np.zeros(label.shape, dtype=np.uint8)
    result[region] = keep[components]
    return label.with_array(result)


def count_islands(label: LabelMap) -> int:
    """Number of 6-connected foreground components."""
    found = _components(label)
    return 0 if found is None else found[1]


def keep_largest(label: LabelMap) -> LabelMap:
    """Only the largest 6-connected component (by voxel count)."""
    found = _components(label)
    if found is None:
        raise SegmentationError("The segmentation is empty: there is no island to keep.")
    components, count, region = found
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    sizes[0] = 0
    keep = np.zeros(count + 1, dtype=np.uint8)
    keep[int(np.argmax(sizes))] = 1
    return _from_keep(label, components, keep, region)


def seed_index(label: LabelMap, seed_lps: ArrayLike) -> tuple[int, int, int]:
    """Nearest voxel index (slice, row, col) of an LPS point, or SegmentationError if outside."""
    point = np.asarray(seed_lps, dtype=np.float64).reshape(3)
    index = np.rint(geometry.lps_to_index(label.affine, point)[0]).astype(int)
    if np.any(index < 0) or np.any(index >= np.asarray(label.shape)):
        x, y, z = point
        raise SegmentationError(
            f"The seed point ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS is outside the image."
        )
    return int(index[0]), int(index[1]), int(index[2])


def keep_connected_to(label: LabelMap, seed_lps: ArrayLike) -> LabelMap:
    """Only the 6-connected component containing the voxel at ``seed_lps`` (LPS mm)."""
    index = seed_index(label, seed_lps)
    if not label.array[index]:
        x, y, z = np.asarray(seed_lps, dtype=float).reshape(3)
        raise SegmentationError(
            f"The seed point ({x:.1f}, {y:.1f}, {z:.1f}) mm LPS lies on background, not on "
            "the segmentation; pick a point inside the structure."
        )
    components, count, region = _components(label)  # type: ignore[misc]
    local = tuple(i - part.start for i, part in zip(index, region, strict=True))
    keep = np.zeros(count + 1, dtype=np.uint8)
    keep[components[local]] = 1
    return _from_keep(label, components, keep, region)


def remove_small(label: LabelMap, min_mm3: float) -> LabelMap:
    """Drop 6-connected components whose volume is below ``min_mm3`` cubic millimetres."""
    return remove_islands(label, min_mm3)[0]


def remove_islands(
    label: LabelMap, min_mm3: float = 0.0, body: BodyMask | None = None
) -> tuple[LabelMap, int]:
    """Drop components under ``min_mm3`` and those lying mostly outside ``body`` (the CT
    table), labelling once; returns (label map, components lying outside the body)."""
    found = _components(label)
    if found is None:
        return label.with_array(label.array.copy()), 0
    components, count, region = found
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    sizes[0] = 0
    voxel_mm3 = label.voxel_volume_mm3
    keep = np.ones(count + 1, dtype=bool)
    keep[0] = False
    if min_mm3 > 0:
        keep &= sizes >= math.ceil(min_mm3 / voxel_mm3 - 1e-9)
    outside_count = 0
    if body is not None and body.trusted_for(float(sizes.sum()) * voxel_mm3):
        outside = _outside_components(components, count, region, body, sizes)
        if outside is not None:
            outside_count = int(np.count_nonzero(outside))
            keep &= ~outside
    return _from_keep(label, components, keep.astype(np.uint8), region), outside_count


def _outside_components(
    components: np.ndarray, count: int, region: Region, body: BodyMask, sizes: np.ndarray
) -> np.ndarray | None:
    """Per component: True when mostly outside ``body`` (None when the largest one is)."""
    from workstation.processing.body import outside_pieces

    inside = np.zeros(count + 1, dtype=np.int64)
    for offset, index in enumerate(range(region[0].start, region[0].stop)):
        rows, cols = np.nonzero(components[offset])  # foreground only: a few % of voxels
        if rows.size:
            in_body = body.contains_indices(
                np.stack(
                    [np.full(rows.size, index), rows + region[1].start, cols + region[2].start],
                    axis=1,
                )
            )
            inside += np.bincount(
                components[offset][rows[in_body], cols[in_body]], minlength=count + 1
            )
    outside = outside_pieces(inside, sizes, sizes)
    if outside is not None:
        outside[0] = False
    return outside
