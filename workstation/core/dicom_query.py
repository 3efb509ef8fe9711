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


def wildcard_match(pattern: str, value: str) -> bool:
    """DICOM wildcard matching (``*`` any run, ``?`` one character), case-insensitive."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.fullmatch(regex, value, flags=re.IGNORECASE | re.DOTALL) is not None


def is_pattern(text: str) -> bool:
    """True when ``text`` holds a DICOM wildcard."""
    return "*" in text or "?" in text


def name_matches(pattern: str, value: str) -> bool:
    """A person-name pattern against 'Family^Given': a space matches the ``^`` separator."""
    return wildcard_match(pattern.replace("^", " "), value.replace("^", " "))


def _text_matches(pattern: str, value: str) -> bool:
    """A description filter: a wildcard pattern, else a case-insensitive substring."""
    if is_pattern(pattern):
        return wildcard_match(pattern, value)
    return pattern.lower() in value.lower()


def accepts(query: StudyQuery, match: QueryMatch) -> bool:
    """True when ``match`` satisfies ``query`` by our rules, however the server matched.

    Servers match text differently (case, fuzzy matching, escaped characters), so every
    answer is checked again here: the same search gives the same answer from the
    database, a DIMSE PACS or a DICOMweb server.  Fields a server may leave out of an
    answer (modalities, dates, accession number, UIDs) only count when present.
    """
    if query.patient_id and query.patient_id != match.patient_id:
        return False
    if query.patient_name and not name_matches(query.patient_name, match.patient_name):
        return False
    if match.level == "patient":
        return True
    for wanted, found in (
        (query.study_uid, match.study_uid),
        (query.accession_number, match.accession_number),
    ):
        if wanted and found and wanted != found:
            return False
    if match.study_date and (
        (query.date_from and match.study_date < query.date_from)
        or (query.date_to and match.study_date > query.date_to)
    ):
        return False
    if match.level == "series":
        if query.series_uid and match.series_uid and query.series_uid != match.series_uid:
            return False
        found_modalities: tuple[str, ...] = (match.modality,) if match.modality else ()
        described = match.series_description or match.study_description
    else:
        found_modalities = match.modalities
        described = match.study_description
    modalities = {modality.upper() for modality in found_modalities}
    if query.modality and modalities and query.modality not in modalities:
        return False
    return not query.description or _text_matches(query.description, described)


def patients_of(studies: list[QueryMatch], source: str = "") -> list[QueryMatch]:
    """Patient-level matches grouped from study matches (by ID, or by name without one).

    Counts are summed over the given studies (None when a study did not say); used where
    a protocol has no patient-level search (DICOMweb) or a patient search has study
    filters.
    """
    grouped: dict[tuple[str, str], QueryMatch] = {}
    for study in studies:
        key = (study.patient_id, "" if study.patient_id else study.patient_name)
        patient = grouped.get(key)
        if patient is None:
            patient = QueryMatch(
                level="patient",
                patient_id=study.patient_id,
                patient_name=study.patient_name,
                patient_birth_date=study.patient_birth_date,
                patient_sex=study.patient_sex,
                n_studies=0,
                n_series=0,
                n_instances=0,
                source=source or study.source,
            )
            grouped[key] = patient
        patient.n_studies = (patient.n_studies or 0) + 1
        for name in ("n_series", "n_instances"):
            current, value = getattr(patient, name), getattr(study, name)
            setattr(patient, name, None if value is None or current is None else current + value)
        patient.modalities = tuple(sorted({*patient.modalities, *study.modalities}))
    return list(grouped.values())
