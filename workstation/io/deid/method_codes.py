"""How the data set says it was de-identified: CID 7050 codes and the method text."""

from __future__ import annotations

import pydicom
from pydicom.sequence import Sequence

from workstation.io.deid.options import DeidOption

BASIC_CODE = ("113100", "Basic Application Confidentiality Profile")
#: DCM CID 7050 code of each option.
OPTION_CODES: dict[DeidOption, tuple[str, str]] = {
    DeidOption.CLEAN_PIXEL_DATA: ("113101", "Clean Pixel Data Option"),
    DeidOption.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    DeidOption.RETAIN_LONGITUDINAL_MODIFIED_DATES: (
        "113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    DeidOption.RETAIN_PATIENT_CHARACTERISTICS: (
        "113108", "Retain Patient Characteristics Option"),
    DeidOption.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    DeidOption.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    DeidOption.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
}  # fmt: skip


def _ordered(options: frozenset[DeidOption]) -> list[DeidOption]:
    """The options in code order (stable output)."""
    return sorted(options, key=lambda option: OPTION_CODES[option][0])


def method_text(options: frozenset[DeidOption], edition: str) -> list[str]:
    """Values of De-identification Method: the profile with its edition, then each option."""
    head = f"DICOM PS3.15 {edition} Basic Application Confidentiality Profile"
    return [head[:64], *(OPTION_CODES[option][1][:64] for option in _ordered(options))]


def method_codes(options: frozenset[DeidOption]) -> Sequence:
    """De-identification Method Code Sequence items (scheme DCM)."""
    items = Sequence()
    for value, meaning in [BASIC_CODE, *(OPTION_CODES[o] for o in _ordered(options))]:
        item = pydicom.Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    return items
