"""The segments panel through its widgets: add, rename, eye, colour, order, delete, actions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLineEdit

from tests.gui.conftest import TIMEOUT_MS
from tests.gui.test_tools_support import (
    AXIAL,
    SHAPE,
    editing_window,
    volume_on,
    wait_edits,
)
from tests.gui.test_views_helpers import marker_volume
from workstation.core import geometry
from workstation.gui.segments_panel import COLOR_COLUMN, EYE_COLUMN, NAME_COLUMN

pytestmark = pytest.mark.gui

SMALL = geometry.index_to_lps(AXIAL, [[20, 12, 14]])[0]
BIG = geometry.index_to_lps(AXIAL, [[20, 30, 40]])[0]


def _window(make_main_window, qtbot, volume=None, segments=("Segment 1",)):
    window = editing_window(make_main_window, qtbot, volume or volume_on(AXIAL), segments)
    panel = window.segments_panel
    window.tools_tabs.setCurrentWidget(panel)
    qtbot.waitUntil(panel.isVisible, timeout=TIMEOUT_MS)
    return window, panel


def _names(window):
    return window.session.editor.segmentation.names


def _click_cell(qtbot, panel, row, column, double=False):
    tree = panel.tree
    item = tree.topLevelItem(row)
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    x = tree.header().sectionViewportPosition(column)
    width = tree.header().sectionSize(column)
    point = QPoint(x + (10 if column == EYE_COLUMN else width // 2), rect.center().y())
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=point)
    if double:  # QTest sends the double click alone: the view wants the press before it
        qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=point)


def _click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_add_rename_hide_recolour_move_and_delete(make_main_window, qtbot):
    window, panel = _window(make_main_window, qtbot)
    _click(qtbot, panel.add_button)
    wait_edits(qtbot, window)
    assert _names(window) == ["Segment 1", "Segment 2"]
    second = window.session.editor.segmentation.by_name("Segment 2")
    assert window.viewer.selected_segment == second.segment_id  # the new one is selected
    assert panel.tree.currentItem().text(NAME_COLUMN) == "Segment 2"

    # clicking a row selects its segment for the tools
    _click_cell(qtbot, panel, 0, NAME_COLUMN)
    first = window.session.editor.segmentation.by_name("Segment 1")
    assert window.viewer.selected_segment == first.segment_id

    # double-click renames
    _click_cell(qtbot, panel, 0, NAME_COLUMN, double=True)
    editor_widget = panel.tree.viewport().findChild(QLineEdit)
    assert editor_widget is not None and editor_widget.isVisible()
    editor_widget.selectAll()
    qtbot.keyClicks(editor_widget, "Liver")
    qtbot.keyClick(editor_widget, Qt.Key.Key_Return)  # the view commits on its next turn
    qtbot.waitUntil(lambda: _names(window) == ["Liver", "Segment 2"], timeout=TIMEOUT_MS)
    assert window.session.editor.operations[-1] == {
        "op": "rename_segment",
        "segment": "Segment 1",
        "name": "Liver",
    }

    # the eye hides and shows (a display change, not an edit)
    operations = len(window.session.editor.operations)
    _click_cell(qtbot, panel, 0, EYE_COLUMN)
    assert not window.session.editor.segmentation.by_name("Liver").visible
    _click_cell(qtbot, panel, 0, EYE_COLUMN)
    assert window.session.editor.segmentation.by_name("Liver").visible
    assert len(window.session.editor.operations) == operations

    # the colour swatch asks for a colour
    panel.choose_color = lambda initial: QColor.fromRgbF(0.2, 0.4, 0.8)
    _click_cell(qtbot, panel, 1, COLOR_COLUMN)
    wait_edits(qtbot, window)
    assert window.session.editor.segmentation.by_name("Segment 2").color == pytest.approx(
        (0.2, 0.4, 0.8), abs=1e-3
    )

    # order: Segment 2 moves up; delete removes the selected one; undo brings it back
    _click_cell(qtbot, panel, 1, NAME_COLUMN)
    _click(qtbot, panel.up_button)
    wait_edits(qtbot, window)
    assert _names(window) == ["Segment 2", "Liver"]
    _click(qtbot, panel.delete_button)
    wait_edits(qtbot, window)
    assert _names(window) == ["Liver"]
    assert [panel.tree.topLevelItem(0).text(NAME_COLUMN)] == ["Liver"]
    window.session.editor.undo()
    assert _names(window) == ["Segment 2", "Liver"]
    assert panel.tree.topLevelItemCount() == 2


def test_split_logical_duplicate_statistics_and_model(make_main_window, qtbot):
    volume = marker_volume(SHAPE, AXIAL, [(SMALL, 3.0, 1000), (BIG, 7.0, 1000)])
    window, panel = _window(make_main_window, qtbot, volume, ("Bone",))
    window.edits.submit({"op": "threshold", "segment": "Bone", "lower": 500})
    wait_edits(qtbot, window)
    bone = window.session.editor.segmentation.by_name("Bone").mask.copy()

    _click(qtbot, panel.duplicate_button)
    wait_edits(qtbot, window)
    assert _names(window) == ["Bone", "Bone copy"]
    assert np.array_equal(window.session.editor.segmentation.by_name("Bone copy").mask, bone)

    _click(qtbot, panel.split_button)  # the copy is selected: split it into its two islands
    wait_edits(qtbot, window)
    parts = [s for s in window.session.editor.segmentation if s.name != "Bone"]
    assert len(parts) == 2 and sum(s.voxel_count for s in parts) == bone.sum()

    # Bone minus the biggest part leaves the small ball
    largest = max(parts, key=lambda s: s.voxel_count)
    _click_cell(qtbot, panel, 0, NAME_COLUMN)
    panel.logical_combo.setCurrentIndex(panel.logical_combo.findData("subtract"))
    panel.other_combo.setCurrentText(largest.name)
    _click(qtbot, panel.logical_button)
    wait_edits(qtbot, window)
    record = window.session.editor.operations[-1]
    assert record["op"] == "logical" and record["operation"] == "subtract"
    assert np.array_equal(
        window.session.editor.segmentation.by_name("Bone").mask, bone & ~largest.mask
    )

    # statistics are computed off the UI thread
    _click(qtbot, panel.statistics_button)
    qtbot.waitUntil(lambda: "Bone" in panel.statistics, timeout=TIMEOUT_MS)
    bone_now = window.session.editor.segmentation.by_name("Bone").mask
    assert panel.statistics["Bone"]["voxels"] == int(bone_now.sum())
    assert panel.statistics_table.rowCount() == len(window.session.editor.segmentation)
    assert panel.statistics_table.item(0, 0).text() == str(int(bone_now.sum()))

    # one click: the surface model of the selected segment
    _click(qtbot, panel.model_button)
    qtbot.waitUntil(lambda: bool(window.session.models), timeout=TIMEOUT_MS)
    (model,) = window.session.models.values()
    assert model.segment_id == window.viewer.selected_segment and model.name == "Bone"


def test_operations_export_and_import_replay_the_same_segments(make_main_window, qtbot, tmp_path):
    window, panel = _window(make_main_window, qtbot)
    editor = window.session.editor
    window.edits.submit({"op": "threshold", "segment": "Segment 1", "lower": 0})
    window.edits.submit(
        {"op": "paint", "segment": "Segment 1", "points_lps": [[0, 0, 0]], "radius_mm": 6,
         "erase": True}
    )  # fmt: skip
    wait_edits(qtbot, window)
    before = editor.segmentation.by_name("Segment 1").mask.copy()
    path = tmp_path / "ops.json"
    panel.choose_save_path = lambda: str(path)
    _click(qtbot, panel.export_button)
    document = json.loads(path.read_text())
    assert [r["op"] for r in document["operations"]] == ["add_segment", "threshold", "paint"]

    window.session.set_volume(window.session.volume)  # a fresh editor on the same image
    assert window.session.editor is not editor and not _names(window)
    panel.choose_open_path = lambda: str(path)
    _click(qtbot, panel.import_button)
    wait_edits(qtbot, window)
    assert _names(window) == ["Segment 1"]
    assert np.array_equal(window.session.editor.segmentation.by_name("Segment 1").mask, before)


def test_brush_options_follow_the_viewer_state_both_ways(make_main_window, qtbot):
    window, panel = _window(make_main_window, qtbot)
    options = panel.options
    options.radius_spin.setValue(7.5)
    assert window.viewer.brush.radius_mm == 7.5
    window.viewer.set_brush(radius_mm=2.0)
    assert options.radius_spin.value() == 2.0
    options.range_check.setChecked(True)
    options.range_low.setValue(100.0)
    options.range_high.setValue(900.0)
    assert window.viewer.brush.intensity_range == (100.0, 900.0)
    options.range_check.setChecked(False)
    assert window.viewer.brush.intensity_range is None
    options.scissors_shape.setCurrentIndex(options.scissors_shape.findData("polygon"))
    options.slab_check.setChecked(True)
    assert window.viewer.scissors.shape == "polygon" and window.viewer.scissors.depth_mm == 10.0
