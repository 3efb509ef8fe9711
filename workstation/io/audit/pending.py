"""Records that could not be written to the log yet: a spool file beside it, else memory.

A record is never dropped: when the log cannot be written, its fields go to
``audit.pending`` (or, when even that fails, to this process's memory) and the next
successful append writes them first, in their order.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from workstation.io.audit.records import canonical

_memory: list[dict[str, Any]] = []
_memory_lock = threading.Lock()


def spool(path: Path, fields: dict[str, Any]) -> bool:
    """Keep ``fields`` for later; True when it went to the spool file, False to memory."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            line = canonical(fields) + b"\n"
            if os.write(descriptor, line) != len(line):
                raise OSError("short write")
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return True
    except OSError:
        with _memory_lock:
            _memory.append(dict(fields))
        return False


def take(path: Path) -> tuple[list[dict[str, Any]], Path | None, int]:
    """The waiting records (spool file first, then memory), the claimed spool file to
    delete once they are written and how many came from memory; call under the lock."""
    waiting: list[dict[str, Any]] = []
    claimed: Path | None = None
    if path.is_file():
        claimed = path.with_name(f"{path.name}.{os.getpid()}")
        try:
            os.replace(path, claimed)
        except OSError:
            claimed = None
    if claimed is not None:
        try:
            with open(claimed, "rb") as handle:
                for line in handle:
                    with contextlib.suppress(ValueError):
                        item = json.loads(line)
                        if isinstance(item, dict):
                            waiting.append(item)
        except OSError:
            waiting.clear()
            restore(claimed, path)
            claimed = None
    with _memory_lock:
        from_memory = len(_memory)
        waiting.extend(_memory)
    return waiting, claimed, from_memory


def written(count_from_memory: int, claimed: Path | None) -> None:
    """The taken records are in the log: forget them."""
    with _memory_lock:
        del _memory[:count_from_memory]
    if claimed is not None:
        with contextlib.suppress(OSError):
            claimed.unlink()


def restore(claimed: Path | None, path: Path) -> None:
    """The append failed: put a claimed spool file back in front of the spool."""
    if claimed is None:
        return
    with contextlib.suppress(OSError):
        later = path.read_bytes() if path.exists() else b""
        data = claimed.read_bytes() + later
        path.write_bytes(data)
        claimed.unlink()


def in_memory() -> int:
    """How many records wait in this process's memory."""
    with _memory_lock:
        return len(_memory)
