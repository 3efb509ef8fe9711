"""The workstation main window: views, study browser, panels, menus, jobs and errors.

Data lives in a Qt-free ``Session``; this window forwards its events to the views and
panels, and runs every long operation (scan, load, segmentation, meshing, export) as a
job off the UI thread.  A job only changes the Session when it succeeds, so a cancelled
or failed job leaves the previous state intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QToolButton,
    QWidget,
)

from workstation.core.display_presets import (
    SERIES_WINDOW,
    VOLUME_RENDERING_PRESETS,
    WINDOW_PRESETS,
    default_volume_rendering_preset,
    patient_position_text,
    window_presets_for,
)
from workstation.core.errors import NotAVolumeError, SeriesNotFoundError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.core.volume import Volume
from workstation.gui.error_dialog import show_error
from workstation.gui.models_panel import ModelsPanel
from workstation.gui.progress_panel import ProgressPanel
from workstation.gui.recent_studies import RecentStudies
from workstation.gui.segmentation_panel import SegmentationPanel
from workstation.gui.study_browser import StudyBrowser
from workstation.gui.thumbnails import make_thumbnails, to_qimage
from workstation.gui.views.layout import ViewLayout
from workstation.gui.workers import JobError, JobRunner
from workstation.io.dicom.model import ScanResult, Stack
from workstation.services.session import ModelEntry, Session

LAYOUTS = (
    ("four", "Four-up", "Ctrl+1"),
    ("axial", "Axial", "Ctrl+2"),
    ("coronal", "Coronal", "Ctrl+3"),
    ("sagittal", "Sagittal", "Ctrl+4"),
    ("3d", "3D", "Ctrl+5"),
)
TOOLS = (
    ("navigate", "Navigate", "Click to move the crosshair, wheel to scroll slices"),
    ("window_level", "Window/level", "Drag to change window (horizontal) and level (vertical)"),
    ("distance", "Distance", "Click two points to measure a distance in mm"),
    ("angle", "Angle", "Click three points to measure an angle"),
    ("roi_rectangle", "Rectangle ROI", "Drag a rectangle for value statistics"),
    ("roi_ellipse", "Ellipse ROI", "Drag an ellipse for value statistics"),
)


def open_study(
    path: str,
    series: str | None,
    auto_load: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> tuple[ScanResult, Stack | None, Volume | None, str]:
    """Scan ``path`` and, when asked, load the requested or best stack (in a job).

    Returns (scan, stack, volume, note): without a loadable 3D stack the volume is None
    and ``note`` says why.
    """
    from workstation.io.dicom.scan import scan_path

    scan = scan_path(path, progress=sub_progress(progress, 0.0, 0.3), cancel=cancel)
    if series:
        try:
            stack = scan.find(series)
        except KeyError:
            available = ", ".join(s.stack_id for s in scan.stacks) or "none"
            raise SeriesNotFoundError(
                f"Series {series} is not in {path}; available: {available}"
            ) from None
    elif auto_load:
        stack = scan.best_volume()
        if stack is None:
            kinds = ", ".join(sorted({s.kind for s in scan.stacks})) or "nothing"
            return scan, None, None, f"No 3D image stack in {path} (found {kinds})."
    else:
        return scan, None, None, ""
    volume = load_stack_job(stack, sub_progress(progress, 0.3, 1.0), cancel)
    return scan, stack, volume, ""


def load_stack_job(stack: Stack, progress: ProgressCallback, cancel: CancelToken) -> Volume:
    """Load one stack as a Volume (in a job)."""
    from workstation.io.dicom.load import load_stack

    if not stack.loadable_3d:
        raise NotAVolumeError(
            f"{stack.label or stack.stack_id} is a {stack.kind} stack of {len(stack.frames)} "
            "image(s) and cannot be shown as a 3D volume."
        )
    return load_stack(stack, progress=progress, cancel=cancel)


class MainWindow(QMainWindow):
    """The application window; ``headless`` reports errors by signal instead of dialogs."""

    scan_loaded = Signal(object)
    volume_loaded = Signal(object)
    job_failed = Signal(object)

    def __init__(
        self,
        settings: QSettings | None = None,
        headless: bool = False,
    ) -> None:
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("Surgical Planning Workstation")
        self.headless = headless
        self.settings = settings or QSettings("SurgicalPlanningWorkstation", "Workstation")
        self.recent = RecentStudies(self.settings)
        self.session = Session()
        self.runner = JobRunner(self)
        self.errors: list[JobError] = []
        self.last_error_dialog: QMessageBox | None = None
        self._load_job = None

        self.views = ViewLayout()
        self.setCentralWidget(self.views)
        self.browser = StudyBrowser()
        self.browser.stack_activated.connect(self.load_stack)
        self.segmentation_panel = SegmentationPanel(self)
        self.models_panel = ModelsPanel(self)
        self._build_docks()
        self._build_status_bar()
        self._build_actions()
        self._connect_session()
        self._connect_views()
        self.setAcceptDrops(True)
        self.resize(1500, 950)

    # -- construction ---------------------------------------------------------------
    def _build_docks(self) -> None:
        browser_dock = QDockWidget("Studies", self)
        browser_dock.setObjectName("studiesDock")
        browser_dock.setWidget(self.browser)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, browser_dock)
        self.tools_tabs = QTabWidget()
        self.tools_tabs.addTab(self.segmentation_panel, "Segmentation")
        self.tools_tabs.addTab(self.models_panel, "Models")
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
            [min(380, int(width * 0.24)), min(430, int(width * 0.27))],
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
        self.cursor_label.setMinimumWidth(330)
        self.window_label = QLabel("")
        self.warnings_label = QLabel("")
        self.warnings_label.setObjectName("volumeWarnings")
        self.warnings_label.setStyleSheet("color: #b35c00; font-weight: bold;")
        self.warnings_label.setVisible(False)
        self.progress_panel = ProgressPanel(self.runner)
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
        self.recent_menu = file_menu.addMenu("&Recent studies")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addAction("&Export all models…", self.models_panel.export_all)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)

        edit_menu = menu.addMenu("&Edit")
        self.undo_action = edit_menu.addAction("&Undo", self.session.undo)
        self.undo_action.setShortcuts([QKeySequence("Ctrl+Z")])
        self.redo_action = edit_menu.addAction("&Redo", self.session.redo)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.undo_action.setEnabled(False)
        self.redo_action.setEnabled(False)

        view_menu = menu.addMenu("&View")
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        self.layout_actions = self._exclusive_actions(
            LAYOUTS,
            (view_menu, toolbar),
            self.set_layout,
            lambda action, shortcut: action.setShortcut(QKeySequence(shortcut)),
        )
        self.layout_actions["four"].setChecked(True)
        view_menu.addSeparator()
        toolbar.addSeparator()

        self.window_menu = view_menu.addMenu("&Window/level presets")
        window_button = QToolButton()
        window_button.setText("W/L presets")
        window_button.setMenu(self.window_menu)
        window_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        toolbar.addWidget(window_button)

        self.volume_rendering_action = QAction("Volume rendering", self, checkable=True)
        self.volume_rendering_action.toggled.connect(self._volume_rendering_changed)
        view_menu.addAction(self.volume_rendering_action)
        self.slice_outlines_action = QAction("Slice outlines in 3D", self, checkable=True)
        self.slice_outlines_action.setChecked(True)
        self.slice_outlines_action.setToolTip("Show where the slice views cut in the 3D view")
        self.slice_outlines_action.toggled.connect(self._slice_outlines_toggled)
        view_menu.addAction(self.slice_outlines_action)
        toolbar.addAction(self.volume_rendering_action)
        self.vr_preset_combo = QComboBox()
        for key, preset in VOLUME_RENDERING_PRESETS.items():
            self.vr_preset_combo.addItem(preset.label, key)
        self.vr_preset_combo.currentIndexChanged.connect(self._volume_rendering_changed)
        toolbar.addWidget(self.vr_preset_combo)
        toolbar.addSeparator()

        tools_menu = menu.addMenu("&Tools")
        self.tool_actions = self._exclusive_actions(
            TOOLS, (tools_menu, toolbar), self.set_tool, QAction.setToolTip
        )
        self.tool_actions["navigate"].setChecked(True)
        toolbar.addSeparator()
        reset_view = view_menu.addAction("Reset &views", self._reset_views)
        reset_view.setShortcut(QKeySequence("Ctrl+R"))
        reset_camera = view_menu.addAction("Reset 3D &camera", self._reset_camera)
        toolbar.addAction(reset_view)
        toolbar.addAction(reset_camera)
        self._fill_window_menu(None)

    def _exclusive_actions(
        self,
        entries: tuple[tuple[str, str, str], ...],
        places: tuple[QWidget, ...],
        choose: Callable[[str], None],
        configure: Callable[[QAction, str], None],
    ) -> dict[str, QAction]:
        """One checkable action per (key, text, extra), one checked at a time, in ``places``.

        Triggering an action calls ``choose(key)``; ``configure(action, extra)`` adds its
        shortcut or tooltip.
        """
        group = QActionGroup(self)
        actions: dict[str, QAction] = {}
        for key, text, extra in entries:
            action = QAction(text, self, checkable=True)
            configure(action, extra)
            action.triggered.connect(lambda _=False, key=key: choose(key))
            group.addAction(action)
            for place in places:
                place.addAction(action)
            actions[key] = action
        return actions

    def _connect_session(self) -> None:
        session = self.session
        session.subscribe("scan", self._scan_changed)
        session.subscribe("volume", self._volume_changed)
        session.subscribe("history", self._history_changed)
        session.subscribe("model_added", self._model_added)
        session.subscribe("model_removed", self._model_removed)
        session.subscribe("model_changed", self._model_changed)

    def _connect_views(self) -> None:
        views = self.views
        views.cursor_info.connect(self._cursor_info)
        views.window_level_changed.connect(self._window_level_changed)
        views.measurement_done.connect(self._measurement_done)

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
        if scan is not self.session.scan:
            return
        for stack_id, image in thumbnails.items():
            self.browser.set_thumbnail(stack_id, to_qimage(image))

    def _volume_changed(self, volume: Volume | None) -> None:
        if volume is None:
            self.views.clear()
            self.setWindowTitle("Surgical Planning Workstation")
        else:
            self.views.set_volume(volume)
            name = volume.source.series_description or volume.name or "volume"
            title = " — ".join(p for p in (volume.source.patient_name, name) if p)
            self.setWindowTitle(f"{title} — Surgical Planning Workstation")
            preset = default_volume_rendering_preset(volume)
            self.vr_preset_combo.setCurrentIndex(self.vr_preset_combo.findData(preset))
        self.browser.mark_loaded(self.session.stack.stack_id if self.session.stack else None)
        self._show_volume_warnings(volume)
        self._fill_window_menu(volume)
        if volume is not None:
            self._window_level_changed(*self.views.window_level())
        if self.volume_rendering_action.isChecked():
            self._volume_rendering_changed()

    def _show_volume_warnings(self, volume: Volume | None) -> None:
        """Keep a mark in the status bar while the loaded volume has geometry warnings."""
        warnings = list(volume.warnings) if volume is not None else []
        count = len(warnings)
        self.warnings_label.setText(f"⚠ {count} warning{'s' if count != 1 else ''}")
        self.warnings_label.setToolTip("\n".join(f"• {warning}" for warning in warnings))
        self.warnings_label.setVisible(bool(warnings))

    def _history_changed(self, state: tuple[bool, bool]) -> None:
        self.undo_action.setEnabled(state[0])
        self.redo_action.setEnabled(state[1])
        self.undo_action.setText(f"&Undo {self.session.undo_description()}".strip())
        self.redo_action.setText(f"&Redo {self.session.redo_description()}".strip())

    def _model_added(self, entry: ModelEntry) -> None:
        self.views.add_model(entry.model_id, entry.mesh, entry.color, entry.opacity, entry.visible)

    def _model_removed(self, entry: ModelEntry) -> None:
        self.views.remove_model(entry.model_id)

    def _model_changed(self, entry: ModelEntry) -> None:
        self.views.update_model(
            entry.model_id, color=entry.color, opacity=entry.opacity, visible=entry.visible
        )

    # -- views → status bar -----------------------------------------------------------
    def _cursor_info(self, info: Any) -> None:
        if not info or info.get("lps") is None:
            self.cursor_label.setText("")
            return
        x, y, z = (float(v) for v in info["lps"])
        value = info.get("value")
        units = info.get("units") or ""
        view = str(info.get("view", "")).capitalize()
        text = f"{view}  {patient_position_text((x, y, z))}"
        if value is not None:
            text += f"   {float(value):.0f} {units}".rstrip()
        self.cursor_label.setText(text)

    def _window_level_changed(self, center: float, width: float) -> None:
        self.window_label.setText(f"W {width:.0f}  L {center:.0f}")

    def _measurement_done(self, measurement: Any) -> None:
        text = measurement.get("text") if isinstance(measurement, dict) else str(measurement)
        if text:
            self.statusBar().showMessage(str(text), 15000)

    # -- actions --------------------------------------------------------------------
    def set_layout(self, name: str) -> None:
        """Show four views or one large view."""
        self.views.set_layout(name)
        if name in self.layout_actions:
            self.layout_actions[name].setChecked(True)

    def set_tool(self, mode: str) -> None:
        """Choose what mouse clicks in the slice views do."""
        self.views.set_interaction_mode(mode)
        if mode in self.tool_actions:
            self.tool_actions[mode].setChecked(True)

    def apply_window_preset(self, key: str) -> None:
        """Apply a window preset (a WINDOW_PRESETS key, 'series' or 'auto')."""
        volume = self.session.volume
        if volume is None:
            return
        presets = window_presets_for(volume)
        if key in presets:
            self.views.set_window_level(*presets[key])

    def _fill_window_menu(self, volume: Volume | None) -> None:
        self.window_menu.clear()
        if volume is None:
            self.window_menu.setEnabled(False)
            return
        self.window_menu.setEnabled(True)
        for key, (center, width) in window_presets_for(volume).items():
            if key == SERIES_WINDOW:
                label = "Series window"
            elif key in WINDOW_PRESETS:
                label = WINDOW_PRESETS[key].label
            else:
                label = "Automatic"
            self.window_menu.addAction(
                f"{label} (W {width:g} L {center:g})",
                lambda key=key: self.apply_window_preset(key),
            )

    def _volume_rendering_changed(self, *_: object) -> None:
        if self.session.volume is None:
            return
        self.views.set_volume_rendering(
            self.volume_rendering_action.isChecked(), str(self.vr_preset_combo.currentData())
        )

    def _slice_outlines_toggled(self, visible: bool) -> None:
        self.views.set_slice_outlines_visible(visible)

    def _reset_views(self) -> None:
        self.views.reset_views()

    def _reset_camera(self) -> None:
        self.views.reset_camera()

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
        self.recent_menu.clear()
        paths = self.recent.paths()
        for path in paths:
            self.recent_menu.addAction(path, lambda path=path: self.open_path(path))
        if paths:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear list", self.recent.clear)
        else:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def open_path(
        self, path: str | os.PathLike[str], series: str | None = None, auto_load: bool = True
    ):
        """Scan a folder, file or zip and load its best (or the given) stack; returns the Job."""
        path = str(path)

        def done(result: tuple[ScanResult, Stack | None, Volume | None, str]) -> None:
            scan, stack, volume, note = result
            self.session.set_scan(scan, path)
            self.recent.add(path)
            self.scan_loaded.emit(scan)
            if volume is not None:
                self.session.set_volume(volume, stack)
                self._announce_volume(volume)
            elif note:
                self.statusBar().showMessage(note, 15000)
                if self.headless:
                    self.report_error_message("Open", NotAVolumeError(note))

        return self._start_load(
            f"Opening “{Path(path).name or path}”",
            open_study,
            path,
            series,
            auto_load,
            on_result=done,
        )

    def load_stack(self, stack: Stack):
        """Load one stack of the current scan (double-click in the browser); returns the Job."""

        def done(volume: Volume) -> None:
            self.session.set_volume(volume, stack)
            self._announce_volume(volume)

        return self._start_load(
            f"Loading {stack.label or stack.series_description or 'series'}",
            load_stack_job,
            stack,
            on_result=done,
        )

    def _start_load(
        self, title: str, fn: Callable[..., Any], *args: Any, on_result: Callable[[Any], None]
    ) -> Any:
        """Run an open or load job in place of the one still running (which is cancelled)."""
        if self._load_job is not None and not self._load_job.done:
            self._load_job.cancel()
        self._load_job = self.runner.submit(
            title, fn, *args, on_result=on_result, on_error=self.report_error
        )
        return self._load_job

    def _announce_volume(self, volume: Volume) -> None:
        cols, rows, slices = volume.dims
        message = f"Loaded {cols} x {rows} x {slices}, {volume.orientation}"
        if volume.warnings:
            message += " — " + "; ".join(volume.warnings)
        self.statusBar().showMessage(message, 20000)
        self.volume_loaded.emit(volume)

    # -- drag and drop --------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and urls[0].isLocalFile():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        """Keep accepting a folder or file dragged over any part of the window."""
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        urls: list[QUrl] = event.mimeData().urls()
        local = [url.toLocalFile() for url in urls if url.isLocalFile()]
        if local:
            event.acceptProposedAction()
            self.open_path(local[0])

    # -- errors ---------------------------------------------------------------------
    def report_error(self, error: JobError) -> None:
        """Show a failed job (a cancelled one only in the status bar)."""
        self.errors.append(error)
        self.job_failed.emit(error)
        if error.cancelled:
            self.statusBar().showMessage(f"{error.title}: cancelled; nothing was changed.", 8000)
            return
        self.statusBar().showMessage(f"{error.title} failed: {error.message}", 15000)
        if not self.headless:
            self.last_error_dialog = show_error(self, error)

    def report_error_message(self, title: str, exception: WorkstationError) -> None:
        """Show an error that did not come from a job."""
        self.report_error(JobError(title, exception, ""))

    # -- closing --------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        self.runner.shutdown()
        self.views.shutdown()
        super().closeEvent(event)
