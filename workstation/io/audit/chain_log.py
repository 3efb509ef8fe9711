"""The hash-chained audit log: locked appends, rotation into read-only segments, reading.

Appends from any number of processes and threads serialise on ``flock`` of a lock file
beside the log.  Under the lock an append reads only the end of the log (the last
record's ``seq`` and ``hash``), writes its lines with one ``os.write`` on an
``O_APPEND`` descriptor and syncs them; a short or failed write is cut off again, so a
line is either whole or absent.  When the log reaches its size limit it is renamed to
``<stem>-YYYYmmddTHHMMSS-<last seq><suffix>`` (read-only) and the next record, the
first of a new log, chains from the last one of the segment.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation.core.errors import AuditLogError
from workstation.io.atomic_write import shown_path
from workstation.io.audit.records import GENESIS, record_line, seal

#: The log is rotated once it is this large (bytes).
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

_TAIL_BLOCK = 8192


@dataclass(frozen=True)
class LogFiles:
    """The log and the files kept beside it."""

    log: Path

    @property
    def lock(self) -> Path:
        """The lock file every append holds."""
        return self.log.with_name(self.log.name + ".lock")

    @property
    def pending(self) -> Path:
        """Records that could not be written yet, appended first by the next write."""
        return self.log.with_suffix(".pending")

    @property
    def head(self) -> Path:
        """The signed head: the last record's seq and hash."""
        return self.log.with_suffix(".head")

    @property
    def chain_key(self) -> Path:
        """The HMAC chain key (``audit.key``)."""
        return self.log.with_suffix(".key")

    @property
    def signing_key(self) -> Path:
        """The Ed25519 head signing key (``audit-signing.key``)."""
        return self.log.with_name(f"{self.log.stem}-signing.key")

    def segment_pattern(self) -> re.Pattern[str]:
        """Names of rotated segments; group 1 is the stamp, group 2 the last seq."""
        stem, suffix = re.escape(self.log.stem), re.escape(self.log.suffix)
        return re.compile(rf"^{stem}-(\d{{8}}T\d{{6}})-(\d+){suffix}$")


def segments(log: Path) -> list[Path]:
    """Every file of the log in order: rotated segments by their last seq, then the log."""
    files = LogFiles(log)
    pattern = files.segment_pattern()
    found: list[tuple[int, str, Path]] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(log.parent):
            match = pattern.match(entry.name)
            if match and entry.is_file():
                found.append((int(match.group(2)), match.group(1), Path(entry.path)))
    ordered = [path for _, _, path in sorted(found)]
    if log.is_file():
        ordered.append(log)
    return ordered


def _last_line(path: Path) -> bytes | None:
    """The last non-empty line of ``path``, read from its end (None when empty/absent)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return None
    with handle:
        end = handle.seek(0, os.SEEK_END)
        tail = b""
        position = end
        while position > 0:
            step = min(_TAIL_BLOCK, position)
            position -= step
            handle.seek(position)
            tail = handle.read(step) + tail
            stripped = tail.rstrip(b"\n")
            if b"\n" in stripped:
                return stripped.rsplit(b"\n", 1)[1]
        stripped = tail.rstrip(b"\n")
        return stripped or None


def last_record(path: Path) -> dict[str, Any] | None:
    """The last record of one file; AuditLogError when that line is not a record."""
    line = _last_line(path)
    if line is None:
        return None
    try:
        record = json.loads(line)
        int(record["seq"])
        str(record["hash"])
    except (ValueError, KeyError, TypeError):
        raise AuditLogError(
            f"The last line of the audit log {shown_path(path)} is damaged; run "
            "'workstation audit verify'."
        ) from None
    if not isinstance(record, dict):
        raise AuditLogError(f"The last line of the audit log {shown_path(path)} is damaged.")
    return record


def chain_end(log: Path) -> tuple[int, str]:
    """The seq and hash to chain the next record from (0 and 64 zeros for a new trail)."""
    for path in reversed(segments(log)):
        record = last_record(path)
        if record is not None:
            return int(record["seq"]), str(record["hash"])
    return 0, GENESIS


@contextlib.contextmanager
def locked(log: Path) -> Iterator[None]:
    """Hold the log's lock (exclusive, blocking) for the block."""
    lock = LogFiles(log).lock
    descriptor = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _rotate(log: Path, last_seq: int) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = log.with_name(f"{log.stem}-{stamp}-{last_seq}{log.suffix}")
    os.rename(log, target)
    with contextlib.suppress(OSError):
        os.chmod(target, 0o444)


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _write_all(descriptor: int, data: bytes) -> None:
    """One write of ``data``; a short write is cut off and raised as an OSError."""
    start = os.fstat(descriptor).st_size
    try:
        written = os.write(descriptor, data)
        if written != len(data):
            raise OSError(28, f"only {written} of {len(data)} bytes could be written")
        os.fdatasync(descriptor)
    except OSError:
        with contextlib.suppress(OSError):
            os.ftruncate(descriptor, start)
        raise


def append_records(
    log: Path,
    fields: Sequence[dict[str, Any]],
    *,
    key: bytes | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> list[dict[str, Any]]:
    """Chain and append records made of ``fields``; returns them as written.

    Raises OSError when the log cannot be written (nothing of it is left in the log).
    The caller holds ``locked(log)``.
    """
    if not fields:
        return []
    seq, previous = chain_end(log)
    try:
        size = log.stat().st_size
    except FileNotFoundError:
        size = 0
    if size >= max_bytes and seq > 0:
        _rotate(log, seq)
        size = 0
    records = []
    for item in fields:
        seq += 1
        record = seal(item, seq, previous, key)
        previous = record["hash"]
        records.append(record)
    data = b"".join(record_line(record) for record in records)
    descriptor = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        _write_all(descriptor, data)
    finally:
        os.close(descriptor)
    if size == 0:
        _sync_folder(log.parent)
    return records


def read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, line without its newline) of one file."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\n")


def iter_records(log: Path) -> Iterator[dict[str, Any]]:
    """Every readable record of every segment, in order (broken lines are passed over)."""
    for path in segments(log):
        for _, line in read_lines(path):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record
