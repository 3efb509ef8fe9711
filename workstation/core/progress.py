"""Progress reporting and cooperative cancellation for long operations.

Long operations are plain functions taking ``progress(fraction, text)`` and a
``CancelToken``; they call ``token.raise_if_cancelled()`` at chunk boundaries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from workstation.core.errors import Cancelled

ProgressCallback = Callable[[float, str], None]


def no_progress(fraction: float, text: str) -> None:
    """A progress callback that ignores every report."""


class CancelToken:
    """Thread-safe flag a UI or signal handler sets to stop a running operation."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the operation to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """True once ``cancel`` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise ``Cancelled`` when cancellation was requested."""
        if self._event.is_set():
            raise Cancelled()


def sub_progress(progress: ProgressCallback, start: float, end: float) -> ProgressCallback:
    """Map a stage's 0..1 progress into the ``start..end`` part of an outer progress."""

    def report(fraction: float, text: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        progress(start + (end - start) * fraction, text)

    return report
