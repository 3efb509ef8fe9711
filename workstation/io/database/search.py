"""Search the index with a StudyQuery: SQL built from the query's non-empty fields.

Patient names and descriptions are matched case-insensitively on folded columns;
DICOM wildcards ``*`` and ``?`` become SQL LIKE's ``%`` and ``_`` (LIKE's own special
characters in the text are escaped).  A description without wildcards matches as a
substring of the study's or any of its series' descriptions.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from workstation.core.dicom_query import QueryMatch, StudyQuery
from workstation.io.database.index import fold_name, fold_text

SOURCE = "database"
ESCAPE = "\\"


def like_pattern(text: str, substring: bool = False) -> str:
    """A LIKE pattern (escape character ``\\``) for a DICOM wildcard text."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    pattern = escaped.replace("*", "%").replace("?", "_")
    if substring and "*" not in text and "?" not in text:
        pattern = f"%{pattern}%"
    return pattern


def _modalities(text: str) -> list[str]:
    return [item.strip().upper() for item in text.replace(",", "\\").split("\\") if item.strip()]


def _study_conditions(query: StudyQuery, series_level: bool) -> tuple[list[str], list[Any]]:
    """WHERE conditions on the joined tables p (patients), st (studies), se (series)."""
    where: list[str] = []
    values: list[Any] = []
    if query.patient_id and ("*" in query.patient_id or "?" in query.patient_id):
        where.append(f"p.patient_id LIKE ? ESCAPE '{ESCAPE}'")
        values.append(like_pattern(query.patient_id))
    elif query.patient_id:
        where.append("p.patient_id = ?")
        values.append(query.patient_id)
    if query.patient_name:
        where.append(f"p.name_folded LIKE ? ESCAPE '{ESCAPE}'")
        values.append(like_pattern(fold_name(query.patient_name)))
    if query.study_uid:
        where.append("st.study_uid = ?")
        values.append(query.study_uid)
    if query.accession_number:
        where.append("st.accession_number = ?")
        values.append(query.accession_number)
    if query.date_from:
        where.append("st.study_date >= ? AND length(st.study_date) = 8")
        values.append(query.date_from)
    if query.date_to:
        where.append("st.study_date <= ? AND length(st.study_date) = 8")
        values.append(query.date_to)
    modalities = _modalities(query.modality)
    if modalities:
        marks = ",".join("?" * len(modalities))
        if series_level:
            where.append(f"se.modality IN ({marks})")
        else:
            where.append(
                f"st.study_uid IN (SELECT study_uid FROM series WHERE modality IN ({marks}))"
            )
        values.extend(modalities)
    if query.series_uid:
        if series_level:
            where.append("se.series_uid = ?")
        else:
            where.append("st.study_uid IN (SELECT study_uid FROM series WHERE series_uid = ?)")
        values.append(query.series_uid)
    if query.description:
        pattern = like_pattern(fold_text(query.description), substring=True)
        if series_level:
            where.append(
                f"(se.description_folded LIKE ? ESCAPE '{ESCAPE}' "
                f"OR st.description_folded LIKE ? ESCAPE '{ESCAPE}')"
            )
        else:
            where.append(
                f"(st.description_folded LIKE ? ESCAPE '{ESCAPE}' OR st.study_uid IN (SELECT "
                f"study_uid FROM series WHERE description_folded LIKE ? ESCAPE '{ESCAPE}'))"
            )
        values.extend([pattern, pattern])
    return where, values


def _where(conditions: list[str]) -> str:
    return f" WHERE {' AND '.join(conditions)}" if conditions else ""


def _limit(query: StudyQuery) -> str:
    return f" LIMIT {int(query.limit)}" if query.limit else ""


_STUDY_SQL = """
SELECT p.patient_id, p.patient_name, p.birth_date, p.sex,
       st.study_uid, st.study_date, st.study_time, st.description, st.accession_number,
       (SELECT COUNT(*) FROM series c WHERE c.study_uid = st.study_uid) AS n_series,
       (SELECT COUNT(*) FROM instances i JOIN series c ON c.series_uid = i.series_uid
        WHERE c.study_uid = st.study_uid) AS n_instances,
       (SELECT group_concat(modality, '\\') FROM (SELECT DISTINCT modality FROM series c
        WHERE c.study_uid = st.study_uid AND modality != '' ORDER BY modality)) AS modalities
FROM studies st JOIN patients p ON p.patient_key = st.patient_key
"""

_SERIES_SQL = """
SELECT p.patient_id, p.patient_name, p.birth_date, p.sex,
       st.study_uid, st.study_date, st.study_time, st.description, st.accession_number,
       se.series_uid, se.series_number, se.description AS series_description, se.modality,
       se.body_part, se.frame_of_reference_uid,
       (SELECT COUNT(*) FROM instances i WHERE i.series_uid = se.series_uid) AS n_instances
FROM series se JOIN studies st ON st.study_uid = se.study_uid
JOIN patients p ON p.patient_key = st.patient_key
"""

_PATIENT_SQL = """
SELECT p.patient_id, p.patient_name, p.birth_date, p.sex,
       COUNT(DISTINCT st.study_uid) AS n_studies,
       (SELECT COUNT(*) FROM series c JOIN studies s2 ON s2.study_uid = c.study_uid
        WHERE s2.patient_key = p.patient_key) AS n_series,
       (SELECT COUNT(*) FROM instances i JOIN series c ON c.series_uid = i.series_uid
        JOIN studies s2 ON s2.study_uid = c.study_uid
        WHERE s2.patient_key = p.patient_key) AS n_instances
FROM patients p JOIN studies st ON st.patient_key = p.patient_key
"""


def _number(text: str) -> tuple[int, str]:
    """Sort key for a Series Number text (numbers first, numerically)."""
    try:
        return (int(float(text)), text)
    except ValueError:
        return (1 << 31, text)


def search(connection: sqlite3.Connection, query: StudyQuery) -> list[QueryMatch]:
    """The matches of ``query`` at its level, newest study first."""
    if query.level == "series":
        conditions, values = _study_conditions(query, series_level=True)
        sql = _SERIES_SQL + _where(conditions)
        rows = connection.execute(sql, values).fetchall()
        matches = [_series_match(row) for row in rows]
        # newest study first; within a study by series number (stable sorts)
        matches.sort(key=lambda m: (m.study_uid, _number(m.series_number), m.series_uid))
        matches.sort(key=lambda m: (m.study_date, m.study_time), reverse=True)
        return matches[: query.limit] if query.limit else matches
    conditions, values = _study_conditions(query, series_level=False)
    if query.level == "patient":
        sql = (
            _PATIENT_SQL
            + _where(conditions)
            + " GROUP BY p.patient_key ORDER BY p.patient_name, p.patient_id"
            + _limit(query)
        )
        return [_patient_match(row) for row in connection.execute(sql, values)]
    sql = (
        _STUDY_SQL
        + _where(conditions)
        + " ORDER BY st.study_date DESC, st.study_time DESC, p.patient_name, st.study_uid"
        + _limit(query)
    )
    return [_study_match(row) for row in connection.execute(sql, values)]


def _patient_fields(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "patient_id": row["patient_id"],
        "patient_name": row["patient_name"],
        "patient_birth_date": row["birth_date"],
        "patient_sex": row["sex"],
    }


def _study_fields(row: sqlite3.Row) -> dict[str, Any]:
    return {
        **_patient_fields(row),
        "study_uid": row["study_uid"],
        "study_date": row["study_date"],
        "study_time": row["study_time"],
        "study_description": row["description"],
        "accession_number": row["accession_number"],
    }


def _study_match(row: sqlite3.Row) -> QueryMatch:
    modalities = tuple(item for item in (row["modalities"] or "").split("\\") if item)
    return QueryMatch(
        level="study",
        **_study_fields(row),
        modalities=modalities,
        n_series=int(row["n_series"]),
        n_instances=int(row["n_instances"]),
        source=SOURCE,
    )


def _series_match(row: sqlite3.Row) -> QueryMatch:
    return QueryMatch(
        level="series",
        **_study_fields(row),
        modalities=(row["modality"],) if row["modality"] else (),
        series_uid=row["series_uid"],
        series_number=row["series_number"],
        series_description=row["series_description"],
        modality=row["modality"],
        body_part=row["body_part"],
        n_instances=int(row["n_instances"]),
        source=SOURCE,
        extra={"frame_of_reference_uid": row["frame_of_reference_uid"]},
    )


def _patient_match(row: sqlite3.Row) -> QueryMatch:
    return QueryMatch(
        level="patient",
        **_patient_fields(row),
        n_studies=int(row["n_studies"]),
        n_series=int(row["n_series"]),
        n_instances=int(row["n_instances"]),
        source=SOURCE,
    )
