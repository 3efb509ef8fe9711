"""Terminal progress display for long commands; silent when not on a terminal or with --json."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from workstation.core.progress import ProgressCallback, no_progress


class TerminalProgress:
    """Draws one updating line ``[#####     ]  52%  text`` on stderr, at most 10 times a second."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self._last_draw = 0.0
        self._shown = False

    def __call__(self, fraction: float, text: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = round(fraction * self.width)
        bar = "#" * filled + " " * (self.width - filled)
        line = f"\r[{bar}] {fraction * 100:5.1f}%  {text[:60]:<60}"
        self.stream.write(line)
        self.stream.flush()
        self._shown = True

    def finish(self) -> None:
        """End the progress line so later output starts on a fresh line."""
        if self._shown:
            self.stream.write("\r" + " " * (self.width + 72) + "\r")
            self.stream.flush()
            self._shown = False


def progress_for(json_output: bool, stream: TextIO | None = None) -> ProgressCallback:
    """A terminal progress display, or a silent callback for --json and non-terminals."""
    target = stream or sys.stderr
    if json_output or not target.isatty():
        return no_progress
    return TerminalProgress(target)


def finish_progress(progress: ProgressCallback) -> None:
    """Clear a terminal progress line, if ``progress`` drew one."""
    if isinstance(progress, TerminalProgress):
        progress.finish()
