"""A study query as QIDO-RS parameters, and QIDO-RS DICOM JSON answers as query matches.

Matching keys go to the server; the answers are then checked here against the query's
own rules (patient name wildcards and the description substring, case-insensitive),
because servers differ in how they match text (case, fuzzy matching).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydicom.datadict import tag_for_keyword

from workstation.core.dicom_query import Level, QueryMatch, StudyQuery, is_pattern

#: Attributes asked for besides the server's defaults (``includefield``), per level.
STUDY_FIELDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "AccessionNumber",
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
)
SERIES_FIELDS = (
    *STUDY_FIELDS[:9],
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "BodyPartExamined",
    "NumberOfSeriesRelatedInstances",
)
INSTANCE_FIELDS = ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "InstanceNumber")


def _tag(keyword: str) -> str:
    """The 8-hex-digit key DICOM JSON uses for ``keyword``."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


def json_values(record: Mapping[str, Any], keyword: str) -> list[Any]:
    """The values of one attribute of a DICOM JSON data set ([] when absent or empty)."""
    element = record.get(_tag(keyword)) or {}
    values = element.get("Value") if isinstance(element, Mapping) else None
    return list(values) if isinstance(values, list) else []


def json_text(record: Mapping[str, Any], keyword: str) -> str:
    """One attribute as text: the first value (a person name's alphabetic form)."""
    values = json_values(record, keyword)
    if not values or values[0] is None:
        return ""
    value = values[0]
    if isinstance(value, Mapping):
        return str(value.get("Alphabetic", ""))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def json_count(record: Mapping[str, Any], keyword: str) -> int | None:
    """A count attribute as an int; None when the server did not give it."""
    text = json_text(record, keyword)
    try:
        return int(float(text)) if text else None
    except ValueError:
        return None


def search_filters(query: StudyQuery, level: Level) -> dict[str, str]:
    """The QIDO-RS matching keys of ``query`` for a search at ``level``."""
    filters: dict[str, str] = {}
    if query.patient_id:
        filters["PatientID"] = query.patient_id
    if query.patient_name:
        filters["PatientName"] = query.patient_name
    if query.study_uid:
        filters["StudyInstanceUID"] = query.study_uid
    if query.accession_number:
        filters["AccessionNumber"] = query.accession_number
    if query.date_range:
        filters["StudyDate"] = query.date_range
    if query.description and level != "series":
        text = query.description
        filters["StudyDescription"] = text if is_pattern(text) else f"*{text}*"
    if level == "series":
        if query.series_uid:
            filters["SeriesInstanceUID"] = query.series_uid
        if query.modality:
            filters["Modality"] = query.modality
    elif query.modality:
        filters["ModalitiesInStudy"] = query.modality
    return filters


_UNSAFE = re.compile(r"[^A-Za-z0-9*?._\-]+")


def query_string(filters: dict[str, str], fields: tuple[str, ...], limit: int | None = None) -> str:
    """The QIDO-RS query string of ``filters``, ``includefield`` and ``limit``.

    Wildcards are sent as they are (RFC 3986 allows ``*`` and ``?`` in a query), not
    percent-encoded: Orthanc 1.10 does not decode the arguments and would match ``%2A``
    literally.  For the same reason any run of other characters (a space, the ``^`` of a
    person name) becomes ``*``, which only widens the match; ``accepts`` then applies the
    exact rule to the answers.
    """
    parts = [f"{key}={_widen(value)}" for key, value in filters.items()]
    parts += [f"includefield={name}" for name in fields]
    parts.append("fuzzymatching=false")
    if limit:
        parts.append(f"limit={int(limit)}")
    return "?" + "&".join(parts)


def _widen(value: str) -> str:
    return re.sub(r"\*+", "*", _UNSAFE.sub("*", value))


def _study_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """The patient and study fields every QIDO-RS answer carries."""
    keys = {
        "patient_id": "PatientID",
        "patient_name": "PatientName",
        "patient_birth_date": "PatientBirthDate",
        "patient_sex": "PatientSex",
        "study_uid": "StudyInstanceUID",
        "study_date": "StudyDate",
        "study_time": "StudyTime",
        "study_description": "StudyDescription",
        "accession_number": "AccessionNumber",
    }
    return {field: json_text(record, keyword) for field, keyword in keys.items()}


def study_match(record: Mapping[str, Any], source: str) -> QueryMatch:
    """A study-level QIDO-RS answer as a match."""
    modalities = tuple(str(v) for v in json_values(record, "ModalitiesInStudy") if v)
    return QueryMatch(
        level="study",
        **_study_fields(record),
        modalities=modalities,
        n_series=json_count(record, "NumberOfStudyRelatedSeries"),
        n_instances=json_count(record, "NumberOfStudyRelatedInstances"),
        source=source,
    )


def series_match(record: Mapping[str, Any], source: str) -> QueryMatch:
    """A series-level QIDO-RS answer as a match."""
    modality = json_text(record, "Modality")
    return QueryMatch(
        level="series",
        **_study_fields(record),
        modalities=(modality,) if modality else (),
        series_uid=json_text(record, "SeriesInstanceUID"),
        series_number=json_text(record, "SeriesNumber"),
        series_description=json_text(record, "SeriesDescription"),
        modality=modality,
        body_part=json_text(record, "BodyPartExamined"),
        n_instances=json_count(record, "NumberOfSeriesRelatedInstances"),
        source=source,
    )
