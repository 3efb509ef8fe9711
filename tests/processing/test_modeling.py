"""The modeling service: options, segmentation steps, timings, errors and cancellation."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.spheres import OFFSETS, assert_bodies_match, ball_volume, grid_affine
from workstation.core.errors import Cancelled, SegmentationError
from workstation.core.progress import CancelToken
from workstation.core.volume import Volume
from workstation.services.modeling import (
    ModelOptions,
    build_model,
    make_model_from_volume,
    segment,
)

SHAPE = (40, 52, 52)
CENTRE = np.array([12.0, -30.0, 45.0])


@pytest.fixture(scope="module")
def phantom():
    """Balls whose edge is half-way at the bone preset's 226 HU (225.5 between 1000 and -549)."""
    affine = grid_affine("coronal", SHAPE, tilt_degrees=12.0)
    return ball_volume(affine, SHAPE, inside=1000, outside=-549)


def test_default_bone_model_is_watertight_at_true_positions(phantom):
    volume, truths = phantom
    seen = []
    result = make_model_from_volume(volume, ModelOptions(), progress=lambda f, t: seen.append(f))
    assert result.statistics.watertight and result.statistics.manifold
    assert result.statistics.components == 2
    assert_bodies_match(result.mesh, truths)
    assert {"threshold", "islands", "surface", "smooth", "decimate", "repair"} <= set(
        result.timings
    )
    assert result.threshold == (226.0, 3071.0)
    assert result.report[0] == "The threshold 226..3071 HU"
    assert seen == sorted(seen) and seen[-1] <= 1.0


def test_switching_smoothing_and_decimation_off(phantom):
    volume, _ = phantom
    plain = make_model_from_volume(
        volume, ModelOptions(lower=0, smooth_iterations=0, decimate_fraction=0)
    )
    assert "smooth" not in plain.timings and "decimate" not in plain.timings
    decimated = make_model_from_volume(volume, ModelOptions(lower=0, decimate_fraction=0.8))
    assert decimated.statistics.triangles == pytest.approx(
        plain.statistics.triangles * 0.2, rel=0.03
    )


def test_seed_largest_and_small_island_options(phantom):
    volume, truths = phantom
    small_centre = CENTRE + np.asarray(OFFSETS[1])
    seeded = make_model_from_volume(volume, ModelOptions(seed_lps=tuple(small_centre)))
    assert_bodies_match(seeded.mesh, [truths[1]])
    largest = make_model_from_volume(volume, ModelOptions(largest=True))
    assert_bodies_match(largest.mesh, [truths[0]])
    small_ball = 4 / 3 * np.pi * 6.0**3
    without_small = segment(volume, ModelOptions(min_island_mm3=small_ball * 1.3))
    with_small = segment(volume, ModelOptions(min_island_mm3=small_ball * 0.7))
    assert with_small.voxel_count > without_small.voxel_count > 0
    assert without_small.volume_mm3 == pytest.approx(4 / 3 * np.pi * 8.0**3, rel=0.03)


def test_fill_holes_option_fills_a_hollow_ball():
    affine = grid_affine("axial", SHAPE)
    volume, truths = ball_volume(affine, SHAPE)
    hollow = volume.array.copy()
    inner, _ = ball_volume(affine, SHAPE)
    from tests.processing import spheres

    radii = spheres.RADII
    try:
        spheres.RADII = (4.0, 3.0)
        inner, _ = ball_volume(affine, SHAPE)
    finally:
        spheres.RADII = radii
    hollow[inner.array > 0] = -1000
    shell = Volume(hollow, affine, units="HU")
    open_model = make_model_from_volume(shell, ModelOptions(lower=0))
    filled = make_model_from_volume(shell, ModelOptions(lower=0, fill_holes=True))
    assert open_model.statistics.components == 4  # two outer and two inner surfaces
    assert filled.statistics.components == 2
    assert_bodies_match(filled.mesh, truths)


def test_build_model_from_volume_uses_the_threshold_level(phantom):
    volume, truths = phantom
    image = Volume(volume.array.astype(np.float32), volume.affine, units="HU")
    result = build_model(image, ModelOptions())
    assert result.statistics.watertight
    assert_bodies_match(result.mesh, truths)


def test_empty_segmentation_message(phantom):
    volume, _ = phantom
    with pytest.raises(SegmentationError, match=r"The threshold 1500\.\.3000 HU selects no voxels"):
        make_model_from_volume(volume, ModelOptions(lower=1500, upper=3000))


def test_ct_preset_on_raw_data_and_bad_options_fail_early(phantom):
    volume, _ = phantom
    raw = Volume(volume.array, volume.affine, units="raw")
    with pytest.raises(SegmentationError, match="Hounsfield"):
        make_model_from_volume(raw, ModelOptions(preset="bone"))
    with pytest.raises(SegmentationError, match="Unknown preset"):
        ModelOptions(preset="nonsense").validate()
    with pytest.raises(SegmentationError, match="decimation"):
        ModelOptions(decimate_fraction=1.0).validate()


def test_cancel_stops_the_work(phantom):
    volume, _ = phantom
    token = CancelToken()

    def cancel_during_surface(fraction: float, text: str) -> None:
        if "surface" in text.lower():
            token.cancel()

    with pytest.raises(Cancelled):
        make_model_from_volume(volume, ModelOptions(), cancel_during_surface, token)


@pytest.mark.parametrize(
    "options",
    [
        ModelOptions(largest=True),
        ModelOptions(fill_holes=True),
        ModelOptions(seed_lps=(3.0, -34.0, 48.0), fill_holes=True),
        ModelOptions(min_island_mm3=0.0),
    ],
    ids=["largest", "fill-holes", "seed+fill", "no-islands"],
)
def test_progress_only_moves_forward(phantom, options):
    volume, _ = phantom
    seen: list[float] = []
    result = make_model_from_volume(volume, options, progress=lambda f, t: seen.append(f))
    assert seen == sorted(seen) and seen[0] >= 0.0 and seen[-1] <= 1.0
    assert result.statistics.watertight


def test_empty_segmentation_message_with_voxel_steps(phantom):
    volume, _ = phantom
    with pytest.raises(SegmentationError, match=r"The threshold 5000 HU and above selects no"):
        make_model_from_volume(volume, ModelOptions(lower=5000, largest=True))


def patient_on_table() -> tuple[Volume, np.ndarray, float]:
    """Axial CT: a soft-tissue body holding a bone ball, and a bone-dense table plate behind
    it in air, as the scanner table appears.  Returns (volume, ball centre, table y) in LPS.

    A threshold of 520 HU (half-way between body and ball) puts the ball's surface exactly.
    """
    shape, step = (30, 64, 64), 1.5
    affine = np.diag([step, step, step, 1.0])[[2, 1, 0, 3]]  # (slice, row, col) -> (z, y, x)
    affine[:3, 3] = (-48.0, -48.0, 0.0)
    z, y, x = np.meshgrid(*(np.arange(n) * step for n in shape), indexing="ij")
    x, y = x - 48.0, y - 48.0  # LPS x, y of every voxel
    array = np.full(shape, -1000, dtype=np.int16)
    array[(x / 36.0) ** 2 + (y / 28.0) ** 2 <= 1.0] = 40  # the body
    centre = np.array([4.0, -2.0, 22.0])
    array[(x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 <= 12.0**2] = 1000
    table_y = 38.0
    array[(np.abs(y - table_y) <= 1.5) & (np.abs(x) <= 20.0)] = 700  # the table, 10 mm behind
    return Volume(array, affine, units="HU"), centre, table_y


def test_default_model_drops_the_table_outside_the_body():
    volume, centre, table_y = patient_on_table()
    result = make_model_from_volume(volume, ModelOptions(lower=520))
    assert result.statistics.components == 1 and result.statistics.watertight
    assert result.statistics.bounds_max[1] < table_y - 10.0
    assert_bodies_match(result.mesh, [(tuple(centre), 12.0)])
    assert any("outside the patient's body" in line for line in result.report)
    kept = make_model_from_volume(volume, ModelOptions(lower=520, remove_table=False))
    assert kept.statistics.components == 2 and kept.statistics.bounds_max[1] > table_y

    label = segment(volume, ModelOptions())  # the GUI's path: a label map first
    table = volume.array == 700
    assert not label.array[table].any() and label.array[volume.array == 1000].all()
    assert segment(volume, ModelOptions(lower=520, remove_table=False)).array[table].all()


def test_table_removal_never_applies_without_a_body(phantom):
    volume, _ = phantom  # bone balls in air: the largest "body" is a ball
    result = make_model_from_volume(volume, ModelOptions())
    assert result.statistics.components == 2
    assert not any("outside" in line for line in result.report)
    raw = Volume(volume.array, volume.affine, units="raw")
    assert make_model_from_volume(raw, ModelOptions(lower=0)).statistics.components == 2


def test_statistics_after_splitting_pinched_points_match_a_fresh_measurement():
    from tests.processing.test_mesh_ops import box
    from workstation.core.mesh import Mesh
    from workstation.processing.mesh_statistics import mesh_statistics
    from workstation.services import modeling

    first_v, first_f = box()
    second_v, second_f = box(low=(2.0, 3.0, 4.0), offset=8)  # shares the corner (2, 3, 4)
    pinched = Mesh(np.concatenate([first_v, second_v]), np.concatenate([first_f, second_f]))
    options = ModelOptions(smooth_iterations=0, decimate_fraction=0.0, min_island_mm3=0.0)
    stages = modeling._Stages(lambda fraction, text: None, CancelToken(), {})
    result = modeling._finish(pinched, options, stages, [])
    assert any("pinched" in line for line in result.report)
    assert result.statistics == mesh_statistics(result.mesh)
    assert result.statistics.components == 2 and result.statistics.manifold
