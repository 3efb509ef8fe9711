"""Start the workstation: the interactive window, or a one-shot screenshot run.

Both take a DICOM folder, file or zip, or a project file (``.wsproj``) with, when its
source images moved, the folder that holds them now (``source``).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from workstation.core.errors import WorkstationError
from workstation.core.workers import start_worker_server
from workstation.gui.error_dialog import job_error_from_exception
from workstation.gui.main_thread_gc import collect_garbage_on_main_thread
from workstation.gui.workers import JobError

APP_NAME = "Surgical Planning Workstation"
#: Seconds a screenshot run may take for loading and for building a model.
SCREENSHOT_TIMEOUT_S = 300.0


#: What the worker processes of the window run (decoding, decimation): the fork server
#: imports it once, so every pool from a job starts with ready workers.
WORKER_MODULES = (
    "numpy",
    "pydicom.pixels",
    "workstation.io.dicom.decode_pool",
    "workstation.processing.decimation",
    "fast_simplification",
)


def create_application() -> QApplication:
    """The QApplication (created once), with the worker processes' fork server starting."""
    app = QApplication.instance()
    if app is None:
        start_worker_server(WORKER_MODULES)
        app = QApplication([sys.argv[0] if sys.argv else "workstation"])
        app.setApplicationName(APP_NAME)
        app.setOrganizationName("SurgicalPlanningWorkstation")
    collect_garbage_on_main_thread(app)
    return app  # type: ignore[return-value]


def install_error_hook(window) -> None:
    """Show unexpected exceptions raised in Qt slots in the error dialog, not only on stderr."""
    previous = sys.excepthook

    def hook(kind, error, trace) -> None:
        previous(kind, error, trace)
        if issubclass(kind, KeyboardInterrupt):
            return
        with contextlib.suppress(Exception):  # the window may be gone; stderr has it
            window.report_error(job_error_from_exception("Operation", error))

    sys.excepthook = hook


def shutdown_application() -> None:
    """Close every window and delete the QApplication (before its X server goes away)."""
    app = QApplication.instance()
    if app is None:
        return
    app.closeAllWindows()
    app.processEvents()
    app.shutdown()
    gc.collect()  # VTK render windows hold their own X connections: release them now


def _make_window(headless: bool):
    from workstation.gui.main_window import MainWindow

    return MainWindow(headless=headless)


def run_interactive(
    path: str | None,
    series: str | None = None,
    layout: str | None = None,
    size: tuple[int, int] | None = None,
    source: str | None = None,
) -> int:
    """Open the window on ``path`` (or the sample study) and run until it closes.

    A ``.wsproj`` path opens as a project, its source images looked for in the recorded
    folder, else in ``source``, else the window asks.  A case a crashed run left is
    offered for recovery first.
    """
    from workstation.resources_path import sample_study_dir
    from workstation.services.project import is_project_path

    app = create_application()
    window = _make_window(headless=False)
    install_error_hook(window)
    if size:
        window.resize(*size)
    else:
        available = app.primaryScreen().availableGeometry()
        window.resize(
            min(window.width(), int(available.width() * 0.95)),
            min(window.height(), int(available.height() * 0.95)),
        )
    if layout:
        window.set_layout(layout)
    window.show()
    target = path or str(sample_study_dir())

    def start() -> None:
        if window.autosave.offer_recovery():
            return
        if is_project_path(target):
            window.projects.open_project(target, source)
        else:
            window.open_path(target, series)

    QTimer.singleShot(0, start)
    # Ctrl+C in the terminal closes the window like File → Quit
    signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)  # lets Python run its signal handlers
    heartbeat.start(250)
    try:
        app.exec()
    finally:
        heartbeat.stop()
        window.shutdown()  # no-op when the window closed normally (it stopped everything)
        window.deleteLater()
        shutdown_application()
    return 0


def _wait_until(window, done, timeout_s: float, what: str) -> None:
    """Run the event loop until ``done()`` holds; raise the job or edit failure otherwise."""
    loop = QEventLoop()
    failures: list = []

    def failed(error) -> None:
        failures.append(error)
        loop.quit()

    poll = QTimer()
    poll.setInterval(20)
    poll.timeout.connect(lambda: loop.quit() if done() else None)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    window.job_failed.connect(failed)
    poll.start()
    deadline.start(int(timeout_s * 1000))
    if not done():
        loop.exec()
    poll.stop()
    deadline.stop()
    window.job_failed.disconnect(failed)
    if failures:
        raise _error_of(failures[0])
    if not done():
        raise WorkstationError(f"{what} took longer than {timeout_s:.0f} s")


def _error_of(value: object) -> WorkstationError:
    if isinstance(value, JobError):
        if isinstance(value.exception, WorkstationError):
            return value.exception
        return WorkstationError(value.message, value.details)
    return WorkstationError(str(value))


def threshold_segment(window, preset: str) -> str:
    """Add a segment named after ``preset`` and threshold it with the preset's range, as a
    user does (two records through the edit queue); returns the segment's id."""
    from workstation.processing.presets import get_preset
    from workstation.services.modeling import ModelOptions, threshold_range

    volume = window.session.volume
    name = get_preset(preset).label
    lower, upper = threshold_range(volume, ModelOptions(preset=preset))
    window.edits.submit({"op": "add_segment", "name": name})
    window.edits.submit({"op": "threshold", "segment": name, "lower": lower, "upper": upper})
    _wait_until(window, lambda: not window.edits.busy(), SCREENSHOT_TIMEOUT_S, "Thresholding")
    segment = window.session.editor.segmentation.by_name(name)
    window.viewer.select_segment(segment.segment_id)
    return segment.segment_id


def build_segment_model(window, segment_id: str) -> None:
    """Build the segment's model as the Models panel does (``make_segment_model``)."""
    from workstation.gui.model_jobs import start_segment_model

    count = len(window.session.models)
    if start_segment_model(window.context, segment_id) is None:
        raise WorkstationError("The threshold selected no voxels: there is no model to build.")
    _wait_until(
        window, lambda: len(window.session.models) > count, SCREENSHOT_TIMEOUT_S, "The model"
    )


def run_screenshot(
    path: str | None,
    output: str,
    series: str | None = None,
    mesh_preset: str | None = None,
    layout: str | None = None,
    size: tuple[int, int] | None = None,
    source: str | None = None,
) -> Path:
    """Load, render (with a model for ``mesh_preset``), save a PNG of the window, close.

    A ``.wsproj`` path opens as a project (sources in the recorded folder or ``source``).
    """
    from workstation.gui.screenshot import capture_window, save_png
    from workstation.io.sources import check_input_path
    from workstation.resources_path import sample_study_dir
    from workstation.services.project import is_project_path

    target = path or str(sample_study_dir())
    check_input_path(target)
    output_path = Path(output).expanduser()
    if not output_path.resolve().parent.is_dir():
        raise WorkstationError(f"Cannot write {output_path}: its folder does not exist.")
    app = create_application()
    window = _make_window(headless=True)
    try:
        window.resize(*(size or (1600, 1000)))
        window.show()
        app.processEvents()
        window.fit_docks()
        if is_project_path(target):
            window.projects.open_project(target, source)
        else:
            window.open_path(target, series)
        _wait_until(
            window,
            lambda: window.session.volume is not None and not window.runner.busy(),
            SCREENSHOT_TIMEOUT_S,
            f"Loading {target}",
        )
        if mesh_preset:
            build_segment_model(window, threshold_segment(window, mesh_preset))
            window.tools_tabs.setCurrentWidget(window.models_panel)  # show its statistics
        if layout:
            window.set_layout(layout)
        for _ in range(5):
            app.processEvents()
        image = capture_window(window, window.views)
        return save_png(image, output_path)
    finally:
        window.close()
        window.deleteLater()
        app.processEvents()


def display_is_available() -> bool:
    """True when Qt can open windows here (an X/Wayland display, or not on Linux)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
