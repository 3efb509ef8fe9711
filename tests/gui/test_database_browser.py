"""The Database view of the Studies panel: list, search, open, delete and import studies."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from tests.gui.conftest import TIMEOUT_MS, settle
from tests.support.dicom_factory import write_series
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import DatabaseError
from workstation.gui.database_browser import SERIES_COLUMNS, STUDY_COLUMNS, row_key
from workstation.services.dicom_database import DicomDatabase

pytestmark = pytest.mark.gui

STUDY_A, STUDY_B = "1.2.826.0.1.3680043.8.498.701", "1.2.826.0.1.3680043.8.498.702"
THIN_A, THICK_A, SERIES_B = (
    "1.2.826.0.1.3680043.8.498.701.1",
    "1.2.826.0.1.3680043.8.498.701.2",
    "1.2.826.0.1.3680043.8.498.702.1",
)


def write_studies(folder):
    """Study A (patient ALPHA01): a thin CT of 12 and a thick CT of 6 images; study B
    (patient BETA02): an MR of 5 images."""
    ramp = np.arange(12 * 16 * 20, dtype=np.int16).reshape(12, 16, 20)
    write_series(
        folder / "a_thin", ramp, slice_step=1.0, study_uid=STUDY_A, series_uid=THIN_A,
        patient_id="ALPHA01", series_description="Thin", series_number=1,
    )  # fmt: skip
    write_series(
        folder / "a_thick", ramp[:6], slice_step=5.0, study_uid=STUDY_A, series_uid=THICK_A,
        patient_id="ALPHA01", series_description="Thick", series_number=2,
    )  # fmt: skip
    write_series(
        folder / "b", ramp[:5], slice_step=2.0, modality="MR", study_uid=STUDY_B,
        series_uid=SERIES_B, patient_id="BETA02", series_description="Brain",
    )  # fmt: skip
    return folder


@pytest.fixture
def database(tmp_path):
    """The test's own database (the WORKSTATION_DATABASE folder) with studies A and B."""
    with DicomDatabase.open() as opened:
        report = opened.import_path(write_studies(tmp_path / "incoming"))
        assert report.added == 23
    return opened.location


def _browser(window):
    browser = window.connectivity.show_database()
    assert window.connectivity.tabs.currentWidget() is window.connectivity.database_tab
    return browser


def _table(table):
    return [
        [table.item(row, column).text() for column in range(table.columnCount())]
        for row in range(table.rowCount())
    ]


def _row_of(table, key):
    return next(row for row in range(table.rowCount()) if row_key(table, row) == key)


def test_the_browser_lists_the_studies_and_their_series(qtbot, make_main_window, database):
    window = make_main_window(headless=True)
    browser = _browser(window)
    assert browser.location == database
    rows = {row[1]: dict(zip(STUDY_COLUMNS, row, strict=True)) for row in _table(browser.studies)}
    assert set(rows) == {"ALPHA01", "BETA02"}
    alpha = rows["ALPHA01"]
    assert (alpha["Modalities"], alpha["Series"], alpha["Instances"]) == ("CT", "2", "18")
    assert alpha["Date"] and alpha["Description"] == "Synthetic study"
    assert (rows["BETA02"]["Modalities"], rows["BETA02"]["Instances"]) == ("MR", "5")
    assert browser.status.text() == "2 studies in the database"

    browser.studies.selectRow(_row_of(browser.studies, STUDY_A))
    series = {row[0]: dict(zip(SERIES_COLUMNS, row, strict=True)) for row in _table(browser.series)}
    assert {number: s["Instances"] for number, s in series.items()} == {"1": "12", "2": "6"}
    assert series["2"]["Description"] == "Thick"
    assert browser.open_button.isEnabled() and browser.delete_button.isEnabled()


def test_search_fields_filter_the_studies(qtbot, make_main_window, database):
    window = make_main_window(headless=True)
    browser = _browser(window)
    fields = browser.fields

    def listed():
        return sorted(row_key(browser.studies, row) for row in range(browser.studies.rowCount()))

    fields.patient_id.setText("BETA02")
    qtbot.keyClick(fields.patient_id, Qt.Key.Key_Return)
    assert listed() == [STUDY_B]
    fields.patient_id.clear()
    fields.modality.setText("ct")
    browser.search_button.click()
    assert listed() == [STUDY_A]
    fields.modality.clear()
    fields.date_from.setText("2026-01-02")  # the studies are of 2026-01-01
    assert browser.refresh() and listed() == []
    fields.date_to.setText("2026-01-03")
    fields.date_from.setText("2025-12-31")
    assert browser.refresh() and listed() == [STUDY_A, STUDY_B]
    fields.date_from.setText("2026-13")
    assert browser.refresh() is False
    assert "not a date" in browser.status.text()
    assert listed() == [STUDY_A, STUDY_B]  # a refused search keeps the last answer
    browser.clear_button.click()
    assert listed() == [STUDY_A, STUDY_B] and fields.date_from.text() == ""


def test_double_click_opens_the_study_and_a_series(qtbot, make_main_window, database):
    window = make_main_window(headless=True)
    browser = _browser(window)
    row = _row_of(browser.studies, STUDY_A)
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        browser.studies.cellDoubleClicked.emit(row, 0)
    settle(qtbot, window)
    volume = window.session.volume
    # the study's best stack for a bone model is the thin one
    assert window.session.stack.identity.series_uid == THIN_A
    assert volume.shape == (12, 16, 20)
    assert {s.identity.series_uid for s in window.session.scan.stacks} == {THIN_A, THICK_A}
    assert window.browser.stack_item(window.session.stack.stack_id) is not None
    assert window.connectivity.tabs.currentIndex() == 0  # the scan's series are shown

    browser = _browser(window)
    browser.studies.selectRow(_row_of(browser.studies, STUDY_A))
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        browser.series.cellDoubleClicked.emit(_row_of(browser.series, THICK_A), 0)
    settle(qtbot, window)
    assert window.session.stack.identity.series_uid == THICK_A
    assert window.session.volume.shape == (6, 16, 20)
    np.testing.assert_array_equal(window.session.volume.affine[:3, 0], [0.0, 0.0, 5.0])


def test_opening_asks_about_unsaved_work(qtbot, make_main_window, database, monkeypatch):
    window = make_main_window()
    browser = _browser(window)
    window.session.modified = True
    asked = []
    monkeypatch.setattr(
        window.projects,
        "ask_unsaved",
        lambda action: asked.append(action) or QMessageBox.StandardButton.Cancel,
    )
    browser.studies.selectRow(_row_of(browser.studies, STUDY_B))
    browser.open_button.click()
    assert asked == ["Opening another study"]
    assert not window.runner.jobs and window.session.volume is None


def test_delete_removes_the_study_and_its_files(qtbot, make_main_window, database, monkeypatch):
    window = make_main_window(headless=True)
    browser = _browser(window)
    with DicomDatabase.open() as opened:
        files_a = opened.study_files(STUDY_A)
        files_b = opened.study_files(STUDY_B)
    assert len(files_a) == 18 and all(path.is_file() for path in files_a)

    answers = [False]
    monkeypatch.setattr(browser, "confirm_delete", lambda match: answers.pop(0))
    browser.studies.selectRow(_row_of(browser.studies, STUDY_A))
    assert browser.delete_selected() is None  # the question was answered No
    assert all(path.is_file() for path in files_a)

    answers.append(True)
    browser.studies.selectRow(_row_of(browser.studies, STUDY_A))
    browser.delete_button.click()
    settle(qtbot, window)
    assert [row_key(browser.studies, r) for r in range(browser.studies.rowCount())] == [STUDY_B]
    assert browser.series.rowCount() == 0
    assert browser.status.text().startswith(
        f"Deleted study {STUDY_A}: 18 images in 2 series, 18 stored files removed ("
    ), browser.status.text()
    assert not any(path.exists() for path in files_a)  # the blobs only A used are gone
    assert all(path.is_file() for path in files_b)
    with DicomDatabase.open() as opened:
        with pytest.raises(DatabaseError, match="has no study"):
            opened.study_files(STUDY_A)
        assert [m.study_uid for m in opened.search(StudyQuery())] == [STUDY_B]


def test_import_through_the_window_refreshes_the_table(qtbot, make_main_window, tmp_path):
    window = make_main_window(headless=True)
    browser = _browser(window)
    assert browser.studies.rowCount() == 0
    folder = write_studies(tmp_path / "to_import")
    job = browser.import_path(folder / "b")
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    assert [row_key(browser.studies, r) for r in range(browser.studies.rowCount())] == [STUDY_B]
    assert browser.status.text().startswith("Imported into the database: 5 added")
    job = browser.import_path(folder)  # B again: its five files are duplicates
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    assert browser.studies.rowCount() == 2
    assert "18 added, 5 already there" in browser.status.text()
    assert window.connectivity.import_action.text() == "&Import into database…"


def test_a_cancelled_import_changes_nothing_shown(qtbot, make_main_window, tmp_path, monkeypatch):
    window = make_main_window(headless=True)
    browser = _browser(window)
    import threading
    import time

    from workstation.services import dicom_database

    started = threading.Event()

    def slow_import(self, path, copy=True, progress=None, cancel=None):
        started.set()
        for step in range(6000):
            progress(step / 6000, "file")
            time.sleep(0.005)
        raise AssertionError("the import should have been cancelled")

    monkeypatch.setattr(dicom_database.DicomDatabase, "import_path", slow_import)
    job = browser.import_path(tmp_path)
    assert started.wait(10)
    window.progress_panel.cancel_button.click()
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    assert browser.status.text().endswith("cancelled")
    assert window.errors and window.errors[-1].cancelled
    assert browser.studies.rowCount() == 0


def test_an_encrypted_database_asks_its_passphrase_once_and_lists_its_studies(
    qtbot, make_main_window, tmp_path, monkeypatch
):
    from workstation.gui import database_browser
    from workstation.io.encryption import KeySource

    monkeypatch.setattr(database_browser, "_DATABASE_KEYS", {})
    location = tmp_path / "secure-db"
    key = KeySource.passphrase("correct horse battery", scrypt_n=2**10)
    with DicomDatabase.create(location, key=key) as created:
        assert created.import_path(write_studies(tmp_path / "incoming")).added == 23
    monkeypatch.setenv("WORKSTATION_DATABASE", str(location))
    window = make_main_window(headless=True)
    asked: list[tuple[str, str]] = []
    answers = iter([None, "wrong passphrase", "correct horse battery"])

    def answer(name, message):
        asked.append((name, message))
        return next(answers)

    browser = window.connectivity.browser
    browser.ask_passphrase = answer
    assert not browser.refresh()  # cancelled: nothing listed, the view says why
    assert browser.studies.rowCount() == 0 and "encrypted" in browser.status.text()
    assert browser.refresh()  # a wrong passphrase is said, then asked again
    assert [name for name, _ in asked] == ["secure-db"] * 3
    assert asked[1][1] == "" and "Wrong passphrase" in asked[2][1]
    assert {row_key(browser.studies, row) for row in range(2)} == {STUDY_A, STUDY_B}
    assert browser.refresh() and len(asked) == 3  # asked once per session

    browser.open_study_at(_row_of(browser.studies, STUDY_B))  # the job uses the given key
    settle(qtbot, window)
    assert window.session.volume is not None and window.session.volume.shape == (5, 16, 20)
