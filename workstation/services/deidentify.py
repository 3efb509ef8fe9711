"""De-identify every DICOM file of a folder, zip, DICOMDIR tree or file into a new folder.

The input is only read.  Each DICOM file is de-identified (PS3.15 basic profile plus the
chosen options, ``io.deid.profile``) and written atomically under a name made from its
new identifiers (``deid_output_names``); non-DICOM files and DICOMDIR indexes are listed
as skipped.  Images that may carry burned-in text are read with OCR and, under
clean-pixel-data, blanked; otherwise found text marks the file for review.  The key
(``--key``, else ``OUTDIR.key`` beside the folder, created when absent) makes pseudonyms,
UIDs and date shifts repeatable.  Needs the permission ``deidentify``; audited.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.errors import Cancelled, DeidentificationError
from workstation.core.permissions import Permission
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.workers import available_cpus, fork_is_safe, start_process_pool
from workstation.io.atomic_write import atomic_write, shown_path
from workstation.io.deid.keys import DeidKey, new_key, read_key, write_key
from workstation.io.deid.options import DeidOption
from workstation.io.sources import check_input_path, iter_locations
from workstation.services.deid_files import (
    FileJob,
    FileOutcome,
    StagedOutputs,
    deidentify_file,
    deidentify_files,
    discard_temporary,
    same_content,
)
from workstation.services.deid_report import (
    DONE,
    NEEDS_REVIEW,
    REPORT_NAME,
    SKIPPED,
    DeidFileResult,
    DeidReport,
)

#: The marker that says a folder holds de-identified output (no PHI: key id, options...).
MARKER_NAME = ".deidentified.json"
MARKER_FORMAT = "surgical-planning-workstation/deidentified-output"
PROFILE_EDITION = "2026c"
#: Below this many files the work stays in this process (starting workers costs more).
PARALLEL_MIN_FILES = 16
#: Files in one task of a worker process.
CHUNK_FILES = 8
#: Chunks handed to the workers ahead of the one being handed on.
READ_AHEAD = 4


def default_key_path(output: Path) -> Path:
    """``OUTDIR.key``: the key beside the output folder, never inside it."""
    return Path(str(output).rstrip("/\\") + ".key")


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _absolute(path: Path) -> Path:
    return Path(os.path.realpath(Path(path).expanduser()))


def _scan_root(source: Path) -> Path:
    """The input to walk: a DICOMDIR given directly means its folder."""
    if source.is_file() and source.name.upper() == "DICOMDIR":
        return source.parent
    return source


def _check_paths(source: Path, output: Path) -> tuple[Path, Path]:
    """Absolute input and output; DeidentificationError when they overlap or OUTDIR is a file."""
    check_input_path(source)
    root = _scan_root(_absolute(source))
    target = _absolute(output)
    if target.exists() and not target.is_dir():
        raise DeidentificationError(f"The output {shown_path(target)} is a file, not a folder.")
    if _within(target, root):
        raise DeidentificationError(
            f"The output folder {shown_path(target)} is inside the input {shown_path(root)}; "
            "choose a folder outside it."
        )
    if _within(root, target):
        raise DeidentificationError(
            f"The input {shown_path(root)} is inside the output folder {shown_path(target)}; "
            "choose another output folder."
        )
    return root, target


def read_marker(output: Path) -> dict[str, Any] | None:
    """The marker of a previous de-identified output in ``output``, or None."""
    try:
        record = json.loads((output / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("format") == MARKER_FORMAT else None


def _check_output(output: Path, key_id: str | None) -> dict[str, Any] | None:
    """Refuse a non-empty OUTDIR unless it is earlier output made with the same key."""
    if not output.is_dir() or not any(output.iterdir()):
        return None
    marker = read_marker(output)
    if marker is None:
        raise DeidentificationError(
            f"The output folder {shown_path(output)} is not empty and holds no earlier "
            "de-identified output; choose an empty or new folder."
        )
    if key_id is not None and marker.get("key_id") != key_id:
        raise DeidentificationError(
            f"The output folder {shown_path(output)} holds output made with another key "
            f"(id {marker.get('key_id')}); use that key or another folder."
        )
    return marker


def _resolve_key(key_file: Path | None, output: Path) -> tuple[DeidKey, Path, bool]:
    """The key to use, its file and whether it must be created (not written yet)."""
    if key_file is not None:
        path = _absolute(key_file)
        return read_key(path), path, False
    path = default_key_path(output)
    if path.exists():
        return read_key(path), path, False
    return new_key(), path, True


def _write_marker(output: Path, key: DeidKey, options: list[str]) -> None:
    record = {
        "format": MARKER_FORMAT,
        "key_id": key.key_id,
        "options": options,
        "profile": "DICOM PS3.15 Basic Application Level Confidentiality Profile",
        "profile_edition": PROFILE_EDITION,
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    with atomic_write(output / MARKER_NAME) as handle:
        handle.write((json.dumps(record, indent=2) + "\n").encode())


def _relative(location: str, root: Path) -> str:
    if not root.is_dir():  # a single file or a zip: its name, then any member
        return root.name + location[len(str(root)) :]
    try:
        return os.path.relpath(location, root)
    except ValueError:  # another drive
        return location


def _executor(count: int) -> Executor | None:
    """Worker processes, one per CPU: parsing and encoding headers is CPU-bound work."""
    workers = available_cpus() if count >= PARALLEL_MIN_FILES else 1
    if workers <= 1 or (not fork_is_safe() and count < 200):
        return None
    return start_process_pool(workers)


def _outcomes(jobs: list[FileJob], cancel: CancelToken | None) -> Iterator[FileOutcome]:
    """Each job's outcome in input order, from worker processes where that pays.

    Workers get ``CHUNK_FILES`` files per task (one round trip per chunk, not per file).
    """
    executor = _executor(len(jobs))
    if executor is None:
        for job in jobs:
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield deidentify_file(job)
        return
    done = 0
    pending: list[Future[list[FileOutcome]]] = []
    try:
        for start in range(0, len(jobs), CHUNK_FILES):
            pending.append(executor.submit(deidentify_files, jobs[start : start + CHUNK_FILES]))
            if len(pending) > READ_AHEAD:
                for outcome in pending.pop(0).result():
                    yield outcome
                    done += 1
        while pending:
            for outcome in pending.pop(0).result():
                yield outcome
                done += 1
    except (OSError, BrokenProcessPool):
        for job in jobs[done:]:  # the pool broke: the rest in-process
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield deidentify_file(job)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        for future in pending:  # finished but never handed on: their temporary files go
            if future.done() and not future.cancelled() and future.exception() is None:
                for outcome in future.result():
                    discard_temporary(outcome.temporary)


def _result(outcome: FileOutcome, root: Path) -> DeidFileResult:
    result = DeidFileResult(_relative(outcome.location, root))
    result.actions = outcome.actions
    result.removed_private = outcome.removed_private
    result.reasons = list(outcome.reasons)
    result.ocr_seconds = outcome.ocr_seconds
    result.pixels_cleaned = outcome.pixels_cleaned
    result.failed = outcome.failed
    if not outcome.name:
        result.reasons.insert(0, outcome.skip_reason or "skipped")
        return result
    result.output = outcome.name
    result.status = NEEDS_REVIEW if result.reasons else DONE
    return result


def deidentify_path(
    source: Path,
    output: Path,
    *,
    key_file: Path | None,
    options: frozenset[DeidOption],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> DeidReport:
    """De-identify every DICOM file under ``source`` into ``output``; the report of the run.

    Raises DeidentificationError (before anything is written) when the folders overlap,
    OUTDIR is a file or holds other data, or the key cannot be read; PermissionDenied
    without the permission; Cancelled (files written so far stay, complete) on cancel.
    """
    from workstation.services.access import require
    from workstation.services.audit import audited, record

    require(Permission.DEIDENTIFY, AuditAction.DEIDENTIFY)
    root, target = _check_paths(Path(source), Path(output))
    key, key_path, create_key = _resolve_key(key_file, target)
    if key_file is None and _within(key_path, root):
        raise DeidentificationError(f"The key {shown_path(key_path)} would be inside the input.")
    marker = _check_output(target, key.key_id)
    names = sorted(option.value for option in options)
    started = time.perf_counter()
    report = DeidReport(
        source=str(root),
        output=str(target),
        key_path=str(key_path),
        key_id=key.key_id,
        key_created=create_key,
        options=names,
        edition=PROFILE_EDITION,
    )
    if key_file is None and not create_key:
        report.notes.append(f"reused the existing key {key_path.name} beside the output folder")
    if marker is not None:
        report.notes.append("added to earlier de-identified output made with the same key")
        if sorted(marker.get("options", [])) != names:
            report.notes.append("the earlier output was made with other options")
    key_object = AuditObject("key", key.key_id, "de-identification key")
    with audited(AuditAction.DEIDENTIFY, [key_object]) as scope:
        progress(0.0, "Listing files")
        locations = list(iter_locations(root))
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DeidentificationError(
                f"Cannot create the output folder {shown_path(target)}: {error.strerror or error}."
            ) from None
        if create_key:
            write_key(key, key_path)
            record(
                AuditAction.KEY_CHANGE,
                objects=[AuditObject("key", key.key_id, str(key_path))],
                detail="created a de-identification key",
            )
        if marker is None:
            _write_marker(target, key, names)
        _run(locations, root, target, key, options, report, progress, cancel, scope)
        report.seconds = time.perf_counter() - started
        with atomic_write(target / REPORT_NAME) as handle:
            handle.write(report.public_bytes())
        totals = report.totals()
        scope.detail = (
            f"{totals[DONE] + totals[NEEDS_REVIEW]} files de-identified ({totals[NEEDS_REVIEW]} "
            f"to review, {totals['failed']} failed, {totals[SKIPPED]} skipped), "
            f"{totals['studies']} studies; key id {key.key_id}; options {','.join(names)}"
        )
    progress(1.0, "De-identified")
    return report


def _run(
    locations: list[str],
    root: Path,
    target: Path,
    key: DeidKey,
    options: frozenset[DeidOption],
    report: DeidReport,
    progress: ProgressCallback,
    cancel: CancelToken | None,
    scope: Any,
) -> None:
    """Process (and write) every file; a second file with the same output name is skipped.

    When two files map to one name (the same SOP Instance UID), only the first one is
    renamed into place, so the output never depends on which worker finished last.  On
    cancel the outputs staged so far are committed (complete) before Cancelled is raised.
    """
    jobs = [FileJob(location, key, options, str(target)) for location in locations]
    total = len(jobs)
    written: dict[str, int] = {}  # output name -> index of the file written under it
    studies: set[str] = set()
    series: set[str] = set()
    staged = StagedOutputs(target)
    try:
        for index, outcome in enumerate(_outcomes(jobs, cancel)):
            if cancel is not None and cancel.cancelled:
                discard_temporary(outcome.temporary)
                cancel.raise_if_cancelled()
            result = _result(outcome, root)
            if outcome.name:
                earlier = written.get(outcome.name)
                if earlier is not None:
                    first = report.files[earlier]
                    mine = target / outcome.name
                    theirs = staged.current(mine)
                    same = same_content(
                        Path(outcome.temporary) if outcome.temporary else mine, theirs
                    )
                    why = "a copy of" if same else "the same SOP Instance UID as"
                    result.reasons.insert(0, f"{why} {first.source} (written once)")
                    result.status, result.output = SKIPPED, ""
                    discard_temporary(outcome.temporary)
                else:
                    written[outcome.name] = index
                    staged.add(outcome.temporary, target / outcome.name)
                    studies.add(outcome.new_study)
                    series.add(outcome.new_series)
                    if outcome.original_study:
                        scope.add(AuditObject("study", outcome.original_study, "original"))
                    if outcome.new_study:
                        scope.add(AuditObject("study", outcome.new_study, "de-identified"))
            report.files.append(result)
            fraction = 0.02 + 0.97 * (index + 1) / max(total, 1)
            progress(fraction, f"De-identifying {index + 1}/{total}")
        staged.commit()
    except Cancelled:
        staged.commit()
        raise Cancelled(
            f"Cancelled after {len(written)} of {total} files; the files written so far "
            f"are complete, in {shown_path(target)}."
        ) from None
    finally:
        staged.discard()  # only left after an error: those outputs are not written
    report.studies, report.series = len(studies), len(series)
    if not written and not report.failures:
        raise DeidentificationError(f"No DICOM files found in {shown_path(root)}.")
