"""Islands: largest, seeded and small-island removal with 6-connectivity."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.spheres import bodies
from workstation.core import geometry
from workstation.core.errors import SegmentationError
from workstation.core.volume import LabelMap
from workstation.processing import islands
from workstation.processing.surface import extract_surface

AFFINE = np.array([[0, 0, 0.5, 3], [0, 0.8, 0, -7], [2.0, 0, 0, 11], [0, 0, 0, 1.0]])


def blobs() -> tuple[np.ndarray, list[np.ndarray]]:
    """Three disjoint boxes of 24, 8 and 1 voxels."""
    array = np.zeros((8, 10, 12), dtype=np.uint8)
    parts = []
    for region in (
        (slice(0, 2), slice(0, 3), slice(0, 4)),
        (slice(4, 6), slice(5, 7), slice(6, 8)),
        (slice(7, 8), slice(9, 10), slice(11, 12)),
    ):
        part = np.zeros_like(array, dtype=bool)
        part[region] = True
        array[region] = 1
        parts.append(part)
    return array, parts


@pytest.mark.parametrize(
    ("second", "expected_bodies"), [((2, 3, 3), 2), ((3, 3, 3), 2), ((2, 2, 3), 1)]
)
def test_surface_separates_diagonal_voxels(second, expected_bodies):
    """Evidence for 6-connectivity: edge- or corner-touching voxels mesh as separate bodies."""
    array = np.zeros((6, 6, 6), dtype=np.uint8)
    array[2, 2, 2] = 1
    array[second] = 1
    label = LabelMap(array, np.eye(4))
    assert len(bodies(extract_surface(label))) == expected_bodies
    assert islands.count_islands(label) == expected_bodies


def test_keep_largest():
    array, parts = blobs()
    result = islands.keep_largest(LabelMap(array, AFFINE))
    np.testing.assert_array_equal(result.mask, parts[0])
    assert result.same_grid(LabelMap(array, AFFINE))


def test_keep_largest_of_empty_is_an_error():
    with pytest.raises(SegmentationError, match="empty"):
        islands.keep_largest(LabelMap(np.zeros((2, 2, 2)), AFFINE))


def test_keep_connected_to_seed_in_patient_mm():
    array, parts = blobs()
    seed = geometry.index_to_lps(AFFINE, [[5, 6, 7]])[0] + np.array([0.1, -0.2, 0.3])
    result = islands.keep_connected_to(LabelMap(array, AFFINE), seed)
    np.testing.assert_array_equal(result.mask, parts[1])


def test_seed_outside_or_on_background_is_refused():
    array, _ = blobs()
    label = LabelMap(array, AFFINE)
    with pytest.raises(SegmentationError, match="outside the image"):
        islands.keep_connected_to(label, (500.0, 0.0, 0.0))
    background = geometry.index_to_lps(AFFINE, [[3, 0, 0]])[0]
    with pytest.raises(SegmentationError, match="background"):
        islands.keep_connected_to(label, background)


def test_remove_small_uses_cubic_millimetres():
    array, parts = blobs()
    voxel = 0.5 * 0.8 * 2.0  # 0.8 mm^3
    label = LabelMap(array, AFFINE)
    result = islands.remove_small(label, 8 * voxel)  # the 8-voxel box is exactly at the limit
    np.testing.assert_array_equal(result.mask, parts[0] | parts[1])
    result = islands.remove_small(label, 8 * voxel + 0.01)
    np.testing.assert_array_equal(result.mask, parts[0])
    assert islands.remove_small(label, 0).voxel_count == array.sum()
