"""Named threshold presets: CT ranges in Hounsfield units and percentile ranges for MR.

CT ranges are the published InVesalius segmentation presets (InVesalius 3,
``invesalius/presets.py``, ``Presets.thresh_ct``; also tabulated in the InVesalius user
manual, "Predefined thresholding values to some materials"), in HU:

- Bone 226..3071, Compact bone (adult) 662..1988, Enamel (adult) 1553..2850,
  Soft tissue -700..225, Skin tissue (adult) -718..-177, Fat tissue (adult) -205..-51.

InVesalius has no lung preset; the lung/air range -1024..-400 HU brackets air (-1000 HU)
and aerated lung parenchyma (about -900..-500 HU; Hounsfield scale tables, e.g.
Radiopaedia "Hounsfield unit") while excluding soft tissue.

MR intensities have no absolute units, so MR presets are percentiles of the volume's
non-background voxels (voxels above the volume minimum), computed per volume.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core.errors import SegmentationError
from workstation.core.volume import Volume

INVESALIUS = "InVesalius 3 threshold presets (invesalius/presets.py, Presets.thresh_ct)"

#: Voxels sampled at most when computing percentiles (a strided subsample beyond this).
PERCENTILE_SAMPLE_VOXELS = 4_000_000


@dataclass(frozen=True)
class ThresholdPreset:
    """A named intensity range; ``percentile`` presets give lower/upper as percentiles."""

    name: str
    label: str
    lower: float
    upper: float
    modality: str  # "CT" or "MR"
    percentile: bool = False
    reference: str = ""


_PRESETS = (
    ThresholdPreset("bone", "Bone (CT)", 226, 3071, "CT", False, INVESALIUS + ": Bone"),
    ThresholdPreset(
        "cortical-bone",
        "Cortical bone (CT)",
        662,
        1988,
        "CT",
        False,
        INVESALIUS + ": Compact Bone (Adult)",
    ),
    ThresholdPreset(
        "teeth", "Teeth / enamel (CT)", 1553, 2850, "CT", False, INVESALIUS + ": Enamel (Adult)"
    ),
    ThresholdPreset(
        "soft-tissue", "Soft tissue (CT)", -700, 225, "CT", False, INVESALIUS + ": Soft Tissue"
    ),
    ThresholdPreset(
        "skin", "Skin (CT)", -718, -177, "CT", False, INVESALIUS + ": Skin Tissue (Adult)"
    ),
    ThresholdPreset("fat", "Fat (CT)", -205, -51, "CT", False, INVESALIUS + ": Fat Tissue (Adult)"),
    ThresholdPreset(
        "lung",
        "Lung / air (CT)",
        -1024,
        -400,
        "CT",
        False,
        "Hounsfield scale: air -1000 HU, aerated lung about -900..-500 HU",
    ),
    ThresholdPreset(
        "mr-bright",
        "Bright structures (MR, top 10 %)",
        90.0,
        100.0,
        "MR",
        True,
        "Percentiles of the non-background voxels (MR has no absolute units)",
    ),
    ThresholdPreset(
        "mr-tissue",
        "Tissue (MR, 20th..99.5th percentile)",
        20.0,
        99.5,
        "MR",
        True,
        "Percentiles of the non-background voxels (MR has no absolute units)",
    ),
    ThresholdPreset(
        "mr-foreground",
        "Whole body part (MR, above 5th percentile)",
        5.0,
        100.0,
        "MR",
        True,
        "Percentiles of the non-background voxels (MR has no absolute units)",
    ),
)

#: Every preset by name.
THRESHOLD_PRESETS: dict[str, ThresholdPreset] = {preset.name: preset for preset in _PRESETS}


def presets_for_modality(modality: str) -> list[ThresholdPreset]:
    """Presets suitable for a modality: CT ones for CT, percentile ones for everything else."""
    if modality.upper() == "CT":
        return [p for p in _PRESETS if p.modality == "CT"]
    return [p for p in _PRESETS if p.percentile]


def get_preset(name: str) -> ThresholdPreset:
    """The preset called ``name``, or SegmentationError listing the valid names."""
    try:
        return THRESHOLD_PRESETS[name]
    except KeyError:
        valid = ", ".join(THRESHOLD_PRESETS)
        raise SegmentationError(f"Unknown preset '{name}'; valid presets: {valid}.") from None


def percentile_range(volume: Volume, lower: float, upper: float) -> tuple[float, float]:
    """Intensities at two percentiles of the voxels brighter than the volume minimum."""
    array = volume.array
    step = max(1, round((array.size / PERCENTILE_SAMPLE_VOXELS) ** (1.0 / 3.0)))
    sample = array[::step, ::step, ::step].ravel()
    minimum = sample.min()
    foreground = sample[sample > minimum]
    if foreground.size == 0:
        raise SegmentationError(
            "The image is uniform: a percentile threshold cannot select a part."
        )
    low, high = np.percentile(foreground, [lower, upper])
    return float(low), float(high)


def resolve_threshold(name: str, volume: Volume) -> tuple[float, float]:
    """The (lower, upper) intensity range of preset ``name`` for ``volume``."""
    preset = get_preset(name)
    if preset.percentile:
        return percentile_range(volume, preset.lower, preset.upper)
    if volume.units != "HU":
        raise SegmentationError(
            f"Preset '{name}' is in Hounsfield units but this image is not a CT in HU "
            f"(units: {volume.units}); use an MR preset (mr-bright, mr-tissue, mr-foreground) "
            "or give --threshold."
        )
    return float(preset.lower), float(preset.upper)
