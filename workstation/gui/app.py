"""Start the workstation: the interactive window, or a one-shot screenshot run."""

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
from workstation.gui.error_dialog import job_error_from_exception
from workstation.gui.workers import JobError

APP_NAME = "Surgical Planning Workstation"
#: Seconds a screenshot run may take for loading and for building a model.
SCREENSHOT_TIMEOUT_S = 300.0


def create_application() -> QApplication:
    """The QApplication (created once)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "workstation"])
        app.setApplicationName(APP_NAME)
        app.setOrganizationName("SurgicalPlanningWorkstation")
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
) -> int:
    """Open the window on ``path`` (or the sample study) and run until it closes."""
    from workstation.resources_path import sample_study_dir

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
    QTimer.singleShot(0, lambda: window.open_path(target, series))
    # Ctrl+C in the terminal closes the window like File → Quit
    signal.signal(signal.SIGINT, lambda *_: window.close())
    heartbeat = QTimer()
    heartbeat.timeout.connect(lambda: None)  # lets Python run its signal handlers
    heartbeat.start(250)
    app.exec()
    return 0


def _wait(window, signals: list, timeout_s: float) -> tuple[str, object]:
    """Run the event loop until one of ``signals`` fires; ('timeout', None) otherwise."""
    loop = QEventLoop()
    outcome: list[tuple[str, object]] = []
    handlers = []
    for name, qt_signal in signals:

        def handler(value: object = None, name: str = name) -> None:
            outcome.append((name, value))
            loop.quit()

        qt_signal.connect(handler)
        handlers.append((qt_signal, handler))
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(int(timeout_s * 1000))
    loop.exec()
    timer.stop()
    for qt_signal, handler in handlers:
        qt_signal.disconnect(handler)
    return outcome[0] if outcome else ("timeout", None)


def _error_of(value: object) -> WorkstationError:
    if isinstance(value, JobError):
        if isinstance(value.exception, WorkstationError):
            return value.exception
        return WorkstationError(value.message, value.details)
    return WorkstationError(str(value))


def segment_and_build(volume, preset: str, progress, cancel):
    """The threshold label map of a preset (for the overlay) and its model.

    The model is made exactly as ``workstation mesh`` makes it with that preset and the
    modeling defaults (table and small islands removed), so the screenshot shows it.
    """
    from workstation.core.progress import sub_progress
    from workstation.services.modeling import ModelOptions, make_model_from_volume, segment

    options = ModelOptions(preset=preset)
    label = segment(volume, options, progress=sub_progress(progress, 0.0, 0.2), cancel=cancel)
    result = make_model_from_volume(
        volume, options, progress=sub_progress(progress, 0.2, 1.0), cancel=cancel
    )
    return label, result


def run_screenshot(
    path: str | None,
    output: str,
    series: str | None = None,
    mesh_preset: str | None = None,
    layout: str | None = None,
    size: tuple[int, int] | None = None,
) -> Path:
    """Load, render (with a model for ``mesh_preset``), save a PNG of the window, close."""
    from workstation.gui.screenshot import capture_window, save_png
    from workstation.io.sources import check_input_path
    from workstation.resources_path import sample_study_dir

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
        window.open_path(target, series)
        kind, value = _wait(
            window,
            [("loaded", window.volume_loaded), ("failed", window.job_failed)],
            SCREENSHOT_TIMEOUT_S,
        )
        if kind == "timeout":
            raise WorkstationError(
                f"Loading {target} took longer than {SCREENSHOT_TIMEOUT_S:.0f} s"
            )
        if kind == "failed":
            raise _error_of(value)
        if mesh_preset:
            volume = window.session.volume
            done: list = []
            window.runner.submit(
                f"Model {mesh_preset}",
                segment_and_build,
                volume,
                mesh_preset,
                on_result=done.append,
                on_error=window.report_error,
            )
            kind, value = _wait_for_result(window, done)
            if kind == "failed":
                raise _error_of(value)
            label, result = done[0]
            window.session.set_label(label, f"Threshold {mesh_preset}")
            from workstation.processing.presets import get_preset

            name = get_preset(mesh_preset).label
            window.session.add_model(result.mesh, result.statistics.as_dict(), name=name)
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


def _wait_for_result(window, done: list) -> tuple[str, object]:
    loop = QEventLoop()
    failure: list = []
    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(lambda: loop.quit() if done or failure else None)

    def failed(error) -> None:
        failure.append(error)
        loop.quit()

    window.job_failed.connect(failed)
    timer.start()
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    deadline.start(int(SCREENSHOT_TIMEOUT_S * 1000))
    loop.exec()
    timer.stop()
    deadline.stop()
    window.job_failed.disconnect(failed)
    if failure:
        return "failed", failure[0]
    if not done:
        return "failed", WorkstationError("Building the model took too long.")
    return "done", done[0]


def display_is_available() -> bool:
    """True when Qt can open windows here (an X/Wayland display, or not on Linux)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
