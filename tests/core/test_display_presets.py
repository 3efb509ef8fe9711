"""Window/level and volume-rendering presets: published values, defaults, the grey mapping."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core.display_presets import (
    SERIES_WINDOW,
    VOLUME_RENDERING_PRESETS,
    WINDOW_PRESETS,
    auto_window,
    default_volume_rendering_preset,
    default_window,
    volume_rendering_preset,
    window_preset,
    window_presets_for,
    window_to_gray,
)
from workstation.core.volume import Volume


def _volume(array, units="HU", window=None):
    return Volume(np.asarray(array), np.eye(4), units=units, window=window)


def test_ct_window_presets_have_slicers_published_values():
    expected = {
        "bone": (400, 1000),
        "lung": (-500, 1500),
        "brain": (50, 100),
        "soft_tissue": (40, 400),
        "abdomen": (40, 350),
    }
    assert {key: preset.window for key, preset in WINDOW_PRESETS.items()} == expected
    assert window_preset("bone").label == "Bone"
    with pytest.raises(KeyError, match="bone, lung"):
        window_preset("liver")


def test_default_window_prefers_the_series_then_ct_then_percentiles():
    ct = _volume(np.zeros((2, 3, 4), np.int16))
    assert default_window(ct) == (40.0, 400.0)
    assert default_window(_volume(np.zeros((2, 3, 4)), window=(60.0, 360.0))) == (60.0, 360.0)
    mr = _volume(np.arange(1000, dtype=np.float32).reshape(10, 10, 10), units="raw")
    center, width = default_window(mr)
    low, high = np.percentile(np.arange(1000), [1, 99])
    assert center == pytest.approx((low + high) / 2) and width == pytest.approx(high - low)


def test_auto_window_subsamples_large_arrays_but_keeps_the_range():
    rng = np.random.default_rng(1)
    array = rng.normal(500, 100, size=(200, 128, 128)).astype(np.float32)
    center, width = auto_window(array)
    assert center == pytest.approx(500, abs=5)
    assert width == pytest.approx(2 * 2.326 * 100, rel=0.05)  # 1st..99th percentile
    assert auto_window(np.full((3, 3, 3), 7.0)) == (7.0, 1.0)  # flat data: unit width


def test_menu_entries_list_the_series_window_first():
    ct = _volume(np.zeros((2, 2, 2), np.int16), window=(35.0, 80.0))
    entries = window_presets_for(ct)
    assert next(iter(entries)) == SERIES_WINDOW and entries[SERIES_WINDOW] == (35.0, 80.0)
    assert set(WINDOW_PRESETS) <= set(entries)
    mr = _volume(np.arange(8.0).reshape(2, 2, 2), units="raw")
    assert list(window_presets_for(mr)) == ["auto"]


def test_window_to_gray_is_the_linear_ramp():
    values = np.array([-1000, -160, 40, 240, 3000])
    grey = window_to_gray(values, 40, 400)
    assert grey.tolist() == [0.0, 0.0, 127.5, 255.0, 255.0]
    assert window_to_gray(np.array([39.0, 41.0]), 40, 0)[0] == 0.0  # zero width: a step


@pytest.mark.parametrize("key", ["ct_bone", "ct_soft_tissue", "mr_default"])
def test_volume_rendering_presets_are_well_formed(key):
    preset = volume_rendering_preset(key)
    for points in (preset.opacity, preset.colors, preset.gradient_opacity):
        values = [point[0] for point in points]
        assert values == sorted(values) and len(values) >= 2
        assert all(0.0 <= c <= 1.0 for point in points for c in point[1:])
    assert 0 <= preset.ambient <= 1 and 0 <= preset.diffuse <= 1


def test_ct_bone_preset_hides_soft_tissue_and_shows_bone():
    preset = VOLUME_RENDERING_PRESETS["ct_bone"]
    values = [v for v, _ in preset.opacity]
    alphas = [a for _, a in preset.opacity]
    assert np.interp(0, values, alphas) < 0.02  # water transparent
    assert np.interp(1000, values, alphas) > 0.7  # cortical bone opaque
    assert default_volume_rendering_preset(_volume(np.zeros((1, 1, 1)))) == "ct_bone"
    mr = _volume(np.zeros((1, 1, 1)), units="raw")
    assert default_volume_rendering_preset(mr) == "mr_default"
    with pytest.raises(KeyError, match="ct_bone"):
        volume_rendering_preset("ct-bone")
