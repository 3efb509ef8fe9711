"""Export as DICOM from the window: the same SEG and Encapsulated STL the command line writes
(apart from what is new per write), a one-line message without a DICOM source, and
Send to PACS… into Orthanc."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import TIMEOUT_MS, open_and_settle, settle
from tests.gui.test_panels_models import export_through_dialog
from tests.gui.test_tools_support import AXIAL, volume_on
from workstation.cli.main import main as cli_main
from workstation.gui.send_to_pacs import NO_SERVER
from workstation.services.export import format_filters, write_operations
from workstation.services.segmenting import shortcut_operations

pytestmark = pytest.mark.gui

#: What a DICOM writer makes new on every write: instance and series UIDs and the time
#: stamps of the write; everything else must be equal between the window and the CLI.
NEW_PER_WRITE = {
    "SOPInstanceUID",
    "SeriesInstanceUID",
    "MediaStorageSOPInstanceUID",
    "ContentDate",
    "ContentTime",
    "InstanceCreationDate",
    "InstanceCreationTime",
    "SeriesDate",
    "SeriesTime",
    "AcquisitionDateTime",
    "DateOfLastCalibration",
    "TimeOfLastCalibration",
    "DimensionOrganizationUID",
    "ContributionDateTime",
    "TrackingUID",  # each SEG segment's tracking UID is new per write
}


def flat(dataset, prefix: str = "") -> dict[str, object]:
    """Every element of a dataset (sequences item by item) by its keyword path."""
    found: dict[str, object] = {}
    for element in dataset:
        name = prefix + (element.keyword or str(element.tag))
        if element.VR == "SQ":
            for number, item in enumerate(element.value):
                found.update(flat(item, f"{name}[{number}]."))
        else:
            found[name] = element.value
    return found


def differences(first: Path, second: Path, meta: bool = True) -> set[str]:
    """Keyword paths (file meta too, unless ``meta`` is False) whose values differ."""
    a, b = pydicom.dcmread(first), pydicom.dcmread(second)
    left = {**(flat(a.file_meta, "meta.") if meta else {}), **flat(a)}
    right = {**(flat(b.file_meta, "meta.") if meta else {}), **flat(b)}
    return {key for key in left.keys() | right.keys() if left.get(key) != right.get(key)}


def leaf(path: str) -> str:
    """The keyword at the end of a path ('meta.MediaStorageSOPInstanceUID' → its keyword)."""
    return path.rsplit(".", 1)[-1].split("[")[0]


def segmented_window(make_main_window, qtbot, folder, tmp_path):
    """The window on ``folder`` with the segment the CLI flags make; returns it, ops.json."""
    window = make_main_window(headless=True)
    volume = open_and_settle(qtbot, window, folder)
    for record in shortcut_operations(volume, lower=100.0, upper=500.0, largest=True, name="Ball"):
        window.edits.submit(record)
    settle(qtbot, window)
    assert not window.errors, [error.message for error in window.errors]
    ops = write_operations(tmp_path / "ops.json", window.session.editor.operations)
    return window, ops


def test_gui_and_cli_write_the_same_seg_and_encapsulated_stl(
    make_main_window, qtbot, synthetic_ct, tmp_path
):
    window, ops = segmented_window(make_main_window, qtbot, synthetic_ct, tmp_path)
    gui_seg, cli_seg = tmp_path / "gui_seg.dcm", tmp_path / "cli_seg.dcm"
    files = window.segmentation_files
    assert ".dcm" in [extension for extension, _ in format_filters("segmentation")]
    files.choose_export_path = lambda: str(gui_seg)  # what the file dialog would answer
    files.export_action.trigger()  # File → Export segmentation…
    settle(qtbot, window)
    assert not window.errors, [error.message for error in window.errors]
    assert files.last_export == gui_seg
    assert cli_main(["segment", str(synthetic_ct), "--ops", str(ops), "-o", str(cli_seg)]) == 0
    differing = differences(gui_seg, cli_seg)
    assert {leaf(key) for key in differing} <= NEW_PER_WRITE, sorted(differing)
    a, b = pydicom.dcmread(gui_seg), pydicom.dcmread(cli_seg)
    assert a.PixelData == b.PixelData and a.NumberOfFrames == b.NumberOfFrames
    assert [s.SegmentLabel for s in a.SegmentSequence] == ["Ball"]
    assert a.StudyInstanceUID == window.session.volume.source.identity.study_uid
    assert a.SOPInstanceUID != b.SOPInstanceUID

    # the model: Create model in the Models panel, export .dcm; the CLI from the same ops
    panel = window.models_panel
    panel.smooth_spin.setValue(5)
    panel.decimate_spin.setValue(0.0)
    panel.create_model()
    settle(qtbot, window)
    (model_id,) = window.session.models
    # the CLI names the model after its file, the window after the model: "Ball" both
    (tmp_path / "gui").mkdir()
    (tmp_path / "cli").mkdir()
    gui_stl, cli_stl = tmp_path / "gui" / "Ball.dcm", tmp_path / "cli" / "Ball.dcm"
    window.tools_tabs.setCurrentWidget(panel)
    seen = export_through_dialog(qtbot, panel, window.runner, gui_stl, ".dcm", "lps")
    assert ".dcm" in seen
    settle(qtbot, window)
    assert panel.last_export == [gui_stl]
    assert not window.errors, [error.message for error in window.errors]
    name = window.session.models[model_id].name
    code = cli_main(
        [
            "mesh",
            str(synthetic_ct),
            "--ops",
            str(ops),
            "--segment",
            "Ball",
            "--smooth",
            "5",
            "--decimate",
            "0",
            "-o",
            str(cli_stl),
        ]
    )
    assert code == 0
    differing = differences(gui_stl, cli_stl)
    assert {leaf(key) for key in differing} <= NEW_PER_WRITE, sorted(differing)
    a, b = pydicom.dcmread(gui_stl), pydicom.dcmread(cli_stl)
    assert a.EncapsulatedDocument == b.EncapsulatedDocument
    stl_file = tmp_path / "cli" / "Ball.stl"
    assert (
        cli_main(
            [
                "mesh",
                str(synthetic_ct),
                "--ops",
                str(ops),
                "--segment",
                "Ball",
                "--smooth",
                "5",
                "--decimate",
                "0",
                "-o",
                str(stl_file),
            ]
        )
        == 0
    )
    length = int(a.EncapsulatedDocumentLength)
    assert bytes(a.EncapsulatedDocument[:length]) == stl_file.read_bytes()
    assert a.DocumentTitle == name


def test_a_volume_without_dicom_source_gives_one_line(make_main_window, qtbot, tmp_path):
    window = make_main_window(headless=True)
    window.session.set_volume(volume_on(AXIAL))
    window.edits.submit({"op": "add_segment", "name": "S"})
    settle(qtbot, window)
    assert window.segmentation_files.export_segmentation(str(tmp_path / "out.dcm")) is None
    (error,) = window.errors
    assert error.title == "Export segmentation"
    assert "not loaded from DICOM images" in error.message and "\n" not in error.message
    assert not (tmp_path / "out.dcm").exists()
    # the models' export and Send to PACS say the same
    assert window.models_panel.pacs.send_segmentation() is None
    assert "not loaded from DICOM images" in window.errors[-1].message
    from tests.gui.test_dicom_results import ball_mesh

    entry = window.session.add_model(ball_mesh())
    assert window.models_panel.export_models([entry.model_id], [tmp_path / "m.dcm"]) is None
    assert window.errors[-1].title == "Export"
    assert "not loaded from DICOM images" in window.errors[-1].message
    assert window.models_panel.pacs.send_models() is None
    assert "not loaded from DICOM images" in window.errors[-1].message
    assert not list(tmp_path.glob("*.dcm"))


def test_the_export_dialog_keeps_a_dicom_model_in_lps(qapp):
    from workstation.gui.export_dialog import ExportDialog

    dialog = ExportDialog(None, ["Skull"], "/tmp")
    dialog.set_format(".stl")
    dialog.coords_combo.setCurrentIndex(dialog.coords_combo.findData("ras"))
    dialog.set_format(".dcm")
    assert dialog.coords() == "lps" and not dialog.coords_combo.isEnabled()
    assert dialog.targets() == [Path("/tmp/Skull.dcm")]
    dialog.set_format(".stl")
    assert dialog.coords_combo.isEnabled()
    dialog.deleteLater()


def test_the_file_menu_has_both_send_actions(make_main_window, synthetic_ct, qtbot):
    window = make_main_window(headless=True)
    (file_menu,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&File"]
    texts = [action.text() for action in file_menu.actions()]
    assert "Send segmentation to PACS…" in texts and "Send models to PACS…" in texts
    pacs = window.models_panel.pacs
    assert not pacs.segmentation_action.isEnabled()
    open_and_settle(qtbot, window, synthetic_ct)
    assert pacs.segmentation_action.isEnabled() and pacs.models_action.isEnabled()


def test_send_without_a_configured_server_points_to_preferences(
    make_main_window, qtbot, synthetic_ct, tmp_path
):
    window, _ = segmented_window(make_main_window, qtbot, synthetic_ct, tmp_path)
    assert window.models_panel.pacs.send_segmentation() is None
    assert window.errors[-1].message == NO_SERVER


def configure(server_name: str, orthanc) -> None:
    """Write the servers file with one DIMSE server: the test's Orthanc."""
    from workstation.services.pacs_servers import ServerConfig, save_servers

    save_servers(
        [
            ServerConfig(
                name=server_name,
                protocol="dimse",
                ae_title=orthanc.aet,
                host="127.0.0.1",
                port=orthanc.dicom_port,
            )
        ]
    )


def stored_instances(orthanc) -> dict[str, dict]:
    """The stored instances' main tags by SOP Instance UID."""
    found = {}
    for instance in orthanc.rest("GET", "/instances"):
        tags = orthanc.rest("GET", f"/instances/{instance}/simplified-tags")
        found[tags["SOPInstanceUID"]] = tags
    return found


def test_send_to_pacs_stores_the_seg_and_the_models(
    make_main_window, qtbot, synthetic_ct, tmp_path, empty_orthanc
):
    configure("pacs", empty_orthanc)
    window, _ = segmented_window(make_main_window, qtbot, synthetic_ct, tmp_path)
    pacs = window.models_panel.pacs
    offered = []
    pacs.choose_server = lambda servers: offered.append(servers) or servers[0]
    with qtbot.waitSignal(pacs.sent, timeout=TIMEOUT_MS):
        pacs.send_segmentation()
    settle(qtbot, window)
    assert not window.errors, [error.message for error in window.errors]
    assert [server.name for server in offered[0]] == ["pacs"]
    assert window.statusBar().currentMessage() == "Sent 1 object to pacs"
    (uid,) = stored_instances(empty_orthanc)
    stored = tmp_path / "stored.dcm"
    stored.write_bytes(empty_orthanc.instance_file(uid))
    exported = tmp_path / "exported.dcm"
    window.segmentation_files.export_segmentation(str(exported))
    settle(qtbot, window)
    differing = differences(stored, exported, meta=False)  # the PACS writes its own meta
    assert {leaf(key) for key in differing} <= NEW_PER_WRITE, sorted(differing)
    assert pydicom.dcmread(stored).PixelData == pydicom.dcmread(exported).PixelData

    window.models_panel.create_model()
    settle(qtbot, window)
    window.models_panel.create_model()  # a second model of the same segment
    settle(qtbot, window)
    assert len(window.session.models) == 2
    window.models_panel.table.selectAll()
    with qtbot.waitSignal(pacs.sent, timeout=TIMEOUT_MS):
        qtbot.mouseClick(window.models_panel.send_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert not window.errors, [error.message for error in window.errors]
    assert window.statusBar().currentMessage() == "Sent 2 objects to pacs"
    instances = stored_instances(empty_orthanc)
    models = [tags for tags in instances.values() if tags.get("Modality") == "M3D"]
    assert len(models) == 2 and len(instances) == 3
    source_study = window.session.volume.source.identity.study_uid
    assert {tags["StudyInstanceUID"] for tags in instances.values()} == {source_study}
    mesh = next(iter(window.session.models.values())).mesh
    data = pydicom.dcmread(io.BytesIO(empty_orthanc.instance_file(models[0]["SOPInstanceUID"])))
    stl = bytes(data.EncapsulatedDocument[: int(data.EncapsulatedDocumentLength)])
    assert int.from_bytes(stl[80:84], "little") == mesh.n_faces
    vertices = np.frombuffer(
        stl[84:], dtype=np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    )["v"]
    np.testing.assert_allclose(
        vertices.reshape(-1, 3), mesh.vertices[mesh.faces].reshape(-1, 3), atol=1e-4
    )
    assert not list(Path(tempfile.gettempdir()).glob("workstation-send-*"))


def test_send_to_a_server_that_is_down_reports_one_line(
    make_main_window, qtbot, synthetic_ct, tmp_path
):
    from tests.support.orthanc import free_port
    from workstation.services.pacs_servers import ServerConfig

    window, _ = segmented_window(make_main_window, qtbot, synthetic_ct, tmp_path)
    port = free_port()
    down = ServerConfig(name="down", ae_title="ORTHANC", host="127.0.0.1", port=port, timeout_s=3)
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS):
        window.models_panel.pacs.send_segmentation(server=down)
    settle(qtbot, window)
    error = window.errors[-1]
    assert error.title == "Send segmentation to PACS"
    assert error.expected and "\n" not in error.message
    assert error.message.startswith(f"Cannot reach ORTHANC@127.0.0.1:{port}"), error.message
    assert window.statusBar().currentMessage().startswith("Send segmentation to PACS failed")


def test_cancelling_a_send_removes_the_temporary_files(
    make_main_window, qtbot, synthetic_ct, tmp_path, monkeypatch
):
    import threading
    import time

    from workstation.services import pacs as pacs_service
    from workstation.services.pacs_servers import ServerConfig

    seen: list[Path] = []
    started = threading.Event()

    def slow_send(server, paths, progress, cancel):
        seen.extend(Path(path) for path in paths)
        assert all(path.is_file() for path in seen)
        started.set()
        for step in range(6000):  # half a minute at most
            progress(step / 6000, "sending")
            time.sleep(0.005)
        raise AssertionError("the send should have been cancelled")

    monkeypatch.setattr(pacs_service, "send", slow_send)
    window, _ = segmented_window(make_main_window, qtbot, synthetic_ct, tmp_path)
    server = ServerConfig(name="slow", ae_title="X", host="127.0.0.1", port=1)
    job = window.models_panel.pacs.send_segmentation(server=server)
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS):
        job.cancel()
    settle(qtbot, window)
    assert window.errors[-1].cancelled
    assert [path.suffix for path in seen] == [".dcm"]
    assert not seen[0].exists() and not seen[0].parent.exists()
    assert window.models_panel.pacs.last_count == 0
