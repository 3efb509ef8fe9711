"""Getting written files onto the disk: early writeback per file, one sync per batch.

``start_writeback`` asks the kernel to begin writing a file as soon as it is complete
(``sync_file_range(2)``), so the disk works while the next files are read and hashed.
``sync_filesystem`` makes everything written on the store's filesystem durable with
one ``syncfs(2)``: one journal commit and one cache flush for a whole batch of files
and renames, where an ``fsync`` per file and per folder costs one each.  Both are Linux
calls reached through ctypes; where they are missing ``start_writeback`` does nothing
and ``sync_filesystem`` returns False, and the caller fsyncs file by file instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: ``SYNC_FILE_RANGE_WRITE``: start writeback of the dirty pages, do not wait.
SYNC_FILE_RANGE_WRITE = 2

_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM})

_calls: dict[str, Callable[..., int] | None] = {}


def _libc_function(name: str, argtypes: list[type[Any]]) -> Callable[..., int] | None:
    """A function of the C library (GIL released while it runs), or None where absent."""
    if name in _calls:
        return _calls[name]
    function: Any = None
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            function = getattr(ctypes.CDLL(None, use_errno=True), name)
            function.argtypes = argtypes
            function.restype = ctypes.c_int
    _calls[name] = function
    return function


def _syncfs() -> Callable[..., int] | None:
    return _libc_function("syncfs", [ctypes.c_int])


def _sync_file_range() -> Callable[..., int] | None:
    return _libc_function(
        "sync_file_range", [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    )


def start_writeback(descriptor: int) -> None:
    """Start writing a file's data to the disk now, without waiting (a hint only)."""
    function = _sync_file_range()
    if function is not None:
        function(descriptor, 0, 0, SYNC_FILE_RANGE_WRITE)


def can_sync_filesystem() -> bool:
    """True when ``sync_filesystem`` can work here (Linux with ``syncfs``)."""
    return _syncfs() is not None


def sync_filesystem(folder: Path) -> bool:
    """Make all data and metadata written on ``folder``'s filesystem durable (``syncfs``).

    Returns False when the call is not available (the caller must fsync file by file);
    raises OSError when the filesystem reports a failure to write back.
    """
    function = _syncfs()
    if function is None:
        return False
    descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        if function(descriptor) == 0:
            return True
        code = ctypes.get_errno()
    finally:
        os.close(descriptor)
    if code in _UNSUPPORTED:
        return False
    raise OSError(code, os.strerror(code), str(folder))
