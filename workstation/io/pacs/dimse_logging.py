"""Keep pynetdicom's log off the terminal and read the few lines that explain a failure.

pynetdicom logs every association step (and "Association Aborted" on faults); the user
should see one line from us instead.  Its logger stops propagating once this module is
imported, and ``LogTrace`` collects what it says during one call so a failed connect can
be explained ("connection refused", a TLS certificate problem).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOGGER = logging.getLogger("pynetdicom")
_LOCK = threading.Lock()
_TRACES: list[list[str]] = []


class _Collector(logging.Handler):
    """Copies every pynetdicom message into the traces active right now."""

    def emit(self, record: logging.LogRecord) -> None:
        with _LOCK:
            if not _TRACES:
                return
            text = record.getMessage()
            for trace in _TRACES:
                trace.append(text)


def silence_pynetdicom() -> None:
    """Stop pynetdicom's messages from reaching the application's (or Python's) handlers."""
    _LOGGER.propagate = False
    if not any(isinstance(h, _Collector) for h in _LOGGER.handlers):
        _LOGGER.addHandler(_Collector(level=logging.DEBUG))
    if not any(type(h) is logging.NullHandler for h in _LOGGER.handlers):
        _LOGGER.addHandler(logging.NullHandler())


@contextmanager
def log_trace() -> Iterator[list[str]]:
    """The pynetdicom messages logged (by any thread) while the block runs."""
    silence_pynetdicom()
    trace: list[str] = []
    with _LOCK:
        _TRACES.append(trace)
    try:
        yield trace
    finally:
        with _LOCK:
            _TRACES[:] = [other for other in _TRACES if other is not trace]


def connect_failure(trace: list[str]) -> str:
    """Why the TCP (or TLS) connect failed, in words, from a trace ('' when it did not)."""
    marker = "TCP Initialisation Error:"
    for text in trace:
        if text.startswith(marker):
            reason = text[len(marker) :].strip()
            if reason.startswith("[Errno") and "]" in reason:
                reason = reason.split("]", 1)[1].strip()
            return reason[:1].lower() + reason[1:] if reason else "connection failed"
    return ""


silence_pynetdicom()
