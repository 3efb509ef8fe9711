"""Autosave to a recovery file every two minutes, and the offer to recover after a crash.

While the case holds unsaved changes, a timer snapshots it on the UI thread (the edit
queue commits edits there, so masks never change under the copy) and a background job
writes the copy to this process's recovery file in ``<settings folder>/recovery``.  A
save or a clean quit removes that file; one left by a run that crashed is offered at
the next start: Recover, Discard or Later.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import QMainWindow, QMessageBox

from workstation.core.errors import WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.gui.context import AppContext
from workstation.gui.project_actions import run_with_sources, snapshot_contents
from workstation.gui.workers import Job, JobError
from workstation.services.project import ProjectContents
from workstation.services.recovery import (
    AUTOSAVE_INTERVAL_S,
    RecoveryFile,
    discard_recovery,
    pending_recoveries,
    recovery_folder,
    write_recovery,
)

RECOVERY_QUESTION = "The workstation stopped before this case was saved. Recover it?"


def settings_folder(settings: QSettings) -> Path:
    """The folder of the window's settings file (``WORKSTATION_SETTINGS_DIR`` or the user's)."""
    return Path(settings.fileName()).expanduser().absolute().parent


def _write(
    folder: Path,
    contents: ProjectContents,
    project_path: str | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> Path:
    """The job: write the snapshot to this process's recovery file."""
    progress(0.0, "Autosaving")
    return write_recovery(folder, contents, project_path)


class Autosave(QObject):
    """The autosave timer of one window and the recovery offer at start.

    ``interval_s`` defaults to ``AUTOSAVE_INTERVAL_S`` (two minutes); tests pass less.
    """

    written = Signal(object)  # Path of the recovery file just written
    failed = Signal(object)  # JobError of an autosave that did not land

    def __init__(
        self, window: QMainWindow, interval_s: float | None = None, folder: Path | None = None
    ) -> None:
        super().__init__(window)
        self.window: Any = window
        self.context: AppContext = window.context  # type: ignore[attr-defined]
        self.folder = folder or recovery_folder(settings_folder(self.context.settings))
        self.path: Path | None = None  # this process's recovery file, once written
        self.recovery_question: QMessageBox | None = None
        self._job: Job | None = None
        self._closed = False
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.autosave_now)
        self.set_interval(AUTOSAVE_INTERVAL_S if interval_s is None else interval_s)

    def set_interval(self, seconds: float) -> None:
        """Autosave every ``seconds`` from now on."""
        self.timer.start(max(int(seconds * 1000), 1))

    # -- writing -------------------------------------------------------------------------
    def due(self) -> bool:
        """True when there is unsaved work to write and nothing stands in the way."""
        session = self.context.session
        projects = getattr(self.window, "projects", None)
        return not (
            self._closed
            or self._job is not None
            or not session.modified
            or session.volume is None
            or session.read_only
            or (projects is not None and projects.saving)
            # an encrypted case is never written in plain text into a recovery file
            or (projects is not None and getattr(projects, "encryption", None) is not None)
            or (session.editor is not None and session.editor.stroke_active)
        )

    def autosave_now(self) -> bool:
        """Snapshot the case and write it in the background, when due; True: started."""
        if not self.due():
            return False
        started = run_with_sources(
            self.context,
            self._snapshot_and_write,
            self._failed,
            foreground=False,
            on_skipped=self._skipped,
        )
        if started is not None and self._job is None:
            self._job = started
        return True

    def _snapshot_and_write(self) -> None:
        session = self.context.session
        if self._closed or not session.modified:
            self._job = None
            return
        try:
            contents = snapshot_contents(self.context)
        except WorkstationError as problem:
            self._job = None
            self.context.show_message(f"Autosave failed: {problem}")
            return
        self._job = self.context.runner.submit(
            "Autosave",
            _write,
            self.folder,
            contents,
            session.project_path,
            on_result=self._written,
            on_error=self._failed,
            foreground=False,
        )

    def _written(self, path: object) -> None:
        self._job = None
        self.path = Path(str(path))
        if not self.context.session.modified:  # saved meanwhile: the project has it all
            self.discard_own()
            return
        self.written.emit(self.path)

    def _skipped(self) -> None:
        self._job = None

    def _failed(self, error: JobError) -> None:
        self._job = None
        if not error.cancelled:
            self.context.show_message(f"Autosave failed: {error.message}")
        self.failed.emit(error)

    def discard_own(self) -> None:
        """Remove this process's recovery file (after a save, or at a clean quit)."""
        if self.path is not None:
            discard_recovery(self.path)
            self.path = None

    def shutdown(self) -> None:
        """Stop the timer and remove this process's recovery file (the jobs have stopped)."""
        self._closed = True
        self.timer.stop()
        self.discard_own()

    # -- recovering ------------------------------------------------------------------------
    def pending(self) -> list[RecoveryFile]:
        """Recovery files left by runs that ended without saving (newest first)."""
        files = pending_recoveries(self.folder)
        return sorted(files, key=lambda item: item.saved_at, reverse=True)

    def offer_recovery(self) -> bool:
        """Offer each left recovery file in turn; True when one is being recovered.

        Recover opens it (as its project, with unsaved changes); Discard deletes it;
        Later keeps it for the next start.  Headless windows never ask.
        """
        if self.window.headless:
            return False
        for recovery in self.pending():
            answer = self.ask(recovery)
            if answer == "recover":
                self.window.projects.open_project(recovery.path, recovery=recovery)
                return True
            if answer == "discard":
                discard_recovery(recovery.path)
        return False

    def ask(self, recovery: RecoveryFile) -> str:
        """'recover', 'discard' or 'later' (``recovery_question`` while it is open)."""
        box = QMessageBox(
            QMessageBox.Icon.Question, "Recover unsaved work", RECOVERY_QUESTION,
            parent=self.window,
        )  # fmt: skip
        box.setObjectName("recoveryQuestion")
        belongs = f"Project: {recovery.project_path}\n" if recovery.project_path else ""
        box.setInformativeText(f"{recovery.summary}\n{belongs}Autosaved {recovery.saved_at}.")
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        later = box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(recover)
        box.setEscapeButton(later)
        self.recovery_question = box
        try:
            box.exec()
        finally:
            self.recovery_question = None
        clicked = box.clickedButton()
        if clicked is recover:
            return "recover"
        if clicked is discard:
            return "discard"
        return "later"
