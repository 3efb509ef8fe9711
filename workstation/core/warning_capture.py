"""Collect library warnings (Python warnings, logging records) instead of printing them.

pydicom warns about every oddity it tolerates (and logs the same text), numpy warns
about overflows: printed on stderr they bury the one line a command reports.  Inside
:func:`capture_library_warnings` they are collected, deduplicated, for the front-end to
show on request.  Warning filters still apply (``-W error`` or pytest's "error" filters
still raise; ignored warnings stay ignored).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import TextIO

_PACKAGE_FOLDERS = ("site-packages", "dist-packages")


def warning_source(category: type[Warning], filename: str) -> str:
    """A short origin for a warning: its category, or for a plain UserWarning its package."""
    if category is not UserWarning:
        return category.__name__
    parts = PurePath(filename).parts
    for index, part in enumerate(parts[:-1]):
        if part in _PACKAGE_FOLDERS:
            return parts[index + 1].removesuffix(".py")
    return PurePath(filename).stem or category.__name__


class LibraryWarnings:
    """Warning texts in first-seen order, each with its source and how often it came."""

    def __init__(self) -> None:
        self._sources: dict[str, str] = {}
        self._counts: dict[tuple[str, str], int] = {}

    def add(self, source: str, message: str, channel: str = "warning") -> None:
        """Count ``message``; pydicom both logs and warns each text: channels count apart."""
        text = " ".join(str(message).split())
        self._sources.setdefault(text, source)
        key = (text, channel)
        self._counts[key] = self._counts.get(key, 0) + 1

    def lines(self) -> list[str]:
        """One line per distinct warning: ``source: text`` plus ``(N times)`` when repeated."""
        counts: dict[str, int] = {}
        for (text, _), count in list(self._counts.items()):
            counts[text] = max(counts.get(text, 0), count)
        return [
            f"{self._sources[text]}: {text}" + (f" ({count} times)" if count > 1 else "")
            for text, count in counts.items()
        ]

    def __len__(self) -> int:
        return len(self._sources)


class _CollectingHandler(logging.Handler):
    def __init__(self, collected: LibraryWarnings) -> None:
        super().__init__(logging.WARNING)
        self.collected = collected

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break the command
            message = str(record.msg)
        self.collected.add(record.name.split(".")[0], message, "log")


@contextmanager
def capture_library_warnings() -> Iterator[LibraryWarnings]:
    """Collect warnings and WARNING+ log records raised inside the block (any thread).

    Log records are caught at the root logger, which also keeps Python's last-resort
    handler from printing them.  Meant for a whole command run from the main thread:
    like ``warnings.catch_warnings`` it changes process-wide state.
    """
    collected = LibraryWarnings()
    handler = _CollectingHandler(collected)
    root = logging.getLogger()
    root.addHandler(handler)

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        collected.add(warning_source(category, str(filename)), str(message))

    try:
        with warnings.catch_warnings():
            warnings.showwarning = show
            yield collected
    finally:
        root.removeHandler(handler)
