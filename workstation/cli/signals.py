"""SIGTERM and SIGHUP stop a command the way Ctrl+C does: clean-up runs, then exit 128+N.

Python's default for these signals kills the process on the spot, so ``finally`` blocks
never run and an export leaves its temporary file behind.  While
:func:`stop_on_signals` is active they raise :class:`StoppedBySignal` (a
KeyboardInterrupt, so every clean-up that handles Ctrl+C handles them too).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals handled, where the platform has them: a batch system or ``kill`` stopping
#: the job, and the terminal closing.
HANDLED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StoppedBySignal(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM or SIGHUP arrives; exit code 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum
        self.signal_name = signal.Signals(signum).name

    def __str__(self) -> str:
        return f"stopped by {self.signal_name}"


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into StoppedBySignal inside the block; restore the old handlers.

    Does nothing outside the main thread (only it may set handlers).  A process forked
    inside the block (a worker) dies of the signal as it would by default.  If the
    exception is swallowed (Python ignores exceptions in at-fork hooks and ``__del__``),
    it is raised again when the block ends, so the stop is never lost.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner = os.getpid()
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if os.getpid() != owner:  # a forked worker: die quietly, the parent reports
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        received.append(signum)
        raise StoppedBySignal(signum)

    previous = {}
    for signum in HANDLED_SIGNALS:
        handling = signal.getsignal(signum)
        if handling is signal.SIG_IGN:
            continue  # e.g. started with nohup: keep ignoring the hang-up
        previous[signum] = signal.SIG_DFL if handling is None else handling
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, handling in previous.items():
            signal.signal(signum, handling)
    if received:  # the block ended normally although a stop was requested
        raise StoppedBySignal(received[0])


def restore_default_signals() -> None:
    """Let SIGTERM/SIGHUP end the process at once again (the desktop window's own loop).

    Python handlers run only between Qt events, and an exception raised in a Qt slot
    would not stop the window.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in HANDLED_SIGNALS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
