"""A write-only stream that reports progress and honours cancellation on every write.

Wrapped around an output handle, it lets a library that writes a whole file in one call
(nibabel) show how far it got and stop within one chunk when the user cancels.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from workstation.core.progress import CancelToken, ProgressCallback


class ProgressStream(io.RawIOBase):
    """Pass writes (and seeks) to ``handle``; report bytes written out of ``total``."""

    def __init__(
        self,
        handle: BinaryIO | io.BufferedIOBase,
        total: int,
        progress: ProgressCallback,
        cancel: CancelToken,
        text: str,
    ) -> None:
        super().__init__()
        self._handle = handle
        self._total = max(int(total), 1)
        self._progress = progress
        self._cancel = cancel
        self._text = text
        self.written = 0

    def writable(self) -> bool:
        """Always: the stream is for writing."""
        return True

    def seekable(self) -> bool:
        """Whether the wrapped handle can seek."""
        return self._handle.seekable()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        """Check for cancellation, write ``data`` and report the share written."""
        self._cancel.raise_if_cancelled()
        self._handle.write(data)
        size = memoryview(data).nbytes
        self.written += size
        self._progress(min(self.written / self._total, 1.0), self._text)
        return size

    def tell(self) -> int:
        """Position in the wrapped handle."""
        return self._handle.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move in the wrapped handle (writers seek forward to the data offset)."""
        return self._handle.seek(offset, whence)

    def flush(self) -> None:
        """Flush the wrapped handle while it is open (closing this stream leaves it open)."""
        if not self._handle.closed:
            self._handle.flush()
