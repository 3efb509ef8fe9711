"""The options of the PS3.15 confidentiality profile a user can choose, by name."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from workstation.core.errors import DeidentificationError


class DeidOption(StrEnum):
    """One option of the Basic Application Level Confidentiality Profile."""

    RETAIN_LONGITUDINAL_MODIFIED_DATES = "retain-longitudinal-modified-dates"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_SAFE_PRIVATE = "retain-safe-private"
    RETAIN_UIDS = "retain-uids"
    CLEAN_DESCRIPTORS = "clean-descriptors"
    CLEAN_PIXEL_DATA = "clean-pixel-data"


#: Dates shifted per patient by default: intervals between studies survive.
DEFAULT_OPTIONS: frozenset[DeidOption] = frozenset({DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES})


def parse_options(names: Iterable[str], basic_only: bool = False) -> frozenset[DeidOption]:
    """The options named (added to the default ones unless ``basic_only``)."""
    chosen: set[DeidOption] = set() if basic_only else set(DEFAULT_OPTIONS)
    for name in names:
        text = name.strip().lower()
        try:
            chosen.add(DeidOption(text))
        except ValueError:
            valid = ", ".join(option.value for option in DeidOption)
            raise DeidentificationError(
                f"Unknown de-identification option '{name}'; valid options: {valid}."
            ) from None
    return frozenset(chosen)
