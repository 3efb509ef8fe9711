"""Nearest-neighbour label resampling against a brute-force search, and its exact fast paths.

The oracle knows nothing of the implementation's rounding: for every target voxel centre
it searches ALL source voxels for the one nearest in source index space, and gives 0 when
the centre lies outside the source grid's voxels (index below -0.5 or above n - 0.5).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tests.processing.spheres import rotation
from workstation.core import geometry
from workstation.core.errors import Cancelled
from workstation.core.progress import CancelToken
from workstation.processing import label_resampling
from workstation.processing.label_resampling import overlap_fraction, resample_labels

TARGET_SHAPE = (9, 11, 13)
SOURCE_SHAPE = (6, 7, 8)


def affine_of(directions: np.ndarray, spacing, origin) -> np.ndarray:
    """Affine whose columns are (slice, row, col) unit directions times spacing."""
    affine = np.eye(4)
    affine[:3, :3] = np.asarray(directions, float) * np.asarray(spacing, float)
    affine[:3, 3] = origin
    return affine


TARGET = affine_of(np.eye(3)[:, ::-1], (1.3, 0.9, 0.8), (-3.1, 2.2, 5.3))  # axial, LPS


def random_labels(shape, seed=3, values=(0, 0, 1, 2, 7, 300)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(np.asarray(values, dtype=np.int32), size=shape)


def brute_force(labels, source_affine, target_shape, target_affine) -> np.ndarray:
    """For each target centre: the label of the nearest source voxel (index space), or 0."""
    target_index = np.argwhere(np.ones(target_shape, dtype=bool)).astype(float)
    points = geometry.index_to_lps(target_affine, target_index)
    continuous = geometry.lps_to_index(source_affine, points)  # (N, 3) source indices
    source_index = np.argwhere(np.ones(labels.shape, dtype=bool))  # (M, 3)
    distances = ((continuous[:, None, :] - source_index[None, :, :]) ** 2).sum(axis=2)
    nearest = source_index[np.argmin(distances, axis=1)]
    values = labels[tuple(nearest.T)]
    limits = np.asarray(labels.shape)
    outside = np.any((continuous < -0.5) | (continuous >= limits - 0.5), axis=1)
    values[outside] = 0
    return values.reshape(target_shape)


GRIDS = {
    "2x coarser, shifted, rotated": affine_of(
        rotation("z", 23.0) @ rotation("x", 11.0) @ np.eye(3)[:, ::-1],
        (2.6, 1.8, 1.6),
        (-2.37, 1.91, 4.13),
    ),
    "sheared (gantry tilt), coarser": np.array(
        [
            [0.0, 0.0, 1.7, -2.9],
            [0.43, 1.75, 0.0, 1.6],
            [2.1, 0.0, 0.0, 4.4],
            [0.0, 0.0, 0.0, 1.0],
        ]
    ),
    "axes permuted and flipped, other spacing": affine_of(
        np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]),
        (1.7, 2.1, 2.45),
        (-2.83, 11.4, 1.37),
    ),
}


@pytest.mark.parametrize("grid", GRIDS)
def test_nearest_neighbour_equals_brute_force(grid):
    source = GRIDS[grid]
    labels = random_labels(SOURCE_SHAPE)
    result = resample_labels(labels, source, TARGET_SHAPE, TARGET)
    expected = brute_force(labels, source, TARGET_SHAPE, TARGET)
    assert result.resampled
    assert result.array.dtype == labels.dtype and result.array.shape == TARGET_SHAPE
    np.testing.assert_array_equal(result.array, expected)
    assert 0 < np.count_nonzero(expected == 0) < expected.size  # partly outside: both seen


@pytest.mark.parametrize("grid", GRIDS)
def test_small_slabs_give_the_same_result(monkeypatch, grid):
    labels = random_labels(SOURCE_SHAPE, seed=5)
    whole = resample_labels(labels, GRIDS[grid], TARGET_SHAPE, TARGET).array
    monkeypatch.setattr(label_resampling, "SLAB_VOXELS", 17)
    np.testing.assert_array_equal(
        resample_labels(labels, GRIDS[grid], TARGET_SHAPE, TARGET).array, whole
    )


def test_the_same_grid_is_no_work():
    labels = random_labels(TARGET_SHAPE)
    result = resample_labels(labels, TARGET.copy(), TARGET_SHAPE, TARGET)
    assert result.method == "same" and result.array is labels and not result.resampled


@pytest.mark.parametrize("offset", [(2, 3, 1), (-2, -1, -4), (0, 5, -3)])
def test_integer_offset_sub_and_supergrids_are_exact_slices(offset):
    """Target voxel t is source voxel t + offset; outside the source stays 0."""
    labels = random_labels(SOURCE_SHAPE)
    target = TARGET.copy()
    source = TARGET.copy()
    source[:3, 3] = geometry.index_to_lps(TARGET, [np.negative(offset)])[0]  # source(0) = t(-o)
    result = resample_labels(labels, source, TARGET_SHAPE, target)
    assert result.method == "offset" and not result.resampled
    np.testing.assert_array_equal(result.array, brute_force(labels, source, TARGET_SHAPE, target))
    expected = np.zeros(TARGET_SHAPE, labels.dtype)
    for index in np.argwhere(np.ones(TARGET_SHAPE, dtype=bool)):
        s, r, c = index + offset
        if 0 <= s < SOURCE_SHAPE[0] and 0 <= r < SOURCE_SHAPE[1] and 0 <= c < SOURCE_SHAPE[2]:
            expected[tuple(index)] = labels[s, r, c]
    np.testing.assert_array_equal(result.array, expected)


def test_a_crop_of_the_target_grid_fits_back_exactly():
    labels = random_labels(TARGET_SHAPE)
    crop = labels[2:7, 3:9, 1:12]
    crop_affine = TARGET.copy()
    crop_affine[:3, 3] = geometry.index_to_lps(TARGET, [[2, 3, 1]])[0]
    back = resample_labels(crop, crop_affine, TARGET_SHAPE, TARGET).array
    expected = np.zeros_like(labels)
    expected[2:7, 3:9, 1:12] = crop
    np.testing.assert_array_equal(back, expected)


def test_cancel_stops_between_slabs(monkeypatch):
    monkeypatch.setattr(label_resampling, "SLAB_VOXELS", 20)
    token = CancelToken()
    reports = []

    def progress(fraction, text):
        reports.append(fraction)
        if len(reports) == 2:
            token.cancel()

    labels = random_labels(SOURCE_SHAPE)
    with pytest.raises(Cancelled):
        source = GRIDS["2x coarser, shifted, rotated"]
        resample_labels(labels, source, TARGET_SHAPE, TARGET, progress, token)
    assert len(reports) == 2


def test_memory_stays_bounded_on_a_large_target():
    """A general (rotated) resampling needs slab scratch, not per-voxel arrays of the target."""
    target_shape = (48, 256, 256)  # 3.1 M voxels: a naive map would take ~180 MB of scratch
    source = affine_of(rotation("z", 17.0) @ np.eye(3)[:, ::-1], (2.0, 1.5, 1.5), (0.3, 0.2, 0.1))
    labels = random_labels((24, 100, 100), values=(0, 1, 2))
    tracemalloc.start()
    try:
        result = resample_labels(labels, source, target_shape, np.diag([1.0, 0.7, 0.7, 1.0]))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.method == "nearest"
    scratch = peak - result.array.nbytes
    assert scratch < 80e6, f"{scratch / 1e6:.0f} MB of scratch"


# -- overlap -----------------------------------------------------------------------------------
def test_overlap_is_the_share_of_labelled_voxels_inside():
    labels = np.zeros(TARGET_SHAPE, dtype=np.uint8)
    labels[:, :, :] = 1  # every voxel labelled
    shifted = TARGET.copy()
    shifted[:3, 3] = geometry.index_to_lps(TARGET, [[0, 0, 7.2]])[0]  # 7.2 columns to the right
    fraction = overlap_fraction(labels, shifted, TARGET_SHAPE, TARGET)
    # columns 0..12 of the source land on target columns 7.2..19.2: 0..5 (rounded 7..12) inside
    assert fraction == pytest.approx(6 / 13)
    assert overlap_fraction(labels, TARGET, TARGET_SHAPE, TARGET) == 1.0


def test_no_overlap_is_zero_and_empty_labels_use_the_grid():
    labels = np.zeros(SOURCE_SHAPE, dtype=np.uint8)
    labels[1, 1, 1] = 3
    far = affine_of(np.eye(3)[:, ::-1], (1.0, 1.0, 1.0), (500.0, 0.0, 0.0))
    assert overlap_fraction(labels, far, TARGET_SHAPE, TARGET) == 0.0
    empty = np.zeros(SOURCE_SHAPE, dtype=np.uint8)
    assert overlap_fraction(empty, TARGET, TARGET_SHAPE, TARGET) == 1.0
    assert overlap_fraction(empty, far, TARGET_SHAPE, TARGET) == 0.0


def test_overlap_samples_large_label_maps(monkeypatch):
    monkeypatch.setattr(label_resampling, "OVERLAP_SAMPLES", 50)
    labels = np.ones(TARGET_SHAPE, dtype=np.uint8)
    shifted = TARGET.copy()
    shifted[:3, 3] = geometry.index_to_lps(TARGET, [[0, 0, 7.2]])[0]
    assert overlap_fraction(labels, shifted, TARGET_SHAPE, TARGET) == pytest.approx(6 / 13, abs=0.1)


def test_an_exactly_twice_coarser_grid_splits_every_tie_the_same_way():
    """Fine voxel f lies half-way between coarse voxels: it goes to coarse (f + 1) // 2."""
    coarse = TARGET.copy()
    coarse[:3, :3] *= 2.0
    labels = random_labels((5, 6, 7), seed=11)
    result = resample_labels(labels, coarse, (9, 11, 13), TARGET).array
    s, r, c = np.meshgrid(*(np.arange(n) for n in (9, 11, 13)), indexing="ij")
    expected = labels[(s + 1) // 2, (r + 1) // 2, (c + 1) // 2]
    np.testing.assert_array_equal(result, expected)
