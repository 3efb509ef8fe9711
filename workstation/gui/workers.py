"""Run long operations off the UI thread: QRunnable jobs with progress, result, error.

A job calls ``fn(*args, progress=..., cancel=token, **kwargs)`` in a pool thread.  Its
signals are delivered on the main thread (queued), so result handlers may touch the
Session and widgets.  A job that raised gets ``error(JobError)``; a cancelled one gets
``error`` with a ``Cancelled`` exception, so the caller simply does not change state.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from workstation.core.errors import Cancelled, WorkstationError
from workstation.core.progress import CancelToken


@dataclass
class JobError:
    """What went wrong in a job: the exception and, for unexpected ones, the traceback."""

    title: str
    exception: BaseException
    traceback_text: str

    @property
    def cancelled(self) -> bool:
        """True when the job stopped because the user cancelled it."""
        return isinstance(self.exception, Cancelled)

    @property
    def expected(self) -> bool:
        """True for errors the user can act on (WorkstationError)."""
        return isinstance(self.exception, WorkstationError)

    @property
    def message(self) -> str:
        """One line for the user."""
        if self.expected:
            return str(self.exception)
        return f"Unexpected error: {type(self.exception).__name__}: {self.exception}"

    @property
    def details(self) -> str:
        """The expandable part: WorkstationError details, or the full traceback."""
        if self.expected:
            return getattr(self.exception, "details", "") or ""
        return self.traceback_text


class JobSignals(QObject):
    """Signals of one job; created on the main thread so they arrive there."""

    progress = Signal(float, str)
    result = Signal(object)
    error = Signal(object)
    finished = Signal()


class Job(QRunnable):
    """One call of ``fn`` in a pool thread, with a CancelToken and Qt signals."""

    def __init__(self, title: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.title = title
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.token = CancelToken()
        self.signals = JobSignals()
        self.done = False
        self.foreground = True

    def cancel(self) -> None:
        """Ask the job to stop at its next cancellation check."""
        self.token.cancel()

    def _progress(self, fraction: float, text: str) -> None:
        self.token.raise_if_cancelled()
        self.signals.progress.emit(float(fraction), str(text))

    def run(self) -> None:
        """Executed by the pool; never lets an exception escape."""
        try:
            self.token.raise_if_cancelled()
            value = self.fn(*self.args, progress=self._progress, cancel=self.token, **self.kwargs)
            self.token.raise_if_cancelled()
        except BaseException as error:
            self.signals.error.emit(JobError(self.title, error, traceback.format_exc()))
        else:
            self.signals.result.emit(value)
        finally:
            self.signals.finished.emit()


class JobRunner(QObject):
    """Owns the thread pool and the running jobs of a window.

    ``started(job)`` / ``ended(job)`` let a progress panel follow the foreground jobs.
    """

    started = Signal(object)
    ended = Signal(object)

    def __init__(self, parent: QObject | None = None, max_threads: int = 2) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self.jobs: list[Job] = []

    def submit(
        self,
        title: str,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[JobError], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        foreground: bool = True,
        **kwargs: Any,
    ) -> Job:
        """Start ``fn`` in the pool; handlers (connected before it starts) run on the UI thread."""
        job = Job(title, fn, *args, **kwargs)
        job.foreground = foreground
        if on_result is not None:
            job.signals.result.connect(on_result)
        if on_error is not None:
            job.signals.error.connect(on_error)
        job.signals.finished.connect(lambda job=job: self._finished(job))
        if on_finished is not None:
            job.signals.finished.connect(on_finished)
        self.jobs.append(job)
        if foreground:
            self.started.emit(job)
        self.pool.start(job)
        return job

    def _finished(self, job: Job) -> None:
        job.done = True
        if job in self.jobs:
            self.jobs.remove(job)
        if job.foreground:
            self.ended.emit(job)

    def busy(self) -> bool:
        """True while any foreground job runs."""
        return any(job.foreground for job in self.jobs)

    def cancel_all(self) -> None:
        """Ask every running job to stop."""
        for job in list(self.jobs):
            job.cancel()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Cancel all jobs and wait for the pool threads; True when they all stopped."""
        self.cancel_all()
        return self.pool.waitForDone(timeout_ms)
