"""File → Query/Retrieve against a real Orthanc: search, retrieve into the database, cancel."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QItemSelectionModel

from tests.gui.conftest import TIMEOUT_MS, settle
from tests.gui.test_database_browser import (
    SERIES_B,
    STUDY_A,
    STUDY_B,
    THICK_A,
    THIN_A,
    write_studies,
)
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import PacsError
from workstation.gui.database_browser import row_key
from workstation.services.dicom_database import DicomDatabase
from workstation.services.pacs_servers import ServerConfig, save_servers

pytestmark = pytest.mark.gui


@pytest.fixture
def pacs(empty_orthanc, tmp_path):
    """Orthanc holding studies A and B, listed in the servers file over DIMSE and DICOMweb."""
    empty_orthanc.upload_folder(write_studies(tmp_path / "pacs"))
    save_servers(
        [
            ServerConfig(
                name="orthanc",
                ae_title=empty_orthanc.aet,
                host="127.0.0.1",
                port=empty_orthanc.dicom_port,
                timeout_s=10.0,
            ),
            ServerConfig(name="orthanc-web", protocol="dicomweb", url=empty_orthanc.dicomweb_url),
        ]
    )
    return empty_orthanc


def _dialog(qtbot, window, server="orthanc"):
    dialog = window.connectivity.query_retrieve()
    qtbot.waitExposed(dialog)
    dialog.server_combo.setCurrentText(server)
    assert dialog.server().name == server
    return dialog


def _run(qtbot, window, dialog, start):
    job = start()
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    return dialog.status.text()


def _select(dialog, predicate):
    table = dialog.results
    table.clearSelection()
    flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
    for row in range(table.rowCount()):
        if predicate(dialog.matches[row_key(table, row)]):
            table.selectionModel().select(table.model().index(row, 0), flags)


def _database_studies():
    with DicomDatabase.open() as database:
        return {m.study_uid: m.n_instances for m in database.search(StudyQuery())}


def test_search_and_retrieve_a_study_over_dimse(qtbot, make_main_window, pacs):
    window = make_main_window(headless=True)
    dialog = _dialog(qtbot, window)
    assert [dialog.server_combo.itemText(i) for i in range(2)] == ["orthanc", "orthanc-web"]
    assert not dialog.retrieve_button.isEnabled()  # nothing found yet

    dialog.fields.patient_id.setText("ALPHA01")
    text = _run(qtbot, window, dialog, dialog.search)
    assert text == "1 match on orthanc"
    assert dialog.results.rowCount() == 1
    assert dialog.results.item(0, 1).text() == "ALPHA01"
    assert dialog.matches[0].study_uid == STUDY_A

    dialog.results.selectRow(0)
    assert dialog.selected_targets() == [(STUDY_A, None)]
    text = _run(qtbot, window, dialog, dialog.retrieve_selected)
    assert text == "Retrieved 18 instances (1 item) into the database", text
    assert _database_studies() == {STUDY_A: 18}
    # the Database view shows the retrieved study
    browser = window.connectivity.browser
    assert window.connectivity.tabs.currentWidget() is window.connectivity.database_tab
    assert [row_key(browser.studies, r) for r in range(browser.studies.rowCount())] == [STUDY_A]
    assert browser.studies.item(0, 6).text() == "18"
    dialog.close()


def test_series_search_and_retrieve_over_dicomweb(qtbot, make_main_window, pacs):
    window = make_main_window(headless=True)
    dialog = _dialog(qtbot, window, "orthanc-web")
    dialog.level_combo.setCurrentIndex(dialog.level_combo.findData("series"))
    text = _run(qtbot, window, dialog, dialog.search)
    assert text == "3 matches on orthanc-web"
    assert {m.series_uid for m in dialog.matches} == {SERIES_B, THICK_A, THIN_A}
    _select(dialog, lambda m: m.series_uid in (THICK_A, SERIES_B))
    assert sorted(dialog.selected_targets()) == sorted([(STUDY_A, THICK_A), (STUDY_B, SERIES_B)])
    text = _run(qtbot, window, dialog, dialog.retrieve_selected)
    assert text == "Retrieved 11 instances (2 items) into the database", text
    assert _database_studies() == {STUDY_A: 6, STUDY_B: 5}
    browser = window.connectivity.browser
    assert browser.studies.rowCount() == 2
    dialog.close()


def test_echo_and_a_server_that_is_not_there(qtbot, make_main_window, pacs):
    from tests.support.orthanc import free_port

    window = make_main_window(headless=True)
    dialog = _dialog(qtbot, window)
    text = _run(qtbot, window, dialog, dialog.echo)
    assert text.startswith("orthanc answered in ") and text.endswith(" ms"), text

    port = free_port()
    gone = ServerConfig(name="gone", ae_title="GONE", host="127.0.0.1", port=port, timeout_s=3.0)
    save_servers([gone])
    dialog.reload_servers()
    assert dialog.server().name == "gone"
    started = time.monotonic()
    text = _run(qtbot, window, dialog, dialog.search)
    assert time.monotonic() - started < 15
    assert text.startswith("Searching gone failed: ") and f"127.0.0.1:{port}" in text, text
    assert "\n" not in text
    assert window.errors[-1].expected  # a one-line error, not a bug report
    assert dialog.search_button.isEnabled()
    dialog.close()


def test_a_cancelled_retrieve_leaves_the_dialog_usable(qtbot, make_main_window, pacs, monkeypatch):
    from workstation.services import pacs as pacs_service

    window = make_main_window(headless=True)
    dialog = _dialog(qtbot, window)
    _run(qtbot, window, dialog, dialog.search)
    assert dialog.results.rowCount() == 2
    started = threading.Event()

    def slow_retrieve(server, study_uid, series_uid=None, database=None, **job):
        progress = job["progress"]
        started.set()
        for step in range(6000):
            progress(step / 6000, f"instance {step}")
            time.sleep(0.005)
        raise AssertionError("the retrieve should have been cancelled")

    real = pacs_service.retrieve_to_database
    monkeypatch.setattr(pacs_service, "retrieve_to_database", slow_retrieve)
    dialog.results.selectAll()
    job = dialog.retrieve_selected()
    assert started.wait(10)
    assert dialog.cancel_button.isEnabled() and not dialog.search_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.progress.value() > 0, timeout=TIMEOUT_MS)
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    assert dialog.status.text() == "Retrieving from orthanc: cancelled"
    assert not dialog.cancel_button.isEnabled() and not dialog.progress.isVisible()
    assert _database_studies() == {}

    # the dialog still works: a real retrieve after the cancelled one
    monkeypatch.setattr(pacs_service, "retrieve_to_database", real)
    _select(dialog, lambda m: m.study_uid == STUDY_B)
    text = _run(qtbot, window, dialog, dialog.retrieve_selected)
    assert text == "Retrieved 5 instances (1 item) into the database", text
    assert _database_studies() == {STUDY_B: 5}
    dialog.close()


def test_a_partial_retrieve_says_what_is_missing(qtbot, make_main_window, pacs, monkeypatch):
    from workstation.services import pacs as pacs_service

    real = pacs_service.retrieve_to_database

    def half(server, study_uid, series_uid=None, database=None, progress=None, cancel=None):
        if study_uid == STUDY_B:
            raise PacsError("Retrieved 3 of 5 instances of study 9 (2 missing: stopped)")
        return real(server, study_uid, series_uid, database, progress, cancel)

    monkeypatch.setattr(pacs_service, "retrieve_to_database", half)
    window = make_main_window(headless=True)
    dialog = _dialog(qtbot, window)
    _run(qtbot, window, dialog, dialog.search)
    _select(dialog, lambda m: m.study_uid == STUDY_A)
    assert _run(qtbot, window, dialog, dialog.retrieve_selected).startswith("Retrieved 18")
    _select(dialog, lambda m: m.study_uid == STUDY_B)
    text = _run(qtbot, window, dialog, dialog.retrieve_selected)
    assert text == (
        "Retrieving from orthanc failed: Retrieved 3 of 5 instances of study 9 (2 missing: stopped)"
    )
    browser = window.connectivity.browser
    assert browser.studies.rowCount() == 1  # refreshed after the partial retrieve too
    dialog.close()


def test_retrieve_by_c_move_from_the_menu(qtbot, make_main_window, pacs):
    save_servers(
        [
            ServerConfig(
                name="orthanc-move",
                ae_title=pacs.aet,
                host="127.0.0.1",
                port=pacs.dicom_port,
                move_port=pacs.move_port,
                timeout_s=10.0,
            )
        ]
    )
    window = make_main_window(headless=True)
    window.connectivity.query_action.trigger()  # File → Query/Retrieve…
    dialog = window.connectivity.dialog
    qtbot.waitExposed(dialog)
    assert dialog.isVisible() and dialog.server().move_port == pacs.move_port
    dialog.fields.modality.setText("MR")
    assert _run(qtbot, window, dialog, dialog.search) == "1 match on orthanc-move"
    dialog.results.selectRow(0)
    text = _run(qtbot, window, dialog, dialog.retrieve_selected)
    assert text == "Retrieved 5 instances (1 item) into the database", text
    assert _database_studies() == {STUDY_B: 5}
    with DicomDatabase.open() as database:
        files = database.study_files(STUDY_B)
    assert sorted(path.read_bytes()[128:132] for path in files) == [b"DICM"] * 5
    dialog.close()
    # the menu brings back the same dialog, its server list read again
    window.connectivity.query_action.trigger()
    assert window.connectivity.dialog is dialog and dialog.isVisible()
    dialog.close()


def test_the_menus_open_the_preferences_and_the_import(
    qtbot, make_main_window, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QFileDialog

    window = make_main_window(headless=True)
    window.connectivity.servers_action.trigger()  # Preferences → PACS servers…
    settings = window.connectivity.settings_dialog
    qtbot.waitExposed(settings)
    assert settings.windowTitle() == "PACS servers"
    settings.reject()

    folder = write_studies(tmp_path / "incoming")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    window.connectivity.import_action.trigger()  # File → Import into database…
    settle(qtbot, window)
    browser = window.connectivity.browser
    assert window.connectivity.tabs.currentWidget() is window.connectivity.database_tab
    assert browser.studies.rowCount() == 2
    assert browser.status.text().startswith("Imported into the database: 23 added")
    texts = [action.text() for action in window.menuBar().actions()[0].menu().actions()]
    position = texts.index("&Query/Retrieve…")
    assert texts[position - 2 : position + 1] == [
        "&Import into database…",
        "Import &zip or file into database…",
        "&Query/Retrieve…",
    ]
