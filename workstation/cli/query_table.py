"""The search options and the result table shared by `workstation db list` and `pacs find`.

One set of filters (``StudyQuery``) and one table of ``QueryMatch`` rows, whether the
answer came from the local database or a PACS.
"""

from __future__ import annotations

import argparse
from typing import Any

from workstation.core.dicom_query import LEVELS, QueryMatch, StudyQuery, normalise_date
from workstation.core.errors import WorkstationError
from workstation.io.sources import printable

#: Table columns per level: (title, QueryMatch attribute, maximum width).
COLUMNS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "patient": (
        ("PATIENT ID", "patient_id", 20),
        ("NAME", "patient_name", 30),
        ("BIRTH DATE", "patient_birth_date", 10),
        ("SEX", "patient_sex", 3),
        ("STUDIES", "n_studies", 7),
        ("SERIES", "n_series", 6),
        ("INSTANCES", "n_instances", 9),
    ),
    "study": (
        ("DATE", "study_date", 10),
        ("PATIENT ID", "patient_id", 20),
        ("NAME", "patient_name", 24),
        ("MOD", "modalities", 10),
        ("DESCRIPTION", "study_description", 30),
        ("SERIES", "n_series", 6),
        ("INSTANCES", "n_instances", 9),
        ("STUDY UID", "study_uid", 64),
    ),
    "series": (
        ("NUMBER", "series_number", 6),
        ("MOD", "modality", 5),
        ("DESCRIPTION", "series_description", 30),
        ("INSTANCES", "n_instances", 9),
        ("SERIES UID", "series_uid", 64),
        ("STUDY UID", "study_uid", 64),
    ),
}


def _date(text: str) -> str:
    try:
        return normalise_date(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """The filters of a search: level, patient, study, series, modality, dates, text, limit."""
    parser.add_argument("--level", choices=LEVELS, default="study", help="default: study")
    parser.add_argument("--patient-id", metavar="ID", default="")
    parser.add_argument(
        "--patient-name", metavar="PATTERN", default="", help="* and ? allowed, any case"
    )
    parser.add_argument("--study", metavar="UID", default="", help="Study Instance UID")
    parser.add_argument("--series", metavar="UID", default="", help="Series Instance UID")
    parser.add_argument("--modality", metavar="M", default="", help="e.g. CT (any series)")
    parser.add_argument("--date-from", metavar="D", type=_date, default="", help="YYYY-MM-DD")
    parser.add_argument("--date-to", metavar="D", type=_date, default="", help="YYYY-MM-DD")
    parser.add_argument(
        "--description", metavar="TEXT", default="", help="part of a study or series description"
    )
    parser.add_argument("--accession", metavar="NUMBER", default="")
    parser.add_argument("--limit", metavar="N", type=int, default=None, help="at most N answers")


def query_from_args(args: argparse.Namespace, error: type[WorkstationError]) -> StudyQuery:
    """The ``StudyQuery`` the options describe; ``error`` (one line) for a malformed one."""
    try:
        return StudyQuery(
            level=args.level,
            patient_id=args.patient_id,
            patient_name=args.patient_name,
            study_uid=args.study,
            series_uid=args.series,
            modality=args.modality,
            date_from=args.date_from,
            date_to=args.date_to,
            description=args.description,
            accession_number=args.accession,
            limit=args.limit,
        )
    except ValueError as problem:
        raise error(str(problem)) from None


def _cell(value: Any, width: int) -> str:
    if value is None:
        text = ""
    elif isinstance(value, tuple | list):
        text = ",".join(str(item) for item in value)
    else:
        text = printable(str(value))
    if width == 10 and len(text) == 8 and text.isdigit():  # a DICOM date
        text = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text if len(text) <= width else text[: width - 1] + "…"


def format_matches(matches: list[QueryMatch], level: str) -> str:
    """The matches as an aligned text table with the columns of ``level`` (one row each)."""
    columns = COLUMNS[level]
    rows = [[_cell(getattr(match, key), width) for _, key, width in columns] for match in matches]
    widths = [
        max([len(title)] + [len(row[index]) for row in rows])
        for index, (title, _, _) in enumerate(columns)
    ]
    lines = [[title for title, _, _ in columns], *rows]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )
