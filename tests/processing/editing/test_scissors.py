"""Scissors against projecting every voxel centre and a winding-number polygon test."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.editing.grids import GRIDS, grid_centre, voxel_centres
from workstation.core import geometry
from workstation.core.errors import Cancelled
from workstation.core.progress import CancelToken
from workstation.processing.editing.scissors import (
    apply_scissors,
    scissors_mask,
    scissors_regions,
)

SHAPE = (16, 26, 24)


def newell_normal(points: np.ndarray) -> np.ndarray:
    """Polygon normal by Newell's formula, written out component by component."""
    normal = np.zeros(3)
    for i in range(len(points)):
        (x0, y0, z0), (x1, y1, z1) = points[i], points[(i + 1) % len(points)]
        normal += ((y0 - y1) * (z0 + z1), (z0 - z1) * (x0 + x1), (x0 - x1) * (y0 + y1))
    return normal / np.linalg.norm(normal)


def winding_number(point: np.ndarray, polygon: np.ndarray) -> int:
    """Winding number of a closed 2D polygon around a point (Sunday's algorithm)."""
    total = 0
    x, y = point
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        side = (x1 - x0) * (y - y0) - (x - x0) * (y1 - y0)
        if y0 <= y < y1 and side > 0:
            total += 1
        elif y1 <= y < y0 and side < 0:
            total -= 1
    return total


def brute_scissors(shape, affine, polygon, direction, depth=None):
    """(inside, slab) by projecting every voxel centre along the direction onto the plane."""
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    origin = polygon.mean(axis=0)
    normal = newell_normal(polygon)
    # any orthonormal basis of the plane gives the same inside set
    first = np.cross(normal, [0.6, 0.0, 0.8])
    first /= np.linalg.norm(first)
    second = np.cross(normal, first)

    def plane_coordinates(points):
        heights = (points - origin) @ normal
        projected = points - np.outer(heights / (direction @ normal), direction)
        return np.stack([(projected - origin) @ first, (projected - origin) @ second], axis=1)

    outline = plane_coordinates(polygon)
    centres = voxel_centres(shape, affine).reshape(-1, 3)
    flat = plane_coordinates(centres)
    inside = np.array([winding_number(p, outline) % 2 == 1 for p in flat]).reshape(shape)
    if depth is None:
        return inside, None
    slab = np.abs((centres - origin) @ normal) <= depth / 2 * (1 + 1e-9)
    return inside, slab.reshape(shape)


def star_polygon(centre, direction, seed: int, points: int = 9, wobble: float = 0.0):
    """A random star-shaped (simple) polygon around ``centre``, facing ``direction``."""
    rng = np.random.default_rng(seed)
    normal = np.asarray(direction, float) / np.linalg.norm(direction)
    first = np.cross(normal, [0.0, 0.0, 1.0] if abs(normal[2]) < 0.9 else [1.0, 0.0, 0.0])
    first /= np.linalg.norm(first)
    second = np.cross(normal, first)
    angles = np.sort(rng.uniform(0, 2 * np.pi, points))
    radii = rng.uniform(2.5, 7.0, points)
    heights = rng.uniform(-wobble, wobble, points)
    return (
        np.asarray(centre)
        + np.outer(radii * np.cos(angles), first)
        + np.outer(radii * np.sin(angles), second)
        + np.outer(heights, normal)
    )


def directions_for(affine: np.ndarray) -> dict[str, np.ndarray]:
    """The view normal, a volume axis in the image planes, and an oblique direction."""
    return {
        "view-normal": geometry.slice_normal(affine),
        "column-axis": geometry.axis_directions(affine)[:, 2],
        "oblique": np.array([0.35, -0.4, 0.85]),
    }


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("which", ["view-normal", "column-axis", "oblique"])
def test_inside_matches_brute_force_projection(grid, which):
    affine = GRIDS[grid]
    direction = directions_for(affine)[which]
    centre = grid_centre(SHAPE, affine) + np.array([0.4, -0.7, 0.3])
    for seed in range(3):
        polygon = star_polygon(centre, direction, seed)
        inside, slab = scissors_regions(SHAPE, affine, polygon, direction)
        expected, _ = brute_scissors(SHAPE, affine, polygon, direction)
        assert slab is None
        assert 0 < expected.sum() < expected.size
        np.testing.assert_array_equal(inside, expected)


@pytest.mark.parametrize("grid", list(GRIDS))
def test_cut_along_a_direction_oblique_to_a_non_planar_polygon(grid):
    affine = GRIDS[grid]
    direction = np.array([0.2, 0.5, 0.85])
    tilted_plane = direction + np.array([0.5, -0.3, 0.0])
    polygon = star_polygon(grid_centre(SHAPE, affine), tilted_plane, seed=7, wobble=0.8)
    inside, slab = scissors_regions(SHAPE, affine, polygon, direction, depth_mm=3.3)
    expected, expected_slab = brute_scissors(SHAPE, affine, polygon, direction, 3.3)
    np.testing.assert_array_equal(inside, expected)
    np.testing.assert_array_equal(slab, expected_slab)  # the plane holds the points' mean


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("which", ["view-normal", "oblique"])
def test_slab_holds_the_centres_within_half_the_depth(grid, which):
    affine = GRIDS[grid]
    direction = directions_for(affine)[which]
    polygon = star_polygon(grid_centre(SHAPE, affine), direction, seed=3)
    inside, slab = scissors_regions(SHAPE, affine, polygon, direction, depth_mm=4.2)
    expected_inside, expected_slab = brute_scissors(SHAPE, affine, polygon, direction, 4.2)
    np.testing.assert_array_equal(inside, expected_inside)
    np.testing.assert_array_equal(slab, expected_slab)
    assert 0 < expected_slab.sum() < expected_slab.size / 2
    selected = scissors_mask(SHAPE, affine, polygon, direction, depth_mm=4.2)
    np.testing.assert_array_equal(selected, expected_inside & expected_slab)


def test_slab_faces_on_voxel_planes_are_kept():
    affine = GRIDS["axial"]  # 1.5 mm slices: a 6 mm slab around slice 8 reaches slices 6..10
    centre = geometry.index_to_lps(affine, np.array([[8, 12.3, 11.7]]))[0]
    polygon = star_polygon(centre, (0, 0, 1), seed=1)
    _, slab = scissors_regions(SHAPE, affine, polygon, (0, 0, 1), depth_mm=6.0)
    assert np.flatnonzero(slab.any(axis=(1, 2))).tolist() == [6, 7, 8, 9, 10]
    assert slab[6:11].all()


@pytest.mark.parametrize("grid", list(GRIDS))
def test_modes_with_depth_leave_voxels_beyond_the_slab_alone(grid):
    affine = GRIDS[grid]
    direction = directions_for(affine)["oblique"]
    polygon = star_polygon(grid_centre(SHAPE, affine), direction, seed=4)
    inside, slab = scissors_regions(SHAPE, affine, polygon, direction, depth_mm=3.0)
    truth_inside, truth_slab = brute_scissors(SHAPE, affine, polygon, direction, 3.0)
    rng = np.random.default_rng(2)
    segment = rng.random(SHAPE) < 0.5
    erased_outside = apply_scissors(segment, inside, "erase_outside", slab)
    kept = np.where(truth_slab, segment & truth_inside, segment)
    np.testing.assert_array_equal(erased_outside, kept)
    assert (erased_outside[~truth_slab] == segment[~truth_slab]).all()
    assert erased_outside[~truth_slab].any()
    everything = np.ones(SHAPE, dtype=bool)
    np.testing.assert_array_equal(
        apply_scissors(everything, inside, "erase_outside", slab), truth_inside | ~truth_slab
    )
    np.testing.assert_array_equal(
        apply_scissors(segment, inside, "erase_inside", slab),
        segment & ~(truth_inside & truth_slab),
    )
    np.testing.assert_array_equal(
        apply_scissors(segment, inside, "fill_inside", slab), segment | (truth_inside & truth_slab)
    )


def test_modes_without_depth_act_through_the_whole_volume():
    affine = GRIDS["tilted"]
    direction = geometry.slice_normal(affine)
    polygon = star_polygon(grid_centre(SHAPE, affine), direction, seed=5)
    inside, slab = scissors_regions(SHAPE, affine, polygon, direction)
    segment = np.random.default_rng(3).random(SHAPE) < 0.3
    np.testing.assert_array_equal(
        apply_scissors(segment, inside, "erase_outside"), segment & inside
    )
    np.testing.assert_array_equal(
        apply_scissors(segment, inside, "erase_inside"), segment & ~inside
    )
    np.testing.assert_array_equal(apply_scissors(segment, inside, "fill_inside"), segment | inside)
    assert slab is None
    with pytest.raises(ValueError, match="mode"):
        apply_scissors(segment, inside, "invert")


@pytest.mark.parametrize("grid", ["axial", "double-oblique"])
def test_self_intersecting_polygon_uses_the_even_odd_rule(grid):
    affine = GRIDS[grid]
    direction = geometry.slice_normal(affine)
    centre = grid_centre(SHAPE, affine)
    first, second = geometry.axis_directions(affine)[:, 2], geometry.axis_directions(affine)[:, 1]
    angles = np.radians(90 + 144 * np.arange(5))  # a pentagram
    polygon = (
        centre + np.outer(6.5 * np.cos(angles), first) + np.outer(6.5 * np.sin(angles), second)
    )
    inside = scissors_mask(SHAPE, affine, polygon, direction)
    expected, _ = brute_scissors(SHAPE, affine, polygon, direction)
    np.testing.assert_array_equal(inside, expected)
    middle = np.rint(geometry.lps_to_index(affine, centre)[0]).astype(int)
    assert not inside[tuple(middle)]  # the pentagon in the middle is wound twice: outside


def test_degenerate_polygon_cuts_nothing():
    affine = GRIDS["axial"]
    centre = grid_centre(SHAPE, affine)
    line = centre + np.outer(np.linspace(-5, 5, 4), [1.0, 0.5, 0.0])
    assert not scissors_mask(SHAPE, affine, line, (0, 0, 1)).any()


def test_invalid_cuts_are_refused():
    affine = GRIDS["axial"]
    polygon = star_polygon(grid_centre(SHAPE, affine), (0, 0, 1), seed=0)
    with pytest.raises(ValueError, match="plane"):
        scissors_mask(SHAPE, affine, polygon, (1, 0, 0))
    with pytest.raises(ValueError, match="three"):
        scissors_mask(SHAPE, affine, polygon[:2], (0, 0, 1))
    with pytest.raises(ValueError, match="depth"):
        scissors_mask(SHAPE, affine, polygon, (0, 0, 1), depth_mm=-1.0)


def test_oblique_cut_can_be_cancelled():
    affine = GRIDS["double-oblique"]
    direction = np.array([0.35, -0.4, 0.85])
    polygon = star_polygon(grid_centre(SHAPE, affine), direction, seed=0)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        scissors_mask(SHAPE, affine, polygon, direction, cancel=token)
