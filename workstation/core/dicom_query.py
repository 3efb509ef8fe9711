"""What a user searches for (a study query) and what a search finds (matches).

One shape for the local database, DIMSE C-FIND and DICOMweb QIDO-RS, so the command
line, the GUI and the JSON output read the same fields wherever the answer came from.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

#: The levels a search can ask at (DICOM's Query/Retrieve levels PATIENT, STUDY, SERIES).
Level = Literal["patient", "study", "series"]
LEVELS: tuple[Level, ...] = ("patient", "study", "series")

_DATE = re.compile(r"^\d{8}$")


def normalise_date(text: str) -> str:
    """A date given as YYYYMMDD or YYYY-MM-DD as DICOM's YYYYMMDD; '' stays ''.

    Raises ValueError with a message a user can act on for anything else.
    """
    value = text.strip().replace("-", "")
    if value and not _DATE.match(value):
        raise ValueError(f"'{text}' is not a date; use YYYY-MM-DD or YYYYMMDD")
    return value


@dataclass(frozen=True)
class StudyQuery:
    """A search: every non-empty field must match.

    ``patient_name`` may hold DICOM wildcards (``*`` any run, ``?`` one character) and
    matches case-insensitively; the other text fields match exactly except
    ``description``, which matches as a case-insensitive substring (or a wildcard
    pattern when it holds ``*``/``?``).  ``date_from``/``date_to`` are YYYYMMDD, either may
    be empty (an open range).  ``modality`` matches any series of the study (study level)
    or the series' own modality (series level).  ``study_uid`` narrows a series search to
    one study.
    """

    level: Level = "study"
    patient_id: str = ""
    patient_name: str = ""
    study_uid: str = ""
    series_uid: str = ""
    modality: str = ""
    date_from: str = ""
    date_to: str = ""
    description: str = ""
    accession_number: str = ""
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown query level {self.level!r}; use one of {', '.join(LEVELS)}")
        object.__setattr__(self, "date_from", normalise_date(self.date_from))
        object.__setattr__(self, "date_to", normalise_date(self.date_to))
        object.__setattr__(self, "modality", self.modality.strip().upper())

    @property
    def date_range(self) -> str:
        """The DICOM range matching value 'FROM-TO' ('' when neither end is given)."""
        if not (self.date_from or self.date_to):
            return ""
        if self.date_from and self.date_from == self.date_to:
            return self.date_from
        return f"{self.date_from}-{self.date_to}"


@dataclass
class QueryMatch:
    """One answer of a search, at its level; fields the level does not have stay empty.

    Dates are YYYYMMDD; ``modalities`` lists a study's modalities (Modalities in Study);
    counts are None when the answering side did not say.  ``source`` names where it came
    from ("database", a server name, or an address).
    """

    level: Level
    patient_id: str = ""
    patient_name: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    study_uid: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    accession_number: str = ""
    modalities: tuple[str, ...] = ()
    series_uid: str = ""
    series_number: str = ""
    series_description: str = ""
    modality: str = ""
    body_part: str = ""
    n_studies: int | None = None
    n_series: int | None = None
    n_instances: int | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` output (tuples as lists)."""
        record = asdict(self)
        record["modalities"] = list(self.modalities)
        return record
