"""Smoothing in mm against a brute-force separable Gaussian blur of the whole volume."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.editing.grids import GRIDS
from workstation.processing.editing.smoothing import smooth_mask

SHAPE = (14, 24, 22)


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised samples of exp(-x²/2σ²) for |x| <= round(4σ)."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def brute_blur(mask: np.ndarray, affine: np.ndarray, radius_mm: float) -> np.ndarray:
    """Whole-volume blur in float64, zero beyond the image, one axis at a time."""
    values = mask.astype(np.float64)
    for axis in range(3):
        sigma = radius_mm / np.linalg.norm(affine[:3, axis])
        kernel = gaussian_kernel(sigma)
        reach = len(kernel) // 2
        padded = np.pad(values, [(reach, reach) if a == axis else (0, 0) for a in range(3)])
        blurred = np.zeros_like(values)
        for offset, weight in enumerate(kernel):
            window = [slice(None)] * 3
            window[axis] = slice(offset, offset + values.shape[axis])
            blurred += weight * padded[tuple(window)]
        values = blurred
    return values


@pytest.mark.parametrize("grid", list(GRIDS))
@pytest.mark.parametrize("radius", [0.8, 1.6])
def test_blur_threshold_matches_brute_force(grid, radius):
    affine = GRIDS[grid]
    rng = np.random.default_rng(int(radius * 10))
    mask = np.zeros(SHAPE, dtype=bool)
    mask[3:11, 5:19, 4:15] = rng.random((8, 14, 11)) < 0.7
    mask[0:2, 0:3, 0:3] = True  # touches the image corner: outside the image is 0
    result = smooth_mask(mask, affine, radius)
    blurred = brute_blur(mask, affine, radius)
    decided = np.abs(blurred - 0.5) > 1e-5
    np.testing.assert_array_equal(result[decided], (blurred >= 0.5)[decided])
    assert result.dtype == bool and result.shape == SHAPE


@pytest.mark.parametrize("grid", list(GRIDS))
def test_one_voxel_spike_is_removed_and_the_body_kept(grid):
    affine = GRIDS[grid]
    mask = np.zeros(SHAPE, dtype=bool)
    mask[3:11, 6:18, 5:17] = True
    mask[7, 12, 17:21] = True  # a spike one voxel thick, four long
    result = smooth_mask(mask, affine, 1.0)
    assert not result[7, 12, 17:21].any()
    assert result[5:9, 8:16, 7:15].all()
    assert abs(int(result.sum()) - int(mask[3:11, 6:18, 5:17].sum())) < 0.2 * mask.sum()


def test_zero_radius_and_empty_masks_are_copied():
    affine = GRIDS["axial"]
    mask = np.zeros(SHAPE, dtype=bool)
    assert not smooth_mask(mask, affine, 2.0).any()
    mask[4, 5, 6] = True
    result = smooth_mask(mask, affine, 0.0)
    np.testing.assert_array_equal(result, mask)
    assert result is not mask
    with pytest.raises(ValueError, match="radius"):
        smooth_mask(mask, affine, -1.0)
