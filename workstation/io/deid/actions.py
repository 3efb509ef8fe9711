"""What each attribute becomes: compound actions resolved once, dummy values per VR.

Resolved operations: ``X`` remove, ``Z`` empty, ``D`` dummy, ``U`` keyed UID (sequences:
kept and walked), ``K`` keep, ``C`` clean the text, ``N`` / ``I`` the keyed Patient's
Name / Patient ID pseudonyms.
"""

from __future__ import annotations

import functools

from pydicom.datadict import tag_for_keyword

from workstation.io.deid.options import DeidOption
from workstation.io.deid.table import load_table


def _tags(*keywords: str) -> frozenset[int]:
    """The tags of DICOM keywords."""
    return frozenset(int(tag) for tag in map(tag_for_keyword, keywords) if tag is not None)


#: Type 2 (present, may be empty) in the common image IODs: X/Z, X/Z/D and Z/D become Z.
TYPE2 = _tags(
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
    "ContrastBolusAgent",
    "AcquisitionContextSequence",
    "ContentCreatorName",
    "ClinicalTrialProtocolName",
    "ClinicalTrialSiteID",
    "ClinicalTrialSiteName",
    "ClinicalTrialTimePointID",
)
#: Type 1 (must hold a value) in the common image IODs: X/D, X/Z/D and Z/D become D.
TYPE1 = _tags("ContentDate", "ContentTime", "AcquisitionDateTime")
#: Type 1 only in the enhanced multi-frame IODs (Enhanced General Equipment module).
TYPE1_ENHANCED = _tags("DeviceSerialNumber")
#: SOP classes with the Enhanced General Equipment module (Type 1 Device Serial Number).
ENHANCED_SOP_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.2.1", "1.2.840.10008.5.1.4.1.1.2.2",
    "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.2",
    "1.2.840.10008.5.1.4.1.1.4.3", "1.2.840.10008.5.1.4.1.1.4.4",
    "1.2.840.10008.5.1.4.1.1.128.1", "1.2.840.10008.5.1.4.1.1.130",
    "1.2.840.10008.5.1.4.1.1.128.2", "1.2.840.10008.5.1.4.1.1.12.1.1",
    "1.2.840.10008.5.1.4.1.1.12.2.1", "1.2.840.10008.5.1.4.1.1.66.4",
})  # fmt: skip

PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
PATIENT_BIRTH_TIME = 0x00100032

TEXT_DUMMY = "ANONYMIZED"
DUMMY_BY_VR: dict[str, object] = {
    "PN": "ANONYMOUS", "DA": "19000101", "TM": "000000.00", "DT": "19000101000000",
    "AS": "000Y", "DS": "0", "IS": "0", "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "UL": 0,
    "US": 0, "SV": 0, "UV": 0, "AE": TEXT_DUMMY, "CS": TEXT_DUMMY, "LO": TEXT_DUMMY,
    "LT": TEXT_DUMMY, "SH": TEXT_DUMMY, "ST": TEXT_DUMMY, "UT": TEXT_DUMMY, "UC": TEXT_DUMMY,
    "UR": TEXT_DUMMY,
}  # fmt: skip


def resolve(action: str, tag: int, enhanced: bool) -> str:
    """The single action of a (possibly compound) table action for this attribute."""
    if action == "X/Z/U*":
        return "U"
    if "/" not in action:
        return action
    choices = action.split("/")
    if "D" in choices and (tag in TYPE1 or (enhanced and tag in TYPE1_ENHANCED)):
        return "D"
    if tag in TYPE2:
        return "Z" if "Z" in choices else "D"
    return choices[0]


@functools.cache
def operations(options: frozenset[DeidOption], enhanced: bool) -> dict[int, str]:
    """Tag → resolved operation for every exact-tag row of the table under ``options``."""
    table = load_table()
    ops = {tag: resolve(action, tag, enhanced) for tag, action in table.by_tag.items()}
    if DeidOption.RETAIN_PATIENT_CHARACTERISTICS in options:
        ops.update(dict.fromkeys(table.keep["retain-patient-characteristics"], "K"))
    if DeidOption.RETAIN_DEVICE_IDENTITY in options:
        ops.update(dict.fromkeys(table.keep["retain-device-identity"], "K"))
    if DeidOption.CLEAN_DESCRIPTORS in options:
        ops.update(dict.fromkeys(table.clean, "C"))
    ops[PATIENT_NAME] = "N"
    ops[PATIENT_ID] = "I"
    return ops


def masked_operation(tag: int) -> str | None:
    """The operation of a repeating-group row (curves 50xx, overlays 60xx) for ``tag``."""
    action = load_table().action(tag)
    return None if action is None else resolve(action, tag, False)
