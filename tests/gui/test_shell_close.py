"""Closing the window while jobs run: the question, the order of the tear-down, and many
open-load-close rounds in a row without a crash."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from tests.gui.conftest import REPO, open_and_settle, start_slow_load
from workstation.gui.main_window import QUIT_QUESTION

pytestmark = pytest.mark.gui


def test_closing_during_a_load_asks_first(qtbot, make_main_window, synthetic_ct, monkeypatch):
    window = make_main_window()  # interactive: it asks
    volume = open_and_settle(qtbot, window, synthetic_ct)
    started, _job = start_slow_load(window, monkeypatch)
    qtbot.waitUntil(started.is_set, timeout=10000)
    asked = []

    def answer_cancel() -> None:
        box = window.quit_question
        asked.append((box.text(), [button.text() for button in box.buttons()]))
        box.button(QMessageBox.StandardButton.Cancel).click()

    QTimer.singleShot(200, answer_cancel)
    assert not window.close(), "Cancel must keep the window open"
    text, buttons = asked[0]
    assert text == QUIT_QUESTION == "A job is running — quit anyway?"
    assert "Quit" in buttons and "Cancel" in buttons
    assert window.isVisible() and window.runner.busy()
    assert window.session.volume is volume

    monkeypatch.setattr(window, "confirm_quit", lambda: True)
    assert window.close()
    assert not window.runner.jobs or all(job.token.cancelled for job in window.runner.jobs)
    assert window.runner.pool.activeThreadCount() == 0
    assert window.session.volume is volume  # the cancelled load changed nothing


def test_closing_without_jobs_does_not_ask(qtbot, make_main_window, synthetic_ct, monkeypatch):
    window = make_main_window()
    open_and_settle(qtbot, window, synthetic_ct)

    def never() -> bool:
        raise AssertionError("nothing runs: no question")

    monkeypatch.setattr(window, "confirm_quit", never)
    assert window.close()


def test_headless_close_cancels_and_tears_down_in_order(
    qtbot, make_main_window, synthetic_ct, monkeypatch
):
    window = make_main_window(headless=True)
    open_and_settle(qtbot, window, synthetic_ct)
    order = []
    for name, owner in (("edits", window.edits), ("jobs", window.runner), ("views", window.views)):
        real = owner.shutdown

        def record(*args, name=name, real=real, **kwargs):
            order.append(name)
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, "shutdown", record)
    started, _job = start_slow_load(window, monkeypatch)
    window.edits.submit({"op": "add_segment", "name": "Bone"})
    qtbot.waitUntil(started.is_set, timeout=10000)
    assert window.close()  # headless: no question
    assert order == ["edits", "jobs", "views"]
    assert window.progress_panel.label.text() == "Stopping…"
    assert window.runner.pool.activeThreadCount() == 0
    assert window.edits.pool.activeThreadCount() == 0
    window.close()  # a second close does nothing more
    assert order == ["edits", "jobs", "views"]


STRESS = r"""
import os, sys
from workstation.gui.virtual_display import ensure_display

ensure_display(1600, 1000)
os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
from PySide6.QtCore import QEventLoop, QTimer
from workstation.gui.app import create_application, shutdown_application
from workstation.gui.main_window import MainWindow


def run_for(app, milliseconds, until=None):
    deadline = QTimer()
    deadline.setSingleShot(True)
    loop = QEventLoop()
    deadline.timeout.connect(loop.quit)
    poll = QTimer()
    poll.timeout.connect(lambda: loop.quit() if until is not None and until() else None)
    poll.start(10)
    deadline.start(milliseconds)
    loop.exec()
    poll.stop()


app = create_application()
sample, synthetic, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
for number in range(rounds):
    window = MainWindow(headless=True)
    window.resize(1200, 800)
    window.show()
    kind = number % 3
    if kind == 0:  # close while the sample study is still being scanned or loaded
        window.open_path(sample)
        run_for(app, 40 * (number % 5))
    elif kind == 1:  # close in the middle of the sample study's load
        window.open_path(sample)
        run_for(app, 400 + 60 * (number % 4))
    else:  # close while the model of a segment is built
        window.open_path(synthetic)
        run_for(app, 20000, lambda: window.session.volume is not None)
        window.edits.submit({"op": "add_segment", "name": "Bone"})
        window.edits.submit({"op": "threshold", "segment": "Bone", "lower": 200})
        run_for(app, 20000, lambda: not window.edits.busy())
        from workstation.gui.model_jobs import start_segment_model

        segment = window.session.editor.segmentation.by_name("Bone")
        assert start_segment_model(window.context, segment.segment_id) is not None
        run_for(app, 5 * (number % 7))
    busy = window.jobs_running()
    window.close()
    window.deleteLater()
    app.processEvents()
    print(f"round {number}: closed {'with' if busy else 'without'} a job running", flush=True)
shutdown_application()
print("done", flush=True)
"""


@pytest.mark.slow
def test_open_start_work_and_close_many_times(synthetic_ct, tmp_path):
    from workstation.resources_path import sample_study_dir

    sample = sample_study_dir()
    if not sample.is_dir():
        pytest.skip(f"bundled sample study missing at {sample}")
    rounds = 15
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    command = [sys.executable, "-X", "faulthandler", "-c", STRESS]
    result = subprocess.run(
        [*command, str(sample), str(synthetic_ct), str(rounds)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
    )
    assert "Fatal Python error" not in result.stderr, result.stderr[-4000:]
    assert result.returncode == 0, result.stderr[-4000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("round")]
    assert len(lines) == rounds and result.stdout.strip().endswith("done")
    assert sum("with a job running" in line for line in lines) >= rounds // 2, result.stdout
