"""GUI test set-up: a private Xvfb, Qt on xcb, quiet VTK, and leak-checking window fixtures.

The display is started (only when DISPLAY is unset) before pytest-qt creates the
QApplication: pytest-qt's ``qapp`` depends on ``qapp_args``, which depends on it.
A test that leaves a window open or a worker thread running fails in teardown
(napari's ``make_napari_viewer`` and ``_dangling_qthread_pool`` are the model).
Every window, and every ``workstation view`` the tests start, keeps its settings in a
temporary folder (``WORKSTATION_SETTINGS_DIR``), never in the user's own settings.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.shared_data import shared_data_path
from workstation.gui.virtual_display import ensure_display, xvfb_available

#: How long a test waits for a load or another job.
TIMEOUT_MS = 60000
REPO = Path(__file__).resolve().parents[2]


def user_settings_folder() -> Path:
    """The folder of the user's own workstation settings (what the tests must not touch)."""
    from PySide6.QtCore import QSettings

    from workstation.gui.settings import APPLICATION, ORGANIZATION

    return Path(QSettings(ORGANIZATION, APPLICATION).fileName()).parent


def folder_snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file below ``folder`` with its modification time and content hash."""
    import hashlib

    if not folder.is_dir():
        return {}
    return {
        str(path.relative_to(folder)): (
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="session", autouse=True)
def private_settings(tmp_path_factory):
    """Point WORKSTATION_SETTINGS_DIR at a temporary folder for the whole test run.

    Afterwards the user's own settings must be as they were before the run.
    """
    from workstation.gui.settings import SETTINGS_DIR_VARIABLE

    user_folder = user_settings_folder()
    before = folder_snapshot(user_folder)
    folder = tmp_path_factory.mktemp("settings")
    previous = os.environ.get(SETTINGS_DIR_VARIABLE)
    os.environ[SETTINGS_DIR_VARIABLE] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(SETTINGS_DIR_VARIABLE, None)
    else:
        os.environ[SETTINGS_DIR_VARIABLE] = previous
    assert folder_snapshot(user_folder) == before, f"the tests changed {user_folder}"


@pytest.fixture(scope="session")
def virtual_display():
    """A DISPLAY for Qt: the existing one, or a private Xvfb for the whole session."""
    if not os.environ.get("DISPLAY") and not xvfb_available():
        pytest.skip("GUI tests need an X display: DISPLAY is unset and Xvfb is not installed")
    started = ensure_display(1600, 1000)
    yield os.environ["DISPLAY"]
    if started is not None:
        # Windows close now; the server itself ends with the pytest process (it gets
        # SIGTERM when its parent exits): VTK keeps X connections open until the very end.
        _close_all_windows()


def _close_all_windows() -> None:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.closeAllWindows()
        app.processEvents()


@pytest.fixture(scope="session")
def qapp_args(virtual_display):
    """pytest-qt hook: the QApplication is created only after the display exists."""
    from vtkmodules.vtkCommonCore import vtkObject

    vtkObject.GlobalWarningDisplayOff()
    return ["workstation-tests"]


@pytest.fixture(scope="session", autouse=True)
def garbage_collected_on_the_ui_thread(qapp):
    """As in the application: no Qt or VTK object is ever collected by a worker thread."""
    from workstation.gui.main_thread_gc import collect_garbage_on_main_thread

    collect_garbage_on_main_thread(qapp)


def _pointer(widget) -> int:
    import shiboken6

    return int(shiboken6.getCppPointer(widget)[0])


def _open_windows(app) -> dict[int, str]:
    return {
        _pointer(widget): f"{type(widget).__name__} {widget.windowTitle()!r}"
        for widget in app.topLevelWidgets()
        if widget.isVisible()
    }


@pytest.fixture
def no_dangling_workers(qapp):
    """Fail the test when the global thread pool still runs workers after it."""
    yield
    from PySide6.QtCore import QThreadPool

    pool = QThreadPool.globalInstance()
    if pool.activeThreadCount():
        pool.waitForDone(10000)
        pytest.fail(f"{pool.activeThreadCount() or 'some'} worker thread(s) left running")


@pytest.fixture
def make_main_window(qapp, qtbot, tmp_path, no_dangling_workers):
    """Factory for MainWindows with private settings; checks for leaks afterwards."""
    from PySide6.QtCore import QEvent, QSettings
    from PySide6.QtWidgets import QApplication

    from workstation.gui.main_window import MainWindow

    before = _open_windows(qapp)
    windows: list[MainWindow] = []

    def factory(headless: bool = False, show: bool = True) -> MainWindow:
        settings = QSettings(
            str(tmp_path / f"settings{len(windows)}.ini"), QSettings.Format.IniFormat
        )
        window = MainWindow(settings=settings, headless=headless)
        windows.append(window)
        if show:
            window.show()
            qtbot.waitExposed(window)
        return window

    yield factory

    running = []
    for window in windows:
        running += [job.title for job in window.runner.jobs if job.foreground]
        if window.edits.busy():
            running.append(f"{window.edits.pending_count()} segmentation edit(s)")
        window.shutdown()  # stops the jobs without asking (close() would ask while they run)
        window.close()
        if not window.runner.pool.waitForDone(10000) or not window.edits.pool.waitForDone(10000):
            running.append("(pool did not stop)")
        window.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    qapp.processEvents()
    leaked = {key: text for key, text in _open_windows(qapp).items() if key not in before}
    if leaked:
        qapp.closeAllWindows()
        pytest.fail(f"windows left open by the test: {sorted(leaked.values())}")
    if running:
        pytest.fail(f"jobs still running when the test ended: {running}")


@pytest.fixture
def main_window(make_main_window):
    """One MainWindow with the real views."""
    return make_main_window()


def settle(qtbot, window) -> None:
    """Wait until the window runs no job and applies no edit."""
    qtbot.waitUntil(lambda: not window.runner.jobs and not window.edits.busy(), timeout=TIMEOUT_MS)


def open_and_settle(qtbot, window, path, **kwargs):
    """Open ``path``, wait for its volume and the jobs that follow; returns the volume."""
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        window.open_path(path, **kwargs)
    settle(qtbot, window)
    return window.session.volume


def start_slow_load(window, monkeypatch):
    """Load the current scan's first stack again with a load that runs until cancelled.

    Returns (an event set once the load runs, the load's job).
    """
    from workstation.services import study

    started = threading.Event()

    def slow_load(stack, progress, cancel):
        started.set()
        # a minute at most, so a slow machine cannot finish it before Cancel is clicked
        for step in range(12000):
            progress(step / 12000, f"slice {step}")
            time.sleep(0.005)
        raise AssertionError("the load should have been cancelled")

    monkeypatch.setattr(study, "load_stack_volume", slow_load)
    return started, window.load_stack(window.session.scan.stacks[0])


def run_python(arguments: list[str], env: dict[str, str] | None = None):
    """Run ``python *arguments`` in the repository; without DISPLAY it starts its own Xvfb."""
    environment = {key: value for key, value in os.environ.items() if key != "DISPLAY"}
    environment.pop("QT_QPA_PLATFORM", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, *arguments],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=environment,
        timeout=300,
    )


def pixel_at(view, lps) -> np.ndarray:
    """RGB of the rendered slice view at the screen position of an LPS point."""
    view.refresh()
    x, y = view.lps_to_display(np.asarray(lps, float))
    ratio = view.devicePixelRatioF()
    return view.capture()[round(y * ratio), round(x * ratio)].astype(int)


@pytest.fixture
def shared_data() -> Path:
    """The real test data folder next to the repository, or skip."""
    return shared_data_path()


#: Geometry of the synthetic CT used by the GUI tests: 1 mm pixels, 2 mm slices, axial.
SYNTH_SHAPE = (30, 64, 64)
SYNTH_SLICE_STEP = 2.0
SYNTH_ORIGIN = (-32.0, -32.0, -30.0)
#: Big and small ball (LPS centre, radius mm); inside 300 HU, outside -1000 HU.
BIG_BALL = ((0.0, 0.0, 0.0), 12.0)
SMALL_BALL = ((-20.0, -20.0, -16.0), 4.0)
BALL_HU = 300


def synth_voxel_to_lps(s, r, c):
    """LPS of voxel (s, r, c) of the synthetic CT."""
    return (
        SYNTH_ORIGIN[0] + c * 1.0,
        SYNTH_ORIGIN[1] + r * 1.0,
        SYNTH_ORIGIN[2] + s * SYNTH_SLICE_STEP,
    )


@pytest.fixture(scope="session")
def synthetic_ct(tmp_path_factory) -> Path:
    """A folder with a small axial CT series holding two balls (written once)."""
    from tests.support.dicom_factory import sphere_array, write_series

    folder = tmp_path_factory.mktemp("synthetic_ct")
    array = sphere_array(
        SYNTH_SHAPE,
        synth_voxel_to_lps,
        [BIG_BALL[0], SMALL_BALL[0]],
        [BIG_BALL[1], SMALL_BALL[1]],
        inside=BALL_HU,
        outside=-1000,
    )
    write_series(
        folder / "series",
        array,
        origin=SYNTH_ORIGIN,
        slice_step=SYNTH_SLICE_STEP,
        series_description="Two balls",
        shuffle=True,
    )
    return folder
