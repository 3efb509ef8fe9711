"""Surfaces in exact patient mm: every orientation, shear and determinant sign."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.spheres import ORIENTATIONS, assert_bodies_match, ball_volume, grid_affine
from workstation.core import geometry
from workstation.core.errors import NotAVolumeError, SegmentationError
from workstation.core.volume import LabelMap, Volume
from workstation.processing.mesh_cleaning import clean
from workstation.processing.mesh_statistics import mesh_statistics
from workstation.processing.surface import effective_level, extract_surface, flying_edges
from workstation.processing.threshold import threshold

SHAPE = (40, 52, 52)

CASES = [
    (orientation, tilt, reverse)
    for orientation in ORIENTATIONS
    for tilt, reverse in ((0.0, False), (0.0, True), (18.5, False))
]


@pytest.mark.parametrize(("orientation", "tilt", "reverse"), CASES)
def test_label_surface_bodies_at_true_positions(orientation, tilt, reverse):
    affine = grid_affine(orientation, SHAPE, tilt_degrees=tilt, reverse=reverse)
    volume, truths = ball_volume(affine, SHAPE)
    mesh = extract_surface(threshold(volume, 0))
    assert mesh.signed_volume() > 0
    assert_bodies_match(mesh, truths)
    stats = mesh_statistics(mesh)
    assert stats.watertight and stats.manifold and stats.components == 2


def test_determinant_sign_differs_between_cases():
    dets = {np.sign(np.linalg.det(grid_affine("axial", SHAPE, reverse=r)[:3, :3])) for r in (0, 1)}
    assert dets == {-1.0, 1.0}


def test_label_vertices_lie_on_voxel_edge_midpoints_through_the_full_affine():
    affine = grid_affine("double-oblique", (8, 9, 10), tilt_degrees=15.0)
    mask = np.zeros((8, 9, 10), dtype=np.uint8)
    mask[2:5, 3:7, 4:9] = 1
    mask[0:2, 0:2, 0:2] = 1  # touches the volume border: must still close
    mesh = extract_surface(LabelMap(mask, affine))
    index = geometry.lps_to_index(affine, mesh.vertices)
    fractional = np.abs(index - np.round(index * 2) / 2)
    assert fractional.max() < 1e-6
    halves = np.isclose(np.abs(index - np.round(index)), 0.5, atol=1e-6)
    assert np.all(halves.sum(axis=1) == 1)  # one coordinate half-way, two on the grid
    stats = mesh_statistics(mesh)
    assert stats.watertight and stats.components == 2
    assert index[:, 0].min() == pytest.approx(-0.5)  # closed beyond the first slice


def test_image_isosurface_on_integer_level_has_no_degenerate_triangles():
    affine = grid_affine("axial", SHAPE)
    volume, truths = ball_volume(affine, SHAPE)
    array = np.where(volume.array > 0, 300, -1000).astype(np.int16)  # inside exactly at the level
    plateau = Volume(array, affine, units="HU")
    assert effective_level(array, 300) == 299.5
    mesh = extract_surface(plateau, level=300)
    _, report = clean(mesh)
    assert report == []
    assert mesh_statistics(mesh).watertight
    # the surface hugs the inside voxels (299.5 is next to 300): volume is low by design
    assert_bodies_match(mesh, truths, volume_rel=0.35)


def test_integer_level_half_way_between_values_gives_exact_bodies():
    affine = grid_affine("sagittal", SHAPE, tilt_degrees=12.0)
    volume, truths = ball_volume(affine, SHAPE)
    array = np.where(volume.array > 0, 599, 0).astype(np.int16)  # 299.5 is half-way
    mesh = extract_surface(Volume(array, affine, units="HU"), level=300)
    assert_bodies_match(mesh, truths)


def test_integer_level_without_the_shift_makes_degenerate_triangles():
    """Why the shift exists: flying edges exactly at data values collapses triangles."""
    array = np.full((6, 6, 6), 0, dtype=np.int16)
    array[2:4, 2:4, 2:4] = 300
    array[3, 3, 3] = 600
    points, faces = flying_edges(array, 300.0)
    corners = points[faces]
    areas = np.linalg.norm(
        np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]), axis=1
    )
    assert (areas < 1e-9).any()


def test_image_isosurface_on_float_data():
    affine = grid_affine("coronal", SHAPE, tilt_degrees=10.0)
    volume, truths = ball_volume(affine, SHAPE)
    smooth = Volume(volume.array.astype(np.float32), affine, units="HU")
    mesh = extract_surface(smooth, level=0.0)
    assert_bodies_match(mesh, truths)


def test_single_slice_is_not_a_volume():
    with pytest.raises(NotAVolumeError, match="at least 2"):
        extract_surface(LabelMap(np.ones((1, 5, 5)), np.eye(4)))


def test_empty_inputs_are_clear_errors():
    with pytest.raises(SegmentationError, match="empty"):
        extract_surface(LabelMap(np.zeros((3, 5, 5)), np.eye(4), name="Bone"))
    with pytest.raises(SegmentationError, match="threshold 100 and above selects no voxels"):
        extract_surface(Volume(np.zeros((3, 5, 5), np.int16), np.eye(4)), level=100)


def test_range_region_matches_the_mask_bounding_box():
    from workstation.processing.regions import foreground_region, range_region

    rng = np.random.default_rng(5)
    array = rng.integers(-1000, 1000, (40, 30, 20)).astype(np.int16)
    for lower, upper in ((990, None), (995, 996), (5000, None), (-5000, None)):
        mask = array > lower
        if upper is not None:
            mask &= array <= upper
        assert range_region(array, lower, upper, slab=7) == foreground_region(mask)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8, np.int32, np.float32])
@pytest.mark.parametrize("upper", [None, 150.0, 150.7, 5.0, 1e9, -5.0])
@pytest.mark.parametrize("masked", [False, True])
def test_image_block_inside_is_exactly_the_range_and_mask(dtype, upper, masked):
    """Above the iso-level exactly in the mask when one is given, else where
    iso < value <= upper (for integer data and levels: level <= value); grey values that
    already agree stay."""
    from workstation.processing.surface import _image_block

    rng = np.random.default_rng(7)
    values = rng.integers(0, 250, (6, 7, 8)).astype(dtype)
    values[0, 0, 0], values[-1, -1, -1] = 100, 100  # the region is the whole image
    volume = Volume(values, np.eye(4))
    mask = None
    chosen = np.ones(values.shape, dtype=bool)
    if masked:
        chosen = rng.random(values.shape) > 0.4
        chosen[0, 0, 0] = chosen[-1, -1, -1] = True
        mask = LabelMap(chosen.astype(np.uint8), np.eye(4), "m")
    for level in (100.0, 99.3, 100.5):
        iso = effective_level(values, level)
        wanted = chosen if masked else (values > iso) & (values <= (upper or np.inf))
        if not masked and upper is not None and upper < level:
            with pytest.raises(SegmentationError):
                _image_block(volume, level, upper, mask)
            continue
        block, iso, region = _image_block(volume, level, upper, mask)
        inner = block[1:-1, 1:-1, 1:-1]
        assert region == (slice(0, 6), slice(0, 7), slice(0, 8))
        assert np.array_equal(inner > iso, wanted)
        agrees = ((values > iso) == wanted) & (np.abs(values - iso) > 1e-3)  # float: off iso
        assert np.array_equal(inner[agrees], values[agrees])
        assert np.all(block[0] <= iso)  # the padding is outside
