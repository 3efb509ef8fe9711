"""The edit queue: edits land one at a time in the order given, cancel and failures are
reported, edits for a replaced volume are dropped; Edit → Undo/Redo follow the editor."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import BALL_HU, BIG_BALL, TIMEOUT_MS, open_and_settle, settle
from workstation.core import geometry
from workstation.core.volume import Volume
from workstation.gui.edit_queue import EditQueue, describe_record
from workstation.services.segment_editor import SegmentEditor

pytestmark = pytest.mark.gui

ERASE_RADIUS = 5.3  # no voxel centre of the synthetic CT lies exactly this far from (0,0,0)


def _voxel_centres(volume: Volume) -> np.ndarray:
    s, r, c = np.meshgrid(*(np.arange(n) for n in volume.shape), indexing="ij")
    index = np.stack([s, r, c], axis=-1).reshape(-1, 3)
    return geometry.index_to_lps(volume.affine, index).reshape(*volume.shape, 3)


def _records(lower: float = 200.0) -> list[dict]:
    centre = [float(v) for v in BIG_BALL[0]]
    return [
        {"op": "add_segment", "name": "Bone"},
        {"op": "threshold", "segment": "Bone", "lower": lower, "upper": None},
        {
            "op": "paint",
            "segment": "Bone",
            "points_lps": [centre],
            "radius_mm": ERASE_RADIUS,
            "erase": True,
        },
    ]


def test_quick_edits_all_land_in_order(qtbot, main_window, synthetic_ct):
    window = main_window
    volume = open_and_settle(qtbot, window, synthetic_ct)
    editor = window.session.editor
    busy = []
    window.edits.busy_changed.connect(busy.append)
    for record in _records():
        window.edits.submit(record)  # back to back, none waited for
    assert window.edits.busy() and not window.undo_action.isEnabled()
    settle(qtbot, window)
    assert busy == [True, False]
    assert [op["op"] for op in editor.operations] == ["add_segment", "threshold", "paint"]
    mask = editor.segmentation.by_name("Bone").mask
    # expected, independently: the threshold minus the voxels within the radius
    centres = _voxel_centres(volume)
    erased = np.linalg.norm(centres - np.asarray(BIG_BALL[0]), axis=-1) <= ERASE_RADIUS
    expected = (volume.array >= 200) & ~erased
    assert erased.sum() > 50 and expected.sum() > 0
    np.testing.assert_array_equal(mask, expected)
    # the same records applied by the Qt-free editor give the same voxels
    reference = SegmentEditor(volume)
    for record in _records():
        reference.apply(record)
    np.testing.assert_array_equal(reference.segmentation.by_name("Bone").mask, mask)

    # Edit → Undo says what it reverts, and reverts exactly that
    assert window.undo_action.isEnabled()
    assert window.undo_action.text() == "&Undo Erase Bone"
    assert not window.redo_action.isEnabled()
    window.undo_action.trigger()
    np.testing.assert_array_equal(mask_of(window), volume.array >= 200)
    assert window.redo_action.text() == "&Redo Erase Bone" and window.redo_action.isEnabled()
    assert window.undo_action.text().startswith("&Undo Threshold Bone")
    window.redo_action.trigger()
    np.testing.assert_array_equal(mask_of(window), expected)


def mask_of(window, name: str = "Bone") -> np.ndarray:
    return window.session.editor.segmentation.by_name(name).mask


def _slow_compute(monkeypatch, editor, started: threading.Event) -> None:
    """Make the editor's next computations wait (cancellable) for up to a minute."""
    real = editor.compute

    def slow(record, index=None, progress=None, cancel=None):
        started.set()
        for step in range(6000):
            progress(step / 6000, "waiting")
            time.sleep(0.01)
        return real(record, index, progress, cancel)

    monkeypatch.setattr(editor, "compute", slow)


def test_cancel_drops_the_running_and_the_waiting_edits(
    qtbot, main_window, synthetic_ct, monkeypatch
):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    editor = window.session.editor
    started = threading.Event()
    _slow_compute(monkeypatch, editor, started)
    for record in _records():
        window.edits.submit(record)
    panel = window.progress_panel
    qtbot.waitUntil(lambda: started.is_set() and panel.isVisible(), timeout=10000)
    assert panel.label.text().startswith("Add segment Bone")
    with qtbot.waitSignal(window.edits.edit_failed, timeout=TIMEOUT_MS) as blocker:
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0].cancelled
    qtbot.waitUntil(lambda: not window.edits.busy(), timeout=TIMEOUT_MS)
    assert editor.operations == [] and len(editor.segmentation) == 0
    assert "cancelled" in window.statusBar().currentMessage()
    assert window.last_error_dialog is None
    qtbot.waitUntil(lambda: not panel.isVisible(), timeout=5000)


def test_edits_for_a_replaced_volume_are_dropped(qtbot, main_window, synthetic_ct, monkeypatch):
    window = main_window
    volume = open_and_settle(qtbot, window, synthetic_ct)
    old_editor = window.session.editor
    started = threading.Event()
    _slow_compute(monkeypatch, old_editor, started)
    failures = []
    window.edits.edit_failed.connect(failures.append)
    for record in _records():
        window.edits.submit(record)
    qtbot.waitUntil(started.is_set, timeout=10000)
    window.session.set_volume(Volume(volume.array.copy(), volume.affine.copy(), units="HU"))
    qtbot.waitUntil(lambda: not window.edits.busy(), timeout=TIMEOUT_MS)
    assert failures == []  # nothing to report: the user moved on to another volume
    assert old_editor.operations == [] and window.session.editor.operations == []
    # the queue works on for the new editor
    window.edits.submit({"op": "add_segment", "name": "Skin"})
    settle(qtbot, window)
    assert window.session.editor.segmentation.names == ["Skin"]


def test_a_failed_edit_is_reported_and_takes_the_waiting_ones_along(
    qtbot, make_main_window, synthetic_ct
):
    window = make_main_window(headless=True)
    open_and_settle(qtbot, window, synthetic_ct)
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS) as blocker:
        window.edits.submit({"op": "threshold", "segment": "Nothing", "lower": 100})
        window.edits.submit({"op": "add_segment", "name": "Later"})
    error = blocker.args[0]
    assert not error.cancelled and "unknown segment 'Nothing'" in error.message
    assert error.title == "Threshold Nothing"
    settle(qtbot, window)
    assert window.session.editor.operations == []
    assert "failed" in window.statusBar().currentMessage()


def test_editing_without_a_volume_says_so(qtbot, make_main_window):
    window = make_main_window(headless=True)
    with qtbot.waitSignal(window.job_failed, timeout=5000) as blocker:
        window.edits.submit({"op": "add_segment", "name": "Bone"})
    assert "Load a volume" in blocker.args[0].message
    assert not window.edits.busy()


def test_queue_alone_applies_in_order_from_a_session(qtbot, qapp):
    from workstation.services.session import Session

    session = Session()
    array = np.full((8, 16, 16), -1000, dtype=np.int16)
    array[2:6, 4:12, 4:12] = BALL_HU
    affine = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [2, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
    session.set_volume(Volume(array, affine, units="HU"))
    queue = EditQueue(session)
    done = []
    queue.edit_done.connect(lambda pending: done.append(pending.description))
    queue.submit({"op": "add_segment", "name": "A"})
    queue.submit({"op": "threshold", "segment": "A", "lower": 0})
    queue.submit({"op": "rename_segment", "segment": "A", "name": "B"})
    qtbot.waitUntil(lambda: not queue.busy(), timeout=TIMEOUT_MS)
    assert done == ["Add segment A", "Threshold A 0", "Rename A to B"]
    assert session.editor.segmentation.by_name("B").voxel_count == 4 * 8 * 8
    assert queue.shutdown(5000)


def test_record_titles():
    assert describe_record({"op": "threshold", "segment": "Bone"}) == "Threshold Bone"
    assert describe_record({"op": "add_segment", "name": "Skin"}) == "Add segment Skin"
    assert describe_record({"op": "grow_from_seeds"}) == "Grow from seeds"


def test_an_edit_computed_during_a_brush_stroke_lands_after_it(qtbot, main_window, synthetic_ct):
    window = main_window
    volume = open_and_settle(qtbot, window, synthetic_ct)
    window.edits.submit({"op": "add_segment", "name": "Bone"})
    settle(qtbot, window)
    editor = window.session.editor
    editor.begin_stroke({"op": "paint", "segment": "Bone", "radius_mm": 3.0})
    editor.dab([20.0, 20.0, 0.0])
    window.edits.submit({"op": "threshold", "segment": "Bone", "lower": 200})
    qtbot.wait(300)  # computed meanwhile, but not committed while the stroke goes on
    assert [op["op"] for op in editor.operations] == ["add_segment"]
    assert window.edits.busy()
    editor.dab([21.0, 20.0, 0.0])
    editor.end_stroke()
    settle(qtbot, window)
    assert [op["op"] for op in editor.operations] == ["add_segment", "paint", "threshold"]
    np.testing.assert_array_equal(mask_of(window), volume.array >= 200)
