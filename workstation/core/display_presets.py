"""Display presets as plain data: window/level for slice views, transfer functions for 3D.

Window/level values follow 3D Slicer's published volume display presets
(``Modules/Loadable/Volumes/Resources/VolumeDisplayPresets.json``); volume-rendering
transfer functions follow Slicer's ``VolumeRendering/Resources/presets.xml``
(CT-Bone, MR-Default; CT soft tissue is a smoother variant of CT-Soft-Tissue).
Nothing here imports Qt or VTK.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core.volume import Volume


@dataclass(frozen=True)
class WindowPreset:
    """A named window (center, width) for showing grey values."""

    key: str
    label: str
    center: float
    width: float

    @property
    def window(self) -> tuple[float, float]:
        """(center, width)."""
        return self.center, self.width


#: CT window/level presets in Hounsfield units, in menu order.
WINDOW_PRESETS: dict[str, WindowPreset] = {
    preset.key: preset
    for preset in (
        WindowPreset("bone", "Bone", 400.0, 1000.0),
        WindowPreset("lung", "Lung", -500.0, 1500.0),
        WindowPreset("brain", "Brain", 50.0, 100.0),
        WindowPreset("soft_tissue", "Soft tissue", 40.0, 400.0),
        WindowPreset("abdomen", "Abdomen", 40.0, 350.0),
    )
}

#: Pseudo-preset key meaning "the window stored in the series itself".
SERIES_WINDOW = "series"

#: Smallest window width accepted anywhere (avoids a division by zero in the mapping).
MIN_WINDOW_WIDTH = 1e-3


def window_preset(key: str) -> WindowPreset:
    """Look up a window preset by key, raising KeyError with the valid keys."""
    try:
        return WINDOW_PRESETS[key]
    except KeyError:
        valid = ", ".join(WINDOW_PRESETS)
        raise KeyError(f"unknown window preset {key!r}; choose one of: {valid}") from None


def auto_window(
    array: np.ndarray, low_percent: float = 1.0, high_percent: float = 99.0
) -> tuple[float, float]:
    """Window (center, width) covering the given percentiles of a (sub-sampled) array."""
    step = max(1, round((array.size / 2_000_000) ** (1 / 3)))
    sample = np.asarray(array[::step, ::step, ::step], dtype=np.float64)
    low, high = np.percentile(sample, [low_percent, high_percent])
    width = max(float(high - low), 1.0)
    return float(low + high) / 2.0, width


def _series_window(volume: Volume) -> tuple[float, float] | None:
    """The usable (center, width) stored in the series, or None."""
    if volume.window is not None and volume.window[1] > 0:
        return float(volume.window[0]), float(volume.window[1])
    return None


def default_window(volume: Volume) -> tuple[float, float]:
    """The window a volume opens with: its own, else soft tissue for CT, else percentiles."""
    series = _series_window(volume)
    if series is not None:
        return series
    if volume.units == "HU":
        return WINDOW_PRESETS["soft_tissue"].window
    return auto_window(volume.array)


def window_presets_for(volume: Volume) -> dict[str, tuple[float, float]]:
    """Menu entries for a volume: the series' own window first (if any), then CT presets."""
    entries: dict[str, tuple[float, float]] = {}
    series = _series_window(volume)
    if series is not None:
        entries[SERIES_WINDOW] = series
    if volume.units == "HU":
        entries.update({key: preset.window for key, preset in WINDOW_PRESETS.items()})
    else:
        entries["auto"] = auto_window(volume.array)
    return entries


def window_to_gray(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Grey level 0..255 that a linear window (center, width) assigns to ``values``."""
    width = max(float(width), MIN_WINDOW_WIDTH)
    lower = center - width / 2.0
    scaled = (np.asarray(values, dtype=np.float64) - lower) / width * 255.0
    return np.clip(scaled, 0.0, 255.0)


@dataclass(frozen=True)
class VolumeRenderingPreset:
    """Transfer functions and shading for direct volume rendering, as plain numbers.

    ``opacity`` holds (value, opacity) points, ``colors`` (value, r, g, b) points,
    ``gradient_opacity`` (gradient magnitude, opacity) points.
    """

    key: str
    label: str
    opacity: tuple[tuple[float, float], ...]
    colors: tuple[tuple[float, float, float, float], ...]
    gradient_opacity: tuple[tuple[float, float], ...]
    shade: bool
    ambient: float
    diffuse: float
    specular: float
    specular_power: float


VOLUME_RENDERING_PRESETS: dict[str, VolumeRenderingPreset] = {
    preset.key: preset
    for preset in (
        VolumeRenderingPreset(
            key="ct_bone",
            label="CT bone",
            opacity=((-3024, 0.0), (-16.4458, 0.0), (641.385, 0.715686), (3071, 0.705882)),
            colors=(
                (-3024, 0.0, 0.0, 0.0),
                (-16.4458, 0.729412, 0.254902, 0.301961),
                (641.385, 0.905882, 0.815686, 0.552941),
                (3071, 1.0, 1.0, 1.0),
            ),
            gradient_opacity=((0, 1.0), (255, 1.0)),
            shade=True,
            ambient=0.1,
            diffuse=0.9,
            specular=0.2,
            specular_power=10.0,
        ),
        VolumeRenderingPreset(
            # Slicer's CT-Soft-Tissue opacity step (-167..-160 HU) unshaded shows grey
            # "wood-grain" rings on the skin under ray casting; a 100 HU ramp, a skin
            # colour and shading show the body surface smoothly instead.
            key="ct_soft_tissue",
            label="CT soft tissue",
            opacity=((-2048, 0.0), (-200, 0.0), (-100, 1.0), (3661, 1.0)),
            colors=(
                (-2048, 0.0, 0.0, 0.0),
                (-200, 0.85, 0.68, 0.58),
                (240, 0.95, 0.85, 0.78),
                (3661, 1.0, 1.0, 1.0),
            ),
            gradient_opacity=((0, 1.0), (255, 1.0)),
            shade=True,
            ambient=0.25,
            diffuse=0.75,
            specular=0.1,
            specular_power=10.0,
        ),
        VolumeRenderingPreset(
            key="mr_default",
            label="MR default",
            opacity=((0, 0.0), (20, 0.0), (40, 0.15), (120, 0.3), (220, 0.375), (1024, 0.5)),
            colors=(
                (0, 0.0, 0.0, 0.0),
                (20, 0.168627, 0.0, 0.0),
                (40, 0.403922, 0.145098, 0.0784314),
                (120, 0.780392, 0.607843, 0.380392),
                (220, 0.847059, 0.835294, 0.788235),
                (1024, 1.0, 1.0, 1.0),
            ),
            gradient_opacity=((0, 1.0), (255, 1.0)),
            shade=True,
            ambient=0.2,
            diffuse=1.0,
            specular=0.0,
            specular_power=1.0,
        ),
    )
}


def volume_rendering_preset(key: str) -> VolumeRenderingPreset:
    """Look up a volume-rendering preset by key, raising KeyError with the valid keys."""
    try:
        return VOLUME_RENDERING_PRESETS[key]
    except KeyError:
        valid = ", ".join(VOLUME_RENDERING_PRESETS)
        raise KeyError(f"unknown volume rendering preset {key!r}; choose one of: {valid}") from None


def default_volume_rendering_preset(volume: Volume) -> str:
    """CT bone for CT data (HU), MR default for anything else."""
    return "ct_bone" if volume.units == "HU" else "mr_default"


def length_scale(unit: str) -> tuple[float, int]:
    """(mm per ``unit``, decimals shown) of a position read-out in mm or cm."""
    return (10.0, 2) if unit == "cm" else (1.0, 1)


def patient_position_text(
    lps: np.ndarray | tuple[float, ...], separator: str = "  ", unit: str = "mm"
) -> str:
    """'R 12.5  A 40.0  S 3.0 mm': each LPS coordinate as a distance towards a patient side.

    A negative L coordinate is shown as R, a negative P as A and a negative S as I, the
    way radiologists read positions (3D Slicer shows its RAS read-out the same way).
    With ``unit="cm"`` the distances are in centimetres with two decimals.
    """
    scale, digits = length_scale(unit)
    parts = []
    for value, (positive, negative) in zip(lps, (("L", "R"), ("P", "A"), ("S", "I")), strict=True):
        value = float(value)
        letter = positive if value >= 0 else negative
        parts.append(f"{letter} {abs(value) / scale:.{digits}f}")
    return separator.join(parts) + f" {unit}"
