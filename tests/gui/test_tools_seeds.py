"""Seeds, grow from seeds and pick island through real clicks on the slice views."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.test_tools_support import (
    AXIAL,
    SHAPE,
    click_at,
    editing_window,
    select,
    volume_on,
    voxel_centres,
    wait_edits,
)
from tests.gui.test_views_helpers import marker_volume
from workstation.core import geometry
from workstation.processing.editing.grow import grow_from_seeds

pytestmark = pytest.mark.gui


def _click_lps(qtbot, view, lps):
    return click_at(qtbot, view, *view.lps_to_display(np.asarray(lps, float)))


def test_seeds_of_two_segments_grow_in_one_step(make_main_window, qtbot):
    volume = volume_on(AXIAL, value=0)
    volume.array[:, :, 32:] = 800  # two touching structures, split at column 32
    window = editing_window(make_main_window, qtbot, volume, ("Left", "Right"))
    window.viewer.set_tool("seeds")
    axial = window.views.slice_view("axial")
    panel = window.segments_panel
    assert not panel.grow_button.isEnabled()
    clicked = {}
    for name, column in (("Left", 12), ("Right", 50)):
        select(window, name)
        target = geometry.index_to_lps(AXIAL, [[axial.slice_index(), 10, column]])[0]
        clicked[name] = [_click_lps(qtbot, axial, target)]
    # markers in the segments' colours on the shown slice, none on another slice
    handler = axial.tool_handler("seeds")
    assert sum(handler.markers.values()) == 2
    assert panel.seeds.count() == 2 and panel.grow_button.isEnabled()
    qtbot.keyClick(axial, Qt.Key.Key_PageUp)
    assert sum(handler.markers.values()) == 0
    qtbot.mouseClick(panel.grow_button, Qt.MouseButton.LeftButton)
    wait_edits(qtbot, window)
    editor = window.session.editor
    record = editor.operations[-1]
    assert record["op"] == "grow_from_seeds"
    assert record["seeds"] == {
        n: [[float(v) for v in p] for p in pts] for n, pts in clicked.items()
    }
    assert panel.seeds.count() == 0 and not handler.markers
    # the same watershed as the processing function from the clicked voxels
    seeds = {
        name: [tuple(np.rint(geometry.lps_to_index(AXIAL, [p])[0]).astype(int)) for p in points]
        for name, points in clicked.items()
    }
    grown = grow_from_seeds(volume.array, AXIAL, seeds, None)
    left = editor.segmentation.by_name("Left").mask
    right = editor.segmentation.by_name("Right").mask
    assert np.array_equal(left, grown["Left"]) and np.array_equal(right, grown["Right"])
    assert left[:, :, :30].all() and right[:, :, 34:].all() and not (left & right).any()
    assert editor.undo_description().startswith("Grow")


def test_pick_island_keeps_the_clicked_one(make_main_window, qtbot):
    small = geometry.index_to_lps(AXIAL, [[20, 12, 14]])[0]
    big = geometry.index_to_lps(AXIAL, [[20, 30, 40]])[0]
    volume = marker_volume(SHAPE, AXIAL, [(small, 3.0, 1000), (big, 7.0, 1000)])
    window = editing_window(make_main_window, qtbot, volume)
    window.edits.submit({"op": "threshold", "segment": "Segment 1", "lower": 500})
    wait_edits(qtbot, window)
    window.views.set_crosshair_lps(small)
    window.viewer.set_tool("pick_island")
    axial = window.views.slice_view("axial")
    point = _click_lps(qtbot, axial, small + np.array([0.6, 0.4, 0.0]))
    wait_edits(qtbot, window)
    record = window.session.editor.operations[-1]
    assert record == {
        "op": "islands",
        "segment": "Segment 1",
        "mode": "keep_seed",
        "seed_lps": [float(v) for v in point],
        "min_mm3": None,
    }
    mask = window.session.editor.segmentation.by_name("Segment 1").mask
    ball = np.linalg.norm(voxel_centres(AXIAL) - small, axis=-1) <= 3.0
    assert np.array_equal(mask, ball & (volume.array >= 500))
    assert mask.sum() > 10
