"""Morphology in mm on anisotropic and sheared grids, cavity filling and box cropping."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.spatial import cKDTree

from workstation.core import geometry
from workstation.core.errors import SegmentationError
from workstation.core.volume import LabelMap
from workstation.processing import morphology

ANISOTROPIC = np.diag([2.0, 1.0, 0.5, 1.0])
SHEARED = np.array(
    [[0.0, 0.0, 0.6, 5.0], [0.3, 0.9, 0.0, -3.0], [1.5, 0.0, 0.0, 8.0], [0, 0, 0, 1]]
)


def brute_dilate(mask: np.ndarray, affine: np.ndarray, radius: float) -> np.ndarray:
    """Voxels whose centre lies within ``radius`` mm of a foreground voxel centre."""
    shape = mask.shape
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), -1).reshape(-1, 3)
    points = geometry.index_to_lps(affine, grid)
    distances, _ = cKDTree(points[mask.ravel()]).query(points)
    return (distances <= radius + 1e-9).reshape(shape)


def test_structuring_element_is_a_ball_in_mm():
    element = morphology.structuring_element(ANISOTROPIC, 2.0)
    assert element.shape == (3, 5, 9)
    centre = np.array(element.shape) // 2
    for index in itertools.product(*(range(n) for n in element.shape)):
        offset = (np.array(index) - centre) * np.array([2.0, 1.0, 0.5])
        assert element[index] == (np.linalg.norm(offset) <= 2.0 + 1e-9)


@pytest.mark.parametrize("affine", [ANISOTROPIC, SHEARED], ids=["anisotropic", "sheared"])
@pytest.mark.parametrize("radius", [1.0, 2.3])
def test_dilate_matches_distance_in_mm(affine, radius):
    rng = np.random.default_rng(3)
    mask = np.zeros((9, 11, 12), dtype=bool)
    mask[4, 5, 6] = True
    mask[rng.integers(2, 7), rng.integers(2, 9), rng.integers(2, 10)] = True
    result = morphology.dilate(LabelMap(mask, affine), radius)
    np.testing.assert_array_equal(result.mask, brute_dilate(mask, affine, radius))


@pytest.mark.parametrize("affine", [ANISOTROPIC, SHEARED], ids=["anisotropic", "sheared"])
def test_erode_is_the_dual_of_dilate(affine):
    mask = np.zeros((10, 12, 14), dtype=bool)
    mask[2:8, 1:11, 3:13] = True
    mask[4, 5, 7] = False
    radius = 1.2
    result = morphology.erode(LabelMap(mask, affine), radius)
    # outside the image counts as background: pad, dilate the background, crop back
    padded = np.pad(~mask, 4, constant_values=True)
    expected = ~brute_dilate(padded, affine, radius)[4:-4, 4:-4, 4:-4]
    np.testing.assert_array_equal(result.mask, expected)


def test_distance_map_path_equals_element_path(monkeypatch):
    mask = np.zeros((20, 24, 26), dtype=bool)
    mask[5:15, 6:18, 8:12] = True
    mask[10, 3, 20] = True
    label = LabelMap(mask, ANISOTROPIC)
    fast = morphology.dilate(label, 3.1)
    monkeypatch.setattr(morphology, "DISTANCE_MAP_ELEMENT_SIZE", 10**9)
    exact = morphology.dilate(label, 3.1)
    np.testing.assert_array_equal(fast.mask, exact.mask)
    assert morphology.structuring_element(ANISOTROPIC, 3.1).sum() > 125


def test_opening_removes_thin_parts_and_closing_bridges_gaps():
    mask = np.zeros((12, 30, 30), dtype=bool)
    mask[2:10, 5:25, 5:12] = True  # thick block
    mask[5:7, 5:25, 20:21] = True  # 1-voxel thin plate
    opened = morphology.opening(LabelMap(mask, np.eye(4)), 1.5)
    assert not opened.mask[:, :, 20].any()
    assert opened.mask[5, 15, 8]
    gap = np.zeros((12, 30, 30), dtype=bool)
    gap[2:10, 5:25, 5:12] = True
    gap[2:10, 5:25, 14:20] = True  # 2-voxel gap at columns 12, 13
    closed = morphology.closing(LabelMap(gap, np.eye(4)), 1.5)
    assert closed.mask[5, 15, 12] and closed.mask[5, 15, 13]
    assert not closed.mask[0, 15, 12]  # nothing grows beyond the objects
    # an object touching the image border is not eaten by closing
    np.testing.assert_array_equal(
        morphology.closing(LabelMap(mask, np.eye(4)), 1.5).mask[:, 5], mask[:, 5]
    )


def test_bad_radius_is_refused():
    with pytest.raises(SegmentationError):
        morphology.dilate(LabelMap(np.ones((3, 3, 3)), np.eye(4)), 0.0)


def test_fill_cavities_fills_enclosed_pockets_only():
    mask = np.zeros((15, 15, 15), dtype=bool)
    mask[2:13, 2:13, 2:13] = True
    mask[5:10, 5:10, 5:10] = False  # enclosed cavity
    open_pocket = mask.copy()
    open_pocket[7, 7, 10:13] = False  # channel to the outside
    filled = morphology.fill_cavities(LabelMap(mask, ANISOTROPIC))
    assert filled.mask[2:13, 2:13, 2:13].all() and filled.voxel_count == 11**3
    still_open = morphology.fill_cavities(LabelMap(open_pocket, ANISOTROPIC))
    np.testing.assert_array_equal(still_open.mask, open_pocket)


def test_crop_to_box_in_patient_mm():
    mask = np.ones((8, 9, 10), dtype=bool)
    low, high = np.array([5.5, -2.0, 9.0]), np.array([8.0, 3.0, 14.0])
    result = morphology.crop_to_box(LabelMap(mask, SHEARED), high, low)  # corner order free
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in mask.shape), indexing="ij"), -1)
    points = geometry.index_to_lps(SHEARED, grid.reshape(-1, 3)).reshape(*mask.shape, 3)
    inside = np.all((points >= low) & (points <= high), axis=-1)
    assert inside.any() and not inside.all()
    np.testing.assert_array_equal(result.mask, inside)
    assert result.shape == mask.shape
