"""Projects in the window: save, reopen exactly, the unsaved-work question before opening
and quitting, the File menu, recent projects and dropped files, read-only cases whose
source images changed and cases whose source images moved."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from tests.gui.conftest import SYNTH_SHAPE, TIMEOUT_MS, open_and_settle, settle
from tests.gui.project_case import (
    BONE_COLOR,
    build_case,
    copy_study,
    edit,
    expected_masks,
    open_project_and_wait,
    save_and_wait,
    segments_by_name,
    shown_title,
)
from tests.support.dicom_factory import write_series
from workstation.gui import project_actions
from workstation.gui.drop_opener import path_to_open
from workstation.gui.edit_queue import READ_ONLY_MESSAGE
from workstation.gui.tools.base import editing_target
from workstation.gui.view_state import capture_view_state
from workstation.services import project

pytestmark = pytest.mark.gui


def _answer_unsaved(qtbot, window, button: QMessageBox.StandardButton, asked: list) -> None:
    """Click ``button`` in the unsaved-work question as soon as it shows."""

    def click() -> None:
        box = window.projects.unsaved_question
        if box is None:
            QTimer.singleShot(20, click)
            return
        asked.append((box.text(), [b.text() for b in box.buttons()]))
        box.button(button).click()

    QTimer.singleShot(50, click)


@pytest.fixture
def other_study(tmp_path):
    """A second study to open over the case."""
    folder = tmp_path / "other"
    write_series(folder, np.full((8, 20, 20), 40, np.int16), series_description="Other")
    return folder


def test_saved_case_reopens_exactly_in_a_new_window(
    qtbot, make_main_window, synthetic_ct, tmp_path
):
    first = make_main_window()
    volume = build_case(qtbot, first, synthetic_ct)
    truth = expected_masks(volume)
    assert first.isWindowModified() and "*" in shown_title(first)
    segments = segments_by_name(first)
    for name, mask in truth.items():
        assert np.array_equal(segments[name].mask, mask), name
    (model,) = first.session.models.values()
    view = capture_view_state(first.context)
    measurements = first.session.measurements.to_list()

    path = save_and_wait(qtbot, first, tmp_path / "case")  # the extension is added
    assert path == tmp_path / "case.wsproj" and path.is_file()
    assert first.session.project_path == str(path)
    assert not first.isWindowModified() and "*" not in shown_title(first)
    assert shown_title(first).startswith("case.wsproj — ")
    assert first.recent.paths()[0] == str(path)
    first.close()

    second = make_main_window()
    open_project_and_wait(qtbot, second, path)
    session = second.session
    assert session.project_path == str(path) and not session.read_only
    assert not second.isWindowModified() and "*" not in shown_title(second)
    reopened = segments_by_name(second)
    assert list(reopened) == ["Bone", "Small"]
    for name, mask in truth.items():
        assert np.array_equal(reopened[name].mask, mask), name
        assert reopened[name].segment_id == segments[name].segment_id
    assert reopened["Bone"].color == pytest.approx(BONE_COLOR)
    assert reopened["Bone"].visible and not reopened["Small"].visible
    assert reopened["Small"].opacity == pytest.approx(0.5)
    (again,) = session.models.values()
    assert (again.name, again.visible) == ("Bone model", True)
    assert again.color == pytest.approx((0.3, 0.5, 0.7)) and again.opacity == pytest.approx(0.8)
    assert np.array_equal(again.mesh.vertices, model.mesh.vertices)
    assert np.array_equal(again.mesh.faces, model.mesh.faces)
    assert session.measurements.to_list() == measurements
    assert capture_view_state(second.context) == view
    np.testing.assert_allclose(session.volume.affine, volume.affine, atol=1e-9)
    assert not second.errors

    # one edit: the title says so, and Save (Ctrl+S) writes to the same file
    edit(qtbot, second, {"op": "remove_segment", "segment": "Small"})
    assert second.isWindowModified() and shown_title(second).startswith("case.wsproj* — ")
    with qtbot.waitSignal(second.projects.saved, timeout=TIMEOUT_MS):
        second.projects.save_action.trigger()
    settle(qtbot, second)
    assert not second.isWindowModified()
    saved = project.read_project(path)
    assert [segment.name for segment in saved.segmentation] == ["Bone"]
    assert np.array_equal(saved.segmentation.by_name("Bone").mask, truth["Bone"])


def test_save_as_and_open_from_the_file_menu(
    qtbot, make_main_window, synthetic_ct, tmp_path, monkeypatch
):
    window = make_main_window()
    build_case(qtbot, window, synthetic_ct)
    target = tmp_path / "menu case.wsproj"
    asked = []

    def save_name(parent, caption, start, filter_text):
        asked.append((caption, filter_text))
        return str(target), filter_text

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_name))
    with qtbot.waitSignal(window.projects.saved, timeout=TIMEOUT_MS):
        window.projects.save_as_action.trigger()
    settle(qtbot, window)
    assert asked == [("Save project as", "Workstation project (*.wsproj)")]
    assert target.is_file() and window.session.project_path == str(target)
    texts = [action.text() for action in window.menuBar().actions()[0].menu().actions()]
    for text in ("Open &project…", "&Save project", "Save project &as…"):
        assert text in texts
    assert window.projects.save_action.shortcut().toString() == "Ctrl+S"
    assert window.projects.save_as_action.shortcut().toString() == "Ctrl+Shift+S"

    other = make_main_window()
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(target), "*.wsproj"))
    )
    with qtbot.waitSignal(other.projects.opened, timeout=TIMEOUT_MS):
        other.projects.open_action.trigger()
    settle(qtbot, other)
    assert other.session.project_path == str(target)
    assert (
        segments_by_name(other)["Bone"].voxel_count == segments_by_name(window)["Bone"].voxel_count
    )


def test_unsaved_question_before_opening_another_study(
    qtbot, make_main_window, synthetic_ct, other_study, tmp_path
):
    window = make_main_window()
    build_case(qtbot, window, synthetic_ct)
    bone = segments_by_name(window)["Bone"]
    asked: list = []

    # Cancel: the case stays, nothing is loaded
    _answer_unsaved(qtbot, window, QMessageBox.StandardButton.Cancel, asked)
    assert window.open_path(other_study) is None
    text, buttons = asked[-1]
    assert text == project_actions.UNSAVED_QUESTION
    assert {"Save", "Discard", "Cancel"} <= set(buttons)
    assert not window.runner.jobs and window.session.editor.segmentation.by_name("Bone") is bone
    assert window.isWindowModified()

    # Save: the case is written (to the file asked for), then the other study loads
    target = tmp_path / "before other.wsproj"
    window.projects._suggested_path = lambda: str(target)
    import workstation.gui.project_actions as module

    original = module.QFileDialog.getSaveFileName
    module.QFileDialog.getSaveFileName = staticmethod(lambda *a: (str(target), ""))
    try:
        _answer_unsaved(qtbot, window, QMessageBox.StandardButton.Save, asked)
        with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
            window.open_path(other_study)
        settle(qtbot, window)
    finally:
        module.QFileDialog.getSaveFileName = original
    assert len(asked) == 2
    assert window.session.volume.source.identity.series_description == "Other"
    assert window.session.editor.segmentation.names == []
    saved = project.read_project(target)
    assert np.array_equal(saved.segmentation.by_name("Bone").mask, bone.mask)

    # Discard: another series replaces the changed case without saving
    edit(qtbot, window, {"op": "add_segment", "name": "Scratch"})
    assert window.isWindowModified()
    before = target.stat().st_mtime_ns
    _answer_unsaved(qtbot, window, QMessageBox.StandardButton.Discard, asked)
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        window.open_path(synthetic_ct)
    settle(qtbot, window)
    assert len(asked) == 3 and window.session.editor.segmentation.names == []
    assert not window.isWindowModified() and target.stat().st_mtime_ns == before

    # no change: no question
    window.projects.ask_unsaved = lambda action: pytest.fail("nothing to save: no question")
    open_and_settle(qtbot, window, other_study)


def test_loading_another_series_asks_and_cancel_keeps_the_case(
    qtbot, make_main_window, synthetic_ct
):
    window = make_main_window()
    build_case(qtbot, window, synthetic_ct)
    editor = window.session.editor
    asked: list = []
    _answer_unsaved(qtbot, window, QMessageBox.StandardButton.Cancel, asked)
    assert window.load_stack(window.session.scan.stacks[0]) is None
    assert asked and window.session.editor is editor and not window.runner.jobs


def test_quitting_with_unsaved_work_asks(
    qtbot, make_main_window, synthetic_ct, tmp_path, monkeypatch
):
    window = make_main_window()
    build_case(qtbot, window, synthetic_ct)
    asked: list = []
    _answer_unsaved(qtbot, window, QMessageBox.StandardButton.Cancel, asked)
    assert not window.close(), "Cancel keeps the window open"
    assert asked and window.isVisible() and window.session.editor is not None
    _answer_unsaved(qtbot, window, QMessageBox.StandardButton.Discard, asked)
    assert window.close()
    assert len(asked) == 2 and not window.isVisible()

    # Save: the case is written first (to the file asked for), then the window closes
    other = make_main_window()
    build_case(qtbot, other, synthetic_ct)
    target = tmp_path / "at quit.wsproj"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(target), "")))
    _answer_unsaved(qtbot, other, QMessageBox.StandardButton.Save, asked)
    assert not other.close(), "it saves before it closes"
    qtbot.waitUntil(lambda: not other.isVisible(), timeout=TIMEOUT_MS)
    assert len(asked) == 3
    saved = project.read_project(target)
    assert saved.segmentation.names == ["Bone", "Small"] and len(saved.models) == 1


def test_headless_windows_never_ask(qtbot, make_main_window, synthetic_ct, other_study):
    window = make_main_window(headless=True)
    build_case(qtbot, window, synthetic_ct)
    window.projects.ask_unsaved = lambda action: pytest.fail("a headless window must not ask")
    open_and_settle(qtbot, window, other_study)
    edit(qtbot, window, {"op": "add_segment", "name": "Scratch"})
    assert window.session.modified
    assert window.close()


def test_save_failure_and_cancelled_open_change_nothing(
    qtbot, make_main_window, synthetic_ct, tmp_path, monkeypatch
):
    window = make_main_window(headless=True)
    build_case(qtbot, window, synthetic_ct)
    path = save_and_wait(qtbot, window, tmp_path / "case.wsproj")
    edit(qtbot, window, {"op": "add_segment", "name": "Extra"})
    kept = path.read_bytes()

    def broken_save(*args, progress, cancel, **kwargs):
        raise project.ProjectError("disk full")

    monkeypatch.setattr(project, "save_project", broken_save)
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS):
        assert window.projects.save_to(path)
    settle(qtbot, window)
    assert path.read_bytes() == kept and window.session.modified
    assert "disk full" in window.errors[-1].message
    monkeypatch.undo()

    # an open that is cancelled leaves the case as it is
    editor = window.session.editor
    started = []

    def slow_open(path, source=None, progress=None, cancel=None):
        started.append(path)
        for _ in range(6000):  # a minute at most
            cancel.raise_if_cancelled()
            time.sleep(0.01)
        raise AssertionError("the open should have been cancelled")

    monkeypatch.setattr(project, "open_project", slow_open)
    job = window.projects.open_project(path)
    qtbot.waitUntil(lambda: bool(started), timeout=TIMEOUT_MS)
    job.cancel()
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    assert window.errors[-1].cancelled
    assert window.session.editor is editor and window.session.modified
    assert window.session.editor.segmentation.names == ["Bone", "Small", "Extra"]


def test_recent_projects_and_dropped_project_files(qtbot, make_main_window, synthetic_ct, tmp_path):
    window = make_main_window()
    build_case(qtbot, window, synthetic_ct)
    path = save_and_wait(qtbot, window, tmp_path / "recent.wsproj")
    edit(qtbot, window, {"op": "remove_segment", "segment": "Bone"})
    window.projects.ask_unsaved = lambda action: QMessageBox.StandardButton.Discard

    window._fill_recent_menu()
    action = next(a for a in window.recent_menu.actions() if a.text() == str(path))
    with qtbot.waitSignal(window.projects.opened, timeout=TIMEOUT_MS):
        action.trigger()
    settle(qtbot, window)
    assert window.session.project_path == str(path)
    assert segments_by_name(window)["Bone"].voxel_count > 0

    assert path_to_open([str(synthetic_ct), str(path)]) == str(path)
    assert path_to_open([str(synthetic_ct)]) == str(synthetic_ct)
    other = make_main_window()
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(synthetic_ct)), QUrl.fromLocalFile(str(path))])
    how = (Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton, Qt.KeyboardModifier(0))
    enter = QDragEnterEvent(QPoint(200, 200), *how)
    QApplication.sendEvent(other, enter)
    assert enter.isAccepted()
    with qtbot.waitSignal(other.projects.opened, timeout=TIMEOUT_MS):
        QApplication.sendEvent(other, QDropEvent(QPointF(200, 200), *how))
    settle(qtbot, other)
    assert other.session.project_path == str(path)


def test_changed_source_opens_read_only(qtbot, make_main_window, synthetic_ct, tmp_path):
    study = copy_study(synthetic_ct, tmp_path / "study")
    window = make_main_window()
    build_case(qtbot, window, study)
    path = save_and_wait(qtbot, window, tmp_path / "case.wsproj")
    window.close()
    changed = sorted((study / "series").iterdir())[3]
    data = bytearray(changed.read_bytes())
    data[-2:] = bytes([data[-2] ^ 0x01, data[-1]])  # one pixel of one image differs
    changed.write_bytes(bytes(data))

    reopened = make_main_window()
    opened = open_project_and_wait(qtbot, reopened, path)
    session = reopened.session
    assert opened.read_only and session.read_only
    banner = reopened.projects.read_only_label
    assert banner.isVisible() and changed.name in banner.text()
    assert "read-only" in shown_title(reopened)
    bone = segments_by_name(reopened)["Bone"]
    voxels = bone.mask.copy()
    # editing is off: the tools, the edit queue, undo
    assert not reopened.tool_actions["paint"].isEnabled()
    reopened.viewer.select_segment(bone.segment_id)
    assert editing_target(reopened.views.slice_view("axial")) is None  # no brush stroke either
    assert reopened.statusBar().currentMessage() == READ_ONLY_MESSAGE
    reopened.edits.submit({"op": "add_segment", "name": "Refused"})
    assert not reopened.edits.busy()
    assert reopened.errors[-1].message == READ_ONLY_MESSAGE
    assert session.editor.segmentation.names == ["Bone", "Small"]
    assert np.array_equal(bone.mask, voxels)
    assert not reopened.undo_action.isEnabled()
    # saving is off
    assert not reopened.projects.save_action.isEnabled()
    assert not reopened.projects.save_as_action.isEnabled()
    before = path.read_bytes()
    assert not reopened.projects.save_to(path)
    assert "read-only" in reopened.statusBar().currentMessage()
    assert path.read_bytes() == before
    # another study: editable again, the banner goes
    open_and_settle(qtbot, reopened, synthetic_ct)
    assert not session.read_only and not banner.isVisible()
    assert reopened.tool_actions["paint"].isEnabled()
    assert reopened.projects.save_action.isEnabled()


def test_moved_source_asks_for_the_folder(
    qtbot, make_main_window, synthetic_ct, tmp_path, monkeypatch
):
    study = copy_study(synthetic_ct, tmp_path / "first place")
    window = make_main_window()
    volume = build_case(qtbot, window, study)
    truth = expected_masks(volume)
    path = save_and_wait(qtbot, window, tmp_path / "case.wsproj")
    window.close()
    moved = tmp_path / "second place"
    shutil.move(str(study), str(moved))

    asked = []
    answers = ["", str(moved)]  # first Cancel, then the new folder

    def choose(parent, caption, start):
        asked.append((caption, start))
        return answers.pop(0)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(choose))
    reopened = make_main_window()
    # the question cancelled: nothing opens, nothing changes
    job = reopened.projects.open_project(path)
    qtbot.waitUntil(lambda: job.done and len(asked) == 1, timeout=TIMEOUT_MS)
    settle(qtbot, reopened)
    assert reopened.session.volume is None and str(study) in asked[0][0]
    assert "cancelled" in reopened.statusBar().currentMessage()
    # the new folder: the case opens from there
    opened = open_project_and_wait(qtbot, reopened, path)
    assert len(asked) == 2 and opened.source_root.startswith(str(moved))
    assert not reopened.session.read_only
    for name, mask in truth.items():
        assert np.array_equal(segments_by_name(reopened)[name].mask, mask), name
    assert not reopened.errors


def test_embedding_the_sources_is_an_option_remembered_per_project(
    qtbot, make_main_window, synthetic_ct, tmp_path, monkeypatch
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # extracted copies go here
    study = copy_study(synthetic_ct, tmp_path / "study")
    window = make_main_window()
    volume = build_case(qtbot, window, study)
    embed = window.projects.embed_action
    assert embed.isCheckable() and not embed.isChecked(), "off by default"
    assert embed.text() == "Embed source images when saving"
    assert "printing lab" in embed.toolTip()
    plain = save_and_wait(qtbot, window, tmp_path / "plain.wsproj")
    assert project.read_manifest(plain)["embedded_sources"] == []
    embed.setChecked(True)
    lab = save_and_wait(qtbot, window, tmp_path / "for the lab.wsproj")
    (entry,) = project.read_manifest(lab)["embedded_sources"]
    assert len(entry["members"]) == SYNTH_SHAPE[0]  # every source image is inside
    window.close()

    shutil.rmtree(study)  # sent away: only the project file travels
    reopened = make_main_window()
    open_project_and_wait(qtbot, reopened, lab)
    assert reopened.projects.embed_action.isChecked(), "remembered for this project"
    assert np.array_equal(segments_by_name(reopened)["Bone"].mask, expected_masks(volume)["Bone"])
    assert not reopened.session.read_only
    open_and_settle(qtbot, reopened, synthetic_ct)
    assert not reopened.projects.embed_action.isChecked(), "a new case starts without"


def test_screenshot_runs_open_projects_without_asking(
    qtbot, make_main_window, synthetic_ct, tmp_path
):
    from workstation.gui.app import run_screenshot

    study = copy_study(synthetic_ct, tmp_path / "study")
    window = make_main_window()
    build_case(qtbot, window, study)
    path = save_and_wait(qtbot, window, tmp_path / "case.wsproj")
    window.close()
    moved = tmp_path / "moved"
    shutil.move(str(study), str(moved))
    with pytest.raises(project.SourcesNotFound):  # no folder question in a headless run
        run_screenshot(str(path), str(tmp_path / "none.png"), size=(900, 600))
    assert not (tmp_path / "none.png").exists()
    shot = run_screenshot(str(path), str(tmp_path / "shot.png"), size=(900, 600), source=str(moved))
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
