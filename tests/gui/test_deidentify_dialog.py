"""File → Export de-identified… in the window: the dialog's defaults, a run on a
synthetic series (every file de-identified, none lost, the key beside the output), the
same files as ``workstation deidentify`` with the same key, Cancel, and the refusal of a
role without the permission."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.gui.conftest import TIMEOUT_MS, run_python, settle
from tests.support.dicom_factory import write_series
from workstation.core.errors import PermissionDenied
from workstation.gui.deidentify_dialog import OPTION_TEXTS, default_key_path, summary_text

pytestmark = pytest.mark.gui

SLICES = 6
PATIENT_NAME = "Synthetic^Patient"
PATIENT_ID = "MRN-4711"


@pytest.fixture
def series(tmp_path) -> Path:
    """A small identified CT series (6 files) in its own folder."""
    folder = tmp_path / "identified" / "series"
    array = np.arange(SLICES * 16 * 16, dtype=np.int16).reshape(SLICES, 16, 16)
    write_series(folder, array, patient_id=PATIENT_ID, series_description="Head CT")
    return folder


def audit_records(**criteria) -> list[dict]:
    """The records of the test's own audit log that match ``criteria``."""
    from workstation.services.audit_query import RecordFilter, select_records

    return select_records(RecordFilter(**criteria))


def dicom_files(folder: Path) -> list[Path]:
    """The DICOM files below ``folder`` (by content: the DICM preamble)."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                handle.seek(128)
                if handle.read(4) == b"DICM":
                    found.append(path)
    return found


def run_dialog(qtbot, window, dialog):
    """Start the dialog's job and wait for its report (or its error); returns the job."""
    job = dialog.start()
    assert job is not None, dialog.status_label.text()
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    return job


def open_dialog_on(qtbot, window, series: Path):
    """Open the dialog from the File menu's action with ``series`` as its input."""
    window.deidentify.action.trigger()
    dialog = window.deidentify.dialog
    assert dialog is not None and dialog.isVisible()
    dialog.input_edit.setText(str(series))
    return dialog


def test_menu_and_dialog_defaults(qtbot, make_main_window, series):
    window = make_main_window()
    file_menu = window.menuBar().actions()[0].menu()
    texts = [action.text() for action in file_menu.actions()]
    assert "Export &de-identified…" in texts
    assert texts.index("Export &de-identified…") < texts.index("&Quit")
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        window.open_path(series)
    settle(qtbot, window)
    window.deidentify.action.trigger()
    dialog = window.deidentify.dialog
    assert dialog.input_edit.text() == str(series)  # the loaded series' folder
    assert dialog.output_edit.text() == str(series.with_name("series-deidentified"))
    assert [name for name, _, _ in OPTION_TEXTS] == list(dialog.option_boxes)
    assert len(dialog.option_boxes) == 7
    assert dialog.option_names() == ["retain-longitudinal-modified-dates"]
    assert dialog.new_key_radio.isChecked() and dialog.key_file() is None
    expected_key = default_key_path(dialog.output_edit.text())
    assert expected_key == series.with_name("series-deidentified.key")
    assert str(expected_key) in dialog.new_key_label.text()
    # an incomplete choice is refused in the dialog, no job
    dialog.existing_key_radio.setChecked(True)
    assert dialog.start() is None and "key file" in dialog.status_label.text()
    dialog.close()


def test_run_from_the_dialog_deidentifies_every_file(qtbot, make_main_window, series, tmp_path):
    window = make_main_window()
    dialog = open_dialog_on(qtbot, window, series)
    output = tmp_path / "out"
    dialog.output_edit.setText(str(output))
    with qtbot.waitSignal(dialog.finished_report, timeout=TIMEOUT_MS):
        dialog.start()
    settle(qtbot, window)
    assert not window.errors, [error.message for error in window.errors]
    written = dicom_files(output)
    assert len(written) == len(dicom_files(series)) == SLICES
    originals = {pydicom.dcmread(path).SOPInstanceUID for path in dicom_files(series)}
    for path in written:
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        assert str(ds.PatientName) != PATIENT_NAME and ds.PatientID != PATIENT_ID
        assert ds.SOPInstanceUID not in originals  # new UIDs by default
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert PATIENT_ID not in path.name
    pseudonyms = {str(pydicom.dcmread(path).PatientID) for path in written}
    assert len(pseudonyms) == 1  # one patient stays one patient
    key = output.with_name("out.key")
    assert key.is_file() and not (output / "out.key").exists()
    text = dialog.summary.toPlainText()
    assert text == summary_text(dialog.report)
    assert f"{SLICES} files de-identified." in text and str(key) in text
    assert dialog.summary.isVisible() and dialog.start_button.isEnabled()
    (record,) = audit_records(action="deidentify")
    assert record["outcome"] == "success"
    study_uid = pydicom.dcmread(dicom_files(series)[0]).StudyInstanceUID
    assert any(item.get("identifier") == study_uid for item in record["objects"])
    dialog.close()


def test_dialog_and_command_give_byte_identical_files(qtbot, make_main_window, series, tmp_path):
    window = make_main_window()
    dialog = open_dialog_on(qtbot, window, series)
    first = tmp_path / "first"
    dialog.output_edit.setText(str(first))
    run_dialog(qtbot, window, dialog)
    key = first.with_name("first.key")
    assert key.is_file(), dialog.status_label.text()

    through_dialog = tmp_path / "dialog"
    dialog.output_edit.setText(str(through_dialog))
    dialog.key_edit.setText(str(key))
    dialog.existing_key_radio.setChecked(True)
    run_dialog(qtbot, window, dialog)
    assert not window.errors, [error.message for error in window.errors]
    assert not through_dialog.with_name("dialog.key").exists()  # the given key was used

    through_command = tmp_path / "command"
    result = run_python(
        ["-m", "workstation", "deidentify", str(series), "-o", str(through_command),
         "--key", str(key)]
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    dialog_files = {
        p.relative_to(through_dialog): p.read_bytes() for p in dicom_files(through_dialog)
    }
    command_files = {
        p.relative_to(through_command): p.read_bytes() for p in dicom_files(through_command)
    }
    assert len(dialog_files) == SLICES
    assert dialog_files == command_files
    # and the same key gave the first run the same files as well
    first_files = {p.relative_to(first): p.read_bytes() for p in dicom_files(first)}
    assert first_files == dialog_files
    dialog.close()


def test_cancel_stops_the_job(qtbot, make_main_window, series, tmp_path, monkeypatch):
    from workstation.services import deidentify

    started = threading.Event()

    def slow(source, output, *, key_file, options, progress, cancel):
        started.set()
        for step in range(6000):
            progress(step / 6000, f"file {step}")
            time.sleep(0.005)
        raise AssertionError("the job should have been cancelled")

    monkeypatch.setattr(deidentify, "deidentify_path", slow)
    window = make_main_window()
    dialog = open_dialog_on(qtbot, window, series)
    dialog.output_edit.setText(str(tmp_path / "out"))
    job = dialog.start()
    assert started.wait(10) and dialog.cancel_button.isEnabled()
    assert not dialog.start_button.isEnabled()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    assert dialog.report is None and dialog.error is not None and dialog.error.cancelled
    assert "Cancelled" in dialog.status_label.text()
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert window.last_error_dialog is None
    dialog.close()


def test_a_role_without_the_permission_is_refused(
    qtbot, make_main_window, series, tmp_path, monkeypatch
):
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'default_role = "student"\n\n[roles.student]\npermissions = ["export-deidentified"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("WORKSTATION_POLICY", str(policy))
    monkeypatch.setenv("WORKSTATION_USER", "bob")
    window = make_main_window(headless=True)
    assert window.audit_status.user_label.text() == "bob (student)"
    dialog = open_dialog_on(qtbot, window, series)
    output = tmp_path / "out"
    dialog.output_edit.setText(str(output))
    run_dialog(qtbot, window, dialog)
    assert dialog.report is None
    (error,) = window.errors
    assert isinstance(error.exception, PermissionDenied)
    message = str(error.exception)
    assert "'deidentify'" in message and "'student'" in message
    assert dialog.status_label.text() == message
    assert not dicom_files(output) if output.exists() else True
    assert not output.with_name("out.key").exists()
    (refused,) = audit_records(action="refused")
    assert refused["user"] == "bob" and refused["role"] == "student"
    assert "deidentify" in refused["detail"]
    assert not audit_records(action="deidentify")
    dialog.close()


def test_a_database_series_is_the_input_not_the_whole_database(
    qtbot, make_main_window, series, tmp_path
):
    from workstation.services.dicom_database import DicomDatabase

    other = tmp_path / "identified" / "other"
    write_series(other, np.zeros((4, 16, 16), np.int16), patient_id="SOMEONE-ELSE")
    with DicomDatabase.open() as database:
        report = database.import_path(series.parent)
        assert report.added == SLICES + 4
    study_uid = pydicom.dcmread(dicom_files(series)[0]).StudyInstanceUID
    window = make_main_window(headless=True)
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        window.connectivity.opener.open(study_uid)
    settle(qtbot, window)
    window.deidentify.action.trigger()
    dialog = window.deidentify.dialog
    assert dialog.source_files is not None and len(dialog.source_files) == SLICES
    assert dialog.input_edit.isReadOnly() and "database" in dialog.input_edit.text()
    output = tmp_path / "from-database"
    dialog.output_edit.setText(str(output))
    run_dialog(qtbot, window, dialog)
    assert not window.errors, [error.message for error in window.errors]
    written = dicom_files(output)
    assert len(written) == SLICES  # the other study of the database was not included
    assert all(pydicom.dcmread(path).PatientIdentityRemoved == "YES" for path in written)
    assert len(dicom_files(database.location)) == SLICES + 4  # the database is untouched
    dialog.close()


def test_summary_lists_review_reasons_and_the_key():
    from workstation.services.deid_report import DeidFileResult, DeidReport

    report = DeidReport(
        source="/in", output="/out", key_path="/out.key", key_id="ab12cd", key_created=True,
        options=["retain-longitudinal-modified-dates"], edition="2026c",
        files=[
            DeidFileResult("/in/a.dcm", "/out/1.dcm", "done"),
            DeidFileResult("/in/b.dcm", "/out/2.dcm", "done"),
            DeidFileResult("/in/us.dcm", "/out/3.dcm", "needs_review",
                           reasons=["Burned In Annotation is YES", "text found"]),
            DeidFileResult("/in/notes.txt", "", "skipped", reasons=["not a DICOM file"]),
            DeidFileResult("/in/bad.dcm", "", "skipped", reasons=["truncated"], failed=True),
        ],
    )  # fmt: skip
    lines = summary_text(report).splitlines()
    assert lines[0] == "2 files de-identified."
    assert lines[1] == "Review 1 file before sharing them:"
    assert lines[2] == "  • us.dcm: Burned In Annotation is YES; text found"
    assert lines[3] == "1 DICOM file could not be de-identified:"
    assert lines[4] == "  • bad.dcm: truncated"
    assert lines[5] == "1 file skipped (not DICOM images):"
    assert lines[6] == "  • notes.txt: not a DICOM file"
    assert lines[7].startswith("New key saved at /out.key (key id ab12cd)")
