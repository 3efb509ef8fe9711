"""Clean Descriptors: keep descriptive text but strip the identifying words of the data set."""

from __future__ import annotations

import re

import pydicom
from pydicom.multival import MultiValue

#: Person names whose parts are removed from descriptions.
NAME_KEYWORDS = (
    "PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
    "NameOfPhysiciansReadingStudy", "PhysiciansOfRecord", "RequestingPhysician",
    "ConsultingPhysicianName", "ScheduledPerformingPhysicianName",
)  # fmt: skip
#: Identifiers and places removed whole.
TEXT_KEYWORDS = (
    "PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "PatientAddress",
    "MedicalRecordLocator", "AdmissionID", "RequestedProcedureID",
    "PerformedProcedureStepID", "ScheduledProcedureStepID", "IssuerOfPatientID",
)  # fmt: skip
#: Dates in common written forms: 20210304, 2021-03-04, 04.03.2021, 3/4/21 …
DATE_PATTERN = (
    r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}"
    r"|(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
)


def _values(ds: pydicom.Dataset, keyword: str) -> list[str]:
    """The string values of one attribute (several for multi-valued ones)."""
    value = ds.get(keyword)
    if value is None or value == "":
        return []
    items = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(item) for item in items if str(item).strip()]


def phi_words(ds: pydicom.Dataset) -> list[str]:
    """The identifying words of ``ds`` (names split into their parts), longest first."""
    words: set[str] = set()
    for keyword in NAME_KEYWORDS:
        for name in _values(ds, keyword):
            words.update(part for part in re.split(r"[\^= ,]+", name) if len(part) >= 2)
    for keyword in TEXT_KEYWORDS:
        for text in _values(ds, keyword):
            words.add(text.strip())
            words.update(part for part in text.split() if len(part) >= 4)
    return sorted(words, key=lambda word: (-len(word), word))


def cleaner(words: list[str]) -> re.Pattern[str]:
    """One pattern matching any of ``words`` (whole words, any case) or a date."""
    escaped = [re.escape(word) for word in words]
    alternatives = "|".join([*escaped, DATE_PATTERN]) if escaped else DATE_PATTERN
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)


def clean_text(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` without the matches of ``pattern``, spaces tidied."""
    cleaned = pattern.sub(" ", text)
    return re.sub(r"\s{2,}", " ", cleaned).strip(" ,;:-^")


#: The patient's own identity, looked for in what the profile keeps.
PATIENT_KEYWORDS = (
    "PatientName", "OtherPatientNames", "PatientBirthName", "PatientID", "OtherPatientIDs",
)  # fmt: skip
#: Placeholders some data sets already hold instead of a name (not identifying).
PLACEHOLDERS = frozenset({"ANON", "ANONYMOUS", "ANONYMIZED", "REMOVED", "UNKNOWN", "NONE"})
#: Text value representations a kept attribute could carry a name or ID in.
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})


def patient_words(ds: pydicom.Dataset) -> list[str]:
    """The patient's whole names and IDs (three characters or more), longest first.

    Whole names only: a single name part is often an ordinary word a device also uses.
    """
    words: set[str] = set()
    for keyword in PATIENT_KEYWORDS:
        for text in _values(ds, keyword):
            parts = [part for part in re.split(r"[\^= ,]+", text) if part]
            words.update({text.strip(), " ".join(parts), "^".join(parts)})
    kept = {word for word in words if len(word) >= 3 and word.upper() not in PLACEHOLDERS}
    return sorted(kept, key=lambda word: (-len(word), word))


def attributes_holding(ds: pydicom.Dataset, words: list[str]) -> list[str]:
    """Names of the text attributes of ``ds`` (sequences included) that contain any of ``words``."""
    if not words:
        return []
    pattern = re.compile(
        r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(word) for word in words) + r")(?![A-Za-z0-9])",
        re.IGNORECASE,
    )
    found: list[str] = []

    def walk(dataset: pydicom.Dataset) -> None:
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value or ():
                    walk(item)
            elif element.VR in TEXT_VRS and element.value not in (None, ""):
                name = element.keyword or str(element.tag)
                if name not in found and pattern.search(str(element.value)):
                    found.append(name)

    walk(ds)
    return found
