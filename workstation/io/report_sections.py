"""A case report's text as tables, computed once so the PDF and the HTML say the same.

``header_rows`` gives the patient and study header (the de-identified values when the
images were de-identified); ``report_tables`` gives, in order, the models, segments,
measurements, planning objects, the guide's printability report, dose, QC, provenance
and warnings.  Dose and QC records are laid out from their JSON (scalars as fact rows,
lists of records as tables), so new fields show without a change here; rows that exceed
a reference level or fail a check are flagged (the writers print them in red).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from workstation.core.case_report_content import ReportContent

#: Shown for a number or text that is not known.
UNKNOWN = "–"

#: Keys of a record (or values of its status) that flag its row.
_FLAG_KEYS = ("exceeded", "flagged", "failed")
#: Keys whose False value flags its row (a guide's blocked sleeve, an open surface).
_FALSE_FLAG_KEYS = ("open", "watertight", "manifold", "printable", "ok")
#: Keys of lists of lines that are all flagged.
_FLAG_LINES = ("exceeded", "reasons", "failures", "warnings")
_FLAG_STATUSES = ("fail", "failed", "exceeded", "warn", "warning")


@dataclass
class ReportTable:
    """One table of a report: a title, column names, rows of text and the flagged rows."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    #: indices of rows to show flagged (red): a reference level exceeded, a check failed
    flagged: set[int] = field(default_factory=set)
    #: shown instead of the rows when there are none ("None", "Not available")
    note: str = ""
    #: the section this table belongs to (tables of one section follow each other)
    section: str = ""


# -- formatting -----------------------------------------------------------------------------
def number(value: Any, digits: int = 1) -> str:
    """A number with thousands separators and ``digits`` decimals; text as given."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if value is None or value == "":
        return UNKNOWN
    return str(value)


def _point(point: Any) -> str:
    try:
        return "(" + ", ".join(f"{float(c):.1f}" for c in point) + ")"
    except (TypeError, ValueError):
        return str(point)


_UNIT_SUFFIXES = (
    ("_mgy_cm", " (mGy·cm)"), ("_mgycm", " (mGy·cm)"), ("_mgy", " (mGy)"),
    ("_mm3", " (mm³)"), ("_mm2", " (mm²)"),
    ("_mm", " (mm)"), ("_kv", " (kV)"), ("_w_kg", " (W/kg)"), ("_s", " (s)"),
)


#: Words a heading spells in capitals (or as the standards do).
_ACRONYMS = {"uid": "UID", "uids": "UIDs", "dlp": "DLP", "ctdivol": "CTDIvol", "sar": "SAR",
             "kvp": "kVp", "qc": "QC", "drl": "DRL", "id": "ID", "ct": "CT", "mr": "MR",
             "us": "US", "mi": "MI", "ti": "TI", "sha256": "SHA-256"}


def _words(key: str) -> str:
    """A JSON key as a heading: ``ctdivol_mgy`` → ``CTDIvol (mGy)``; a nested record's key
    ``outer__inner`` → ``Outer, inner``."""
    if "__" in key:
        first, *rest = (_words(part) for part in key.split("__") if part)
        return ", ".join([first, *(part[:1].lower() + part[1:] for part in rest)])
    unit = ""
    for suffix, shown in _UNIT_SUFFIXES:
        if key.lower().endswith(suffix) and len(key) > len(suffix):
            key, unit = key[: -len(suffix)], shown
            break
    words = [_ACRONYMS.get(word.lower(), word) for word in key.split("_") if word]
    text = " ".join(words) + unit
    return text[:1].upper() + text[1:]


def _lower_words(key: str) -> str:
    """``_words`` for the middle of a title: a first capital kept only for an acronym."""
    text = _words(key)
    return text if text[:2].isupper() else text[:1].lower() + text[1:]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return number(value, 2)
    if isinstance(value, list | tuple):
        if value and all(isinstance(item, int | float) for item in value):
            return ", ".join(number(item, 2) for item in value)
        return "; ".join(_cell(item) for item in value) or UNKNOWN
    if isinstance(value, dict):
        return "; ".join(f"{_words(k)}: {_cell(v)}" for k, v in value.items()) or UNKNOWN
    return number(value)


def _is_flagged(record: dict[str, Any]) -> bool:
    if any(record.get(key) is True for key in _FLAG_KEYS):
        return True
    if any(record.get(key) is False for key in _FALSE_FLAG_KEYS):
        return True
    status = record.get("status")
    return isinstance(status, str) and status.lower() in _FLAG_STATUSES


# -- header ---------------------------------------------------------------------------------
def _date(text: str) -> str:
    if len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    return text or UNKNOWN


def header_rows(content: ReportContent) -> list[tuple[str, str]]:
    """(label, value) rows of the patient and study header, then the caller's facts."""
    identity = content.identity
    series = " ".join(
        part for part in (identity.series_number, identity.series_description) if part
    )
    rows = [
        ("Patient", identity.patient_name or UNKNOWN),
        ("Patient ID", identity.patient_id or UNKNOWN),
        ("Study date", _date(identity.study_date)),
        ("Study", identity.study_description or UNKNOWN),
        ("Series", series or UNKNOWN),
        ("Modality", identity.modality or UNKNOWN),
        ("Series UID", identity.series_uid or UNKNOWN),
    ]
    if content.created:
        rows.append(("Report created", content.created))
    rows += [(str(key), str(value)) for key, value in content.facts.items()]
    return rows


# -- sections -------------------------------------------------------------------------------
def models_table(content: ReportContent) -> ReportTable:
    """Each model: volume, area, triangles, watertight/manifold, bounds and files."""
    table = ReportTable(
        "Models",
        ["Model", "Volume (mm³)", "Area (mm²)", "Triangles", "Watertight", "Manifold",
         "Bounds LPS min → max (mm)", "Files"],
        note="No models.",
        section="Models and segments",
    )
    for model in content.models:
        stats = model.statistics
        bounds = UNKNOWN
        if stats.get("bounds_min") is not None and stats.get("bounds_max") is not None:
            bounds = f"{_point(stats['bounds_min'])} → {_point(stats['bounds_max'])}"
        table.rows.append([
            model.name,
            number(stats.get("volume_mm3")),
            number(stats.get("area_mm2")),
            number(stats.get("triangles")),
            number(stats.get("watertight")),
            number(stats.get("manifold")),
            bounds,
            ", ".join(model.files) or UNKNOWN,
        ])
        if stats.get("watertight") is False:
            table.flagged.add(len(table.rows) - 1)
    return table


def segments_table(content: ReportContent) -> ReportTable:
    """Each segment: voxels and volume (from the segment statistics records)."""
    table = ReportTable("Segments", ["Segment", "Voxels", "Volume (mm³)"], note="No segments.",
                        section="Models and segments")
    for record in content.segment_statistics:
        stats = record.get("statistics") or {}
        table.rows.append([
            str(record.get("name", UNKNOWN)),
            number(stats.get("voxels", stats.get("voxel_count"))),
            number(stats.get("volume_mm3")),
        ])
    return table


def measurements_table(content: ReportContent) -> ReportTable:
    """Each measurement: its name or kind, its result and its points."""
    table = ReportTable("Measurements", ["Measurement", "Kind", "Result", "Points LPS (mm)"],
                        note="No measurements.", section="Measurements and planning")
    for item in content.measurements:
        table.rows.append([
            item.name or item.measurement_id,
            item.kind,
            item.text or number(item.values.get("value"), 2),
            " ".join(_point(point) for point in item.points_lps),
        ])
    return table


def planning_table(content: ReportContent) -> ReportTable:
    """Each planning object: kind, name, points and a plane's normal."""
    table = ReportTable("Planning objects", ["Object", "Kind", "Points LPS (mm)", "Normal"],
                        note="No planning objects.", section="Measurements and planning")
    for item in content.planning:
        table.rows.append([
            item.name or item.object_id,
            item.kind,
            " ".join(_point(point) for point in item.points_lps) or UNKNOWN,
            UNKNOWN if item.normal_lps is None else _point(item.normal_lps),
        ])
    return table


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _flatten(record: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Known scalar facts of a record, nested records as "outer inner" keys (lists of
    records and unknown values left out)."""
    facts: list[tuple[str, Any]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            facts += _flatten(value, f"{name}__")
        elif _is_records(value):
            continue
        elif not _empty(value) or key in _FLAG_KEYS:
            facts.append((name, value))
    return facts


def _record_lists(record: dict[str, Any], prefix: str = "") -> list[tuple[str, list[Any]]]:
    """Every list of records in a record, nested ones too, with its key path."""
    found: list[tuple[str, list[Any]]] = []
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            found += _record_lists(value, f"{name}__")
        elif _is_records(value):
            found.append((name, value))
    return found


def _records_table(title: str, records: list[dict[str, Any]], section: str) -> ReportTable:
    """A list of records as a table: a column per key any record holds a value for."""
    columns: list[str] = []
    for item in records:
        columns += [k for k, v in item.items() if k not in columns and not _empty(v)]
    table = ReportTable(title, [_words(c) for c in columns], section=section)
    for item in records:
        row = []
        for column in columns:
            value = item.get(column)
            if isinstance(value, list) and _is_records(value):
                row.append(f"{len(value)} records")
            else:
                row.append(_cell(value))
        table.rows.append(row)
        if _is_flagged(item):
            table.flagged.add(len(table.rows) - 1)
    return table


def record_tables(record: dict[str, Any], title: str, section: str) -> list[ReportTable]:
    """A JSON record as tables: its facts (key, value), then one table per list of records."""
    facts = ReportTable(title, ["", ""], section=section)
    for key, value in _flatten(record):
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            for line in value:
                facts.rows.append([_words(key), line])
                if key.rsplit("_", 1)[-1] in _FLAG_LINES:
                    facts.flagged.add(len(facts.rows) - 1)
            continue
        shown = "none" if key in _FLAG_KEYS and _empty(value) else _cell(value)
        facts.rows.append([_words(key), shown])
        if (key in _FLAG_KEYS and value is True) or (
            key.rsplit("_", 1)[-1] in _FALSE_FLAG_KEYS and value is False
        ):
            facts.flagged.add(len(facts.rows) - 1)
        if key == "status" and isinstance(value, str) and value.lower() in _FLAG_STATUSES:
            facts.flagged.add(len(facts.rows) - 1)
    tables = [facts] if facts.rows else []
    for key, records in _record_lists(record):
        tables.append(_records_table(f"{title}: {_lower_words(key)}", records, section))
        for item in records:  # one level further down: a report's events
            for inner_key, inner in _record_lists(item):
                tables.append(
                    _records_table(f"{title}: {_lower_words(inner_key)}", inner, section)
                )
    return tables


def _optional(record: dict[str, Any] | None, title: str, section: str) -> list[ReportTable]:
    if not record:
        return [ReportTable(title, [], note="Not available.", section=section)]
    return record_tables(record, title, section) or [
        ReportTable(title, [], note="Nothing recorded.", section=section)
    ]


def _mappings(value: Any) -> list[dict[str, Any]]:
    """The records of a list (anything else: none)."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def sources_digest(files: list[dict[str, Any]]) -> str:
    """One SHA-256 over a series' files (each file's name and SHA-256, in name order)."""
    lines = sorted(f"{item.get('name', '')}:{item.get('sha256', '')}" for item in files)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def provenance_tables(content: ReportContent) -> list[ReportTable]:
    """Software versions, the source series (UIDs, files, a digest of their SHA-256s)."""
    section = "Provenance"
    sources = ReportTable(
        "Source series",
        ["Series UID", "Modality", "Files", "Files' SHA-256 (combined)"],
        note="No provenance records.",
        section=section,
    )
    software = ReportTable("Software", ["Package", "Version"], section=section)
    seen: set[tuple[str, str]] = set()
    versions: dict[str, str] = {}
    outputs = ReportTable("Written files", ["Model", "File", "SHA-256", "Bytes"], section=section)
    for record in (r for r in content.provenance if isinstance(r, dict)):
        for series in _mappings(record.get("sources")):
            files = _mappings(series.get("files"))
            key = (str(series.get("series_instance_uid", "")), sources_digest(files))
            if key in seen:
                continue
            seen.add(key)
            sources.rows.append([key[0] or UNKNOWN, str(series.get("modality") or UNKNOWN),
                                 number(len(files)), key[1]])
        software_record = record.get("software")
        if isinstance(software_record, dict):
            for name, version in software_record.items():
                versions.setdefault(str(name), str(version))
        model = record.get("model")
        model_name = str(model.get("name", UNKNOWN)) if isinstance(model, dict) else str(
            model or UNKNOWN)
        for entry in _mappings(record.get("files")):
            outputs.rows.append([model_name, str(entry.get("name", UNKNOWN)),
                                 str(entry.get("sha256", UNKNOWN)), number(entry.get("size"))])
    software.rows = [[name, version] for name, version in versions.items()]
    tables = [sources]
    if software.rows:
        tables.append(software)
    if outputs.rows:
        tables.append(outputs)
    return tables


def guide_tables(content: ReportContent) -> list[ReportTable]:
    """The guide's printability report, when the case has a guide."""
    if not content.guide_report:
        return []
    return record_tables(content.guide_report, "Guide printability", "Guide")


def warnings_table(content: ReportContent) -> ReportTable:
    """Warnings met while making the case and the report (all flagged)."""
    table = ReportTable("Warnings", ["Warning"], note="None.", section="Warnings")
    table.rows = [[line] for line in content.warnings]
    table.flagged = set(range(len(table.rows)))
    return table


def report_tables(content: ReportContent) -> list[ReportTable]:
    """Every table of the report, in reading order."""
    return [
        models_table(content),
        segments_table(content),
        measurements_table(content),
        planning_table(content),
        *guide_tables(content),
        *_optional(content.dose, "Radiation dose", "Radiation dose"),
        *_optional(content.qc, "Protocol QC", "Protocol QC"),
        *provenance_tables(content),
        warnings_table(content),
    ]


class ReportPictureLike(Protocol):
    """A picture the writers place (``processing.report_images.ReportPicture`` is one)."""

    title: str
    #: RGB (H, W, 3) uint8, or None with ``note`` saying why there is no picture
    image: np.ndarray | None
    caption: str
    note: str
