"""Distances, angles and ROI statistics against direct numpy calculations."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.editing.grids import axial_affine
from workstation.processing.roi_statistics import (
    angle_degrees,
    distance_mm,
    plane_roi_statistics,
    region_statistics,
    sample_nearest,
    step_along,
)


def _affine(spacing=(2.0, 0.8, 0.6), origin=(-10.0, 20.0, 5.0)):
    """Axial: slice -> +z, row -> +y, col -> +x."""
    return axial_affine(spacing, origin)


def test_distance_and_angle():
    assert distance_mm([0, 0, 0], [3, 4, 12]) == pytest.approx(13.0)
    assert angle_degrees([1, 0, 0], [0, 0, 0], [0, 5, 0]) == pytest.approx(90.0)
    assert angle_degrees([1, 1, 0], [0, 0, 0], [1, 0, 0]) == pytest.approx(45.0)
    assert angle_degrees([2, 0, 0], [1, 0, 0], [0, 0, 0]) == pytest.approx(180.0)
    with pytest.raises(ValueError, match="three distinct"):
        angle_degrees([0, 0, 0], [0, 0, 0], [1, 0, 0])


def test_step_along_axes_and_diagonals():
    affine = _affine()
    assert step_along(affine, [1, 0, 0]) == pytest.approx(0.6)
    assert step_along(affine, [0, 1, 0]) == pytest.approx(0.8)
    assert step_along(affine, [0, 0, -1]) == pytest.approx(2.0)


def test_sample_nearest_matches_indexing_and_is_nan_outside():
    rng = np.random.default_rng(3)
    array = rng.integers(0, 1000, size=(5, 6, 7)).astype(np.int16)
    affine = _affine()
    index = np.array([[2, 3, 4], [0, 0, 0], [4, 5, 6]])
    points = index @ affine[:3, :3].T + affine[:3, 3] + 0.2  # off-centre, still nearest
    values = sample_nearest(array, affine, points)
    assert values.tolist() == [array[tuple(i)] for i in index]
    assert np.isnan(sample_nearest(array, affine, np.array([[1e4, 0, 0]]))[0])


def _slice_grid(affine, shape, slice_index):
    rows, cols = np.meshgrid(np.arange(shape[1]), np.arange(shape[2]), indexing="ij")
    x = affine[0, 3] + cols * affine[0, 2]
    y = affine[1, 3] + rows * affine[1, 1]
    z = affine[2, 3] + slice_index * affine[2, 0]
    return x, y, z


@pytest.mark.parametrize("shape_kind", ["rectangle", "ellipse"])
def test_plane_roi_statistics_match_numpy_on_an_axial_slice(shape_kind):
    rng = np.random.default_rng(11)
    shape = (6, 40, 50)
    array = rng.normal(50, 30, size=shape).astype(np.float32)
    affine = _affine()
    slice_index = 3
    x, y, z = _slice_grid(affine, shape, slice_index)
    corner_a = np.array([x[0, 8] - 0.1, y[5, 0] + 0.3, z])
    corner_b = np.array([x[0, 40] + 0.2, y[33, 0] - 0.1, z])
    stats = plane_roi_statistics(
        array, affine, np.array([0.0, 0.0, z]), np.array([1.0, 0, 0]), np.array([0, -1.0, 0]),
        corner_a, corner_b, shape_kind,
    )  # fmt: skip
    x0, x1 = sorted((corner_a[0], corner_b[0]))
    y0, y1 = sorted((corner_a[1], corner_b[1]))
    if shape_kind == "rectangle":
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
    else:
        inside = ((x - (x0 + x1) / 2) / ((x1 - x0) / 2)) ** 2 + (
            (y - (y0 + y1) / 2) / ((y1 - y0) / 2)
        ) ** 2 <= 1
    values = array[slice_index][inside].astype(np.float64)
    assert stats.count == values.size > 100
    assert stats.mean == pytest.approx(values.mean())
    assert stats.std == pytest.approx(values.std())
    assert (stats.minimum, stats.maximum) == (values.min(), values.max())
    assert stats.area_mm2 == pytest.approx(values.size * 0.8 * 0.6)
    assert "mm²" in stats.text("HU") and "HU" in stats.text("HU")


def test_roi_on_a_coronal_plane_of_an_axial_volume():
    shape = (10, 12, 14)
    array = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    affine = _affine(spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    row = 5  # y = 5 mm
    stats = plane_roi_statistics(
        array, affine, np.array([0.0, 5.0, 0.0]), np.array([1.0, 0, 0]), np.array([0, 0, 1.0]),
        np.array([2.0, 5.0, 4.0]), np.array([6.0, 5.0, 10.0]),
    )  # fmt: skip
    expected = array[2:6, row, 2:7]  # z 4..10 -> slices 2..5, x 2..6 -> cols 2..6
    assert stats.count == expected.size
    assert stats.mean == pytest.approx(expected.mean())
    assert stats.area_mm2 == pytest.approx(expected.size * 2.0 * 1.0)


def test_roi_outside_the_volume_is_empty_and_bad_shape_is_rejected():
    array = np.zeros((3, 4, 5))
    affine = _affine()
    far = np.array([1e4, 1e4, 0.0])
    stats = plane_roi_statistics(
        array, affine, far, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), far, far + 5
    )
    assert stats.count == 0 and stats.area_mm2 == 0.0 and stats.text() == "ROI outside the volume"
    with pytest.raises(ValueError, match="rectangle, ellipse"):
        plane_roi_statistics(
            array, affine, far, np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), far, far, "circle"
        )


def test_region_statistics_ignores_nan():
    values = np.array([[1.0, np.nan], [3.0, 5.0]])
    stats = region_statistics(values, np.ones((2, 2), bool), 0.5)
    assert stats.count == 3 and stats.mean == pytest.approx(3.0) and stats.area_mm2 == 1.5
