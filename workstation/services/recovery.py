"""Crash recovery: the autosaved case of each running workstation, found again after a crash.

Every ``AUTOSAVE_INTERVAL_S`` the window writes its case with ``write_recovery`` to
``<settings folder>/recovery/recovery-<host>-<pid>.wsproj``: an ordinary project (never
with embedded sources, never with a ``.bak``), written atomically, whose manifest also
records under ``"recovery"`` the project the case belongs to, the time, the process and
a one-line summary.  A process that exits normally discards its file; a file whose
process is gone is what ``pending_recoveries`` offers at the next start.  Qt-free: the
window owns the timer and the question.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation.core.errors import ProjectError, WorkstationError
from workstation.io.atomic_write import TEMP_PREFIX, TEMP_SUFFIX
from workstation.services.project import ProjectContents, read_manifest, write_project

#: Seconds between two autosaves.
AUTOSAVE_INTERVAL_S = 120

FOLDER_NAME = "recovery"
FILE_PREFIX = "recovery-"
FILE_SUFFIX = ".wsproj"

#: A recovery file of another machine counts as left behind once this old (its process
#: cannot be asked; a live one rewrites its file every AUTOSAVE_INTERVAL_S).
OTHER_HOST_STALE_S = 10 * AUTOSAVE_INTERVAL_S


@dataclass
class RecoveryFile:
    """An autosaved case left by a process that is gone."""

    path: Path
    project_path: str | None
    saved_at: str
    summary: str


def recovery_folder(settings_dir: str | os.PathLike[str]) -> Path:
    """``<settings_dir>/recovery``, where the autosaves go (made by the first one)."""
    return Path(settings_dir) / FOLDER_NAME


def _host() -> str:
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())
    return name[:40] or "host"


def _own_name(pid: int | None = None) -> str:
    return f"{FILE_PREFIX}{_host()}-{os.getpid() if pid is None else pid}{FILE_SUFFIX}"


def summary_of(contents: ProjectContents) -> str:
    """One line saying what a case holds: series, segments, models, measurements, plans."""
    parts = []
    if contents.sources:
        series = contents.sources[0]
        words = " ".join(part for part in (series.modality, series.series_description) if part)
        parts.append(words or series.series_uid)
    counts = (
        (len(contents.segmentation) if contents.segmentation is not None else 0, "segment"),
        (len(contents.models), "model"),
        (len(contents.measurements), "measurement"),
    )
    parts += [f"{count} {word}{'s' if count != 1 else ''}" for count, word in counts]
    if contents.planning:
        count = len(contents.planning)
        parts.append(f"{count} planning object{'s' if count != 1 else ''}")
    return ", ".join(parts)


def write_recovery(
    folder: str | os.PathLike[str], contents: ProjectContents, project_path: str | None
) -> Path:
    """Autosave ``contents`` into this process's recovery file in ``folder`` (atomically)."""
    base = Path(folder)
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ProjectError(f"Cannot create the recovery folder {base}: {error}") from None
    target = base / _own_name()
    record = {
        "project_path": project_path,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "pid": os.getpid(),
        "host": _host(),
        "summary": summary_of(contents),
    }
    return write_project(target, contents, backup=False, extra_manifest={"recovery": record})


def _process_is_gone(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return pid <= 0
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: it exists
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[:1]
    except OSError:
        return False
    return state in (["Z"], ["X"])


def _left_behind(path: Path, record: dict[str, Any]) -> bool:
    pid = record.get("pid")
    if not isinstance(pid, int):
        return True
    if record.get("host") == _host():
        return _process_is_gone(pid)
    try:
        return time.time() - path.stat().st_mtime > OTHER_HOST_STALE_S
    except OSError:
        return False


def _remove_dead_temporaries(folder: Path) -> None:
    """Temporary files of autosaves killed mid-write (``atomic_write``'s naming)."""
    for entry in folder.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        owner = entry.name[len(TEMP_PREFIX) : -len(TEMP_SUFFIX)].split("-")
        if len(owner) == 4 and owner[2].isdigit() and _process_is_gone(int(owner[2])):
            with contextlib.suppress(OSError):
                entry.unlink()


def pending_recoveries(folder: str | os.PathLike[str]) -> list[RecoveryFile]:
    """The recovery files in ``folder`` left by processes that are gone, newest first."""
    base = Path(folder)
    if not base.is_dir():
        return []
    _remove_dead_temporaries(base)
    found = []
    for path in base.glob(f"{FILE_PREFIX}*{FILE_SUFFIX}"):
        if path.name == _own_name():
            continue
        try:
            record = read_manifest(path).get("recovery") or {}
        except (WorkstationError, OSError):
            record = {"summary": "damaged recovery file"}
        if not isinstance(record, dict) or not _left_behind(path, record):
            continue
        project = record.get("project_path")
        found.append(
            RecoveryFile(
                path,
                str(project) if project else None,
                str(record.get("saved_at", "")),
                str(record.get("summary", "")),
            )
        )
    return sorted(found, key=lambda item: item.saved_at, reverse=True)


def discard_recovery(path: str | os.PathLike[str]) -> None:
    """Delete a recovery file (after it was recovered or declined); no error when gone."""
    try:
        Path(path).unlink(missing_ok=True)
    except OSError as error:
        raise ProjectError(f"Cannot remove the recovery file {path}: {error}") from None
