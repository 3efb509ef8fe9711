"""The model of a segment: a threshold segment as ``workstation mesh``, an edited one by voxels."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.spheres import OFFSETS, RADII, ball_volume, grid_affine
from workstation.core import geometry
from workstation.core.errors import SegmentationError
from workstation.services.modeling import (
    ModelOptions,
    make_model_from_volume,
    make_segment_model,
    segment_model_options,
)
from workstation.services.segment_editor import SegmentEditor

SHAPE = (40, 52, 52)
CENTRE = np.array([12.0, -30.0, 45.0])
#: in one process: the tests compare two builds, not the speed of a pool
OPTIONS = ModelOptions(workers=0)


@pytest.fixture(scope="module")
def phantom():
    """Two balls (1000 HU in -549 HU) on a double-oblique grid with tilted slices."""
    affine = grid_affine("double-oblique", SHAPE, tilt_degrees=12.0)
    volume, _ = ball_volume(affine, SHAPE, inside=1000, outside=-549)
    return volume


def _editor(volume, *records):
    editor = SegmentEditor(volume)
    editor.apply({"op": "add_segment", "name": "Bone"})
    for record in records:
        editor.apply({"segment": "Bone", **record})
    return editor


def test_a_threshold_segment_gets_the_surface_workstation_mesh_makes(phantom):
    editor = _editor(phantom, {"op": "threshold", "lower": 226.0, "upper": 3071.0})
    segment = editor.segmentation.by_name("Bone")
    assert segment.threshold_range == (226.0, 3071.0)
    model = make_segment_model(phantom, segment, OPTIONS)
    by_range = make_model_from_volume(
        phantom, ModelOptions(preset=None, lower=226.0, upper=3071.0, name="Bone", workers=0)
    )
    by_preset = make_model_from_volume(phantom, ModelOptions(name="Bone", workers=0))
    for other in (by_range, by_preset):
        np.testing.assert_array_equal(model.mesh.vertices, other.mesh.vertices)
        np.testing.assert_array_equal(model.mesh.faces, other.mesh.faces)
    assert model.mesh.name == "Bone"
    assert model.threshold == (226.0, 3071.0)
    assert model.statistics.watertight and model.statistics.components == 2


def test_segment_options_take_the_range_and_the_name(phantom):
    editor = _editor(phantom, {"op": "threshold", "lower": 100.0, "upper": None})
    segment = editor.segmentation.by_name("Bone")
    options = segment_model_options(segment, ModelOptions(smooth_iterations=5))
    assert (options.preset, options.lower, options.upper) == (None, 100.0, None)
    assert options.name == "Bone" and options.smooth_iterations == 5
    named = segment_model_options(segment, ModelOptions(name="Skull"))
    assert named.name == "Skull"


def _voxel_box(mask: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LPS (min, max) of the centres of the voxels of ``mask``."""
    centres = geometry.index_to_lps(affine, np.argwhere(mask).astype(float))
    return centres.min(axis=0), centres.max(axis=0)


def test_an_edited_segment_gets_the_surface_of_its_voxels(phantom):
    big_centre = CENTRE + np.asarray(OFFSETS[0])
    # erase a 4 mm ball from the big ball's edge, on the side facing away from the small one
    bite = big_centre + np.array([0.0, 0.0, RADII[0]])
    editor = _editor(
        phantom,
        {"op": "threshold", "lower": 226.0, "upper": 3071.0},
        {"op": "paint", "points_lps": [bite.tolist()], "radius_mm": 4.0, "erase": True},
    )
    segment = editor.segmentation.by_name("Bone")
    assert segment.threshold_range is None, "an erase makes the segment an edited one"
    thresholded = make_model_from_volume(phantom, ModelOptions(workers=0))
    model = make_segment_model(phantom, segment, OPTIONS)
    voxels_mm3 = segment.voxel_count * geometry.voxel_volume_mm3(phantom.affine)
    assert model.statistics.watertight and model.statistics.components == 2
    assert model.statistics.volume_mm3 == pytest.approx(voxels_mm3, rel=0.04)
    assert model.statistics.volume_mm3 < thresholded.statistics.volume_mm3 - 50.0
    low, high = _voxel_box(segment.mask, phantom.affine)
    voxel = float(np.linalg.norm(phantom.affine[:3, :3], axis=0).max())
    mesh_low, mesh_high = model.mesh.bounds()
    np.testing.assert_allclose(mesh_low, low, atol=voxel)
    np.testing.assert_allclose(mesh_high, high, atol=voxel)
    assert model.mesh.name == "Bone"


def test_a_painted_segment_without_threshold_is_meshed_where_it_was_painted(phantom):
    point = (CENTRE + np.asarray(OFFSETS[1])).tolist()
    editor = _editor(phantom, {"op": "paint", "points_lps": [point], "radius_mm": 5.0})
    segment = editor.segmentation.by_name("Bone")
    model = make_segment_model(phantom, segment, ModelOptions(workers=0, remove_table=False))
    voxels_mm3 = segment.voxel_count * geometry.voxel_volume_mm3(phantom.affine)
    assert model.statistics.components == 1
    assert model.statistics.volume_mm3 == pytest.approx(voxels_mm3, rel=0.06)
    centre = (np.add(*model.mesh.bounds())) / 2.0
    np.testing.assert_allclose(centre, point, atol=1.0)


def test_an_empty_segment_has_no_model(phantom):
    editor = _editor(phantom)
    with pytest.raises(SegmentationError, match="empty"):
        make_segment_model(phantom, editor.segmentation.by_name("Bone"), OPTIONS)
