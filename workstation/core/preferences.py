"""The user's preferences for the window: export defaults, read-out style, units, theme.

Preferences change what the window shows and proposes, never a file format, a command's
output or a report.  ``preferences_from_mapping`` accepts whatever a settings file holds:
unknown keys are ignored and invalid values fall back to the defaults, so a hand-edited
file never breaks the window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

from workstation.core.display_presets import length_scale, patient_position_text

CHOICES: dict[str, tuple[str, ...]] = {
    "coordinates": ("lps", "ras"),
    "position_style": ("anatomical", "signed"),
    "length_unit": ("mm", "cm"),
    "volume_unit": ("ml", "mm³"),
    "theme": ("system", "light", "dark"),
}


@dataclass(frozen=True)
class Preferences:
    """What the window proposes and how it shows positions and sizes."""

    export_folder: str = ""  # empty: the user's home folder
    export_format: str = ".stl"
    coordinates: str = "lps"  # export default and the signed read-out
    position_style: str = "anatomical"  # 'R 12.5  A 40.0  S 3.0 mm' or signed coordinates
    length_unit: str = "mm"
    volume_unit: str = "ml"
    theme: str = "system"


def preferences_from_mapping(values: Mapping[str, object]) -> Preferences:
    """Preferences from stored values; unknown keys ignored, invalid values the defaults."""
    chosen: dict[str, str] = {}
    for field in fields(Preferences):
        value = values.get(field.name)
        if not isinstance(value, str):
            continue
        if field.name in CHOICES and value not in CHOICES[field.name]:
            continue
        if field.name == "export_format" and not (value.startswith(".") and len(value) > 1):
            continue
        chosen[field.name] = value
    return Preferences(**chosen)


def preferences_to_mapping(preferences: Preferences) -> dict[str, str]:
    """The values to store."""
    return {key: str(value) for key, value in asdict(preferences).items()}


def volume_text(mm3: float, preferences: Preferences) -> str:
    """A volume for the models table: '1,755.69' (ml) or '1,755,690' (mm³)."""
    if preferences.volume_unit == "mm³":
        return f"{mm3:,.0f}"
    return f"{mm3 / 1000.0:,.2f}"


def position_text(lps: np.ndarray | tuple[float, ...], preferences: Preferences) -> str:
    """A patient position as the preferences ask: by patient sides, or signed LPS/RAS."""
    point = np.asarray(lps, dtype=float)
    unit = preferences.length_unit
    if preferences.position_style == "anatomical":
        return patient_position_text(point, unit=unit)
    scale, digits = length_scale(unit)
    if preferences.coordinates == "ras":
        point = point * np.array([-1.0, -1.0, 1.0])
    values = ", ".join(f"{value / scale + 0.0:.{digits}f}" for value in point)
    return f"{preferences.coordinates.upper()} ({values}) {unit}"
