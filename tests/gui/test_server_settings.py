"""Preferences → PACS servers: add, edit, remove and test servers; saved to servers.toml."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog

from tests.gui.conftest import TIMEOUT_MS, settle
from tests.support.orthanc import free_port
from workstation.core.user_dirs import servers_file
from workstation.services.pacs_servers import ServerConfig, load_servers, save_servers

pytestmark = pytest.mark.gui


def _settings(qtbot, window):
    dialog = window.connectivity.server_settings()
    qtbot.waitExposed(dialog)
    return dialog


def _fill_dimse(form, name, port, ae_title="ORTHANC", timeout_s=5.0):
    form.name.setText(name)
    form.protocol.setCurrentIndex(form.protocol.findData("dimse"))
    form.ae_title.setText(ae_title)
    form.host.setText("127.0.0.1")
    form.port.setValue(port)
    form.timeout_s.setValue(timeout_s)


def _test_and_wait(qtbot, window, dialog):
    job = dialog.test_server()
    assert job is not None
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    return dialog.status.text()


def test_a_server_added_in_the_dialog_is_in_the_file_and_answers(qtbot, make_main_window, orthanc):
    window = make_main_window(headless=True)
    dialog = _settings(qtbot, window)
    assert dialog.list.count() == 0 and not dialog.form.isEnabled()
    dialog.add_button.click()
    assert dialog.list.count() == 1 and dialog.form.name.text() == "New server"
    _fill_dimse(dialog.form, "orthanc", orthanc.dicom_port, orthanc.aet)
    # the DIMSE rows are shown, the DICOMweb ones hidden
    assert dialog.form.layout_.isRowVisible(dialog.form.ae_title)
    assert not dialog.form.layout_.isRowVisible(dialog.form.url)

    text = _test_and_wait(qtbot, window, dialog)
    assert text.startswith("orthanc answered in ") and text.endswith(" ms"), text

    with qtbot.waitSignal(dialog.finished, timeout=TIMEOUT_MS):
        dialog.buttons.button(dialog.buttons.StandardButton.Save).click()
    assert dialog.result() == QDialog.DialogCode.Accepted
    (server,) = load_servers()
    assert (server.name, server.protocol, server.ae_title, server.host, server.port) == (
        "orthanc", "dimse", orthanc.aet, "127.0.0.1", orthanc.dicom_port,
    )  # fmt: skip
    assert server.timeout_s == 5.0 and server.move_port is None
    assert 'ae_title = "ORTHANC"' in servers_file().read_text()


def test_testing_a_closed_port_fails_in_one_line(qtbot, make_main_window):
    window = make_main_window(headless=True)
    dialog = _settings(qtbot, window)
    dialog.add_button.click()
    port = free_port()  # nobody listens there
    _fill_dimse(dialog.form, "nowhere", port, timeout_s=3.0)
    text = _test_and_wait(qtbot, window, dialog)
    assert text.startswith("Test of nowhere failed: "), text
    assert f"127.0.0.1:{port}" in text and "\n" not in text
    assert "Traceback" not in text
    dialog.reject()
    assert load_servers() == []  # Cancel saved nothing


def test_dicomweb_edit_remove_and_a_refused_save(qtbot, make_main_window, orthanc):
    save_servers(
        [
            ServerConfig(name="a", ae_title="A", host="pacs-a", port=104),
            ServerConfig(name="b", ae_title="B", host="pacs-b", port=11112),
        ]
    )
    window = make_main_window(headless=True)
    dialog = _settings(qtbot, window)
    assert dialog.list.count() == 2
    assert dialog.list.item(0).text() == "a — A@pacs-a:104"
    assert dialog.form.name.text() == "a" and dialog.form.host.text() == "pacs-a"

    # b becomes a DICOMweb server: the URL row replaces the DIMSE rows
    dialog.list.setCurrentRow(1)
    form = dialog.form
    form.protocol.setCurrentIndex(form.protocol.findData("dicomweb"))
    assert form.layout_.isRowVisible(form.url) and not form.layout_.isRowVisible(form.host)
    form.url.setText(orthanc.dicomweb_url)
    text = _test_and_wait(qtbot, window, dialog)
    assert text.startswith("b answered in "), text

    # an empty calling AE title is refused: the dialog stays open, the file is unchanged
    before = servers_file().read_text()
    dialog.list.setCurrentRow(0)
    form.calling_aet.setText("")
    assert dialog.save() is False
    assert dialog.isVisible() and "calling_aet" in dialog.status.text()
    assert servers_file().read_text() == before
    form.calling_aet.setText("PLANNER")

    dialog.remove_button.click()
    assert dialog.list.count() == 1 and dialog.form.name.text() == "b"
    assert dialog.save() is True
    (server,) = load_servers()
    assert (server.name, server.protocol, server.url) == ("b", "dicomweb", orthanc.dicomweb_url)


def test_a_second_server_gets_a_free_name_and_duplicates_are_refused(qtbot, make_main_window):
    window = make_main_window(headless=True)
    dialog = _settings(qtbot, window)
    dialog.add_button.click()
    dialog.form.ae_title.setText("X")
    dialog.add_button.click()
    assert [dialog.servers[i].name for i in range(2)] == ["New server", "New server 2"]
    dialog.form.ae_title.setText("Y")
    dialog.form.name.setText("New server")
    assert dialog.save() is False
    assert "Two servers are named 'New server'" in dialog.status.text()
    dialog.reject()
    assert load_servers() == []
