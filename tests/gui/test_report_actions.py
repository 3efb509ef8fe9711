"""File → Case report… in the real window: the file is the report ``write_report`` makes of
the same case, its text names the model, errors go to the error box, never a traceback."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pydicom
import pytest
from PySide6.QtWidgets import QFileDialog

from tests.gui.conftest import TIMEOUT_MS, open_and_settle, settle
from tests.services.case_cases import LEFT, cube_centre, phantom
from tests.support.dicom_factory import write_series
from workstation.core.errors import Cancelled
from workstation.gui import report_actions
from workstation.services.case_report import write_report
from workstation.services.report_session import content_from_session, session_dose

pytestmark = pytest.mark.gui

CREATED = "2026-03-04T05:06:07Z"
CTDIVOL = 9.75


@pytest.fixture(scope="module")
def cubes(tmp_path_factory) -> Path:
    """The bone cubes, each image stating its CTDIvol."""
    folder = tmp_path_factory.mktemp("cubes") / "dicom"
    for path in write_series(folder, phantom(), series_description="Bone cubes"):
        dataset = pydicom.dcmread(path)
        dataset.CTDIvol = CTDIVOL
        dataset.save_as(path)
    return folder


def _case(make_main_window, qtbot, cubes, headless=True):
    """The cubes open, the Left cube segmented (threshold + island) and its model built."""
    window = make_main_window(headless=headless)
    open_and_settle(qtbot, window, cubes)
    window.edits.submit({"op": "add_segment", "name": "Left"})
    window.edits.submit({"op": "threshold", "segment": "Left", "lower": 226.0})
    window.edits.submit(
        {"op": "islands", "segment": "Left", "mode": "keep_seed", "seed_lps": cube_centre(LEFT)}
    )
    settle(qtbot, window)
    segment = window.session.editor.segmentation.by_name("Left")
    window.viewer.select_segment(segment.segment_id)
    window.models_panel.smooth_spin.setValue(4)
    window.models_panel.create_model()
    qtbot.waitUntil(lambda: len(window.session.models) == 1, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    entry = next(iter(window.session.models.values()))
    window.session.update_model(entry.model_id, name="Left femur")
    return window


def _choose(monkeypatch, path: Path, selected: str = "") -> None:
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(path), selected))
    )
    monkeypatch.setattr(report_actions, "now_utc", lambda: CREATED)


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_the_entry_needs_a_series(make_main_window, qtbot, cubes):
    window = make_main_window(headless=True)
    action = window.report_actions.action
    assert action in window.menuBar().actions()[0].menu().actions()
    assert not action.isEnabled()
    open_and_settle(qtbot, window, cubes)
    assert action.isEnabled()


@pytest.mark.slow
def test_the_report_is_the_one_write_report_makes_of_the_case(
    make_main_window, qtbot, monkeypatch, cubes, tmp_path
):
    window = _case(make_main_window, qtbot, cubes)
    target = tmp_path / "case-report.pdf"
    _choose(monkeypatch, target)
    window.report_actions.action.trigger()
    qtbot.waitUntil(lambda: window.report_actions.last_report == target, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    assert not window.errors, [e.message for e in window.errors]
    assert str(target) in window.statusBar().currentMessage()

    dose = session_dose(window.session)
    assert dose["series"][0]["ctdivol_mgy"] == pytest.approx(CTDIVOL)
    expected = write_report(
        content_from_session(window.session, created=CREATED, dose=dose), tmp_path / "same.pdf"
    )
    assert target.read_bytes() == expected.read_bytes()
    text = _pdf_text(target)
    assert "Left femur" in text
    assert "9.75" in text  # the CTDIvol the images state


def test_an_html_report_by_the_chosen_filter(make_main_window, qtbot, monkeypatch, cubes, tmp_path):
    window = _case(make_main_window, qtbot, cubes, headless=False)
    _choose(monkeypatch, tmp_path / "case", "HTML report (*.html)")
    window.report_actions.action.trigger()
    target = tmp_path / "case.html"
    qtbot.waitUntil(lambda: window.report_actions.done_box is not None, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    box = window.report_actions.done_box
    assert str(target) in box.text()
    assert [b.text() for b in box.buttons()].count("Open") == 1
    box.reject()  # Close: the offer is not taken
    qtbot.waitUntil(lambda: window.report_actions.done_box is None, timeout=TIMEOUT_MS)
    html = target.read_text(encoding="utf-8")
    assert "Left femur" in html
    assert not (tmp_path / "case.pdf").exists()


def test_a_bad_name_is_an_error_message_and_writes_nothing(
    make_main_window, qtbot, cubes, tmp_path
):
    window = _case(make_main_window, qtbot, cubes)
    folder = tmp_path / "reports"
    folder.mkdir()
    assert window.report_actions.make_report(folder / "case.txt") is None
    assert ".pdf or .html" in window.errors[-1].message
    assert window.errors[-1].expected  # a message, not a traceback
    assert not list(folder.iterdir())


def test_cancel_leaves_no_file(make_main_window, qtbot, monkeypatch, cubes, tmp_path):
    from workstation.services import case_report

    started = threading.Event()

    def slow_write(content, path, progress, cancel):
        started.set()
        for step in range(12000):  # a minute at most
            progress(step / 12000, "drawing")
            time.sleep(0.005)
        raise AssertionError("the report should have been cancelled")

    monkeypatch.setattr(case_report, "write_report", slow_write)
    window = _case(make_main_window, qtbot, cubes)
    target = tmp_path / "report.pdf"
    window.report_actions.make_report(target, created=CREATED)
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT_MS)
    window.progress_panel.cancel()
    qtbot.waitUntil(lambda: bool(window.errors), timeout=TIMEOUT_MS)
    settle(qtbot, window)
    assert isinstance(window.errors[-1].exception, Cancelled)
    assert not target.exists() and window.report_actions.last_report is None
