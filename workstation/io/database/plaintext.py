"""Where the decrypted files of a study opened from an encrypted database live briefly.

A private folder (mode 0700) under ``$XDG_RUNTIME_DIR`` when that exists (a tmpfs that
is never written to a disk), else the system temporary folder.  The study opened last
keeps its folder; opening the next study removes it, and so does the end of the process
(``atexit``); a folder left by a killed process is removed when the next one is made.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

PREFIX = "workstation-study-"

_lock = threading.Lock()
_current: list[Path] = []


def _parent() -> str | None:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    return runtime if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK) else None


def new_study_folder() -> Path:
    """A new private folder for a study's plaintext; the previous one is removed, and so
    are the folders of processes that were killed before they could remove theirs."""
    with _lock:
        _remove_all()
        parent = _parent()
        _remove_orphans(Path(parent or tempfile.gettempdir()))
        prefix = f"{PREFIX}{os.getpid()}-"
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))  # mkdtemp: mode 0700
        _current.append(folder)
        return folder


def _remove_orphans(parent: Path) -> None:
    """Remove this user's plaintext folders whose process is gone."""
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        pid_text = entry.name[len(PREFIX) :].split("-", 1)[0]
        try:
            if not pid_text.isdigit() or entry.stat().st_uid != os.getuid():
                continue
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
        except OSError:
            continue


def remove_study_folders() -> None:
    """Remove every plaintext folder this process made (also run at exit)."""
    with _lock:
        _remove_all()


def _remove_all() -> None:
    while _current:
        shutil.rmtree(_current.pop(), ignore_errors=True)


def write_private(folder: Path, name: str, data: bytes) -> Path:
    """Write ``data`` as ``folder/name`` readable by the user only (0600)."""
    path = folder / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    return path


atexit.register(remove_study_folders)
