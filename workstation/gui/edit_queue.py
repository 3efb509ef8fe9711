"""Segmentation edits one at a time, in the order given: compute off the UI thread, commit on it.

Every panel and tool submits its operation records here.  A single worker thread (its
own pool, not the window's shared job runner) runs ``editor.compute`` for the oldest
waiting edit; its result is committed on the UI thread and only then does the next edit
start, so each computation sees every earlier commit and no edit is lost or reordered.
An edit that fails or is cancelled takes the edits waiting behind it along (they were
built on it); edits waiting for an editor that was replaced (another volume loaded) are
dropped.  While the case is read-only (its source images changed) every edit is refused.
"""

from __future__ import annotations

import traceback
from collections import deque
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal

from workstation.core.errors import Cancelled, WorkstationError
from workstation.gui.workers import Job, JobError
from workstation.services.segment_editor import PendingEdit, SegmentEditor
from workstation.services.session import Session

#: How often a computed edit checks whether a brush stroke in progress has ended.
STROKE_WAIT_MS = 30
#: How often an edit is computed again when the segmentation changed under it.
MAX_RECOMPUTES = 3
#: Why an edit of a read-only case (its source images changed) is refused.
READ_ONLY_MESSAGE = "This case is read-only: its source images changed since it was saved."


def describe_record(record: dict[str, Any]) -> str:
    """A short title for an operation record, e.g. 'Threshold Bone' or 'Add segment Skin'."""
    op = str(record.get("op", "edit"))
    target = record.get("segment") or record.get("name") or ""
    return f"{op.replace('_', ' ').capitalize()} {target}".strip()


@dataclass
class _Edit:
    editor: SegmentEditor
    record: dict[str, Any]
    title: str
    recomputes: int = 0


class EditQueue(QObject):
    """Applies operation records to the session's current editor strictly in order."""

    busy_changed = Signal(bool)
    edit_done = Signal(object)  # PendingEdit, after its commit
    edit_failed = Signal(object)  # JobError (cancelled ones too)
    started = Signal(object)  # Job: an edit's computation began (for a progress panel)
    ended = Signal(object)  # Job: that computation ended

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(1)
        self._waiting: deque[_Edit] = deque()
        self._current: _Edit | None = None
        self._job: Job | None = None
        self._busy = False
        self._closed = False
        session.subscribe("editor", self._editor_replaced)

    # -- public API -------------------------------------------------------------------
    def submit(self, record: dict[str, Any], title: str | None = None) -> None:
        """Queue one operation record for the current editor (applied after earlier ones)."""
        title = title or describe_record(record)
        editor = self.session.editor
        if editor is None or self._closed or self.session.read_only:
            text = "Load a volume before editing segments."
            if editor is not None and self.session.read_only:
                text = READ_ONLY_MESSAGE
            self.edit_failed.emit(JobError(title, WorkstationError(text), ""))
            return
        self._waiting.append(_Edit(editor, dict(record), title))
        self._set_busy()
        if self._current is None:
            self._start_next()

    def busy(self) -> bool:
        """True while an edit computes, waits to be committed or waits for its turn."""
        return self._current is not None or bool(self._waiting)

    def pending_count(self) -> int:
        """Edits not applied yet, the running one included."""
        return len(self._waiting) + (self._current is not None)

    def cancel_all(self) -> None:
        """Cancel the running edit and drop every waiting one (nothing of them is applied)."""
        self._waiting.clear()
        if self._job is not None:
            self._job.cancel()
        self._set_busy()

    def shutdown(self, timeout_ms: int = 10000) -> bool:
        """Stop accepting edits, cancel them and wait for the worker; True when it stopped."""
        self._closed = True
        self.cancel_all()
        self.session.unsubscribe("editor", self._editor_replaced)
        stopped = self.pool.waitForDone(timeout_ms)
        self._current = None  # a result still on its way is dropped (see _computed)
        self._job = None
        self._set_busy()
        return stopped

    # -- running ----------------------------------------------------------------------
    def _start_next(self) -> None:
        self._current = None
        self._job = None
        while self._waiting:
            edit = self._waiting.popleft()
            if edit.editor is self.session.editor:
                self._compute(edit)
                return
        self._set_busy()

    def _compute(self, edit: _Edit) -> None:
        self._current = edit
        job = Job(edit.title, edit.editor.compute, edit.record)
        job.signals.result.connect(lambda pending, job=job: self._computed(job, pending))
        job.signals.error.connect(lambda error, job=job: self._failed(job, error))
        job.signals.finished.connect(lambda job=job: self._job_finished(job))
        self._job = job
        self.started.emit(job)
        self.pool.start(job)

    def _job_finished(self, job: Job) -> None:
        job.done = True
        self.ended.emit(job)

    def _computed(self, job: Job, pending: PendingEdit) -> None:
        edit = self._current
        if edit is None or job is not self._job or self._closed:
            return
        if job.token.cancelled or edit.editor is not self.session.editor:
            self._stop(edit, JobError(edit.title, Cancelled(), ""))
            return
        if edit.editor.stroke_active:  # a brush stroke is being painted: commit after it
            QTimer.singleShot(STROKE_WAIT_MS, self, lambda: self._computed(job, pending))
            return
        try:
            edit.editor.commit(pending)
        except RuntimeError as stale:  # the segmentation changed since the computation
            if edit.recomputes >= MAX_RECOMPUTES:
                self._stop(edit, JobError(edit.title, stale, traceback.format_exc()))
                return
            edit.recomputes += 1
            self._waiting.appendleft(edit)
        except Exception as problem:  # shown to the user, never lost
            self._stop(edit, JobError(edit.title, problem, traceback.format_exc()))
            return
        else:
            self.edit_done.emit(pending)
        QTimer.singleShot(0, self, self._start_next)

    def _failed(self, job: Job, error: JobError) -> None:
        if self._current is not None and job is self._job and not self._closed:
            self._stop(self._current, error)

    def _stop(self, edit: _Edit, error: JobError) -> None:
        """End an edit that did not land: report it and drop the edits built on it."""
        if edit.editor is not self.session.editor:  # replaced: nothing to tell, go on
            QTimer.singleShot(0, self, self._start_next)
            return
        self._waiting.clear()
        self._current = None
        self._job = None
        self._set_busy()
        self.edit_failed.emit(error)

    def _editor_replaced(self, editor: SegmentEditor | None) -> None:
        self._waiting = deque(edit for edit in self._waiting if edit.editor is editor)
        if self._current is not None and self._current.editor is not editor and self._job:
            self._job.cancel()  # its result is dropped; the next edit starts then
        self._set_busy()

    def _set_busy(self) -> None:
        busy = self.busy()
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)
