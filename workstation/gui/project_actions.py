"""File → Open/Save project in the window: the actions, the unsaved-work question, the jobs.

A project (``.wsproj``) holds a whole case: the source series' record, the segments and
their operations, the models, the measurements and the view.  Saving and opening run
as background jobs with progress and Cancel; the services write atomically, so a failed
or cancelled save keeps the previous file and a failed or cancelled open changes
nothing.  The data of a save (and of an autosave) is snapshotted on the UI thread — the
edit queue commits edits there — and written from a copy in a worker thread.

The window title follows Qt's ``[*]`` convention (an asterisk while the case holds
unsaved changes).  A case whose source images changed since it was saved opens
read-only: an orange status label names the changed files, the editing tools are off,
the edit queue refuses edits and saving is disabled.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMenu, QMessageBox

from workstation.core.errors import EncryptionError, ProjectError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.gui.context import AppContext
from workstation.gui.passphrase_dialog import (
    ask_new_passphrase,
    ask_passphrase,
    passphrase_key,
    project_is_encrypted,
)
from workstation.gui.view_state import apply_view_state, capture_view_state
from workstation.gui.workers import Job, JobError
from workstation.services import project
from workstation.services.project import PROJECT_EXTENSION, ProjectContents, is_project_path
from workstation.services.project_sources import SourcesNotFound
from workstation.services.recovery import discard_recovery

APP_TITLE = "Surgical Planning Workstation"
PROJECT_FILTER = f"Workstation project (*{PROJECT_EXTENSION})"
UNSAVED_QUESTION = "The case has unsaved changes. Save them first?"
EMBED_TEXT = "Embed source images when saving"
EMBED_TIP = "Embed the source images (to send the case to a printing lab)"


def with_project_extension(path: str) -> str:
    """``path`` ending in ``.wsproj`` (added when the user typed a bare name)."""
    return path if is_project_path(path) else path + PROJECT_EXTENSION


def detach_contents(contents: ProjectContents) -> ProjectContents:
    """The same contents with private copies of everything edits change in place.

    Edits write into the segment masks on the UI thread; a save or an autosave writes
    from a worker thread, so it must hold copies (a 512×512×300 mask is 79 MB and copies
    in a few tens of milliseconds).  Meshes are replaced, never changed, and are shared.
    """
    segmentation = contents.segmentation
    return replace(
        contents,
        segmentation=None if segmentation is None else segmentation.snapshot(),
        operations=copy.deepcopy(contents.operations),
        measurements=list(contents.measurements),  # frozen records
        planning=copy.deepcopy(contents.planning),
        view=copy.deepcopy(contents.view),
        provenance=copy.deepcopy(contents.provenance),
    )


def flush_pending_edits(context: AppContext) -> None:
    """Let the panels that hold edits back for a moment put them into the case now."""
    for flush in list(context.before_snapshot):
        flush()


def snapshot_contents(context: AppContext) -> ProjectContents:
    """The case as it is now (UI thread; the sources are hashed already), detached."""
    flush_pending_edits(context)
    view = capture_view_state(context)
    return detach_contents(project.contents_from_session(context.session, view))


def run_with_sources(
    context: AppContext,
    then: Callable[[], None],
    on_error: Callable[[JobError], None],
    foreground: bool = True,
    on_skipped: Callable[[], None] | None = None,
) -> Job | None:
    """Call ``then`` on the UI thread once the case's source files are hashed.

    Hashing reads every source file (seconds for a large series), so it runs as a job
    the first time; the result stays on the session.  When another case was loaded
    meanwhile, ``on_skipped`` is called instead of ``then``.
    """
    session = context.session
    if session.sources is not None or session.stack is None:
        then()
        return None
    volume = session.volume

    def hash_sources(progress: ProgressCallback, cancel: CancelToken) -> object:
        try:
            return session.ensure_sources(progress, cancel)
        except OSError as error:  # a source file became unreadable
            raise ProjectError(f"Cannot record the source files: {error}") from None

    def hashed(_sources: object) -> None:
        if session.volume is volume:
            then()
        elif on_skipped is not None:
            on_skipped()

    return context.runner.submit(
        "Hashing the source images",
        hash_sources,
        on_result=hashed,
        on_error=on_error,
        foreground=foreground,
    )


class ProjectActions(QObject):
    """The project actions of one window and the state they show (title, read-only label).

    ``window`` is the main window: its ``context``, ``recent``, ``tools``, ``headless``,
    ``report_error`` and ``start_load`` are used.
    """

    saved = Signal(str)  # the project file written
    opened = Signal(object)  # the OpenedProject now shown

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window: Any = window
        self.context: AppContext = window.context  # type: ignore[attr-defined]
        self.session = self.context.session
        self.unsaved_question: QMessageBox | None = None
        self._save_job: Job | None = None
        self._after_save: Callable[[], object] | None = None
        self._changed_files: list[str] = []
        self.open_action: QAction | None = None
        self.save_action: QAction | None = None
        self.save_as_action: QAction | None = None
        self.embed_action: QAction | None = None
        self.save_encrypted_action: QAction | None = None
        #: the key the case's project is encrypted with (kept by Save), None: plain
        self.encryption: Any = None
        self._save_encryption: Any = None
        #: ask for a new passphrase (name → text or None) / an existing one (name, message)
        self.ask_new_passphrase: Callable[[str], str | None] = lambda name: ask_new_passphrase(
            self.window, name
        )
        self.ask_passphrase: Callable[[str, str], str | None] = lambda name, message: (
            ask_passphrase(self.window, name, message)
        )
        self.read_only_label = QLabel("")
        self.read_only_label.setObjectName("readOnlyBanner")
        self.read_only_label.setStyleSheet(
            "background: #e07b00; color: white; font-weight: bold; padding: 1px 6px;"
        )
        self.read_only_label.setVisible(False)
        window.statusBar().addPermanentWidget(self.read_only_label)
        self.session.subscribe("modified", self._modified_changed)
        self.session.subscribe("volume", self._volume_changed)

    # -- menu ---------------------------------------------------------------------------
    def add_open_action(self, menu: QMenu) -> QAction:
        """File → Open project… (Ctrl+Shift+O)."""
        self.open_action = menu.addAction("Open &project…", self.choose_project)
        self.open_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        return self.open_action

    def add_save_actions(self, menu: QMenu) -> None:
        """File → Save project (Ctrl+S), Save project as… (Ctrl+Shift+S), the embed option."""
        self.save_action = menu.addAction("&Save project", self.save)
        self.save_action.setShortcut(QKeySequence("Ctrl+S"))
        self.save_as_action = menu.addAction("Save project &as…", self.save_as)
        self.save_as_action.setShortcut(QKeySequence("Ctrl+Shift+S"))
        self.save_encrypted_action = menu.addAction("Save project &encrypted…", self.save_encrypted)
        self.save_encrypted_action.setStatusTip("Save the case encrypted with a passphrase")
        self.embed_action = menu.addAction(EMBED_TEXT)
        self.embed_action.setCheckable(True)
        self.embed_action.setToolTip(EMBED_TIP)
        self.embed_action.setStatusTip(EMBED_TIP)
        menu.setToolTipsVisible(True)
        self._update_actions()

    # -- title and state ------------------------------------------------------------------
    def update_title(self) -> None:
        """'case.wsproj[*] — patient — series — app': Qt shows '*' while unsaved."""
        session, volume = self.session, self.session.volume
        parts: list[str] = []
        if session.project_path:
            parts.append(Path(session.project_path).name)
        if volume is not None:
            identity = volume.source.identity
            name = identity.series_description or volume.name or "volume"
            parts += [part for part in (identity.patient_name, name) if part]
        if session.read_only:
            parts.append("read-only")
        first = f"{parts[0]}[*]" if parts else f"{APP_TITLE}[*]"
        title = " — ".join([first, *parts[1:], APP_TITLE] if parts else [first])
        self.window.setWindowTitle(title)
        self.window.setWindowModified(session.modified)

    def _modified_changed(self, modified: bool) -> None:
        self.window.setWindowModified(bool(modified))

    def _volume_changed(self, _volume: object) -> None:
        self._changed_files = []
        if self.embed_action is not None:
            self.embed_action.setChecked(False)  # off by default for every new case
        self.encryption = None  # a new case is not encrypted until saved so
        self.update_read_only()

    def update_read_only(self) -> None:
        """Show the read-only label and switch editing and saving off while read-only."""
        read_only = self.session.read_only
        names = self._changed_files
        if read_only:
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            changed = f" — changed: {shown}" if names else ""
            self.read_only_label.setText(
                f"Read-only: the source images changed{changed}. Editing and saving are off."
            )
            self.read_only_label.setToolTip("\n".join(names))
        self.read_only_label.setVisible(read_only)
        tools = getattr(self.window, "tools", None)
        if tools is not None:
            tools.set_editing_enabled(self.session.volume is not None and not read_only)
        self._update_actions()
        self.update_title()

    def _update_actions(self) -> None:
        can_save = self.session.volume is not None and not self.session.read_only
        for action in (self.save_action, self.save_as_action, self.save_encrypted_action):
            if action is not None:
                action.setEnabled(can_save)

    @property
    def saving(self) -> bool:
        """True while a save runs."""
        return self._save_job is not None

    # -- the unsaved-work question ------------------------------------------------------------
    def confirm_unsaved(self, proceed: Callable[[], object], action: str = "Opening") -> bool:
        """Ask before unsaved work would be discarded; True: go on now.

        Save starts saving and calls ``proceed`` once the file is written (False is
        returned now); Discard goes on; Cancel stops.  Headless windows never ask.
        """
        flush_pending_edits(self.context)  # an edit of the last moment counts as unsaved
        if not self.session.modified or self.window.headless:
            return True
        answer = self.ask_unsaved(action)
        if answer == QMessageBox.StandardButton.Discard:
            return True
        if answer == QMessageBox.StandardButton.Save:
            self.save(then=proceed)
        return False

    def ask_unsaved(self, action: str) -> QMessageBox.StandardButton:
        """The Save / Discard / Cancel question (``unsaved_question`` while it is open)."""
        box = QMessageBox(
            QMessageBox.Icon.Question, "Unsaved changes", UNSAVED_QUESTION, parent=self.window
        )
        box.setObjectName("unsavedQuestion")
        box.setInformativeText(
            f"{action} discards the segments, models and measurements not saved yet."
        )
        button = QMessageBox.StandardButton
        choices = button.Discard | button.Cancel  # a read-only case cannot be saved
        box.setStandardButtons(choices if self.session.read_only else choices | button.Save)
        box.setDefaultButton(button.Cancel if self.session.read_only else button.Save)
        self.unsaved_question = box
        try:
            box.exec()
        finally:
            self.unsaved_question = None
        clicked = box.clickedButton()
        return box.standardButton(clicked) if clicked is not None else button.Cancel

    # -- saving ---------------------------------------------------------------------------
    def save(self, then: Callable[[], object] | None = None) -> bool:
        """File → Save project: to the case's project file, or ask for one; True: started."""
        path = self.session.project_path
        if not path:
            return self.save_as(then=then)
        return self.save_to(path, then=then)

    def save_as(self, then: Callable[[], object] | None = None) -> bool:
        """File → Save project as…: ask for a file and save there; True: started."""
        if not self._check_can_save():
            return False
        path, _ = QFileDialog.getSaveFileName(
            self.window, "Save project as", self._suggested_path(), PROJECT_FILTER
        )
        if not path:
            return False
        return self.save_to(path, then=then)

    def save_encrypted(self, path: str | os.PathLike[str] | None = None) -> bool:
        """File → Save project encrypted…: a passphrase (twice), then the file; True: started."""
        if not self._check_can_save():
            return False
        name = Path(str(path)).name if path else ""
        text = self.ask_new_passphrase(name)
        if text is None:
            return False  # cancelled: nothing changes
        key = passphrase_key(text)
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self.window, "Save project encrypted", self._suggested_path(), PROJECT_FILTER
            )
            if not path:
                return False
        return self.save_to(path, encryption=key)

    def save_to(
        self,
        path: str | os.PathLike[str],
        then: Callable[[], object] | None = None,
        encryption: Any = None,
    ) -> bool:
        """Save the case to ``path`` in a job (hashing the sources first when needed).

        ``encryption`` (a KeySource) encrypts it; without it the case's own key is kept.
        """
        if not self._check_can_save():
            return False
        self._save_encryption = encryption if encryption is not None else self.encryption
        target = with_project_extension(str(Path(path).expanduser().absolute()))
        self._after_save = then
        self._save_job = None
        hashing = run_with_sources(
            self.context,
            lambda: self._write(target),
            self._save_failed,
            on_skipped=self._save_skipped,
        )
        if hashing is not None and self._save_job is None:
            self._save_job = hashing  # a second save waits until this one is done
        return True

    def _check_can_save(self) -> bool:
        session = self.session
        problem = ""
        if session.volume is None:
            problem = "Open a study before saving a project."
        elif session.read_only:
            problem = "This case is read-only (its source images changed): saving is off."
        elif self._save_job is not None:
            problem = "The project is being saved already."
        elif session.editor is not None and session.editor.stroke_active:
            problem = "Finish the brush stroke before saving."
        if problem:
            self.context.show_message(problem)
            if self.window.headless:
                self.window.report_error_message("Save project", WorkstationError(problem))
        return not problem

    def _write(self, target: str) -> None:
        session = self.session
        volume = session.volume
        try:
            contents = snapshot_contents(self.context)
        except WorkstationError as problem:
            self._save_job = None
            self.window.report_error_message("Save project", problem)
            return
        embed = bool(self.embed_action is not None and self.embed_action.isChecked())
        session.set_modified(False)  # changes made while it is written mark it again
        succeeded: list[str] = []
        key = self._save_encryption
        extra = {} if key is None else {"encryption": key}

        def written(saved: object) -> None:
            succeeded.append(str(saved))
            if session.volume is volume:
                session.project_path = str(saved)
                self.encryption = key
                self.window.recent.add(str(saved))
                self.update_title()
                self.context.show_message(f"Saved {Path(str(saved)).name}")
                autosave = getattr(self.window, "autosave", None)
                if autosave is not None and not session.modified:
                    autosave.discard_own()
            self.saved.emit(str(saved))

        def failed(error: JobError) -> None:
            if session.volume is volume:
                session.set_modified(True)
            self._save_failed(error)

        def finished() -> None:
            self._save_job = None
            then, self._after_save = self._after_save, None
            if succeeded and then is not None:
                then()

        self._save_job = self.context.runner.submit(
            f"Saving {Path(target).name}",
            project.save_project,
            target,
            contents,
            embed_sources=embed,
            **extra,
            on_result=written,
            on_error=failed,
            on_finished=finished,
        )

    def _save_skipped(self) -> None:
        self._save_job = None
        self._after_save = None

    def _save_failed(self, error: JobError) -> None:
        self._save_job = None
        self._after_save = None
        self.window.report_error(error)

    def _suggested_path(self) -> str:
        session = self.session
        if session.project_path:
            return session.project_path
        recent = [path for path in self.window.recent.paths() if is_project_path(path)]
        folder = Path(recent[0]).parent if recent else Path(os.path.expanduser("~"))
        name = "case"
        if session.volume is not None:
            identity = session.volume.source.identity
            name = identity.series_description or identity.patient_name or name
        safe = re.sub(r"[^\w.-]+", "_", name).strip("._") or "case"
        return str(folder / f"{safe}{PROJECT_EXTENSION}")

    # -- opening --------------------------------------------------------------------------
    def choose_project(self) -> None:
        """File → Open project…"""
        recent = [path for path in self.window.recent.paths() if is_project_path(path)]
        start = str(Path(recent[0]).parent) if recent else os.path.expanduser("~")
        path, _ = QFileDialog.getOpenFileName(self.window, "Open project", start, PROJECT_FILTER)
        if path:
            self.open_project(path)

    def open_project(
        self,
        path: str | os.PathLike[str],
        source: str | None = None,
        recovery: Any = None,
        confirm: bool = True,
        key: Any = None,
        message: str = "",
    ) -> Job | None:
        """Open a project (or a recovery file) in a job; returns the job (None: not now).

        ``source`` is a folder holding the source images when they moved; without it
        and when they are not found, the window asks for the folder.  ``recovery`` is the
        RecoveryFile being recovered (the case then belongs to its project file again,
        with unsaved changes).
        """
        path = str(path)
        if confirm and not self.confirm_unsaved(
            lambda: self.open_project(path, source, recovery, confirm=False), "Opening a project"
        ):
            return None
        if key is None and project_is_encrypted(path):
            if self.window.headless:  # headless windows never ask
                problem = EncryptionError(f"{Path(path).name} is encrypted: give its passphrase.")
                self.window.report_error_message("Open project", problem)
                return None
            text = self.ask_passphrase(Path(path).name, message)
            if text is None:
                self.context.show_message(f"Opening {Path(path).name} cancelled.")
                return None
            key = passphrase_key(text)
        opener = project.open_project if key is None else partial(project.open_project, key=key)
        return self.window.start_load(
            f"Opening project “{Path(path).name}”",
            opener,
            path,
            source,
            on_result=lambda opened: self._opened(path, opened, recovery, key),
            on_error=lambda error: self._open_failed(path, error, recovery, key, source),
        )

    def _opened(self, path: str, opened: Any, recovery: Any, key: Any = None) -> None:
        session = self.session
        project.apply_to_session(session, opened)
        self.encryption = key  # saving the case again keeps it encrypted
        try:
            apply_view_state(self.context, opened.contents.view or {})
        except (KeyError, TypeError, ValueError) as problem:  # a damaged view: the data stays
            self.context.show_message(f"The saved view could not be restored: {problem}")
        self._changed_files = list(getattr(opened.check, "changed", []) or [])
        if recovery is not None:
            session.project_path = recovery.project_path
            session.set_modified(True)  # recovered work is not in its project file yet
            try:
                discard_recovery(recovery.path)  # this run autosaves it anew
            except WorkstationError as problem:
                self.context.show_message(str(problem))
        else:
            self.window.recent.add(path)
        name = session.project_path or path
        if self.embed_action is not None:
            self.embed_action.setChecked(self._embedded(opened, recovery))
        self.update_read_only()
        done = "Recovered" if recovery is not None else "Opened"
        self.context.show_message("; ".join([f"{done} {Path(name).name}", *opened.warnings]))
        self.window.volume_loaded.emit(opened.volume)
        self.opened.emit(opened)

    @staticmethod
    def _embedded(opened: Any, recovery: Any) -> bool:
        """Whether the project embeds its sources (its manifest lists them): kept on saving."""
        manifest = opened.contents.manifest or {}
        if recovery is not None:  # a recovery file never embeds: ask its project
            try:
                manifest = project.read_manifest(recovery.project_path or "")
            except (WorkstationError, OSError):
                return False
        return bool(manifest.get("embedded_sources"))

    def _open_failed(
        self, path: str, error: JobError, recovery: Any, key: Any = None, source: Any = None
    ) -> None:
        missing = error.exception
        asking = not (self.window.headless or getattr(self.window, "_closing", False))
        if isinstance(missing, EncryptionError) and key is not None and asking:
            # a wrong passphrase: say so and ask again (Cancel leaves everything as it was)
            self.open_project(path, source, recovery, confirm=False, message=str(missing))
            return
        if isinstance(missing, SourcesNotFound) and asking:
            folder = self.ask_source_folder(missing)
            if folder:
                self.open_project(path, folder, recovery, confirm=False, key=key)
            else:
                self.context.show_message(
                    f"Opening {Path(path).name} cancelled: its source images were not found."
                )
            return
        self.window.report_error(error)

    def ask_source_folder(self, missing: Any) -> str:
        """Ask for the folder that holds the case's source images now ('' when cancelled)."""
        recorded = str(getattr(missing, "recorded_folder", "") or "")
        start = Path(recorded).parent if recorded else Path(os.path.expanduser("~"))
        while not start.is_dir() and start != start.parent:
            start = start.parent
        caption = (
            f"Where are the source images now? (not found in {recorded})"
            if recorded
            else "Where are the source images of the case?"
        )
        return QFileDialog.getExistingDirectory(self.window, caption, str(start))

    # -- closing --------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Stop listening to the session (the window closes)."""
        self.session.unsubscribe("modified", self._modified_changed)
        self.session.unsubscribe("volume", self._volume_changed)
