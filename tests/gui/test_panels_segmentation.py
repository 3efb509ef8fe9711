"""The segmentation panel on its own context: presets and live preview, and every button
becoming one operation record that the edit queue applies, in order, to the selected segment."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QTabWidget, QWidget

from tests.gui.conftest import BALL_HU, BIG_BALL, SMALL_BALL, TIMEOUT_MS, pixel_at
from workstation.core.volume import LabelMap
from workstation.processing import islands, morphology
from workstation.processing.threshold import threshold_mask

pytestmark = pytest.mark.gui

#: inside the big ball, off the crosshair lines
INSIDE_BIG = np.array(BIG_BALL[0]) + np.array([3.0, 3.0, 0.0])
#: in the air of the axial slice through the big ball
OUTSIDE = np.array(BIG_BALL[0]) + np.array([20.0, 0.0, 0.0])


class Panels:
    """The segmentation and models panels beside real views, on an ``AppContext``."""

    def __init__(self, qtbot, settings_path: Path) -> None:
        from workstation.core.viewer_state import ViewerState
        from workstation.gui.context import AppContext
        from workstation.gui.edit_queue import EditQueue
        from workstation.gui.models_panel import ModelsPanel
        from workstation.gui.segmentation_panel import SegmentationPanel
        from workstation.gui.views.layout import ViewLayout
        from workstation.gui.workers import JobRunner
        from workstation.services.session import Session

        self.qtbot = qtbot
        self.errors: list = []
        self.messages: list[str] = []
        self.host = QWidget()
        self.session = Session()
        self.viewer = ViewerState()
        self.runner = JobRunner(self.host)
        self.edits = EditQueue(self.session, self.host)
        self.edits.edit_failed.connect(self.errors.append)
        self.views = ViewLayout()
        self.context = AppContext(
            session=self.session,
            viewer=self.viewer,
            runner=self.runner,
            edits=self.edits,
            views=self.views,
            settings=QSettings(str(settings_path), QSettings.Format.IniFormat),
            report_error=self.errors.append,
            show_message=self.messages.append,
            parent=self.host,
        )
        self.segmentation = SegmentationPanel(self.context)
        self.models = ModelsPanel(self.context)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.segmentation, "Segmentation")
        self.tabs.addTab(self.models, "Models")
        layout = QHBoxLayout(self.host)
        layout.addWidget(self.views, 1)
        layout.addWidget(self.tabs)
        self.session.subscribe("volume", self._show_volume)
        self.session.subscribe("model_added", self._show_model)
        self.host.resize(1400, 900)
        self.host.show()
        qtbot.waitExposed(self.host)

    def _show_volume(self, volume) -> None:
        if volume is None:
            self.views.clear()
        else:
            self.views.set_volume(volume)

    def _show_model(self, entry) -> None:
        self.views.add_model(entry.model_id, entry.mesh, entry.color, entry.opacity, entry.visible)

    def load(self, path: Path):
        """Load ``path`` as ``workstation mesh`` does and show it; returns the volume."""
        from workstation.services.loading import load_volume

        loaded = load_volume(path)
        self.session.set_volume(loaded.volume, loaded.stack)
        return loaded.volume

    @property
    def editor(self):
        return self.session.editor

    def settle(self) -> None:
        """Wait until no job and no edit runs."""
        self.qtbot.waitUntil(
            lambda: not self.runner.jobs and not self.edits.busy(), timeout=TIMEOUT_MS
        )

    def selected(self):
        """The selected segment."""
        return self.editor.segmentation.by_id(self.viewer.selected_segment)

    def close(self) -> None:
        self.edits.shutdown()
        self.runner.shutdown()
        self.views.shutdown()
        self.host.close()
        self.host.deleteLater()


@contextmanager
def open_panels(qapp, qtbot, tmp_path: Path) -> Iterator[Panels]:
    """The panels on a fresh session, closed (jobs stopped) at the end."""
    host = Panels(qtbot, tmp_path / "settings.ini")
    try:
        yield host
    finally:
        host.close()
        qapp.processEvents()


@pytest.fixture
def panels(qapp, qtbot, tmp_path, no_dangling_workers):
    """The panels on a fresh session for one test."""
    with open_panels(qapp, qtbot, tmp_path) as host:
        yield host


def choose(qtbot, combo: QComboBox, data: str) -> None:
    """Pick the item holding ``data`` from the combo box's popup list with the mouse."""
    combo.showPopup()
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=2000)
    index = combo.model().index(combo.findData(data), 0)
    view.scrollTo(index)
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
    )
    qtbot.waitUntil(lambda: not view.isVisible(), timeout=2000)


def _tint(panels: Panels, point) -> np.ndarray:
    qtbot = panels.qtbot
    qtbot.waitUntil(lambda: not panels.segmentation.is_busy(), timeout=TIMEOUT_MS)
    qtbot.wait(20)  # the preview result is delivered by a queued signal
    return pixel_at(panels.views.slice_view("axial"), point)


def _label(volume, mask) -> LabelMap:
    return LabelMap(mask.view(np.uint8), volume.affine.copy())


def test_choosing_a_preset_shows_its_preview_at_once(panels, synthetic_ct):
    panel = panels.segmentation
    panel.hide()
    panels.load(synthetic_ct)
    grey = _tint(panels, INSIDE_BIG)
    assert grey[0] == grey[1] == grey[2], "no preview while the threshold tool is hidden"
    assert panel.preset_combo.currentData() == "bone" and not panel.preview_active()

    # the threshold tool comes to the front with Live preview ticked: its preview at once
    panel.show()
    assert panel.preview_active()
    tinted = _tint(panels, INSIDE_BIG)
    assert tinted[2] > tinted[0] + 30, f"the 300 HU ball is in the bone range: {tinted}"
    panel.hide()
    assert not panel.preview_active()
    assert np.ptp(_tint(panels, INSIDE_BIG)) == 0
    panel.show()

    # choosing the preset already shown (bone) shows its preview at once
    choose(panels.qtbot, panel.preset_combo, "bone")
    assert panel.preview_active()
    tinted = _tint(panels, INSIDE_BIG)
    assert tinted[2] > tinted[0] + 30, f"the 300 HU ball is in the bone range: {tinted}"
    air = _tint(panels, OUTSIDE)
    assert air[0] == air[1] == air[2]

    # another preset replaces the preview at once: lung/air selects the air, not the ball
    choose(panels.qtbot, panel.preset_combo, "lung")
    assert panel.threshold_range() == (-1024.0, -400.0)
    air = _tint(panels, OUTSIDE)
    assert air[2] > air[0] + 30
    ball = _tint(panels, INSIDE_BIG)
    assert ball[0] == ball[1] == ball[2]

    # unticking Live preview takes it away; ticking brings it back at once
    panel.preview_check.click()
    assert not panel.preview_active()
    assert np.ptp(_tint(panels, OUTSIDE)) == 0
    panel.preview_check.click()
    assert panel.preview_active()
    assert _tint(panels, OUTSIDE)[2] > _tint(panels, OUTSIDE)[0] + 30
    assert not panels.editor.operations, "a preview is no edit"


def test_apply_threshold_makes_the_segment_then_sets_the_selected_one(panels, synthetic_ct):
    volume = panels.load(synthetic_ct)
    panel = panels.segmentation
    assert not panel.largest_button.isEnabled(), "no segment to edit yet"
    choose(panels.qtbot, panel.preset_combo, "bone")
    qtbot = panels.qtbot
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    panels.settle()
    assert not panel.preview_active()
    segment = panels.selected()
    assert segment.name == "Bone (CT)"
    assert segment.threshold_range == (226.0, 3071.0)
    assert np.array_equal(segment.mask, threshold_mask(volume.array, 226.0, 3071.0))
    assert panel.largest_button.isEnabled()
    status = f"Bone (CT): {segment.voxel_count:,} voxels"
    qtbot.waitUntil(lambda: panel.status_label.text().startswith(status), timeout=2000)
    assert [record["op"] for record in panels.editor.operations] == ["add_segment", "threshold"]

    # a custom range on the selected segment: no new segment
    panel.lower_spin.setValue(100.0)
    panel.upper_spin.setValue(500.0)
    assert panel.preset_combo.currentData() == "custom"
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    panels.settle()
    assert panels.editor.segmentation.names == ["Bone (CT)"]
    assert np.array_equal(panels.selected().mask, threshold_mask(volume.array, 100.0, 500.0))
    assert panels.editor.operations[-1] == {
        "op": "threshold",
        "segment": "Bone (CT)",
        "lower": 100.0,
        "upper": 500.0,
    }
    assert panels.editor.undo_description() == "Threshold Bone (CT) 100 to 500"

    # with nothing selected a custom range makes a "Threshold" segment
    panels.viewer.select_segment(None)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    panels.settle()
    assert panels.editor.segmentation.names == ["Bone (CT)", "Threshold"]
    assert panels.selected().name == "Threshold"
    assert not panels.errors


def test_islands_buttons_give_the_expected_voxels(panels, synthetic_ct):
    volume = panels.load(synthetic_ct)
    panel = panels.segmentation
    panel.set_threshold_range(100.0, 500.0)
    panel.apply_button.click()
    panels.settle()
    both = _label(volume, panels.selected().mask.copy())

    panel.largest_button.click()
    panels.settle()
    largest = islands.keep_largest(both).array.astype(bool)
    assert np.array_equal(panels.selected().mask, largest)
    small_index = np.round(np.linalg.solve(volume.affine, [*SMALL_BALL[0], 1.0])[:3]).astype(int)
    assert not largest[tuple(small_index)]

    panels.editor.undo()
    assert np.array_equal(panels.selected().mask, both.array.astype(bool))
    panel.small_spin.setValue(1000.0)  # the small ball is about 270 mm3
    panel.small_button.click()
    panels.settle()
    expected = islands.remove_small(both, 1000.0).array.astype(bool)
    assert np.array_equal(panels.selected().mask, expected)
    assert panels.editor.operations[-1]["min_mm3"] == 1000.0

    panels.editor.undo()
    panel.split_button.click()
    panels.settle()
    assert panels.editor.segmentation.names == ["Threshold", "Threshold 2"]
    first, second = panels.editor.segmentation.segments
    assert np.array_equal(first.mask, largest)
    assert np.array_equal(first.mask | second.mask, both.array.astype(bool))


def test_morphology_fill_holes_and_smooth_give_the_expected_voxels(panels, synthetic_ct):
    volume = panels.load(synthetic_ct)
    panel = panels.segmentation
    panel.set_threshold_range(100.0, 500.0)
    panel.apply_button.click()
    panel.largest_button.click()
    panels.settle()
    ball = _label(volume, panels.selected().mask.copy())
    panel.radius_spin.setValue(2.0)
    for operation, function in (
        ("dilate", morphology.dilate),
        ("erode", morphology.erode),
        ("open", morphology.opening),
        ("close", morphology.closing),
    ):
        panel.morph_buttons[operation].click()
        panels.settle()
        expected = function(ball, 2.0).array.astype(bool)
        assert np.array_equal(panels.selected().mask, expected), operation
        assert panels.editor.operations[-1] == {
            "op": "morphology",
            "segment": "Threshold",
            "operation": operation,
            "radius_mm": 2.0,
        }
        panels.editor.undo()

    # carve a closed cavity (a paint record, as the erase tool makes), then fill it
    centre = (np.array(BIG_BALL[0])).tolist()
    panels.edits.submit(
        {
            "op": "paint",
            "segment": "Threshold",
            "points_lps": [centre],
            "radius_mm": 3.0,
            "erase": True,
        }
    )
    panels.settle()
    hollow = panels.selected().voxel_count
    assert hollow < ball.voxel_count
    panel.fill_button.click()
    panels.settle()
    assert np.array_equal(panels.selected().mask, ball.array.astype(bool))
    assert panels.editor.undo_description() == "Fill holes of Threshold"

    panel.smooth_spin.setValue(1.5)
    panel.smooth_button.click()
    panels.settle()
    assert panels.editor.operations[-1] == {
        "op": "smooth",
        "segment": "Threshold",
        "radius_mm": 1.5,
    }
    assert panels.selected().voxel_count == pytest.approx(ball.voxel_count, rel=0.1)
    assert not panels.errors


def test_quick_edits_all_land_in_order(panels, synthetic_ct):
    volume = panels.load(synthetic_ct)
    panel = panels.segmentation
    panel.set_threshold_range(100.0, 500.0)
    # clicked before the segment exists: the edits wait for it and apply in turn
    panel.apply_button.click()
    panel.largest_button.click()
    panel.radius_spin.setValue(1.0)
    panel.morph_buttons["dilate"].click()
    panel.morph_buttons["erode"].click()
    panels.settle()
    assert not panels.errors
    ops = [record["op"] for record in panels.editor.operations]
    assert ops == ["add_segment", "threshold", "islands", "morphology", "morphology"]
    both = _label(volume, threshold_mask(volume.array, 100.0, 500.0))
    expected = islands.keep_largest(both)
    expected = morphology.erode(morphology.dilate(expected, 1.0), 1.0).array.astype(bool)
    assert np.array_equal(panels.selected().mask, expected)
    assert panels.selected().name == "Threshold"


def test_edit_buttons_ask_for_a_segment(panels, synthetic_ct):
    panels.load(synthetic_ct)
    panel = panels.segmentation
    panel.fill_holes()
    assert panels.messages[-1].startswith("Select a segment first")
    assert not panels.edits.busy() and not panels.editor.operations


def test_keep_clicked_island_selects_the_pick_island_tool(panels, synthetic_ct):
    panels.load(synthetic_ct)
    panel = panels.segmentation
    panel.apply_button.click()
    panels.settle()
    panels.qtbot.mouseClick(panel.pick_button, Qt.MouseButton.LeftButton)
    assert panels.viewer.tool == "pick_island" and panel.pick_button.isChecked()
    panels.qtbot.keyClick(panel, Qt.Key.Key_Escape)
    assert panels.viewer.tool == "navigate" and not panel.pick_button.isChecked()
    panels.viewer.set_tool("pick_island")  # chosen from the toolbar: the button follows
    assert panel.pick_button.isChecked()
    panels.viewer.set_tool("paint")
    assert not panel.pick_button.isChecked()


def test_histogram_drag_moves_the_bounds_and_previews(panels, synthetic_ct):
    panels.load(synthetic_ct)
    panel = panels.segmentation
    histogram = panel.histogram
    low, high = histogram.value_range()
    assert low == pytest.approx(-1000) and high == pytest.approx(BALL_HU)
    x_lower = round(histogram.value_to_x(panel.threshold_range()[0]))
    y = histogram.height() // 2
    target = round(histogram.value_to_x(0.0))
    qtbot = panels.qtbot
    qtbot.mousePress(histogram, Qt.MouseButton.LeftButton, pos=QPoint(x_lower, y))
    qtbot.mouseMove(histogram, QPoint(target, y))
    qtbot.mouseRelease(histogram, Qt.MouseButton.LeftButton, pos=QPoint(target, y))
    lower, _ = panel.threshold_range()
    assert abs(lower - 0.0) < (high - low) / histogram.width() * 2
    assert lower == panel.lower_spin.value(), "the range applied is the one shown"
    assert panel.preset_combo.currentData() == "custom"
    assert panel.preview_active()
    tinted = _tint(panels, INSIDE_BIG)
    assert tinted[2] > tinted[0] + 30
