"""The workstation main window: views, study browser, panels, menus, jobs and errors.

Data lives in a Qt-free ``Session`` and what the views show in a Qt-free
``ViewerState``; the window hands both to every panel in an ``AppContext``.  Every long
operation (scan, load, meshing, export) runs as a job off the UI thread, and every
segmentation edit goes through the ordered edit queue.  A job only changes the Session
when it succeeds, so a cancelled or failed job leaves the previous state intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEventLoop, QSettings, Qt, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
)

from workstation.core.errors import NotAVolumeError, WorkstationError
from workstation.core.viewer_state import ViewerState
from workstation.core.volume import Volume
from workstation.gui.audit_status import install_audit_status
from workstation.gui.autosave import Autosave
from workstation.gui.connectivity_actions import install_database_and_pacs
from workstation.gui.context import AppContext
from workstation.gui.deidentify_actions import install_deidentify_action
from workstation.gui.derived_items import DerivedOpener
from workstation.gui.display_actions import DisplayActions
from workstation.gui.drop_opener import DropOpener
from workstation.gui.edit_queue import EditQueue
from workstation.gui.error_dialog import show_error
from workstation.gui.guide_panel import GuidePanel
from workstation.gui.help_menu import install_help_menu
from workstation.gui.models_panel import ModelsPanel
from workstation.gui.plan_actions import install_plan_actions
from workstation.gui.planning_panel import PlanningPanel
from workstation.gui.preferences import install_preferences
from workstation.gui.progress_panel import ProgressPanel
from workstation.gui.project_actions import APP_TITLE, ProjectActions, is_project_path
from workstation.gui.recent_studies import RecentStudies
from workstation.gui.report_actions import install_report_action
from workstation.gui.segmentation_files import install_segmentation_file_actions
from workstation.gui.segmentation_panel import SegmentationPanel
from workstation.gui.segments_panel import SegmentsPanel
from workstation.gui.settings import open_settings
from workstation.gui.status_readout import cursor_text, window_text
from workstation.gui.study_browser import StudyBrowser
from workstation.gui.thumbnails import make_thumbnails, to_qimage
from workstation.gui.toolbars import (
    LayoutActions,
    ToolActions,
    ToolbarRows,
    action_tooltip,
    compact_toolbar,
)
from workstation.gui.views.layout import ViewLayout
from workstation.gui.workers import JobError, JobRunner
from workstation.io.dicom.model import ScanResult, Stack
from workstation.services import study
from workstation.services.segment_editor import PendingEdit, SegmentEditor
from workstation.services.session import ModelEntry, Session

QUIT_QUESTION = "A job is running — quit anyway?"


class MainWindow(QMainWindow):
    """The application window; ``headless`` reports errors by signal instead of dialogs."""

    scan_loaded = Signal(object)
    volume_loaded = Signal(object)
    job_failed = Signal(object)

    def __init__(
        self,
        settings: QSettings | None = None,
        headless: bool = False,
        autosave_interval_s: float | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle(APP_TITLE)
        self.headless = headless
        self.settings = settings or open_settings()
        self.recent = RecentStudies(self.settings)
        self.session = Session()
        self.viewer = ViewerState()
        self.runner = JobRunner(self)
        self.edits = EditQueue(self.session, self)
        self.errors: list[JobError] = []
        self.last_error_dialog: QMessageBox | None = None
        self._load_job = None
        self._editor: SegmentEditor | None = None
        self._closing = False
        self._closed = False
        self.quit_question: QMessageBox | None = None

        self.views = ViewLayout()
        self.setCentralWidget(self.views)
        self.context = AppContext(
            session=self.session,
            viewer=self.viewer,
            runner=self.runner,
            edits=self.edits,
            views=self.views,
            settings=self.settings,
            report_error=self.report_error,
            show_message=self.show_message,
            parent=self,
        )
        self.views.set_context(self.context)
        self.views.follow_segments(self.context)  # every visible segment in colour
        self.browser = StudyBrowser()
        self.browser.stack_activated.connect(self.load_stack)
        self.segments_panel = SegmentsPanel(self.context)
        self.segmentation_panel = SegmentationPanel(self.context)
        self.models_panel = ModelsPanel(self.context)
        self.derived = DerivedOpener(self.context, self.load_stack)
        self.browser.derived_activated.connect(self.derived.open)
        self._build_docks()
        self._build_status_bar()
        self.projects = ProjectActions(self)
        self._build_actions()
        self._connect()
        self.connectivity = install_database_and_pacs(self)  # Database view, PACS menus
        self.deidentify = install_deidentify_action(self, self.menuBar().actions()[0].menu())
        self.audit_status = install_audit_status(self)  # user and role, audit failures
        self.preferences = install_preferences(self)  # export defaults, units, theme
        self.models_panel.show_preferences(self.preferences.store.current)
        self.preferences.store.changed.connect(self._preferences_changed)
        self.help_menu = install_help_menu(self)  # user guide, shortcuts, About
        self.autosave = Autosave(self, autosave_interval_s)
        self.projects.update_title()
        self.drops = DropOpener(self, self.open_path)
        self.resize(1500, 950)

    # -- construction ---------------------------------------------------------------
    def _build_docks(self) -> None:
        browser_dock = QDockWidget("Studies", self)
        browser_dock.setObjectName("studiesDock")
        browser_dock.setWidget(self.browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, browser_dock)
        self.tools_tabs = QTabWidget()
        self.tools_tabs.addTab(self.segments_panel, "Segments")
        self.tools_tabs.addTab(self.segmentation_panel, "Segmentation")
        self.tools_tabs.addTab(self.models_panel, "Models")
        self.tools_tabs.addTab(PlanningPanel(self.context), "Planning")
        self.tools_tabs.addTab(GuidePanel(self.context), "Guide")
        tools_dock = QDockWidget("Tools", self)
        tools_dock.setObjectName("toolsDock")
        tools_dock.setWidget(self.tools_tabs)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, tools_dock)
        self.browser_dock, self.tools_dock = browser_dock, tools_dock
        self._docks_fitted = False

    def fit_docks(self) -> None:
        """Give the side panels a share of the window width that leaves the views most room."""
        width = max(self.width(), 800)
        self.resizeDocks(
            [self.browser_dock, self.tools_dock],
            [min(330, int(width * 0.2)), min(490, int(width * 0.3))],
            Qt.Orientation.Horizontal,
        )

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._docks_fitted:
            self._docks_fitted = True
            self.fit_docks()

    def _build_status_bar(self) -> None:
        self.cursor_label = QLabel("")
        self.cursor_label.setObjectName("cursorLabel")
        self.cursor_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("x" * 48))
        self.window_label = QLabel("")
        self.warnings_label = QLabel("")
        self.warnings_label.setObjectName("volumeWarnings")
        self.warnings_label.setStyleSheet("color: #b35c00; font-weight: bold;")
        self.warnings_label.setVisible(False)
        self.progress_panel = ProgressPanel(self.runner, self.edits)
        bar = self.statusBar()
        bar.addPermanentWidget(self.warnings_label)
        bar.addPermanentWidget(self.cursor_label)
        bar.addPermanentWidget(self.window_label)
        bar.addPermanentWidget(self.progress_panel)

    def _build_actions(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self.open_folder_action = file_menu.addAction("Open &folder…", self.choose_folder)
        self.open_folder_action.setShortcut(QKeySequence.StandardKey.Open)
        file_menu.addAction("Open file or &zip…", self.choose_file)
        self.projects.add_open_action(file_menu)
        self.recent_menu = file_menu.addMenu("&Recent studies")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        self.projects.add_save_actions(file_menu)
        file_menu.addSeparator()
        self.segmentation_files = install_segmentation_file_actions(file_menu, self.context)
        file_menu.addAction("&Export all models…", self.models_panel.export_all)
        file_menu.addAction(self.models_panel.pacs.segmentation_action)
        file_menu.addAction(self.models_panel.pacs.models_action)
        file_menu.addSeparator()
        self.plan_actions = install_plan_actions(file_menu, self.context)  # one plan format
        self.report_actions = install_report_action(file_menu, self.context)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)

        edit_menu = menu.addMenu("&Edit")
        self.undo_action = edit_menu.addAction("&Undo", self.undo)
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = edit_menu.addAction("&Redo", self.redo)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self._update_history()

        view_menu = menu.addMenu("&View")
        layout_bar = compact_toolbar(self, "Layout", "layoutToolbar")
        display_bar = compact_toolbar(self, "Display", "displayToolbar")
        view_tools_bar = compact_toolbar(self, "View tools", "viewToolsToolbar")
        edit_tools_bar = compact_toolbar(self, "Edit tools", "editToolsToolbar")
        self.toolbars = [layout_bar, display_bar, view_tools_bar, edit_tools_bar]
        self.layout_actions = LayoutActions(self, self.viewer, view_menu, layout_bar).actions
        view_menu.addSeparator()
        reset_view = view_menu.addAction("Reset &views", self.views.reset_views)
        reset_view.setShortcut(QKeySequence("Ctrl+R"))
        reset_view.setToolTip(action_tooltip("Reset views", "Ctrl+R", "Fit every view"))
        reset_view.setIconText("Reset")  # the toolbar's short text
        reset_camera = view_menu.addAction("Reset 3D &camera", self.views.reset_camera)
        reset_camera.setIconText("Reset 3D")
        reset_camera.setToolTip("Reset the 3D camera (front view)")
        layout_bar.addSeparator()
        layout_bar.addAction(reset_view)
        layout_bar.addAction(reset_camera)
        view_menu.addSeparator()

        self.display = DisplayActions(self, self.context, view_menu, display_bar)
        self.window_menu = self.display.window_menu
        self.volume_rendering_action = self.display.volume_rendering_action
        self.vr_preset_combo = self.display.vr_preset_combo
        self.slice_outlines_action = self.display.slice_outlines_action
        self.apply_window_preset = self.display.apply_window_preset

        tools_menu = menu.addMenu("&Tools")
        self.tools = ToolActions(
            self, self.viewer, tools_menu, {"view": view_tools_bar, "edit": edit_tools_bar}
        )
        self.tool_actions = self.tools.actions
        self.tools.set_editing_enabled(False)
        self.toolbar_rows = ToolbarRows(self, self.toolbars)

    def _connect(self) -> None:
        session = self.session
        session.subscribe("scan", self._scan_changed)
        session.subscribe("volume", self._volume_changed)
        session.subscribe("editor", self._editor_changed)
        session.subscribe("model_added", self._model_added)
        session.subscribe("model_removed", self._model_removed)
        session.subscribe("model_changed", self._model_changed)
        viewer = self.viewer
        viewer.subscribe("window", self._window_changed)
        viewer.subscribe("cursor", self._cursor_changed)
        self.views.measurement_done.connect(self._measurement_done)
        self.edits.busy_changed.connect(self._update_history)
        self.edits.edit_done.connect(self._edit_done)
        self.edits.edit_failed.connect(self.report_error)

    # -- session → views ------------------------------------------------------------
    def _scan_changed(self, scan: ScanResult | None) -> None:
        self.browser.set_scan(scan)
        if scan is not None and scan.stacks:
            self.runner.submit(
                "Thumbnails",
                make_thumbnails,
                scan,
                on_result=lambda thumbs, scan=scan: self._thumbnails_ready(scan, thumbs),
                foreground=False,
            )

    def _thumbnails_ready(self, scan: ScanResult, thumbnails: dict[str, np.ndarray]) -> None:
        if scan is not self.session.scan or self._closing:
            return
        for stack_id, image in thumbnails.items():
            self.browser.set_thumbnail(stack_id, to_qimage(image))

    def _volume_changed(self, volume: Volume | None) -> None:
        if volume is None:
            self.views.clear()
        else:
            self.views.set_volume(volume)
        self.projects.update_title()
        # the cursor read-out and the selection belonged to the last study (after the views
        # took the new volume: they may report the point under a still mouse again)
        self.viewer.reset()
        self.browser.mark_loaded(self.session.stack.stack_id if self.session.stack else None)
        self._show_volume_warnings(volume)
        self.display.volume_changed(volume)
        self.tools.set_editing_enabled(volume is not None)
        if volume is not None:
            self._window_changed(self.views.window_level())

    def _show_volume_warnings(self, volume: Volume | None) -> None:
        """Keep a mark in the status bar while the loaded volume has geometry warnings."""
        warnings = list(volume.warnings) if volume is not None else []
        count = len(warnings)
        self.warnings_label.setText(f"⚠ {count} warning{'s' if count != 1 else ''}")
        self.warnings_label.setToolTip("\n".join(f"• {warning}" for warning in warnings))
        self.warnings_label.setVisible(bool(warnings))

    def _editor_changed(self, editor: SegmentEditor | None) -> None:
        if self._editor is not None:
            self._editor.unsubscribe("history", self._update_history)
        self._editor = editor
        if editor is not None:
            editor.subscribe("history", self._update_history)
        self._update_history()

    def _model_added(self, entry: ModelEntry) -> None:
        if not self._closing:
            self.views.add_model(
                entry.model_id, entry.mesh, entry.color, entry.opacity, entry.visible
            )

    def _model_removed(self, entry: ModelEntry) -> None:
        if not self._closing:
            self.views.remove_model(entry.model_id)

    def _model_changed(self, entry: ModelEntry) -> None:
        if not self._closing:
            self.views.update_model(
                entry.model_id, color=entry.color, opacity=entry.opacity, visible=entry.visible
            )

    # -- undo and redo ----------------------------------------------------------------
    def undo(self) -> None:
        """Edit → Undo: revert the editor's last step (not while edits are applied)."""
        editor = self.session.editor
        if editor is not None and not self.edits.busy() and not self.session.read_only:
            editor.undo()

    def redo(self) -> None:
        """Edit → Redo: re-apply the last undone step."""
        editor = self.session.editor
        if editor is not None and not self.edits.busy() and not self.session.read_only:
            editor.redo()

    def _update_history(self, *_: object) -> None:
        editor = self.session.editor
        idle = not self.edits.busy() and not self.session.read_only
        undo = editor.undo_description() if editor is not None and editor.can_undo else ""
        redo = editor.redo_description() if editor is not None and editor.can_redo else ""
        self.undo_action.setEnabled(bool(undo) and idle)
        self.redo_action.setEnabled(bool(redo) and idle)
        self.undo_action.setText(f"&Undo {undo}".strip())
        self.redo_action.setText(f"&Redo {redo}".strip())

    def _edit_done(self, pending: PendingEdit) -> None:
        if pending.notes:
            self.show_message("; ".join(pending.notes))

    # -- viewer state → window ------------------------------------------------------
    def _window_changed(self, window: tuple[float, float]) -> None:
        self.window_label.setText(window_text(*window))

    def _cursor_changed(self, cursor: Any) -> None:
        volume = self.session.volume
        units = "HU" if volume is not None and volume.units == "HU" else ""
        preferences = self.preferences.store.current if hasattr(self, "preferences") else None
        self.cursor_label.setText(cursor_text(cursor, units, preferences))

    def _preferences_changed(self, preferences: Any) -> None:
        """Show positions and volumes the new way at once."""
        self.models_panel.show_preferences(preferences)
        self._cursor_changed(self.viewer.cursor)

    def _measurement_done(self, measurement: Any) -> None:
        text = measurement.get("text") if isinstance(measurement, dict) else str(measurement)
        if text:
            self.statusBar().showMessage(str(text), 15000)

    # -- actions --------------------------------------------------------------------
    def set_layout(self, name: str) -> None:
        """Show four views or one large view."""
        self.viewer.set_layout(name)

    def set_tool(self, key: str) -> None:
        """Make a registered tool the active one (what mouse clicks in the views do)."""
        self.viewer.set_tool(key)

    def show_message(self, text: str, timeout_ms: int = 10000) -> None:
        """A short status-bar message."""
        self.statusBar().showMessage(text, timeout_ms)

    # -- opening --------------------------------------------------------------------
    def choose_folder(self) -> None:
        """File → Open folder…"""
        folder = QFileDialog.getExistingDirectory(self, "Open DICOM folder", self._start_dir())
        if folder:
            self.open_path(folder)

    def choose_file(self) -> None:
        """File → Open file or zip…"""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open DICOM file or zip", self._start_dir(), "DICOM or zip (*);;Zip (*.zip)"
        )
        if path:
            self.open_path(path)

    def _start_dir(self) -> str:
        recent = self.recent.paths()
        return str(Path(recent[0]).parent) if recent else os.path.expanduser("~")

    def _fill_recent_menu(self) -> None:
        self.recent.fill_menu(self.recent_menu, self.open_path)

    def open_path(
        self, path: str | os.PathLike[str], series: str | None = None, auto_load: bool = True
    ):
        """Scan a folder, file or zip and load its best (or the given) stack; returns the Job
        (None when the unsaved-work question stopped it).  A ``.wsproj`` opens as a project."""
        path = str(path)
        if is_project_path(path):
            return self.projects.open_project(path)
        retry = partial(self.open_path, path, series, auto_load)
        if auto_load and not self.projects.confirm_unsaved(retry, "Opening another study"):
            return None

        def done(opened: study.OpenedStudy) -> None:
            self.show_opened(opened, path)

        return self.start_load(
            f"Opening “{Path(path).name or path}”",
            study.open_study,
            path,
            series,
            auto_load,
            on_result=done,
        )

    def show_opened(self, opened: study.OpenedStudy, path: str, remember: bool = True) -> None:
        """Put an opened study (a folder, zip or database study) into the session and views.

        ``remember`` adds ``path`` to the recent studies (not for a database study, whose
        files are the database's).
        """
        self.session.set_scan(opened.scan, path)
        if remember:
            self.recent.add(path)
        self.scan_loaded.emit(opened.scan)
        if opened.volume is not None:
            self.session.set_volume(opened.volume, opened.stack)
            self._announce_volume(opened.volume, opened.reason)
        elif opened.note:
            self.show_message(opened.note, 15000)
            if self.headless:
                self.report_error_message("Open", NotAVolumeError(opened.note))

    def load_stack(self, stack: Stack):
        """Load one stack of the current scan (double-click in the browser); returns the Job."""
        if not self.projects.confirm_unsaved(partial(self.load_stack, stack), "Loading a series"):
            return None

        def done(volume: Volume) -> None:
            self.session.set_volume(volume, stack)
            self._announce_volume(volume)

        return self.start_load(
            f"Loading {stack.label or stack.identity.series_description or 'series'}",
            study.load_stack_volume,
            stack,
            on_result=done,
        )

    def start_load(
        self,
        title: str,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None],
        on_error: Callable[[JobError], None] | None = None,
    ) -> Any:
        """Run an open or load job in place of the one still running (which is cancelled)."""
        if self._load_job is not None and not self._load_job.done:
            self._load_job.cancel()
        self._load_job = self.runner.submit(
            title,
            fn,
            *args,
            on_result=self._unless_closing(on_result),
            on_error=on_error or self.report_error,
        )
        return self._load_job

    def _unless_closing(self, handler: Callable[[Any], None]) -> Callable[[Any], None]:
        """``handler``, skipped once the window is closing (its result is no longer shown)."""

        def guarded(value: Any) -> None:
            if not self._closing:
                handler(value)

        return guarded

    def _announce_volume(self, volume: Volume, reason: str = "") -> None:
        cols, rows, slices = volume.dims
        message = f"Loaded {cols} x {rows} x {slices}, {volume.orientation}"
        if reason:
            message += f" ({reason})"
        if volume.warnings:
            message += " — " + "; ".join(volume.warnings)
        self.show_message(message, 20000)
        self.volume_loaded.emit(volume)

    # -- errors ---------------------------------------------------------------------
    def report_error(self, error: JobError) -> None:
        """Show a failed job (a cancelled one only in the status bar)."""
        self.errors.append(error)
        self.job_failed.emit(error)
        if error.cancelled:
            self.show_message(f"{error.title}: cancelled; nothing was changed.", 8000)
            return
        self.show_message(f"{error.title} failed: {error.message}", 15000)
        if not self.headless and not self._closing:
            self.last_error_dialog = show_error(self, error)

    def report_error_message(self, title: str, exception: WorkstationError) -> None:
        """Show an error that did not come from a job."""
        self.report_error(JobError(title, exception, ""))

    # -- closing --------------------------------------------------------------------
    def jobs_running(self) -> bool:
        """True while a load, a model build, an export or an edit is under way."""
        return self.runner.busy() or self.edits.busy()

    def confirm_quit(self) -> bool:
        """Ask whether to quit although a job runs (True: quit)."""
        box = QMessageBox(QMessageBox.Icon.Question, "Quit", QUIT_QUESTION, parent=self)
        box.setInformativeText("Quitting cancels it; nothing it would change is kept.")
        quit_button = box.addButton("Quit", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.quit_question = box
        box.exec()
        self.quit_question = None
        return box.clickedButton() is quit_button

    def closeEvent(self, event: QCloseEvent) -> None:
        """Quit: ask about unsaved work and running jobs, then stop them and release the views."""
        if not self._closed:
            if not self.projects.confirm_unsaved(self.close, "Quitting"):
                event.ignore()
                return
            if self.jobs_running() and not self.headless and not self.confirm_quit():
                event.ignore()
                return
            self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop edits and jobs (waiting for their threads), then release the render windows."""
        if self._closed:
            return
        self._closing = True
        if self.jobs_running():
            self.progress_panel.show_stopping()
            self.show_message("Stopping…", 0)
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        self.edits.shutdown()
        self.runner.shutdown()
        # results that arrived before the workers stopped are delivered while views live
        QApplication.sendPostedEvents()
        self.autosave.shutdown()  # a clean quit leaves no recovery file
        self.projects.shutdown()
        self.views.shutdown()
        self._closed = True
