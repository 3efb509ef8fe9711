"""Pure tests of slice sorting, spacing analysis, tilt and affine construction."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.dicom_factory import expected_affine, normal_of, rotation
from workstation.core.errors import NotAVolumeError
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.slice_geometry import (
    MAX_INTERPOLATED_GAP_MM,
    MAX_INTERPOLATED_MISSING_SLICES,
    SINGLE_IMAGE_WARNING,
    analyse_frames,
    analyse_positions,
    grid_step,
    large_gaps,
    split_indices,
    tilt_degrees,
)

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def test_uniform_axial_sorted_by_position_not_input_order():
    z = np.array([12.0, 0.0, 6.0, 3.0, 9.0])
    positions = np.column_stack([np.full(5, -10.0), np.full(5, 20.0), z])
    geometry = analyse_positions(positions, AXIAL, (0.7, 0.8))
    assert list(geometry.order) == [1, 3, 2, 4, 0]
    expected = expected_affine((1, 0, 0), (0, 1, 0), (0.7, 0.8), (-10, 20, 0), (0, 0, 3))
    np.testing.assert_allclose(geometry.affine, expected, atol=1e-9)
    assert geometry.n_slices == 5
    assert geometry.resample is None
    assert geometry.warnings == []


def test_double_oblique_affine_and_sort_along_normal():
    matrix = rotation("x", 20) @ rotation("y", 20)
    row, col = matrix[:, 0], matrix[:, 1]
    normal = normal_of(row, col)
    origin = np.array([-100.0, 50.0, 30.0])
    step = 2.5 * normal
    positions = np.array([origin + i * step for i in range(6)])[::-1]  # reversed input order
    geometry = analyse_positions(positions, (*row, *col), (0.5, 0.6))
    expected = expected_affine(row, col, (0.5, 0.6), origin, step)
    np.testing.assert_allclose(geometry.affine, expected, atol=1e-9)
    assert list(geometry.order) == [5, 4, 3, 2, 1, 0]


def test_tilt_gives_sheared_affine_and_warning():
    row, col = (
        np.array([1.0, 0, 0]),
        np.array([0, np.cos(np.radians(18.5)), -np.sin(np.radians(18.5))]),
    )
    normal = normal_of(row, col)
    # Table moves along z; the planes are tilted: positions are not along the normal.
    positions = np.array([[0.0, 0.0, 5.0 * i] for i in range(8)])
    geometry = analyse_positions(positions, (*row, *col), (0.5, 0.5))
    np.testing.assert_allclose(geometry.affine[:3, 0], [0, 0, 5.0], atol=1e-12)
    assert geometry.tilt_degrees == pytest.approx(18.5, abs=1e-9)
    assert geometry.warnings == [
        "Gantry tilt of 18.5° detected from slice positions; geometry corrected with a sheared grid"
    ]
    assert geometry.median_step_mm == pytest.approx(5.0 * float(normal[2]))


def test_uneven_spacing_resamples_keeping_first_and_last():
    z = np.array([0.0, 1.0, 4.0, 9.0, 16.0, 20.0])
    positions = np.column_stack([np.zeros(6), np.zeros(6), z])
    geometry = analyse_positions(positions, AXIAL, (1.0, 1.0))
    steps = np.diff(z)
    median = float(np.median(steps))
    n_out = round(20.0 / median) + 1
    assert geometry.n_slices == n_out
    step = 20.0 / (n_out - 1)
    np.testing.assert_allclose(geometry.affine[:3, 0], [0, 0, step], atol=1e-12)
    assert geometry.warnings == [
        f"Slice spacing varies between 1.00 and 7.00 mm; resampled to {n_out} slices of "
        f"{step:.2f} mm"
    ]
    plan = geometry.resample
    assert plan is not None
    assert plan.sources(0) == [(0, 1.0)]
    assert plan.sources(n_out - 1) == [(5, 1.0)]
    # Every output slice is the linear interpolation of its two real neighbours.
    for k in range(n_out):
        target = k * step
        value = sum(w * z[j] for j, w in plan.sources(k))
        assert value == pytest.approx(target, abs=1e-9)


def test_gap_is_named_and_filled():
    z = np.array([20.0, 25.0, 30.0, 35.0, 45.0, 50.0])
    positions = np.column_stack([np.zeros(6), np.zeros(6), z])
    geometry = analyse_positions(positions, AXIAL, (1.0, 1.0))
    assert geometry.warnings == [
        "Missing slice: gap of 10.0 mm after slice at 35.0 mm (expected 5.0 mm); "
        "filled by interpolation"
    ]
    assert geometry.n_slices == 7
    assert len(geometry.gaps) == 1 and geometry.gaps[0].missing == 1
    plan = geometry.resample
    assert [plan.sources(k) for k in range(7)] == [
        [(0, 1.0)],
        [(1, 1.0)],
        [(2, 1.0)],
        [(3, 1.0)],
        [(3, 0.5), (4, 0.5)],
        [(4, 1.0)],
        [(5, 1.0)],
    ]


def test_two_missing_slices_counted():
    z = np.array([0.0, 2.0, 8.0, 10.0])
    geometry = analyse_positions(np.column_stack([np.zeros(4), np.zeros(4), z]), AXIAL, (1, 1))
    assert geometry.warnings[0].startswith("Missing 2 slices: gap of 6.0 mm after slice at 2.0 mm")


def test_duplicates_rejected():
    z = np.array([0.0, 1.0, 1.0, 2.0])
    with pytest.raises(NotAVolumeError, match="duplicate slice position"):
        analyse_positions(np.column_stack([np.zeros(4), np.zeros(4), z]), AXIAL, (1, 1))


def test_all_same_position_rejected():
    positions = np.tile([1.0, 2.0, 3.0], (4, 1))
    with pytest.raises(NotAVolumeError, match="All 4 images share one position"):
        analyse_positions(positions, AXIAL, (1, 1))


def test_positions_not_on_a_line_rejected():
    positions = np.array([[0, 0, 0], [0, 0, 1], [3.0, 0, 2], [0, 0, 3]], dtype=float)
    with pytest.raises(NotAVolumeError, match="do not lie on a line"):
        analyse_positions(positions, AXIAL, (1, 1))


def test_single_frame_uses_thickness_or_pixel_spacing():
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    geometry = analyse_positions(np.array([[5.0, 6.0, 7.0]]), sagittal, (0.9, 0.8), 3.0)
    np.testing.assert_allclose(geometry.affine[:3, 0], [-3.0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(geometry.affine[:3, 3], [5, 6, 7])
    assert geometry.warnings == [SINGLE_IMAGE_WARNING]
    no_thickness = analyse_positions(np.array([[5.0, 6.0, 7.0]]), sagittal, (0.9, 0.8))
    np.testing.assert_allclose(no_thickness.affine[:3, 0], [-0.9, 0, 0], atol=1e-12)


def test_tilt_angle_helper():
    normal = np.array([0.0, 0.0, 1.0])
    assert tilt_degrees([0, 0, 0], [0, 1, 1], normal) == pytest.approx(45.0)
    assert tilt_degrees([0, 0, 0], [0, 0, -4], normal) == pytest.approx(0.0)


def _frame(position, orientation=AXIAL, rows=4, columns=5, spacing=(1.0, 1.0)) -> FrameRef:
    return FrameRef(
        location="x",
        frame_index=None,
        sop_instance_uid="1",
        sop_class_uid="1",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        rows=rows,
        columns=columns,
        position=position,
        orientation=orientation,
        pixel_spacing=spacing,
    )


def test_frames_must_share_size_orientation_and_spacing():
    with pytest.raises(NotAVolumeError, match="different sizes"):
        analyse_frames([_frame((0, 0, 0)), _frame((0, 0, 1), rows=8)])
    with pytest.raises(NotAVolumeError, match="different orientations"):
        analyse_frames([_frame((0, 0, 0)), _frame((0, 0, 1), orientation=(1, 0, 0, 0, 0, -1))])
    with pytest.raises(NotAVolumeError, match="different pixel spacings"):
        analyse_frames([_frame((0, 0, 0)), _frame((0, 0, 1), spacing=(1.0, 1.2))])
    with pytest.raises(NotAVolumeError, match="no position or orientation"):
        analyse_frames([_frame((0, 0, 0)), _frame(None)])


def test_frames_single_without_geometry_gets_placeholder_grid():
    geometry = analyse_frames([_frame(None, orientation=None, spacing=None)])
    assert geometry.n_slices == 1
    assert SINGLE_IMAGE_WARNING in geometry.warnings
    expected = expected_affine((1, 0, 0), (0, 1, 0), (1.0, 1.0), (0, 0, 0), (0, 0, 1.0))
    np.testing.assert_allclose(geometry.affine, expected)


def _z_positions(z: np.ndarray) -> np.ndarray:
    return np.column_stack([np.zeros(z.size), np.zeros(z.size), z])


def _ge_like(thin: int, thick: int) -> np.ndarray:
    """Thin 4 mm slices, a 1.08 mm overlap, then thick 7 mm slices (GE head protocol)."""
    z = list(4.002 * np.arange(thin))
    z.append(z[-1] + 1.081)
    z.extend(z[-1] + 6.999 * np.arange(1, thick))
    return np.array(z)


@pytest.mark.parametrize(("thin", "thick"), [(14, 14), (8, 14)], ids=["ge-real", "thick-majority"])
def test_uneven_grid_uses_finest_regular_step_and_keeps_thin_slices(thin, thick):
    z = _ge_like(thin, thick)
    steps = np.diff(z)
    assert (thick > thin) == (np.median(steps) > 6)  # the median would be 7 mm for 8 + 14
    geometry = analyse_positions(_z_positions(z), AXIAL, (1.0, 1.0))
    extent = z[-1] - z[0]
    n_out = round(extent / 4.002) + 1
    assert geometry.n_slices == n_out
    step = extent / (n_out - 1)
    assert geometry.warnings == [
        f"Slice spacing varies between 1.08 and 7.00 mm; resampled to {n_out} slices of "
        f"{step:.2f} mm"
    ]
    # Every real thin slice is (within 0.01 mm) an output slice made almost only of it;
    # at the 7 mm median it would be blended half-and-half with its neighbours.
    plan = geometry.resample
    for index in range(thin):
        k = round(z[index] / step)
        assert abs(k * step - z[index]) < 0.01
        assert dict(plan.sources(k))[index] > 0.99


def test_grid_step_rules():
    # One-off steps do not count; without a regular region the median is used.
    assert grid_step(np.array([1.0, 2.0, 3.0, 4.0, 5.0])) == pytest.approx(3.0)
    # The finest step repeated by at least 20 % of the steps wins over the median.
    assert grid_step(np.array([2.0, 2.0, 2.0, 5.0, 5.0, 5.0, 5.0, 5.0])) == pytest.approx(2.0)
    assert grid_step(np.array([2.0] + [5.0] * 20)) == pytest.approx(5.0)
    # A fine region that would more than triple the slice count is passed over.
    fine_but_huge = np.array([0.5] * 30 + [5.0] * 100)
    assert grid_step(fine_but_huge) == pytest.approx(5.0)
    assert grid_step(np.array([2.0] * 30 + [5.0] * 100)) == pytest.approx(2.0)


def _run_with_gap(step: float, missing: int, before: int = 6, after: int = 6) -> np.ndarray:
    """Regular positions with ``missing`` slices left out after the first ``before``."""
    indices = list(range(before)) + [before + missing + i for i in range(after)]
    return np.array(indices, dtype=float) * step


def test_gap_limit_values():
    # The documented limit: split only above 4 missing slices AND above 10 mm.
    assert (MAX_INTERPOLATED_MISSING_SLICES, MAX_INTERPOLATED_GAP_MM) == (4, 10.0)


@pytest.mark.parametrize(
    ("step", "missing", "large"),
    [
        (1.0, 1, False),  # one dropped file
        (1.0, 3, False),
        (1.0, 8, False),  # many thin slices but a 9 mm gap: still fine-grained
        (1.0, 9, False),  # 10 mm exactly is not above the limit
        (5.0, 1, False),  # one missing 5 mm slice (10 mm step)
        (3.0, 4, False),  # 15 mm but only 4 missing slices
        (2.0, 5, True),  # 12 mm and 5 missing slices
        (1.0, 20, True),
        (1.25, 161, True),  # the Routine Brain gap
    ],
)
def test_large_gap_needs_both_many_slices_and_many_mm(step, missing, large):
    along = _run_with_gap(step, missing)
    gaps = large_gaps(along)
    if not large:
        assert gaps == []
        return
    [gap] = gaps
    assert gap.index == 5
    assert gap.missing == missing
    assert gap.before_mm == pytest.approx(5 * step)
    assert gap.size_mm == pytest.approx((missing + 1) * step)
    assert gap.expected_mm == pytest.approx(step)


def test_large_gaps_with_two_steps_use_the_regular_one():
    # Three slices: a 1 mm step and a 30 mm step; the mean (15.5 mm) would hide the gap.
    [gap] = large_gaps(np.array([0.0, 1.0, 31.0]))
    assert (gap.index, gap.missing, gap.expected_mm) == (1, 29, 1.0)
    assert large_gaps(np.array([0.0, 30.0])) == []  # two slices: nothing to compare with


def test_parts_are_checked_again_with_their_own_spacing():
    # 20 slices at 5 mm, a 65 mm gap, then 1 mm slices with a 12 mm step among them.
    # Against the series' 5 mm the 12 mm step is one missing slice; against its own
    # part's 1 mm it is 11 missing slices over 12 mm, so that part splits again.
    along = np.concatenate([5.0 * np.arange(20), 160.0 + np.arange(6), 177.0 + np.arange(4)])
    gaps = large_gaps(along)
    assert [(gap.index, gap.missing, gap.expected_mm) for gap in gaps] == [
        (19, 12, 5.0),
        (25, 11, 1.0),
    ]
    parts = split_indices(along.size, gaps)
    assert [(part.start, part.stop) for part in parts] == [(0, 20), (20, 26), (26, 30)]
    for part in parts:
        assert large_gaps(along[part.start : part.stop]) == []


def test_uniform_sparse_slices_are_not_gaps():
    # Slices 20 mm apart everywhere are a coarse volume, not missing slices.
    assert large_gaps(np.arange(0.0, 200.0, 20.0)) == []


def test_analyse_positions_refuses_a_large_gap():
    z = _run_with_gap(1.0, 20)
    positions = np.column_stack([np.zeros(z.size), np.zeros(z.size), z])
    with pytest.raises(NotAVolumeError, match=r"Gap of 21\.0 mm \(about 20 missing slices\)"):
        analyse_positions(positions, AXIAL, (1.0, 1.0))
