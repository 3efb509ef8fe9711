"""Morphology in millimetres on label maps, honouring anisotropic (and sheared) voxel grids.

The structuring element is the set of voxel offsets ``d`` whose physical length
``|A d|`` (A = the affine's 3x3 part) is at most the radius: an ellipsoid in voxel units
that is an exact ball in millimetres, also on sheared (gantry tilt) grids.  Work is done
on the foreground's bounding box plus a margin, never on the whole volume.  Large
elements on orthogonal grids use an exact distance map instead (same result, faster).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage

from workstation.core import geometry
from workstation.core.errors import SegmentationError
from workstation.core.volume import LabelMap
from workstation.processing.regions import foreground_region, padded_block

#: Above this many element voxels an orthogonal grid uses a distance map instead.
DISTANCE_MAP_ELEMENT_SIZE = 125

#: 26-connectivity for the background, the complement of 6-connected foreground.
STRUCTURE_26 = np.ones((3, 3, 3), dtype=bool)


def structuring_element(affine: np.ndarray, radius_mm: float) -> np.ndarray:
    """Boolean ball of ``radius_mm`` in voxel offsets of the grid of ``affine``."""
    matrix = np.asarray(affine, dtype=np.float64)[:3, :3]
    metric = matrix.T @ matrix
    inverse_metric = np.linalg.inv(metric)
    extent = np.floor(radius_mm * np.sqrt(np.diag(inverse_metric)) + 1e-9).astype(int)
    grids = np.meshgrid(*(np.arange(-e, e + 1) for e in extent), indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1).astype(np.float64)
    lengths2 = np.einsum("ij,jk,ik->i", offsets, metric, offsets)
    return (lengths2 <= radius_mm**2 * (1 + 1e-9)).reshape(grids[0].shape)


def _check_radius(radius_mm: float) -> None:
    if not np.isfinite(radius_mm) or radius_mm <= 0:
        raise SegmentationError(f"The radius must be a positive number of mm, got {radius_mm}.")


def _dilate_block(block: np.ndarray, element: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Dilate a bool block with ``element`` (exact), choosing the fastest exact method."""
    if element.sum() > DISTANCE_MAP_ELEMENT_SIZE and not geometry.is_sheared(affine, 1e-6):
        import SimpleITK as sitk

        spacing = geometry.voxel_spacing(affine)
        radius2 = _element_radius2(element, affine)
        image = sitk.GetImageFromArray(block.view(np.uint8))
        image.SetSpacing([float(spacing[2]), float(spacing[1]), float(spacing[0])])
        distance = sitk.SignedMaurerDistanceMap(
            image, insideIsPositive=False, squaredDistance=True, useImageSpacing=True
        )
        return sitk.GetArrayViewFromImage(distance) <= radius2
    return ndimage.binary_dilation(block, structure=element)


def _element_radius2(element: np.ndarray, affine: np.ndarray) -> float:
    """Largest squared length (mm^2) of an offset in ``element``: the exact threshold."""
    centre = np.array(element.shape) // 2
    offsets = (np.argwhere(element) - centre).astype(np.float64)
    matrix = np.asarray(affine, dtype=np.float64)[:3, :3]
    lengths2 = np.einsum("ij,ij->i", offsets @ matrix.T, offsets @ matrix.T)
    return float(lengths2.max()) * (1 + 1e-9)


def _apply(label: LabelMap, radius_mm: float, steps: tuple[str, ...]) -> LabelMap:
    _check_radius(radius_mm)
    region = foreground_region(label.array)
    if region is None:
        return label.with_array(np.zeros(label.shape, dtype=np.uint8))
    element = structuring_element(label.affine, radius_mm)
    margin = np.array(element.shape) // 2 + 1
    block, inside, block_region = padded_block(label.array.view(bool), region, margin, fill=0)
    for step in steps:
        if step == "dilate":
            block = _dilate_block(block, element, label.affine)
        else:
            block = ~_dilate_block(~block, element, label.affine)
    result = np.zeros(label.shape, dtype=np.uint8)
    result[inside] = block[block_region]
    return label.with_array(result)


def dilate(label: LabelMap, radius_mm: float) -> LabelMap:
    """Grow the segmentation by ``radius_mm`` millimetres in every direction."""
    return _apply(label, radius_mm, ("dilate",))


def erode(label: LabelMap, radius_mm: float) -> LabelMap:
    """Shrink the segmentation by ``radius_mm`` millimetres (outside the image is background)."""
    return _apply(label, radius_mm, ("erode",))


def opening(label: LabelMap, radius_mm: float) -> LabelMap:
    """Erode then dilate: removes parts thinner than about 2 x ``radius_mm``."""
    return _apply(label, radius_mm, ("erode", "dilate"))


def closing(label: LabelMap, radius_mm: float) -> LabelMap:
    """Dilate then erode: closes gaps and dents narrower than about 2 x ``radius_mm``."""
    return _apply(label, radius_mm, ("dilate", "erode"))


def fill_cavities(label: LabelMap) -> LabelMap:
    """Fill background pockets fully enclosed by the segmentation (in 3D).

    Background is 26-connected (the complement of 6-connected foreground), so a pocket
    that reaches the outside through a diagonal gap stays open, as it does in the mesh.
    """
    region = foreground_region(label.array)
    if region is None:
        return label.with_array(np.zeros(label.shape, dtype=np.uint8))
    block, inside, block_region = padded_block(label.array.view(bool), region, 1, fill=0)
    background = np.empty(block.shape, dtype=np.int32)
    ndimage.label(~block, structure=STRUCTURE_26, output=background)
    outside = background[0, 0, 0]
    filled = background != outside
    result = np.zeros(label.shape, dtype=np.uint8)
    result[inside] = filled[block_region]
    return label.with_array(result)


def crop_to_box(label: LabelMap, lps_min: ArrayLike, lps_max: ArrayLike) -> LabelMap:
    """Zero every voxel whose centre lies outside the LPS box [lps_min, lps_max] (mm)."""
    low = np.minimum(np.asarray(lps_min, float), np.asarray(lps_max, float)).reshape(3)
    high = np.maximum(np.asarray(lps_min, float), np.asarray(lps_max, float)).reshape(3)
    corners = np.array(
        [[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])]
    )
    indices = geometry.lps_to_index(label.affine, corners)
    start = np.maximum(np.floor(indices.min(axis=0)).astype(int), 0)
    stop = np.minimum(np.ceil(indices.max(axis=0)).astype(int) + 1, np.asarray(label.shape))
    result = np.zeros(label.shape, dtype=np.uint8)
    if np.any(stop <= start):
        return label.with_array(result)
    affine = label.affine
    rows = np.arange(start[1], stop[1])[:, None]
    cols = np.arange(start[2], stop[2])[None, :]
    for s in range(start[0], stop[0]):
        inside = np.ones((stop[1] - start[1], stop[2] - start[2]), dtype=bool)
        for axis in range(3):
            coordinate = affine[axis, 0] * s + affine[axis, 1] * rows + affine[axis, 2] * cols
            coordinate = coordinate + affine[axis, 3]
            inside &= (coordinate >= low[axis] - 1e-6) & (coordinate <= high[axis] + 1e-6)
        source = label.array[s, start[1] : stop[1], start[2] : stop[2]]
        result[s, start[1] : stop[1], start[2] : stop[2]] = np.where(inside, source, 0)
    return label.with_array(result)
