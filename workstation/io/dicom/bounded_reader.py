"""A read-only file wrapper that bounds what parsing one DICOM header may cost.

pydicom reads an element's value with ``read(length)`` where ``length`` comes from the
file itself; CPython allocates the whole length before reading, so a length field far
beyond the file size exhausts memory.  The wrapper clamps every read to the bytes the
file really has left, and stops parsing after a time limit (a header made of millions
of tiny elements, such as a long run of zeros, would otherwise parse for minutes).
"""

from __future__ import annotations

import os
import time
from typing import BinaryIO

#: Seconds one header may take to parse: real headers, Enhanced multi-frame ones with
#: thousands of functional-group items included, parse in well under a second.
HEADER_TIME_LIMIT_SECONDS = 10.0
#: Reads up to this size are passed through as they are: allocating them costs nothing.
SMALL_READ = 1 << 16
#: The clock is read every this many reads (a read of a tiny element takes ~1 µs).
DEADLINE_CHECK_EVERY = 64


class HeaderTimeLimitExceeded(Exception):
    """Parsing one header took longer than the limit (the file is hostile or damaged)."""


class BoundedReader:
    """File-like view of ``handle`` whose reads never exceed the file and respect a deadline."""

    def __init__(
        self, handle: BinaryIO, size: int, limit_seconds: float = HEADER_TIME_LIMIT_SECONDS
    ) -> None:
        self._handle = handle
        self._size = size
        self._limit = limit_seconds
        self._deadline = time.monotonic() + limit_seconds
        self._reads_left = DEADLINE_CHECK_EVERY
        self._read = handle.read
        # Moving costs no more than on the handle itself: pydicom seeks and tells often.
        self.seek = handle.seek
        self.tell = handle.tell
        name = getattr(handle, "name", None)
        if isinstance(name, str | os.PathLike):
            self.name = name

    def read(self, size: int | None = -1) -> bytes:
        """Read at most ``size`` bytes, never more than the file has left."""
        self._reads_left -= 1
        if self._reads_left <= 0:
            self._check_deadline()
        if size is None or size < 0 or size > SMALL_READ:
            remaining = max(0, self._size - self._handle.tell())
            if size is None or size < 0 or size > remaining:
                size = remaining
        return self._read(size)

    def _check_deadline(self) -> None:
        self._reads_left = DEADLINE_CHECK_EVERY
        if time.monotonic() > self._deadline:
            raise HeaderTimeLimitExceeded(f"reading the header took longer than {self._limit:g} s")

    def close(self) -> None:
        """Nothing to do: the caller owns and closes the wrapped handle."""
