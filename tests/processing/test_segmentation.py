"""Threshold presets, threshold segmentation and logical operations between label maps."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core.errors import SegmentationError
from workstation.core.volume import LabelMap, Volume
from workstation.processing import label_ops
from workstation.processing.presets import (
    THRESHOLD_PRESETS,
    presets_for_modality,
    resolve_threshold,
)
from workstation.processing.threshold import threshold

AFFINE = np.array([[0, 0, 0.7, -20], [0, 0.9, 0, 10], [-2.5, 0, 0, 30], [0, 0, 0, 1.0]])


def ct_volume(array: np.ndarray) -> Volume:
    return Volume(array.astype(np.int16), AFFINE, units="HU")


def test_required_presets_exist_with_published_ranges():
    expected = {
        "bone": (226, 3071),
        "cortical-bone": (662, 1988),
        "teeth": (1553, 2850),
        "soft-tissue": (-700, 225),
        "skin": (-718, -177),
        "fat": (-205, -51),
        "lung": (-1024, -400),
    }
    for name, (lower, upper) in expected.items():
        preset = THRESHOLD_PRESETS[name]
        assert (preset.lower, preset.upper) == (lower, upper)
        assert preset.modality == "CT" and not preset.percentile
        assert preset.reference
    mr = [p for p in THRESHOLD_PRESETS.values() if p.modality == "MR"]
    assert len(mr) >= 2 and all(p.percentile for p in mr)
    assert {p.name for p in presets_for_modality("MR")} == {p.name for p in mr}
    assert "bone" in {p.name for p in presets_for_modality("CT")}


def test_ct_preset_resolves_to_hu_range():
    volume = ct_volume(np.zeros((2, 3, 4)))
    assert resolve_threshold("bone", volume) == (226.0, 3071.0)


def test_ct_preset_on_non_hu_data_is_refused():
    volume = Volume(np.zeros((2, 3, 4), np.uint16), AFFINE, units="raw")
    with pytest.raises(SegmentationError, match="Hounsfield"):
        resolve_threshold("bone", volume)


def test_unknown_preset_lists_valid_names():
    with pytest.raises(SegmentationError) as error:
        resolve_threshold("femur", ct_volume(np.zeros((2, 2, 2))))
    message = str(error.value)
    assert "femur" in message and "bone" in message and "mr-bright" in message
    assert "\n" not in message


def test_mr_percentile_preset_uses_foreground_distribution():
    values = np.zeros((10, 20, 20), dtype=np.uint16)  # background 0 everywhere ...
    values[:, :10, :] = np.arange(1, 2001, dtype=np.uint16).reshape(10, 10, 20)  # ... and 1..2000
    volume = Volume(values, AFFINE, units="raw")
    lower, upper = resolve_threshold("mr-bright", volume)
    assert lower == pytest.approx(np.percentile(np.arange(1, 2001), 90), abs=1)
    assert upper == pytest.approx(2000, abs=1)


def test_threshold_is_inclusive_and_shares_the_grid():
    array = np.arange(-5, 19).reshape(2, 3, 4)
    volume = ct_volume(array)
    label = threshold(volume, 0, 10)
    assert label.array.dtype == np.uint8
    np.testing.assert_array_equal(label.array, ((array >= 0) & (array <= 10)).astype(np.uint8))
    assert label.same_grid(volume)
    open_ended = threshold(volume, 7)
    assert open_ended.voxel_count == int((array >= 7).sum())
    swapped = threshold(volume, 10, 0)
    np.testing.assert_array_equal(swapped.array, label.array)


def test_label_operations_match_set_logic():
    rng = np.random.default_rng(1)
    a = rng.random((5, 6, 7)) > 0.5
    b = rng.random((5, 6, 7)) > 0.5
    first, second = LabelMap(a, AFFINE), LabelMap(b, AFFINE)
    np.testing.assert_array_equal(label_ops.union(first, second).mask, a | b)
    np.testing.assert_array_equal(label_ops.subtract(first, second).mask, a & ~b)
    np.testing.assert_array_equal(label_ops.intersect(first, second).mask, a & b)
    assert label_ops.union(first, second).same_grid(first)


def test_label_operations_refuse_different_grids():
    first = LabelMap(np.ones((2, 2, 2)), AFFINE)
    moved = AFFINE.copy()
    moved[0, 3] += 1.0
    with pytest.raises(SegmentationError, match="different image grids"):
        label_ops.union(first, LabelMap(np.ones((2, 2, 2)), moved))
    with pytest.raises(SegmentationError):
        label_ops.intersect(first, LabelMap(np.ones((2, 2, 3)), AFFINE))
