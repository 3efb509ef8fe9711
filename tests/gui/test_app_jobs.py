"""Jobs off the UI thread: cancel keeps the previous state, errors show a dialog, workers
deliver on the main thread; the screenshot command as a subprocess."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

from tests.gui.conftest import TIMEOUT_MS, open_and_settle, run_python, start_slow_load
from workstation.core.errors import DicomReadError
from workstation.gui.screenshot import qimage_to_array
from workstation.gui.workers import JobRunner
from workstation.services import study

pytestmark = pytest.mark.gui


def test_runner_delivers_results_on_the_main_thread(qtbot, qapp):
    runner = JobRunner()
    seen = {}

    def work(value, progress, cancel):
        seen["worker"] = threading.current_thread()
        progress(0.5, "half")
        return value * 2

    def done(result):
        seen["result"] = result
        seen["handler"] = threading.current_thread()

    with qtbot.waitSignal(runner.ended, timeout=TIMEOUT_MS):
        runner.submit("Double", work, 21, on_result=done)
    assert seen["result"] == 42
    assert seen["worker"] is not threading.main_thread()
    assert seen["handler"] is threading.main_thread()
    assert runner.shutdown(5000)


def test_cancel_a_running_load_keeps_the_previous_volume(
    qtbot, main_window, synthetic_ct, monkeypatch
):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    previous = window.session.volume
    started, job = start_slow_load(window, monkeypatch)
    qtbot.waitUntil(lambda: started.is_set() and window.progress_panel.isVisible(), timeout=10000)
    qtbot.waitUntil(lambda: window.progress_panel.bar.value() > 0, timeout=10000)
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(window.progress_panel.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].cancelled
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    assert window.session.volume is previous
    assert window.views.volume() is previous
    assert window.last_error_dialog is None
    assert "cancelled" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not window.progress_panel.isVisible(), timeout=5000)


def test_broken_folder_shows_an_error_dialog(qtbot, main_window, tmp_path):
    window = main_window
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "notes.txt").write_text("not an image")
    (broken / "IM0001").write_bytes(b"\x00" * 50)
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS) as blocker:
        window.open_path(broken)
    error = blocker.args[0]
    assert isinstance(error.exception, DicomReadError)
    dialog = window.last_error_dialog
    assert isinstance(dialog, QMessageBox) and dialog.isVisible()
    assert "No DICOM images found" in dialog.text()
    assert window.session.scan is None and window.session.volume is None
    dialog.close()


def test_unexpected_error_shows_the_traceback_as_details(
    qtbot, main_window, synthetic_ct, monkeypatch
):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    previous = window.session.volume

    def broken_load(stack, progress, cancel):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(study, "load_stack_volume", broken_load)
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS):
        window.load_stack(window.session.scan.stacks[0])
    dialog = window.last_error_dialog
    assert dialog.text() == "Unexpected error: ZeroDivisionError: simulated bug"
    assert "Traceback" in dialog.detailedText() and "broken_load" in dialog.detailedText()
    assert window.session.volume is previous
    dialog.close()


def _screenshot(args):
    return run_python(["-m", "workstation", "view", *args])


def test_screenshot_command_renders_views_and_model(synthetic_ct, tmp_path):
    output = tmp_path / "shot.png"
    result = _screenshot(
        [
            str(synthetic_ct),
            "--screenshot",
            str(output),
            "--size",
            "1200x800",
            "--mesh-preset",
            "bone",
        ]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(output.resolve())
    image = QImage(str(output))
    assert (image.width(), image.height()) == (1200, 800)
    pixels = qimage_to_array(image).astype(int)
    # the views fill the middle: every quadrant of the central area has real content
    middle = pixels[100:700, 420:860]
    for quadrant in (
        middle[:300, :220],
        middle[:300, 220:],
        middle[300:, :220],
        middle[300:, 220:],
    ):
        assert quadrant.std() > 10, "a view area of the screenshot is uniform"
    # the bone model (ball) is drawn in bone colour in the 3D view (top right of the
    # views; the orange label overlay of the slice views is elsewhere): warm, bright pixels
    warm = (pixels[..., 0] > 150) & (pixels[..., 0] > pixels[..., 2] + 30)
    assert warm[100:380, 565:800].sum() > 200
    assert not list(tmp_path.glob(".ws-*.part"))
    umask = os.umask(0o022)
    os.umask(umask)
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask  # not private like a temp file


def test_screenshot_command_errors_are_one_line(tmp_path):
    output = tmp_path / "never.png"
    result = _screenshot([str(tmp_path / "missing"), "--screenshot", str(output)])
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "No such file" in result.stderr
    assert not output.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "junk.txt").write_text("junk")
    result = _screenshot([str(empty), "--screenshot", str(output)])
    assert result.returncode == DicomReadError.exit_code, result.stderr
    assert result.stderr.strip().count("\n") == 0 and "No DICOM" in result.stderr
    assert not output.exists()


def test_window_without_display_is_a_clear_error(tmp_path):
    result = _screenshot([])
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "No display" in result.stderr and "--screenshot" in result.stderr


def test_export_dialog_targets(qtbot):
    from workstation.gui.export_dialog import ExportDialog, export_targets

    dialog = ExportDialog(None, ["Skull bone", "Skull bone", "a/b"], "/data/out")
    qtbot.addWidget(dialog)
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(".3mf"))
    dialog.coords_combo.setCurrentIndex(dialog.coords_combo.findData("ras"))
    assert [p.name for p in dialog.targets()] == ["Skull_bone.3mf", "Skull_bone_2.3mf", "a_b.3mf"]
    assert dialog.coords() == "ras"
    single = ExportDialog(None, ["Pelvis"], "/data/out")
    qtbot.addWidget(single)
    single.format_combo.setCurrentIndex(single.format_combo.findData(".obj"))
    assert single.targets() == [Path("/data/out/Pelvis.obj")]
    assert export_targets(["x"], "/t", ".ply") == [Path("/t/x.ply")]


def test_screenshot_model_is_made_as_a_user_makes_it(qtbot, make_main_window, synthetic_ct):
    """One threshold through the edit queue, then the segment's model: the same surface as
    ``workstation mesh --preset bone``."""
    from workstation.gui.app import build_segment_model, threshold_segment
    from workstation.services.modeling import ModelOptions, make_model_from_volume

    window = make_main_window(headless=True)
    volume = open_and_settle(qtbot, window, synthetic_ct)
    segment_id = threshold_segment(window, "bone")
    editor = window.session.editor
    assert [record["op"] for record in editor.operations] == ["add_segment", "threshold"]
    segment = editor.segmentation.by_id(segment_id)
    assert segment.name == "Bone (CT)" and window.viewer.selected_segment == segment_id
    assert segment.threshold_range == (226.0, 3071.0)
    build_segment_model(window, segment_id)
    (entry,) = window.session.models.values()
    assert entry.segment_id == segment_id
    reference = make_model_from_volume(volume, ModelOptions(preset="bone")).mesh
    assert entry.mesh.vertices.tobytes() == reference.vertices.tobytes()
    assert entry.mesh.faces.tobytes() == reference.faces.tobytes()
