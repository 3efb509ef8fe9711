"""C-FIND identifiers from a ``StudyQuery`` and ``QueryMatch`` rows from the answers.

Every field a ``QueryMatch`` shows is asked for as a return key, with the related
counts.  Descriptions are matched on our side only (case-insensitive substrings or
wildcards; PACS such as Orthanc match them case-sensitively), and every answer is checked
again here, so a server that ignores a key cannot widen the result.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from workstation.core.dicom_query import Level, QueryMatch, StudyQuery

_PATIENT_KEYS = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")
_STUDY_KEYS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
_SERIES_KEYS = (
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "NumberOfSeriesRelatedInstances",
)
_PATIENT_COUNTS = (
    "NumberOfPatientRelatedStudies",
    "NumberOfPatientRelatedSeries",
    "NumberOfPatientRelatedInstances",
)


def patient_identifier(query: StudyQuery) -> Dataset:
    """The Patient Root C-FIND identifier of a patient-level query."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "PATIENT"
    for key in (*_PATIENT_KEYS, *_PATIENT_COUNTS):
        setattr(ds, key, "")
    ds.PatientName = query.patient_name
    ds.PatientID = query.patient_id
    return ds


def study_identifier(query: StudyQuery) -> Dataset:
    """The Study Root C-FIND identifier of the study-level part of ``query``."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for key in (*_PATIENT_KEYS, *_STUDY_KEYS):
        setattr(ds, key, "")
    ds.PatientName = query.patient_name
    ds.PatientID = query.patient_id
    ds.StudyInstanceUID = query.study_uid
    ds.StudyDate = query.date_range
    ds.AccessionNumber = query.accession_number
    if query.level == "study":
        ds.ModalitiesInStudy = query.modality
    return ds


def series_identifier(query: StudyQuery, study_uid: str) -> Dataset:
    """The Study Root C-FIND identifier of the series of one study matching ``query``."""
    ds = Dataset()
    ds.QueryRetrieveLevel = "SERIES"
    ds.StudyInstanceUID = study_uid
    for key in _SERIES_KEYS:
        setattr(ds, key, "")
    ds.SeriesInstanceUID = query.series_uid
    ds.Modality = query.modality
    return ds


def _text(ds: Dataset, key: str) -> str:
    value: Any = ds.get(key, "")
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _count(ds: Dataset, key: str) -> int | None:
    value: Any = ds.get(key, None)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _modalities(ds: Dataset) -> tuple[str, ...]:
    value: Any = ds.get("ModalitiesInStudy", None)
    if value is None or value == "":
        return ()
    items = [value] if isinstance(value, str) else list(value)
    return tuple(str(v).strip().upper() for v in items if str(v).strip())


def match_from(ds: Dataset, level: Level, source: str) -> QueryMatch:
    """One C-FIND answer as a ``QueryMatch`` at ``level``."""
    match = QueryMatch(
        level=level,
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=_text(ds, "PatientBirthDate"),
        patient_sex=_text(ds, "PatientSex"),
        source=source,
    )
    if level == "patient":
        match.n_studies = _count(ds, "NumberOfPatientRelatedStudies")
        match.n_series = _count(ds, "NumberOfPatientRelatedSeries")
        match.n_instances = _count(ds, "NumberOfPatientRelatedInstances")
        return match
    match.study_uid = _text(ds, "StudyInstanceUID")
    match.study_date = _text(ds, "StudyDate")
    match.study_time = _text(ds, "StudyTime")
    match.study_description = _text(ds, "StudyDescription")
    match.accession_number = _text(ds, "AccessionNumber")
    match.modalities = _modalities(ds)
    match.n_series = _count(ds, "NumberOfStudyRelatedSeries")
    match.n_instances = _count(ds, "NumberOfStudyRelatedInstances")
    return match


def with_series(study: QueryMatch, ds: Dataset) -> QueryMatch:
    """A series-level match: the study's fields plus one series answer."""
    return QueryMatch(
        level="series",
        patient_id=study.patient_id,
        patient_name=study.patient_name,
        patient_birth_date=study.patient_birth_date,
        patient_sex=study.patient_sex,
        study_uid=study.study_uid,
        study_date=study.study_date,
        study_time=study.study_time,
        study_description=study.study_description,
        accession_number=study.accession_number,
        modalities=study.modalities,
        series_uid=_text(ds, "SeriesInstanceUID"),
        series_number=_text(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        modality=_text(ds, "Modality").upper(),
        body_part=_text(ds, "BodyPartExamined"),
        n_instances=_count(ds, "NumberOfSeriesRelatedInstances"),
        source=study.source,
    )


def needs_studies(query: StudyQuery) -> bool:
    """A patient-level query with study-level filters, answered from the matching studies."""
    return bool(
        query.study_uid
        or query.date_from
        or query.date_to
        or query.modality
        or query.description
        or query.accession_number
        or query.series_uid
    )
