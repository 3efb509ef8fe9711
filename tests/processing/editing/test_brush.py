"""Brush dabs against a brute-force distance test of every voxel centre, on three grids."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.editing.grids import GRIDS, grid_centre, voxel_centres
from workstation.core import geometry
from workstation.processing.editing.brush import brush_block

SHAPE = (14, 22, 20)


def painted_volume(shape, result) -> np.ndarray:
    """The dab as a full-size mask."""
    full = np.zeros(shape, dtype=bool)
    if result is not None:
        region, block = result
        assert block.dtype == bool and block.shape == full[region].shape
        full[region] = block
    return full


def brute_dab(shape, affine, centre, radius, normal=None) -> np.ndarray:
    """Voxels whose centre is within ``radius`` (and within half a step of the disc plane)."""
    offsets = voxel_centres(shape, affine) - np.asarray(centre)
    painted = np.sum(offsets**2, axis=-1) <= radius**2 * (1 + 1e-9)
    if normal is not None:
        unit = np.asarray(normal, float) / np.linalg.norm(normal)
        # the grid step along the normal: the largest step whose index change is one voxel
        index_change = np.abs(np.linalg.solve(affine[:3, :3], unit))
        half_step = 0.5 / index_change.max()
        painted &= np.abs(offsets @ unit) <= half_step * (1 + 1e-9)
    return painted


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("radius", [1.0, 2.7, 4.4])
def test_sphere_paints_exactly_the_centres_within_the_radius(grid, radius):
    affine = GRIDS[grid]
    rng = np.random.default_rng(int(radius * 10))
    middle = grid_centre(SHAPE, affine)
    for _ in range(4):
        centre = middle + rng.uniform(-6, 6, 3)
        result = brush_block(SHAPE, affine, centre, radius)
        expected = brute_dab(SHAPE, affine, centre, radius)
        np.testing.assert_array_equal(painted_volume(SHAPE, result), expected)
        assert expected.any()


@pytest.mark.parametrize("grid", list(GRIDS))
def test_region_is_the_tight_box_of_the_painted_voxels(grid):
    affine = GRIDS[grid]
    region, block = brush_block(SHAPE, affine, grid_centre(SHAPE, affine), 3.0)
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        along = block.any(axis=other)
        assert along[0] and along[-1], (axis, region)


@pytest.mark.parametrize("grid", list(GRIDS))
def test_dab_at_the_edge_is_clipped_to_the_volume(grid):
    affine = GRIDS[grid]
    corner = geometry.index_to_lps(affine, np.array([[0.3, -1.0, 0.2]]))[0]
    result = brush_block(SHAPE, affine, corner, 3.5)
    region, _ = result
    assert all(part.start >= 0 and part.stop <= n for part, n in zip(region, SHAPE, strict=True))
    expected = brute_dab(SHAPE, affine, corner, 3.5)
    np.testing.assert_array_equal(painted_volume(SHAPE, result), expected)


@pytest.mark.parametrize("grid", list(GRIDS))
def test_voxel_exactly_on_the_radius_is_painted(grid):
    affine = GRIDS[grid]
    centre = geometry.index_to_lps(affine, np.array([[6, 10, 9]]))[0]
    radius = float(np.linalg.norm(affine[:3, 2]) * 3)  # three columns away
    block_mask = painted_volume(SHAPE, brush_block(SHAPE, affine, centre, radius))
    assert block_mask[6, 10, 12] and block_mask[6, 10, 6]


def test_no_voxel_gives_none():
    affine = GRIDS["axial"]
    between = geometry.index_to_lps(affine, np.array([[5.5, 5.5, 5.5]]))[0]
    assert brush_block(SHAPE, affine, between, 0.3) is None
    far = geometry.index_to_lps(affine, np.array([[-20.0, 5, 5]]))[0]
    assert brush_block(SHAPE, affine, far, 5.0) is None


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("normal", ["planes", "oblique"])
def test_disc_is_one_voxel_plane_thick(grid, normal):
    affine = GRIDS[grid]
    direction = geometry.slice_normal(affine) if normal == "planes" else np.array([0.3, -0.5, 0.8])
    rng = np.random.default_rng(5)
    middle = grid_centre(SHAPE, affine)
    for _ in range(4):
        centre = middle + rng.uniform(-4, 4, 3)
        result = brush_block(SHAPE, affine, centre, 4.0, kind="disc", normal_lps=direction)
        expected = brute_dab(SHAPE, affine, centre, 4.0, normal=direction)
        np.testing.assert_array_equal(painted_volume(SHAPE, result), expected)
        assert expected.sum() < brute_dab(SHAPE, affine, centre, 4.0).sum() / 3


@pytest.mark.parametrize("grid", ["axial", "double-oblique"])
def test_disc_in_the_image_planes_stays_on_the_clicked_slice(grid):
    affine = GRIDS[grid]
    centre = geometry.index_to_lps(affine, np.array([[7, 11.3, 9.6]]))[0]
    region, block = brush_block(SHAPE, affine, centre, 3.0, kind="disc")
    assert region[0] == slice(7, 8)
    in_plane = np.linalg.norm(affine[:3, 1]) * np.linalg.norm(affine[:3, 2])
    assert block.sum() == pytest.approx(np.pi * 9.0 / in_plane, rel=0.15)


def test_invalid_arguments_are_refused():
    affine = GRIDS["axial"]
    centre = grid_centre(SHAPE, affine)
    with pytest.raises(ValueError, match="brush"):
        brush_block(SHAPE, affine, centre, 2.0, kind="cube")
    with pytest.raises(ValueError, match="radius"):
        brush_block(SHAPE, affine, centre, 0.0)
    with pytest.raises(ValueError, match="normal"):
        brush_block(SHAPE, affine, centre, 2.0, kind="disc", normal_lps=(0, 0, 0))


def test_five_mm_dab_on_a_half_mm_grid_computes_only_its_box():
    """A dab on a 400x512x512 grid touches the ball's index box, never the whole volume."""
    affine = np.diag([0.6, 0.5, 0.5, 1.0])
    shape = (400, 512, 512)
    centre = np.array([120.2, 128.3, 127.9])
    region, block = brush_block(shape, affine, centre, 5.0)
    assert block.shape[0] <= 2 * 5.0 / 0.6 + 2
    assert block.shape[1] <= 2 * 5.0 / 0.5 + 2 and block.shape[2] <= 2 * 5.0 / 0.5 + 2
    painted = np.argwhere(block) + np.array([s.start for s in region])
    distances = np.linalg.norm(painted * np.array([0.6, 0.5, 0.5]) - centre, axis=1)
    assert distances.max() <= 5.0 + 1e-9
