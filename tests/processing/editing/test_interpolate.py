"""Fill between slices against brute-force signed distances and an analytic cone."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.processing.editing.grids import GRIDS
from workstation.processing.editing.interpolate import interpolate_slices

SHAPE = (12, 30, 28)


def brute_signed_distance(plane: np.ndarray, row_mm: float, col_mm: float) -> np.ndarray:
    """Per pixel: the distance to the nearest pixel on the other side, minus half a pixel,
    negated inside.  Pixels beyond the image count as outside (a one-pixel ring around it).
    """
    rows, cols = plane.shape
    grid_r, grid_c = np.mgrid[-1 : rows + 1, -1 : cols + 1]
    ring = np.zeros((rows + 2, cols + 2), dtype=bool)
    ring[1:-1, 1:-1] = plane
    points = np.stack([grid_r.ravel() * row_mm, grid_c.ravel() * col_mm], axis=1)
    inside_points, outside_points = points[ring.ravel()], points[~ring.ravel()]
    result = np.empty(plane.shape)
    for r in range(rows):
        for c in range(cols):
            here = np.array([r * row_mm, c * col_mm])
            to_inside = np.sqrt(np.min(np.sum((inside_points - here) ** 2, axis=1)))
            to_outside = np.sqrt(np.min(np.sum((outside_points - here) ** 2, axis=1)))
            half = min(row_mm, col_mm) / 2
            result[r, c] = half - to_outside if plane[r, c] else to_inside - half
    return result


def brute_interpolation(mask: np.ndarray, affine: np.ndarray):
    """(expected mask, interpolated signed distance per filled voxel), pixel by pixel."""
    row_mm, col_mm = np.linalg.norm(affine[:3, 1]), np.linalg.norm(affine[:3, 2])
    painted = [s for s in range(mask.shape[0]) if mask[s].any()]
    expected = mask.copy()
    values = np.full(mask.shape, np.inf)
    for low, high in itertools.pairwise(painted):
        d_low = brute_signed_distance(mask[low], row_mm, col_mm)
        d_high = brute_signed_distance(mask[high], row_mm, col_mm)
        for s in range(low + 1, high):
            t = (s - low) / (high - low)
            values[s] = (1 - t) * d_low + t * d_high
            expected[s] = values[s] <= 0
    return expected, values


def ellipse(shape2d, centre, radii) -> np.ndarray:
    rows, cols = np.mgrid[0 : shape2d[0], 0 : shape2d[1]]
    return ((rows - centre[0]) / radii[0]) ** 2 + ((cols - centre[1]) / radii[1]) ** 2 <= 1


@pytest.mark.parametrize("grid", list(GRIDS))
def test_gaps_are_filled_from_the_two_nearest_painted_slices(grid):
    affine = GRIDS[grid]
    mask = np.zeros(SHAPE, dtype=bool)
    mask[1] = ellipse(SHAPE[1:], (12, 10), (6, 4))
    mask[6] = ellipse(SHAPE[1:], (16, 16), (4, 8)) | ellipse(SHAPE[1:], (5, 22), (2, 2))
    mask[7] = ellipse(SHAPE[1:], (15, 15), (5, 7))
    mask[10, 3:9, 20:27] = True
    result = interpolate_slices(mask, affine)
    expected, values = brute_interpolation(mask, affine)
    near_tie = np.abs(values) < 1e-9
    assert (result == expected)[~near_tie].all()
    for key in (1, 6, 7, 10):
        np.testing.assert_array_equal(result[key], mask[key])
    assert not result[0].any() and not result[11].any()
    assert all(result[s].any() for s in range(2, 6))


def test_key_slices_touching_the_image_edge_are_kept_exactly():
    affine = GRIDS["tilted"]
    mask = np.zeros(SHAPE, dtype=bool)
    mask[2, :10, :] = True
    mask[2, 14, 5] = True
    mask[5, :, 20:] = True
    result = interpolate_slices(mask, affine)
    expected, values = brute_interpolation(mask, affine)
    assert (result == expected)[np.abs(values) >= 1e-9].all()
    np.testing.assert_array_equal(result[2], mask[2])
    np.testing.assert_array_equal(result[5], mask[5])


def test_linearly_changing_radius_fills_a_cone():
    affine = GRIDS["axial"]  # 0.6 mm rows, 0.7 mm columns
    shape = (21, 60, 56)
    row_mm, col_mm = 0.6, 0.7
    rows, cols = np.mgrid[0 : shape[1], 0 : shape[2]]
    radial = np.hypot((rows - 30.2) * row_mm, (cols - 27.6) * col_mm)
    mask = np.zeros(shape, dtype=bool)
    mask[0] = radial <= 15.0
    mask[20] = radial <= 3.0
    result = interpolate_slices(mask, affine)
    for s in range(1, 20):
        cone = radial <= 15.0 + (3.0 - 15.0) * s / 20
        dice = 2 * (result[s] & cone).sum() / (result[s].sum() + cone.sum())
        assert dice > 0.95, (s, dice)


def test_nothing_to_fill_returns_an_equal_copy():
    affine = GRIDS["axial"]
    mask = np.zeros(SHAPE, dtype=bool)
    assert not interpolate_slices(mask, affine).any()
    mask[3:6, 4:9, 4:9] = True
    result = interpolate_slices(mask, affine)
    np.testing.assert_array_equal(result, mask)
    assert result is not mask
