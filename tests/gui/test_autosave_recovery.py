"""Autosave and crash recovery in the window: the recovery file appears only with unsaved
work, holds the case, is written off the UI thread from a copy, goes away with a save or a
clean quit; a run killed mid-work leaves it, and the next start offers to recover it."""

from __future__ import annotations

import os
import shutil
import threading

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from tests.gui.conftest import REPO, TIMEOUT_MS, open_and_settle, run_python
from tests.gui.project_case import edit, open_project_and_wait, save_and_wait, shown_title
from workstation.gui import autosave as autosave_module
from workstation.services import project
from workstation.services.recovery import pending_recoveries

pytestmark = pytest.mark.gui

THRESHOLD = [
    {"op": "add_segment", "name": "Bone"},
    {"op": "threshold", "segment": "Bone", "lower": 200, "upper": None},
]


def _recovery_files(folder) -> list:
    return sorted(folder.glob("recovery-*.wsproj")) if folder.is_dir() else []


def test_autosave_writes_a_copy_of_the_case_off_the_ui_thread(
    qtbot, make_main_window, synthetic_ct, tmp_path, monkeypatch
):
    window = make_main_window()
    autosave = window.autosave
    assert autosave.folder == tmp_path / "recovery"  # under the settings' folder
    assert autosave_module.AUTOSAVE_INTERVAL_S == 120
    assert autosave.timer.interval() == 120_000
    volume = open_and_settle(qtbot, window, synthetic_ct)
    writes = []
    real_write = autosave_module.write_recovery

    def recording_write(folder, contents, project_path):
        live = window.session.editor.segmentation.by_name("Bone").mask
        copied = contents.segmentation.by_name("Bone").mask
        writes.append((threading.current_thread(), np.shares_memory(live, copied)))
        return real_write(folder, contents, project_path)

    monkeypatch.setattr(autosave_module, "write_recovery", recording_write)
    autosave.set_interval(0.1)
    qtbot.wait(500)
    assert not writes and not _recovery_files(autosave.folder), "nothing unsaved: no autosave"

    with qtbot.waitSignal(autosave.written, timeout=TIMEOUT_MS) as written:
        edit(qtbot, window, *THRESHOLD)
    path = written.args[0]
    assert path.parent == autosave.folder and path.is_file()
    assert writes[0][0] is not threading.main_thread(), "written by a worker thread"
    assert writes[0][1] is False, "the masks written are a copy"
    recovered = project.read_project(path)
    assert np.array_equal(recovered.segmentation.by_name("Bone").mask, volume.array >= 200)
    assert recovered.manifest["recovery"]["project_path"] is None
    assert pending_recoveries(autosave.folder) == [], "this process is alive: not pending"
    assert window.session.modified, "an autosave is no save"

    # a save makes the recovery file useless: it goes
    case = save_and_wait(qtbot, window, tmp_path / "case.wsproj")
    assert not path.exists() and autosave.path is None
    count = len(writes)
    qtbot.wait(400)
    assert len(writes) == count, "saved: nothing to autosave"

    # new work is autosaved again, recorded as belonging to the project
    with qtbot.waitSignal(autosave.written, timeout=TIMEOUT_MS) as written:
        edit(qtbot, window, {"op": "add_segment", "name": "Later"})
    assert project.read_manifest(written.args[0])["recovery"]["project_path"] == str(case)

    # a clean quit (answering Discard) removes it
    QTimer.singleShot(
        100,
        lambda: window.projects.unsaved_question.button(QMessageBox.StandardButton.Discard).click(),
    )
    assert window.close()
    assert _recovery_files(autosave.folder) == []


CRASH = r"""
import os, signal, sys
from workstation.gui.virtual_display import ensure_display

ensure_display(1600, 1000)
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from workstation.gui.app import create_application
from workstation.gui.main_window import MainWindow


def run_until(until, milliseconds=60000):
    loop = QEventLoop()
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if until() else None)
    poll.start(20)
    deadline = QTimer()
    deadline.setSingleShot(True)
    deadline.timeout.connect(loop.quit)
    deadline.start(milliseconds)
    loop.exec()
    poll.stop()
    assert until(), "timed out"


app = create_application()
settings_file, study, case = sys.argv[1:4]
window = MainWindow(QSettings(settings_file, QSettings.Format.IniFormat), headless=True)
window.show()
window.open_path(study)
run_until(lambda: window.session.volume is not None and not window.runner.jobs)
window.edits.submit({"op": "add_segment", "name": "Bone"})
window.edits.submit({"op": "threshold", "segment": "Bone", "lower": 200, "upper": None})
run_until(lambda: not window.edits.busy())
saved = []
window.projects.saved.connect(saved.append)
window.projects.save_to(case)
run_until(lambda: saved and not window.runner.jobs)
written = []
window.autosave.written.connect(written.append)
window.autosave.set_interval(0.1)
window.edits.submit({"op": "add_segment", "name": "Unsaved"})
window.edits.submit({"op": "paint", "segment": "Unsaved", "points_lps": [[0, 0, 0]],
                     "radius_mm": 5.3})
run_until(lambda: written and not window.edits.busy())
print(written[-1], flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # a crash: no clean quit
"""


@pytest.fixture
def crashed_run(synthetic_ct, tmp_path):
    """A workstation killed after an autosave: (settings folder, project file, recovery)."""
    settings = tmp_path / "crashed.ini"
    case = tmp_path / "case.wsproj"
    result = run_python(
        ["-c", CRASH, str(settings), str(synthetic_ct), str(case)],
        {"PYTHONPATH": str(REPO)},
    )
    assert result.returncode == -9, result.stderr[-3000:]
    recovery = tmp_path / "recovery" / os.path.basename(result.stdout.strip().splitlines()[-1])
    assert recovery.is_file(), result.stdout
    return tmp_path, case, recovery


def _answer_recovery(window, *answers: str) -> list:
    """Click the answers, in turn, in the recovery questions that show; returns their texts."""
    queue, asked = list(answers), []

    def click() -> None:
        box = window.autosave.recovery_question
        if box is None or box in [item[0] for item in asked]:
            QTimer.singleShot(20, click)
            return
        asked.append((box, box.text(), box.informativeText()))
        answer = queue.pop(0)
        next(b for b in box.buttons() if b.text() == answer).click()
        if queue:
            QTimer.singleShot(20, click)

    QTimer.singleShot(50, click)
    return asked


def test_the_next_start_offers_to_recover_a_crashed_case(
    qtbot, make_main_window, crashed_run, synthetic_ct
):
    folder, case, recovery = crashed_run
    headless = make_main_window(headless=True)  # automated runs never ask
    headless.autosave.ask = lambda item: pytest.fail("a headless window must not ask")
    assert headless.autosave.offer_recovery() is False and recovery.is_file()
    window = make_main_window()
    pending = window.autosave.pending()
    assert [item.path for item in pending] == [recovery]
    assert pending[0].project_path == str(case)
    assert "2 segments" in pending[0].summary

    # Later: nothing opens, the file stays for the next start
    asked = _answer_recovery(window, "Later")
    assert window.autosave.offer_recovery() is False
    assert recovery.is_file() and window.session.volume is None
    _box, text, details = asked[0]
    assert text == autosave_module.RECOVERY_QUESTION
    assert str(case) in details and "2 segments" in details

    # two left (a copy of it too): Discard the first offered, Later the second
    copy = folder / "recovery" / "recovery-elsewhere-1.wsproj"
    shutil.copy(recovery, copy)
    assert len(window.autosave.pending()) == 2
    asked = _answer_recovery(window, "Discard", "Later")
    assert window.autosave.offer_recovery() is False
    assert len(asked) == 2
    (left,) = [path for path in (recovery, copy) if path.exists()]

    # Recover: the case as autosaved, belonging to its project, with unsaved changes
    with qtbot.waitSignal(window.projects.opened, timeout=TIMEOUT_MS):
        _answer_recovery(window, "Recover")
        assert window.autosave.offer_recovery() is True
    qtbot.waitUntil(lambda: not window.runner.jobs, timeout=TIMEOUT_MS)
    segmentation = window.session.editor.segmentation
    assert segmentation.names == ["Bone", "Unsaved"]
    volume = window.session.volume
    assert np.array_equal(segmentation.by_name("Bone").mask, volume.array >= 200)
    from tests.gui.project_case import voxel_centres

    ball = np.linalg.norm(voxel_centres(volume), axis=-1) <= 5.3
    assert np.array_equal(segmentation.by_name("Unsaved").mask, ball)
    assert window.session.project_path == str(case)
    assert window.session.modified and shown_title(window).startswith("case.wsproj* — ")
    assert not left.exists(), "recovered: the old file goes (this run autosaves anew)"
    assert project.read_project(case).segmentation.names == ["Bone"]

    # Save writes the recovered work into its project
    with qtbot.waitSignal(window.projects.saved, timeout=TIMEOUT_MS):
        assert window.projects.save()
    qtbot.waitUntil(lambda: not window.runner.jobs, timeout=TIMEOUT_MS)
    assert project.read_project(case).segmentation.names == ["Bone", "Unsaved"]
    assert not window.session.modified


def test_a_clean_run_leaves_nothing_to_recover(qtbot, make_main_window, synthetic_ct, tmp_path):
    window = make_main_window()
    open_and_settle(qtbot, window, synthetic_ct)
    edit(qtbot, window, *THRESHOLD)
    case = save_and_wait(qtbot, window, tmp_path / "plain.wsproj")
    window.close()
    again = make_main_window()
    assert again.autosave.pending() == [], "a clean run leaves nothing to recover"
    open_project_and_wait(qtbot, again, case)
    assert not again.session.modified and again.autosave.path is None
