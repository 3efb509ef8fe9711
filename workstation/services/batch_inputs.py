"""A batch's INPUT arguments as cases: folders, zips, list files, database and PACS queries.

Every study found gives one case (the series ``workstation mesh`` would choose, plan
``series.select = "best"``) or one case per 3D series (``"all"``), narrowed by the plan's
series choice.  Case ids are stable and readable, ``<input name>-<10 hex of the series>``,
and never hold a patient's name or ID.  A case's ``identity`` digests its input files
(paths, sizes, modification times; for a PACS study its UIDs and instance counts), so
the batch can tell a case already done on the same data.

* ``PATH`` a folder (any number of studies), a DICOM file or a .zip;
* ``LIST.txt`` (also ``.lst``, ``.list``) one path per line, ``#`` starts a comment,
  relative paths are relative to the list;
* ``db:KEY=VALUE,...`` studies of the local database (keys of ``QUERY_KEYS``);
* ``pacs:SERVER?KEY=VALUE&...`` studies of a configured PACS server, retrieved into the
  batch's folder just before their case runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.case_plan import Plan, SeriesChoice
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import BatchError, InputPathError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.io.dicom.model import ScanResult, Stack
from workstation.io.sources import check_input_path, is_zip_location, split_zip_location

LIST_SUFFIXES = (".txt", ".lst", ".list")
#: The StudyQuery fields a db: or pacs: query may give (``study``/``series`` as short names).
QUERY_KEYS = (
    "patient_id",
    "patient_name",
    "study_uid",
    "series_uid",
    "modality",
    "date_from",
    "date_to",
    "description",
    "accession_number",
    "limit",
)
_COMMENT = re.compile(r"(^|\s)#.*$")
_ALIASES = {"study": "study_uid", "series": "series_uid", "accession": "accession_number"}

#: Makes the source of a case that is not on disk yet: (source path, series uid).
Prepare = Callable[[Path], tuple[str, str]]


@dataclass
class BatchCase:
    """One case of a batch, before it runs (``request`` fields plus what the batch needs)."""

    case_id: str
    source: str
    series_uid: str
    label: str
    input: str
    identity: str
    study_uid: str = ""
    #: set when the case cannot run (no usable series): recorded failed with it
    reason: str = ""
    #: builds the source on this machine just before the case runs (PACS, database)
    prepare: Prepare | None = field(default=None, repr=False, compare=False)


def expand_inputs(
    inputs: Sequence[str],
    plan: Plan,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[BatchCase]:
    """Every case of ``inputs`` in order; BatchError when there is none at all."""
    entries = _entries(inputs)
    cases: list[BatchCase] = []
    for index, entry in enumerate(entries):
        part = sub_progress(progress, index / len(entries), (index + 1) / len(entries))
        part(0.0, f"Looking at {entry}")
        if entry.startswith("db:"):
            cases += _database_cases(entry, plan)
        elif entry.startswith("pacs:"):
            cases += _pacs_cases(entry, plan)
        else:
            cases += _path_cases(entry, plan, part, cancel)
    cases = _unique(cases)
    if not cases:
        raise BatchError("No case to run: the inputs hold no study.")
    return cases


# -- the inputs ------------------------------------------------------------------------------
def _entries(inputs: Sequence[str]) -> list[str]:
    """INPUT arguments with list files replaced by their lines; missing paths refused."""
    entries: list[str] = []
    for text in inputs:
        if text.startswith(("db:", "pacs:")):
            entries.append(text)
            continue
        path = check_input_path(text)
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            entries += _list_file(path)
        else:
            entries.append(str(path))
    if not entries:
        raise BatchError("No case to run: the inputs list nothing.")
    return entries


def _list_file(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputPathError(f"Cannot read the list {path}: {error}") from None
    entries = []
    for number, line in enumerate(lines, start=1):
        text = _COMMENT.sub("", line).strip()
        if not text:
            continue
        if text.startswith(("db:", "pacs:")):
            entries.append(text)
            continue
        item = Path(text).expanduser()
        item = item if item.is_absolute() else path.parent / item
        if not item.exists():
            raise InputPathError(f"{path.name} line {number}: no such file or folder: {item}")
        entries.append(str(item))
    return entries


def _path_cases(
    entry: str, plan: Plan, progress: ProgressCallback, cancel: CancelToken | None
) -> list[BatchCase]:
    from workstation.io.dicom.scan import scan_path

    stem = _stem(Path(entry).name)
    try:
        scan = scan_path(entry, progress, cancel)
    except WorkstationError as error:
        if isinstance(error, InputPathError):
            raise
        return [_failed(f"{stem}-{_short(entry)}", stem, entry, str(error))]
    return _scan_cases(scan, plan, entry, stem, None)


def _scan_cases(
    scan: ScanResult,
    plan: Plan,
    entry: str,
    stem: str,
    make_prepare: Callable[[list[Stack]], Prepare] | None,
    choice: SeriesChoice | None = None,
) -> list[BatchCase]:
    """The cases of one scan: per study the chosen stack(s)."""
    series = choice or plan.series
    by_study: dict[str, list[Stack]] = {}
    for stack in scan.stacks:
        by_study.setdefault(stack.identity.study_uid, []).append(stack)
    cases = []
    for study_uid, stacks in by_study.items():
        chosen = choose_stacks(stacks, series, scan.root)
        if not chosen:
            cases.append(
                _failed(
                    f"{_safe_stem(stem, stacks[0])}-{_short(study_uid)}",
                    stem,
                    entry,
                    f"no 3D series of study {study_uid} fits the plan's series choice",
                    study_uid,
                )
            )
            continue
        for stack in chosen:
            uid = stack.identity.series_uid
            same_series = [s for s in scan.stacks if s.identity.series_uid == uid]
            files = _locations(same_series)
            source = "" if make_prepare else _narrow_source(files)
            several = len(by_study) > 1 and not make_prepare
            study_folder = _narrow_source(_locations(stacks)) if several else ""
            name = _safe_stem(_inner_stem(stem, entry, study_folder), stack)
            cases.append(
                BatchCase(
                    case_id=f"{name}-{_short(stack.stack_id)}",
                    source=source,
                    series_uid=stack.stack_id,
                    label=_label(name, stack),
                    input=entry,
                    identity=_files_identity(files),
                    study_uid=study_uid,
                    prepare=make_prepare(same_series) if make_prepare else None,
                )
            )
    return cases


def choose_stacks(stacks: list[Stack], series: SeriesChoice, root: str) -> list[Stack]:
    """The stacks of one study the plan runs on: the best for a model, or every 3D one."""
    candidates = [
        stack
        for stack in stacks
        if stack.loadable_3d
        and series.matches(
            stack.identity.modality, stack.identity.series_description, stack.identity.series_uid
        )
    ]
    if series.select == "all" or not candidates:
        return candidates
    best = ScanResult(root=root, stacks=candidates).best_volume("model")
    return [best] if best is not None else []


# -- the local database ------------------------------------------------------------------------
def parse_query(text: str, separator: str, where: str) -> StudyQuery:
    """A study query from ``key=value`` pairs (BatchError naming the bad key)."""
    fields: dict[str, Any] = {}
    for part in (p for p in text.split(separator) if p.strip()):
        key, equals, value = part.partition("=")
        key = _ALIASES.get(key.strip().lower(), key.strip().lower())
        if not equals or key not in QUERY_KEYS:
            raise BatchError(
                f"{where}: {part!r} is not KEY=VALUE with a key of {', '.join(QUERY_KEYS)}."
            )
        fields[key] = urllib.parse.unquote(value.strip())
    if "limit" in fields:
        try:
            fields["limit"] = int(fields["limit"])
        except ValueError:
            raise BatchError(f"{where}: limit must be a whole number.") from None
    try:
        return StudyQuery(level="study", **fields)
    except ValueError as error:
        raise BatchError(f"{where}: {error}.") from None


def _narrowed(plan: Plan, query: StudyQuery) -> SeriesChoice:
    """The plan's series choice, also held to the query's modality and series."""
    series = plan.series
    return SeriesChoice(
        select=series.select,
        modality=series.modality or query.modality,
        description=series.description,
        series_uid=series.series_uid or query.series_uid,
    )


def _database_cases(entry: str, plan: Plan) -> list[BatchCase]:
    from workstation.io.dicom.scan import scan_locations
    from workstation.services.dicom_database import DicomDatabase

    query = parse_query(entry[len("db:") :], ",", entry)
    cases = []
    with DicomDatabase.open() as database:
        if database.encrypted:
            raise BatchError(
                f"{entry}: the database {database.location} is encrypted; batch reads a plain "
                "database (export the studies to a folder and give the folder)."
            )
        for match in database.search(query):
            files = [str(path) for path in database.study_files(match.study_uid)]
            scan = scan_locations(files, str(database.location), named=f"study {match.study_uid}")
            cases += _scan_cases(scan, plan, entry, "db", _link_files, _narrowed(plan, query))
    return cases


def _link_files(stacks: list[Stack]) -> Prepare:
    """Links to a database series' files in a folder of their own (the case's source)."""
    files = sorted(_locations(stacks))
    series_uid = stacks[0].stack_id if len(stacks) == 1 else stacks[0].identity.series_uid

    def prepare(folder: Path) -> tuple[str, str]:
        for number, location in enumerate(files):
            os.symlink(location, folder / f"{number:06d}.dcm")
        return str(folder), series_uid

    return prepare


# -- a PACS --------------------------------------------------------------------------------------
def _pacs_cases(entry: str, plan: Plan) -> list[BatchCase]:
    from workstation.services import pacs

    name, _, text = entry[len("pacs:") :].partition("?")
    if not name.strip():
        raise BatchError(f"{entry}: name the server, e.g. pacs:MYPACS?modality=CT")
    query = parse_query(text, "&", entry)
    server = pacs.server_from_options(name=name.strip())
    stem = _stem(name)
    choice = _narrowed(plan, query)
    cases = []
    if choice.select == "all":
        matches = pacs.find(server, _replace_level(query, "series"))
        for match in matches:
            if not choice.matches(match.modality, match.series_description, match.series_uid):
                continue
            identity = _json_digest(
                [server.label, match.study_uid, match.series_uid, match.n_instances]
            )
            cases.append(
                BatchCase(
                    case_id=f"{stem}-{_short(match.series_uid)}",
                    source="",
                    series_uid=match.series_uid,
                    label=f"{stem}: {match.modality} {match.series_number} "
                    f"{match.series_description} ({match.study_date})".strip(),
                    input=entry,
                    identity=identity,
                    study_uid=match.study_uid,
                    prepare=_retrieve(server, match.study_uid, match.series_uid, choice),
                )
            )
        return cases
    for match in pacs.find(server, query):
        identity = _json_digest([server.label, match.study_uid, match.n_series, match.n_instances])
        cases.append(
            BatchCase(
                case_id=f"{stem}-{_short(match.study_uid)}",
                source="",
                series_uid="",
                label=f"{stem}: {match.study_date} {match.study_description}".strip(),
                input=entry,
                identity=identity,
                study_uid=match.study_uid,
                prepare=_retrieve(server, match.study_uid, None, choice),
            )
        )
    return cases


def _replace_level(query: StudyQuery, level: str) -> StudyQuery:
    import dataclasses

    return dataclasses.replace(query, level=level)  # type: ignore[arg-type]


def _retrieve(server: Any, study_uid: str, series_uid: str | None, choice: SeriesChoice) -> Prepare:
    """Retrieve the study (or series) into the folder, then choose its series as for a folder."""

    def prepare(folder: Path) -> tuple[str, str]:
        from workstation.io.dicom.scan import scan_path
        from workstation.services import pacs

        pacs.retrieve_to_folder(server, study_uid, series_uid, folder)
        scan = scan_path(folder)
        chosen = choose_stacks(scan.stacks, choice, str(folder))
        if not chosen:
            raise BatchError(f"No 3D series of study {study_uid} fits the plan's series choice.")
        return str(folder), chosen[0].stack_id

    return prepare


# -- helpers ---------------------------------------------------------------------------------------
def _locations(stacks: list[Stack]) -> list[str]:
    return sorted({frame.location for stack in stacks for frame in stack.frames})


def _narrow_source(locations: list[str]) -> str:
    """The smallest folder (or the zip) holding every file of the series."""
    archives = {split_zip_location(loc)[0] for loc in locations if is_zip_location(loc)}
    if archives:
        return sorted(archives)[0] if len(archives) == 1 else os.path.commonpath(sorted(archives))
    folders = {os.path.dirname(location) for location in locations}
    return os.path.commonpath(sorted(folders)) if folders else ""


def _files_identity(locations: list[str]) -> str:
    """Digest of the files' paths, sizes and modification times (a zip: the archive's)."""
    facts: list[list[Any]] = []
    seen_archives = set()
    for location in locations:
        path = location
        if is_zip_location(location):
            path = split_zip_location(location)[0]
            facts.append(["member", location])
            if path in seen_archives:
                continue
            seen_archives.add(path)
        try:
            stat = os.stat(path)
            facts.append([path, stat.st_size, stat.st_mtime_ns])
        except OSError:
            facts.append([path, None, None])
    return _json_digest(facts)


def _json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode("utf-8")).hexdigest()


def _inner_stem(stem: str, entry: str, source: str) -> str:
    """The input's sub-folder holding the study (when it holds several), else ``stem``."""
    if not source or is_zip_location(source) or not entry:
        return stem
    inner = Path(source)
    try:
        inside = inner.resolve().is_relative_to(Path(entry).resolve())
    except OSError:
        return stem
    if not inside or inner.resolve() == Path(entry).resolve():
        return stem
    return _stem(inner.resolve().relative_to(Path(entry).resolve()).parts[0])


def _short(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def _stem(name: str) -> str:
    base = name[:-4] if name.lower().endswith(".zip") else name
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")[:32]
    return safe or "case"


def _safe_stem(stem: str, stack: Stack) -> str:
    """``stem``, unless it holds the patient's name or ID (then just "case")."""
    identity = stack.identity
    parts = [part for part in re.split(r"[\s^,]+", identity.patient_name) if len(part) >= 3]
    if len(identity.patient_id) >= 3:
        parts.append(identity.patient_id)
    folded = stem.casefold()
    return "case" if any(part.casefold() in folded for part in parts) else stem


def _label(stem: str, stack: Stack) -> str:
    identity = stack.identity
    words = [identity.modality, identity.series_number, identity.series_description]
    date = identity.study_date
    text = " ".join(word for word in words if word)
    shown = f"{date[:4]}-{date[4:6]}-{date[6:]}" if len(date) == 8 else date
    return f"{stem}: {text}" + (f" ({shown})" if shown else "")


def _failed(case_id: str, stem: str, entry: str, reason: str, study_uid: str = "") -> BatchCase:
    return BatchCase(
        case_id=case_id,
        source=entry,
        series_uid="",
        label=stem,
        input=entry,
        identity=_json_digest(["failed", entry, reason]),
        study_uid=study_uid,
        reason=reason,
    )


def _unique(cases: list[BatchCase]) -> list[BatchCase]:
    """The same series given twice runs once; different cases never share an id."""
    seen: set[tuple[str, str, str]] = set()
    ids: set[str] = set()
    unique = []
    for case in cases:
        key = (case.source or case.input, case.series_uid or case.study_uid, case.case_id)
        if key in seen:
            continue
        seen.add(key)
        base, number = case.case_id, 2
        while case.case_id in ids:
            case.case_id = f"{base}-{number}"
            number += 1
        ids.add(case.case_id)
        unique.append(case)
    return unique
