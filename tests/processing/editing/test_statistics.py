"""Segment statistics against analytic volumes and areas, on axial, oblique and tilted grids."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from tests.processing.editing.grids import GRIDS, grid_centre, voxel_centres
from workstation.core.volume import Volume
from workstation.processing.editing.statistics import segment_statistics

SHAPE = (16, 30, 28)


def cuboid_surface_area(affine: np.ndarray, counts: tuple[int, int, int]) -> float:
    """Exact area of the 0.5 iso-surface of a block of voxels, mapped through the affine.

    In index space it has six flat faces through the outer voxel centres' half steps, a
    chamfer strip along each of the twelve edges and a triangle at each of the 8 corners.
    """
    steps = [affine[:3, axis] for axis in range(3)]
    area = 0.0
    for axis in range(3):
        i, j = (a for a in range(3) if a != axis)
        face = np.linalg.norm(np.cross(steps[i], steps[j])) * (counts[i] - 1) * (counts[j] - 1)
        area += 2 * face
        for sign_i, sign_j in itertools.product((-1, 1), repeat=2):
            chamfer = 0.5 * (-sign_i * steps[i] + sign_j * steps[j])
            area += (counts[axis] - 1) * np.linalg.norm(np.cross(steps[axis], chamfer))
    for signs in itertools.product((-1, 1), repeat=3):
        a, b, c = (0.5 * signs[k] * steps[k] for k in range(3))
        area += 0.5 * np.linalg.norm(np.cross(b - a, c - a))
    return float(area)


def half_cell_diagonal(affine: np.ndarray) -> float:
    """Largest distance from a voxel centre to a corner of its (parallelepiped) cell."""
    corners = np.array(list(itertools.product((-0.5, 0.5), repeat=3)))
    return float(np.max(np.linalg.norm(corners @ affine[:3, :3].T, axis=1)))


def image_for(affine: np.ndarray) -> Volume:
    """A volume whose values vary across it (a ramp plus a pattern)."""
    s, r, c = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1], 0 : SHAPE[2]]
    values = (10 * s - 3 * r + c + (s * r * c) % 7).astype(np.int16)
    return Volume(values, affine, units="HU")


@pytest.mark.parametrize("grid", list(GRIDS))
def test_block_of_voxels_has_exact_volume_area_extent_and_values(grid):
    affine = GRIDS[grid]
    volume = image_for(affine)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[3:9, 5:20, 4:12] = True
    stats = segment_statistics(mask, volume)
    assert stats.voxels == 6 * 15 * 8
    voxel_mm3 = 1.5 * 0.6 * 0.7  # rotation and tilt shear keep the voxel volume
    assert stats.volume_mm3 == pytest.approx(720 * voxel_mm3, rel=1e-12)
    assert stats.surface_area_mm2 == pytest.approx(cuboid_surface_area(affine, (6, 15, 8)), 1e-9)
    centres = voxel_centres(SHAPE, affine)[mask]
    np.testing.assert_allclose(stats.bbox_min_lps, centres.min(axis=0), atol=1e-9)
    np.testing.assert_allclose(stats.bbox_max_lps, centres.max(axis=0), atol=1e-9)
    inside = volume.array[mask].astype(np.float64)
    assert stats.mean == pytest.approx(inside.mean())
    assert stats.std == pytest.approx(inside.std())
    assert (stats.minimum, stats.maximum) == (inside.min(), inside.max())


@pytest.mark.parametrize("grid", list(GRIDS))
def test_ball_volume_and_area_are_close_to_the_sphere(grid):
    affine = GRIDS[grid]
    radius = 6.0
    centre = grid_centre(SHAPE, affine) + np.array([0.3, -0.2, 0.4])
    mask = np.linalg.norm(voxel_centres(SHAPE, affine) - centre, axis=-1) <= radius
    stats = segment_statistics(mask, image_for(affine))
    h = half_cell_diagonal(affine)  # voxel cells lie between the spheres of radius r -/+ h
    assert 4 / 3 * np.pi * (radius - h) ** 3 < stats.volume_mm3 < 4 / 3 * np.pi * (radius + h) ** 3
    assert stats.volume_mm3 == pytest.approx(4 / 3 * np.pi * radius**3, rel=0.05)
    # the marching-cubes surface of a voxel set is a little terraced: larger than the sphere
    assert 1.0 < stats.surface_area_mm2 / (4 * np.pi * radius**2) < 1.2
    index = np.argwhere(mask)
    box = np.array(list(itertools.product(*zip(index.min(axis=0), index.max(axis=0), strict=True))))
    corners = box @ affine[:3, :3].T + affine[:3, 3]
    np.testing.assert_allclose(stats.bbox_min_lps, corners.min(axis=0), atol=1e-9)
    np.testing.assert_allclose(stats.bbox_max_lps, corners.max(axis=0), atol=1e-9)


def test_sheared_voxel_volume_is_the_determinant():
    affine = GRIDS["tilted"]
    mask = np.zeros(SHAPE, dtype=bool)
    mask[2, 3, 4] = True
    stats = segment_statistics(mask, image_for(affine))
    step_lengths = np.prod(np.linalg.norm(affine[:3, :3], axis=0))
    assert stats.volume_mm3 == pytest.approx(1.5 * 0.6 * 0.7, rel=1e-12)
    assert stats.volume_mm3 < step_lengths * 0.99  # not the product of the step lengths
    assert stats.bbox_min_lps == stats.bbox_max_lps
    assert stats.std == 0.0


def test_empty_segment_and_json_output():
    volume = image_for(GRIDS["axial"])
    empty = segment_statistics(np.zeros(SHAPE, dtype=bool), volume)
    assert (empty.voxels, empty.volume_mm3, empty.surface_area_mm2) == (0, 0.0, 0.0)
    assert empty.mean is None and empty.bbox_min_lps is None and empty.std is None
    mask = np.zeros(SHAPE, dtype=bool)
    mask[4:6, 4:6, 4:6] = True
    for stats in (empty, segment_statistics(mask, volume)):
        values = stats.as_dict()
        assert json.loads(json.dumps(values)) == values
        assert all(type(v) in (int, float, list, type(None)) for v in values.values())


def test_float_image_ignores_non_finite_values():
    affine = GRIDS["axial"]
    values = np.zeros(SHAPE, dtype=np.float32)
    values[5, 5, 5], values[5, 5, 6] = np.nan, 4.0
    mask = np.zeros(SHAPE, dtype=bool)
    mask[5, 5, 5:8] = True
    stats = segment_statistics(mask, Volume(values, affine))
    assert (stats.voxels, stats.mean, stats.maximum) == (3, 2.0, 4.0)
    with pytest.raises(ValueError, match="shape"):
        segment_statistics(mask[:-1], Volume(values, affine))
