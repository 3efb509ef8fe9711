"""Provenance of exported models: where each came from, and whether it still matches.

Every exported model gets a record: the source series (UIDs, every file's SHA-256), the
segmentation's operations, the mesh parameters, the software and its libraries, when,
by whom and on which machine, and the SHA-256 of each written file.  The record is
written beside the model as ``OUT.provenance.json`` (several formats of one model share
it: one entry per file), kept in the project, and stored inside a 3MF file's metadata
(``sp:provenance``).  ``check_provenance`` hashes the file and the sources again and
says, in plain words, what differs.  Writing a model together with its record is
``provenance_export.write_model``.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import os
import platform
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from workstation import __version__
from workstation.core.errors import ExportError, InputPathError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.io.atomic_write import atomic_write
from workstation.io.mesh_export import (
    model_content_sha256,
    read_3mf_metadata,
)
from workstation.io.source_files import (
    NAMES_SHOWN,
    SourceSeries,
    check_sources,
    file_sha256,
)
from workstation.services.project_sources import examine_place

#: What a record says it is, and the version of its layout.
FORMAT = "surgical-planning-workstation provenance"
VERSION = 1

#: ``OUT.stl`` has its record in ``OUT`` + this.
RECORD_SUFFIX = ".provenance.json"

#: The 3MF metadata name of the record stored inside a 3MF file.
METADATA_NAME = "sp:provenance"

#: Libraries whose versions a record names (distribution names).
LIBRARIES = ("numpy", "vtk", "SimpleITK", "pydicom")

#: The parts of a record that say which model it is (the rest says when, who, where).
IDENTITY_KEYS = ("model", "segment", "operations", "mesh_parameters", "sources")

#: Longest file name written when the folder's own limit is unknown.
DEFAULT_NAME_MAX = 255


# -- records ------------------------------------------------------------------------------
def plain_json(value: Any) -> Any:
    """``value`` as plain JSON types: tuples as lists, numpy numbers as Python numbers,
    non-finite numbers as null (JSON has none)."""
    if isinstance(value, dict):
        return {str(key): plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item) for item in value]
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return plain_json(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def software_versions() -> dict[str, str]:
    """The workstation's name and version, Python's, and those of the main libraries."""
    versions = {
        "name": "surgical planning workstation",
        "version": __version__,
        "python": platform.python_version(),
    }
    for name in LIBRARIES:
        try:
            versions[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _user() -> str:
    try:
        return getpass.getuser() or "unknown"
    except (KeyError, OSError, ImportError):  # no login name, no passwd entry
        return "unknown"


def utc_now() -> str:
    """The time now in UTC, ISO 8601 with milliseconds (``2024-05-01T10:00:00.123Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def model_record(
    *,
    sources: list[SourceSeries],
    operations: list[dict[str, Any]],
    segment_name: str | None,
    segment_id: str | None,
    parameters: dict[str, Any],
    statistics: dict[str, Any],
    model_name: str,
) -> dict[str, Any]:
    """The record of one model, without its files (``write_model`` adds each written file).

    ``operations`` is the whole operation list of the segmentation the segment belongs
    to, in order, as the editor recorded it when the model was exported: an edit of
    one segment may read others (logical operations, grow from seeds), so replaying the
    whole list is what rebuilds the segment.  ``parameters`` are the model options
    (``ModelOptions`` as a dict); ``statistics`` the mesh statistics.
    """
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": {"name": model_name, "statistics": plain_json(statistics)},
        "segment": {"id": segment_id, "name": segment_name},
        "operations": plain_json(operations),
        "mesh_parameters": plain_json(parameters),
        "sources": [series.to_dict() for series in sources],
        "software": software_versions(),
        "created": utc_now(),
        "user": _user(),
        "host": socket.gethostname(),
    }


def file_entry(path: str | os.PathLike[str], coords: str) -> dict[str, Any]:
    """The entry of one written file: name, SHA-256 and size of its bytes, format, coords."""
    target = Path(path)
    digest, size = file_sha256(str(target))
    return {
        "name": target.name,
        "sha256": digest,
        "size": size,
        "format": target.suffix.lower().lstrip("."),
        "coords": coords.lower(),
    }


def same_model(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """True when two records describe the same model (same sources, edits and options)."""
    return all(first.get(key) == second.get(key) for key in IDENTITY_KEYS)


# -- the record file ----------------------------------------------------------------------
def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):
        return DEFAULT_NAME_MAX


def provenance_path(model_path: str | os.PathLike[str]) -> Path:
    """Where the record of ``model_path`` lies: ``OUT.stl`` → ``OUT.provenance.json``.

    A stem too long for the folder's file names is shortened, with 8 characters of its
    SHA-256 so that different long names keep different records.
    """
    target = Path(model_path)
    stem = target.stem
    limit = _name_max(target.parent if str(target.parent) else Path("."))
    if len((stem + RECORD_SUFFIX).encode()) > limit:
        tag = hashlib.sha256(stem.encode()).hexdigest()[:8]
        room = limit - len(RECORD_SUFFIX.encode()) - len(tag) - 1
        stem = stem.encode()[:room].decode("utf-8", "ignore") + "-" + tag
    return target.with_name(stem + RECORD_SUFFIX)


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A record file's record; InputPathError when it is unreadable or no record."""
    source = Path(path)
    try:
        record = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputPathError(f"Cannot read the provenance record {source.name}: {error}") from None
    return _checked_record(record, source.name)


def _checked_record(record: Any, where: str) -> dict[str, Any]:
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise InputPathError(f"{where} holds no provenance record of this workstation.")
    if int(record.get("version", 0)) > VERSION:
        raise InputPathError(
            f"{where} is a provenance record of a newer version ({record.get('version')}); "
            "update the workstation to check it."
        )
    return record


def write_provenance(model_path: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Write ``record`` beside ``model_path`` (atomic JSON, sorted keys); returns its path.

    A record already there for the same model keeps its entries of other files (another
    format of the model); an entry of the same file name is replaced.  A record of a
    different model is replaced whole.
    """
    target = provenance_path(model_path)
    merged = dict(record)
    files = list(record.get("files", []))
    if target.is_file():
        try:
            existing = read_provenance(target)
        except InputPathError:
            existing = None
        if existing is not None and same_model(existing, record):
            names = {entry.get("name") for entry in files}
            kept = [entry for entry in existing.get("files", []) if entry.get("name") not in names]
            files = kept + files
    merged["files"] = files
    text = json.dumps(merged, sort_keys=True, indent=2) + "\n"
    with atomic_write(target) as handle:
        handle.write(text.encode("utf-8"))
    return target


# -- checking -----------------------------------------------------------------------------
@dataclass
class SourceReport:
    """What checking one recorded source series found."""

    series_uid: str
    description: str
    recorded_folder: str
    files: int
    #: where the files were looked at (None: no folder holds any of them)
    folder: str | None = None
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """True when some folder holds the series' files."""
        return self.folder is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "series_instance_uid": self.series_uid,
            "description": self.description,
            "recorded_folder": self.recorded_folder,
            "folder": self.folder,
            "files": self.files,
            "found": self.found,
            "missing": list(self.missing),
            "changed": list(self.changed),
        }


@dataclass
class ProvenanceCheck:
    """A model file checked against its record: the file itself and its sources."""

    model_path: Path
    #: the record file (None: the record inside a 3MF file was used)
    record_path: Path | None
    record: dict[str, Any]
    expected_sha256: str | None = None
    found_sha256: str = ""
    expected_size: int | None = None
    found_size: int = 0
    #: 3MF only: the model part's digest the record names, and the one found
    expected_content: str | None = None
    found_content: str | None = None
    sources: list[SourceReport] = field(default_factory=list)
    #: what differs, in plain words (empty: everything that could be checked matches)
    differences: list[str] = field(default_factory=list)
    #: what could not be checked, and why
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file and every source that could be found match the record."""
        return not self.differences

    @property
    def file_ok(self) -> bool:
        """True when the file's bytes (or, from a 3MF's own record, its model) match."""
        checks = [
            (self.expected_sha256, self.found_sha256),
            (self.expected_content, self.found_content),
        ]
        known = [(expected, found) for expected, found in checks if expected is not None]
        return bool(known) and all(expected == found for expected, found in known)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (``workstation provenance --json``)."""
        return {
            "file": str(self.model_path),
            "record": str(self.record_path) if self.record_path else None,
            "record_inside_file": self.record_path is None,
            "ok": self.ok,
            "file_ok": self.file_ok,
            "sha256": {"recorded": self.expected_sha256, "found": self.found_sha256},
            "size": {"recorded": self.expected_size, "found": self.found_size},
            "content_sha256": {"recorded": self.expected_content, "found": self.found_content},
            "model": self.record.get("model", {}),
            "segment": self.record.get("segment", {}),
            "created": self.record.get("created"),
            "user": self.record.get("user"),
            "host": self.record.get("host"),
            "software": self.record.get("software", {}),
            "sources": [report.to_dict() for report in self.sources],
            "differences": list(self.differences),
            "notes": list(self.notes),
        }


def _embedded_record(path: Path) -> dict[str, Any] | None:
    """The record inside a 3MF file, or None when it holds none (or cannot be read)."""
    try:
        text = read_3mf_metadata(path).get(METADATA_NAME)
    except ExportError:
        return None
    if text is None:
        return None
    try:
        return _checked_record(json.loads(text), f"{path.name}'s metadata")
    except (json.JSONDecodeError, InputPathError, TypeError, ValueError):
        return None


def _short(digest: str | None) -> str:
    return f"{digest[:12]}…" if digest else "none"


def _check_file(check: ProvenanceCheck, embedded: dict[str, Any] | None) -> None:
    """Compare the file's SHA-256 and size (and a 3MF's model digest) with the record."""
    path = check.model_path
    check.found_sha256, check.found_size = file_sha256(str(path))
    if check.record_path is not None:
        entries = [e for e in check.record.get("files", []) if e.get("name") == path.name]
        if not entries:
            listed = ", ".join(str(e.get("name")) for e in check.record.get("files", []))
            check.differences.append(
                f"{path.name} is not listed in its provenance record {check.record_path.name} "
                f"(it lists {listed or 'no files'}): the record is of another model"
            )
        else:
            entry = entries[-1]
            check.expected_sha256 = str(entry.get("sha256"))
            check.expected_size = int(entry.get("size", -1))
            if check.expected_sha256 != check.found_sha256:
                check.differences.append(
                    f"the SHA-256 of {path.name} differs from its record: the file changed "
                    f"after it was written (recorded {_short(check.expected_sha256)}, found "
                    f"{_short(check.found_sha256)}; size {check.expected_size:,} → "
                    f"{check.found_size:,} bytes)"
                )
    if embedded is not None and "content_sha256" in embedded:
        check.expected_content = str(embedded["content_sha256"])
        check.found_content = model_content_sha256(path, [METADATA_NAME])
        if check.expected_content != check.found_content:
            check.differences.append(
                f"the model inside {path.name} differs from the record stored in it "
                f"(content SHA-256 recorded {_short(check.expected_content)}, found "
                f"{_short(check.found_content)})"
            )
    elif check.record_path is None:
        check.notes.append(f"{path.name}'s own record names no content digest to check")


def _check_series(
    series: SourceSeries,
    source: str | None,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> SourceReport:
    """Look for the series' files (in ``source``, else the recorded folder) and hash them.

    A place is searched by SOP Instance UID, so renamed files are found too; files not
    found that way are looked for under their recorded names.
    """
    report = SourceReport(
        series.series_uid,
        " ".join(part for part in (series.modality, series.series_description) if part),
        series.folder,
        len(series.files),
    )
    places = [place for place in dict.fromkeys([source, series.folder]) if place]
    for number, place in enumerate(places):
        if not Path(place).exists():
            continue
        step = sub_progress(progress, number / len(places), (number + 1) / len(places))
        found = examine_place(series, place, step, cancel)
        check = found.check if found is not None else check_sources(series, place, step, cancel)
        if len(check.missing) < check.checked or not series.files:
            report.folder = str(Path(place).absolute())
            report.missing, report.changed = check.missing, check.changed
            break
    return report


def _describe_sources(check: ProvenanceCheck) -> None:
    for report in check.sources:
        name = f"source series {report.series_uid}"
        if not report.found:
            check.notes.append(
                f"{name} ({report.files} files, recorded in {report.recorded_folder}): "
                "not found: cannot check"
            )
            continue
        for kind, names in (("missing", report.missing), ("changed", report.changed)):
            if names:
                more = f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else ""
                shown = ", ".join(names[:NAMES_SHOWN]) + more
                check.differences.append(
                    f"{name}: {len(names)} of {report.files} source file(s) {kind} in "
                    f"{report.folder}: {shown}"
                )


def check_provenance(
    model_path: str | os.PathLike[str],
    source: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ProvenanceCheck:
    """Check a model file against its record: its hash, and its sources where found.

    The record is ``OUT.provenance.json`` beside the file, or for a 3MF file without
    one the record in its metadata.  Sources are looked for in ``source`` (when given)
    and then in the recorded folder; a series no folder holds is noted as "not found",
    not counted as a difference.  InputPathError when the file or any record is missing.
    """
    path = Path(model_path)
    if not path.is_file():
        raise InputPathError(f"No such model file: {path}")
    if source is not None and not Path(source).exists():
        raise InputPathError(f"No such source folder: {source}")
    record_path = provenance_path(path)
    is_3mf = path.suffix.lower() == ".3mf"
    embedded = _embedded_record(path) if is_3mf else None
    if record_path.is_file():
        check = ProvenanceCheck(path, record_path, read_provenance(record_path))
    elif embedded is not None:
        check = ProvenanceCheck(path, None, embedded)
        check.notes.append(
            f"no {record_path.name} beside the file: checked against the record inside it"
        )
    else:
        inside = " and none inside it" if is_3mf else ""
        raise InputPathError(
            f"no provenance record beside {path.name} ({record_path.name}){inside}"
        )
    (cancel or CancelToken()).raise_if_cancelled()
    _check_file(check, embedded)
    recorded = check.record.get("sources", [])
    for number, item in enumerate(recorded):
        try:
            series = SourceSeries.from_dict(item)
        except ValueError as error:
            check.differences.append(f"source series {number + 1} of the record: {error}")
            continue
        step = sub_progress(progress, number / len(recorded), (number + 1) / len(recorded))
        check.sources.append(_check_series(series, source, step, cancel))
    if not recorded:
        check.notes.append("the record names no source images")
    _describe_sources(check)
    progress(1.0, "Checked")
    return check
