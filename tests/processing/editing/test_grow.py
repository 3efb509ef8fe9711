"""Grow from seeds: splitting a dumbbell at its neck, range limits, seed checks, gradients."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.editing.grids import GRIDS, grid_centre, voxel_centres
from workstation.core.errors import Cancelled
from workstation.core.progress import CancelToken
from workstation.processing.editing.grow import gradient_magnitude_mm, grow_from_seeds

SHAPE = (20, 44, 40)


def dumbbell(affine):
    """CT-like image of two balls (radii 6 and 4 mm) joined by a 1.2 mm-radius neck.

    Returns (image, big ball, small ball, seeds) with the balls as voxel masks.
    """
    centres = voxel_centres(SHAPE, affine)
    middle = grid_centre(SHAPE, affine)
    axis = np.array([0.8, 0.6, 0.0])
    big_centre, small_centre = middle - 5.5 * axis, middle + 5.0 * axis
    big = np.linalg.norm(centres - big_centre, axis=-1) <= 6.0
    small = np.linalg.norm(centres - small_centre, axis=-1) <= 4.0
    along = (centres - big_centre) @ axis
    across = np.linalg.norm(centres - big_centre - along[..., None] * axis, axis=-1)
    neck = (along >= 0) & (along <= 10.5) & (across <= 1.2)
    image = np.full(SHAPE, -1000, dtype=np.int16)
    image[big | small | neck] = 800
    seeds = {
        "big": nearest_voxels(centres, big_centre, 3),
        "small": nearest_voxels(centres, small_centre, 2),
    }
    return image, big, small, seeds


def nearest_voxels(
    centres: np.ndarray, point: np.ndarray, count: int
) -> list[tuple[int, int, int]]:
    """The ``count`` voxels whose centres are nearest ``point``: a short brush stroke."""
    distances = np.linalg.norm(centres - point, axis=-1).ravel()
    flat = np.argsort(distances)[:count]
    return [tuple(int(i) for i in np.unravel_index(f, centres.shape[:3])) for f in flat]


@pytest.mark.parametrize("grid", list(GRIDS))
def test_dumbbell_splits_at_the_neck(grid):
    affine = GRIDS[grid]
    image, big, small, seeds = dumbbell(affine)
    grown = grow_from_seeds(image, affine, seeds, (300, 3000))
    assert set(grown) == {"big", "small"}
    assert grown["big"].shape == SHAPE and grown["big"].dtype == bool
    assert not (grown["big"] & grown["small"]).any()
    # every in-range voxel is connected to a seed, so every one is claimed
    np.testing.assert_array_equal(grown["big"] | grown["small"], image >= 300)
    assert (grown["big"] & big).sum() > 0.97 * big.sum()
    assert (grown["small"] & small).sum() > 0.97 * small.sum()
    assert not (grown["small"] & big).sum() > 0.02 * big.sum()
    assert not (grown["big"] & small).sum() > 0.02 * small.sum()


def test_voxels_not_connected_to_a_seed_are_left_out():
    affine = GRIDS["axial"]
    image, big, small, seeds = dumbbell(affine)
    image[1:3, 1:4, 1:4] = 900  # an in-range island touching no seed
    grown = grow_from_seeds(image, affine, seeds, (300, 3000))
    union = grown["big"] | grown["small"]
    assert not union[1:3, 1:4, 1:4].any()
    np.testing.assert_array_equal(union, big | small | (union & (image >= 300)))
    assert union.sum() == (image >= 300).sum() - 18


def test_seeds_in_separate_pieces_grow_each_piece():
    affine = GRIDS["double-oblique"]
    image = np.zeros((10, 12, 30), dtype=np.int16)
    image[2:8, 3:9, 2:9] = 500
    image[1:9, 2:10, 18:27] = 600
    seeds = {"left": [(4, 5, 5), (5, 5, 5)], "right": [(5, 6, 22)]}
    grown = grow_from_seeds(image, affine, seeds, (400, 700))
    np.testing.assert_array_equal(grown["left"], image == 500)
    np.testing.assert_array_equal(grown["right"], image == 600)


def test_voxels_touching_only_at_an_edge_are_not_reached():
    affine = GRIDS["axial"]
    image = np.zeros((6, 7, 8), dtype=np.int16)
    image[1:4, 1:4, 1:4] = 500
    image[4, 4, 2] = 500  # shares an edge with the block, no face
    grown = grow_from_seeds(image, affine, {"block": [(2, 2, 2)]}, (400, 600))
    assert grown["block"].sum() == 27 and not grown["block"][4, 4, 2]


def test_intensity_range_is_inclusive():
    affine = GRIDS["axial"]
    image, _, _, seeds = dumbbell(affine)
    grown = grow_from_seeds(image, affine, seeds, (800, 800))
    np.testing.assert_array_equal(grown["big"] | grown["small"], image == 800)
    with pytest.raises(ValueError, match="'big'"):
        grow_from_seeds(image, affine, seeds, (801, 900))


def test_without_a_range_every_voxel_is_claimed():
    affine = GRIDS["tilted"]
    image, big, small, seeds = dumbbell(affine)
    grown = grow_from_seeds(image, affine, seeds, None)
    assert (grown["big"] ^ grown["small"]).all()
    # the air is claimed too; the balls' surface voxels may go to either segment
    assert (grown["big"] & big).sum() > 0.9 * big.sum()
    assert (grown["small"] & small).sum() > 0.9 * small.sum()


def test_seed_problems_name_the_segment():
    affine = GRIDS["axial"]
    image, _, _, seeds = dumbbell(affine)
    with pytest.raises(ValueError, match="'air'"):
        grow_from_seeds(image, affine, {**seeds, "air": [(0, 0, 0)]}, (300, 3000))
    with pytest.raises(ValueError, match=r"'far'.*outside the image"):
        grow_from_seeds(image, affine, {**seeds, "far": [(0, 0, 99)]}, (300, 3000))
    with pytest.raises(ValueError, match="'none'"):
        grow_from_seeds(image, affine, {**seeds, "none": []}, (300, 3000))
    with pytest.raises(ValueError, match="'big' and 'copy'"):
        grow_from_seeds(image, affine, {**seeds, "copy": seeds["big"]}, (300, 3000))
    with pytest.raises(ValueError, match="at least one"):
        grow_from_seeds(image, affine, {}, (300, 3000))


def test_progress_is_reported_and_cancel_stops():
    affine = GRIDS["axial"]
    image, _, _, seeds = dumbbell(affine)
    reports = []
    grow_from_seeds(image, affine, seeds, (300, 3000), progress=lambda f, t: reports.append(f))
    assert reports[0] == 0.0 and reports[-1] == 1.0 and reports == sorted(reports)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        grow_from_seeds(image, affine, seeds, (300, 3000), cancel=token)


@pytest.mark.parametrize("grid", list(GRIDS))
def test_gradient_magnitude_is_in_value_per_mm(grid):
    affine = GRIDS[grid]
    slope = np.array([3.0, -2.0, 1.5])  # value per mm along L, P, S
    values = voxel_centres((9, 10, 11), affine) @ slope
    magnitude = gradient_magnitude_mm(values, affine)
    interior = magnitude[1:-1, 1:-1, 1:-1]
    np.testing.assert_allclose(interior, np.linalg.norm(slope), rtol=1e-4)
