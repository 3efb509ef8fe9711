"""Write an output file atomically: a short temporary file in its folder, then a rename.

Every writer of user files (meshes, screenshots) goes through :func:`atomic_write`, so
an output either keeps its previous content or gets the complete new one, whatever
happens (an error, Ctrl+C, SIGTERM, a full disk).  The temporary file:

* has a short name, ``.ws-<target hash>-<host>-<pid>-<random>.part``, so a target name
  of up to the folder's NAME_MAX still works;
* is created with mode 0o666, which the kernel reduces by the umask (and any default
  ACL) exactly as for a plain ``open()``: files that may hold patient data honour the
  user's umask, and no process-wide umask is read or changed;
* is removed on any exception; one left by SIGKILL or a power cut is removed by the
  next write of the same target once its owner process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from workstation.core.errors import ExportError

#: Suffix of every temporary file; the prefix is ``TEMP_PREFIX`` + a hash of the target name.
TEMP_PREFIX = ".ws-"
TEMP_SUFFIX = ".part"

#: Longest temporary name: prefix, 8 + 4 hex digits, a 10-digit pid, 6 hex digits, suffix.
TEMP_NAME_MAX = len(TEMP_PREFIX) + 8 + 1 + 4 + 1 + 10 + 1 + 6 + len(TEMP_SUFFIX)

#: A temporary file whose owner cannot be checked (another host) is stale after this.
STALE_AFTER_S = 60.0

#: A temporary file of a live process id is stale after this (the id was reused).
REUSED_PID_AFTER_S = 24 * 3600.0

DEFAULT_NAME_MAX = 255
DEFAULT_PATH_MAX = 4096

#: Paths longer than this are shortened in messages (the middle is left out).
_SHOWN_PATH_MAX = 160


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` for a one-line message: very long paths keep their start and end only."""
    text = str(path)
    if len(text) <= _SHOWN_PATH_MAX:
        return text
    half = _SHOWN_PATH_MAX // 2
    return f"{text[:half]}…{text[-half:]} ({len(text)} characters)"


def _host_tag() -> str:
    name = socket.gethostname().encode("utf-8", "replace")
    return hashlib.sha1(name, usedforsecurity=False).hexdigest()[:4]


def _limit(folder: Path, name: str, default: int) -> int:
    try:
        value = os.pathconf(folder, name)
    except (OSError, ValueError, AttributeError):  # unknown name, no pathconf (Windows)
        return default
    return value if value and value > 0 else default


def _folder_of(target: Path) -> Path:
    return target.parent if str(target.parent) else Path(".")


def _check_path_length(target: Path, folder: Path, path_max: int) -> None:
    """The target and its temporary file must both fit in PATH_MAX (which counts a NUL)."""
    longest = max(len(os.fsencode(target)), len(os.fsencode(folder)) + 1 + TEMP_NAME_MAX)
    if longest >= path_max:
        raise ExportError(
            f"Cannot write {shown_path(target)}: the path is too long ({longest} bytes with "
            f"the temporary name; the limit is {path_max - 1})."
        )


def check_writable_path(path: str | os.PathLike[str]) -> Path:
    """Check that ``path`` can be written (folder, permissions, name and path length) up front.

    Called before any long work so a bad output name fails in a second, not after it.
    """
    target = Path(path)
    with contextlib.suppress(RuntimeError):  # "~user" of an unknown user: taken literally
        target = target.expanduser()
    shown = shown_path(target)
    encoded = os.fsencode(target)
    if b"\0" in encoded:
        raise ExportError(f"Cannot write {shown!r}: the name contains a NUL character.")
    folder = _folder_of(target)
    _check_path_length(target, folder, DEFAULT_PATH_MAX)  # before a stat fails on it
    try:
        if folder.exists() and not folder.is_dir():
            raise ExportError(
                f"Cannot write {shown}: {shown_path(folder)} is a file, not a folder."
            )
        if not folder.is_dir():
            raise ExportError(
                f"Cannot write {shown}: the folder {shown_path(folder)} does not exist."
            )
        name_max = _limit(folder, "PC_NAME_MAX", DEFAULT_NAME_MAX)
        name_length = len(os.fsencode(target.name))
        if name_length > name_max:
            raise ExportError(
                f"Cannot write {shown}: the file name is {name_length} bytes long; "
                f"this folder allows at most {name_max}."
            )
        _check_path_length(target, folder, _limit(folder, "PC_PATH_MAX", DEFAULT_PATH_MAX))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ExportError(
                f"Cannot write {shown}: no permission to write in {shown_path(folder)}."
            )
        if target.is_dir():
            raise ExportError(f"Cannot write {shown}: it is a folder.")
    except OSError as error:  # e.g. a folder name over NAME_MAX, a symlink loop
        raise ExportError(f"Cannot write {shown}: {error.strerror or error}.") from error
    return target


def temporary_prefix(target: Path) -> str:
    """The start of every temporary name for ``target`` (tied to its name, in its folder)."""
    name = os.fsencode(target.name.casefold())
    digest = hashlib.sha1(name, usedforsecurity=False).hexdigest()[:8]
    return f"{TEMP_PREFIX}{digest}-"


def _temporary_name(target: Path) -> str:
    owner = f"{_host_tag()}-{os.getpid()}-{secrets.token_hex(3)}"
    return f"{temporary_prefix(target)}{owner}{TEMP_SUFFIX}"


def _process_is_gone(pid: int) -> bool:
    """True when no process ``pid`` runs on this machine (a zombie counts as gone)."""
    if os.name != "posix" or pid <= 0:
        return False  # cannot tell (and os.kill would terminate on Windows)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. another user's process: it exists
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rpartition(")")[2].split()[:1]
    return state in (["Z"], ["X"])


def _is_stale(path: Path, name: str, prefix: str) -> bool:
    """True when the temporary file ``name`` was left behind by a writer that is gone."""
    middle = name[len(prefix) : -len(TEMP_SUFFIX)].split("-")
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False
    if len(middle) == 3 and middle[0] == _host_tag() and middle[1].isdigit():
        pid = int(middle[1])
        if pid == os.getpid():
            return False
        return _process_is_gone(pid) or age > REUSED_PID_AFTER_S
    return age > STALE_AFTER_S  # another machine's writer, or not in our format


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Delete temporary files of earlier, killed writes of ``target``; returns what went."""
    target = Path(target)
    folder = _folder_of(target)
    prefix = temporary_prefix(target)
    removed: list[Path] = []
    try:
        entries = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return removed
    for name in entries:
        if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
            continue
        path = folder / name
        if _is_stale(path, name, prefix):
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def _create_temporary(target: Path, chosen: list[Path]) -> int:
    """Create the temporary file and return its descriptor.

    Its name goes into ``chosen`` *before* the file exists: a signal can stop the program
    at any instruction, and clean-up must still know which file to remove.
    """
    folder = _folder_of(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        chosen[:] = [folder / _temporary_name(target)]
        try:
            return os.open(chosen[0], flags, 0o666)  # the kernel applies the umask
        except FileExistsError:
            chosen.clear()  # another writer's file: never ours to remove
            continue
    raise OSError(errno.EEXIST, "could not choose a temporary file name")


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (best effort: not every platform can open a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _write_error(target: Path, error: OSError) -> ExportError:
    return ExportError(f"Could not write {shown_path(target)}: {error.strerror or error}.")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a binary handle whose content replaces ``path`` only if the block completes.

    The data is flushed and fsynced before the rename; on any exception (including
    KeyboardInterrupt and the CLI's signal exceptions) the temporary file is deleted and
    ``path`` keeps its previous content.  OSErrors become ExportError.
    """
    target = check_writable_path(path)
    remove_stale_temporaries(target)
    temporary: list[Path] = []  # the temporary file's name once chosen, until renamed
    try:
        descriptor = _create_temporary(target, temporary)
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary[0], target)
        temporary.clear()
    except BaseException as error:
        for leftover in temporary:
            with contextlib.suppress(OSError):
                leftover.unlink()
        if isinstance(error, OSError):
            raise _write_error(target, error) from error
        raise
    _fsync_folder(_folder_of(target))
