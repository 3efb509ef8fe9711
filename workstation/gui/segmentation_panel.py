"""Segmentation panel: threshold presets and range with a live preview, islands, morphology.

Every button becomes one operation record on the selected segment, submitted to the
window's edit queue, which computes and commits the edits in order (one undo step each,
recorded for OPS.json); the panel never changes voxels itself.  The live threshold
preview is a display overlay only, not a segment.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.coded_concepts import preset_meaning
from workstation.core.errors import SegmentationError
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.core.volume import LabelMap, Volume
from workstation.gui.histogram_widget import HistogramWidget, compute_histogram
from workstation.gui.widgets import push_button, spin_box
from workstation.processing.presets import THRESHOLD_PRESETS, ThresholdPreset, resolve_threshold
from workstation.processing.threshold import threshold_mask
from workstation.services.segment_editor import SegmentEditor

if TYPE_CHECKING:
    from workstation.gui.context import AppContext
    from workstation.gui.workers import Job

PREVIEW_COLOR = (0.2, 0.8, 1.0)
OVERLAY_OPACITY = 0.45
CUSTOM = "custom"
#: Name of a segment made by "Apply threshold" on a custom range.
THRESHOLD_SEGMENT = "Threshold"
#: The tool that keeps the clicked island of the selected segment.
PICK_ISLAND_TOOL = "pick_island"
#: Morphology buttons: (operation of the record, button text).
MORPHOLOGY = (("dilate", "Dilate"), ("erode", "Erode"), ("open", "Open"), ("close", "Close"))


def presets_for(volume: Volume | None) -> list[ThresholdPreset]:
    """Threshold presets suitable for a volume: HU presets for CT in HU, percentiles otherwise."""
    presets = list(THRESHOLD_PRESETS.values())
    if volume is not None and volume.units == "HU":
        return [p for p in presets if not p.percentile]
    return [p for p in presets if p.percentile]


def segment_name_for(preset: ThresholdPreset | None) -> str:
    """The name of a segment a threshold makes: the preset's label, as ``workstation segment``."""
    return THRESHOLD_SEGMENT if preset is None else preset.label


def preview_label(
    volume: Volume,
    lower: float,
    upper: float,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> LabelMap:
    """The voxels a threshold would select, as a display-only label map (in a job)."""
    mask = threshold_mask(volume.array, lower, upper)
    cancel.raise_if_cancelled()
    return LabelMap(mask.view(np.uint8), volume.affine, name="Preview")


class SegmentationPanel(QWidget):
    """Threshold, islands, morphology, fill holes and smoothing of the selected segment."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("segmentationPanel")
        self.context = context
        self.session = context.session
        self._editor: SegmentEditor | None = None
        self._preview_job: Job | None = None
        self._pending_preview: tuple[float, float] | None = None
        self._preview_enabled = False
        #: the exact range the next threshold uses (a preset's values are not rounded)
        self._range: tuple[float, float] = (0.0, 0.0)
        #: a segment "Apply threshold" asked for that does not exist yet
        self._new_segment: str | None = None
        self._status_timer = QTimer(self)
        self._status_timer.setSingleShot(True)
        self._status_timer.setInterval(150)
        self._status_timer.timeout.connect(self._show_status)

        layout = QVBoxLayout(self)
        layout.addWidget(self._threshold_box())
        layout.addWidget(self._islands_box())
        layout.addWidget(self._morphology_box())
        self.status_label = QLabel("")
        self.status_label.setObjectName("segmentationStatus")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        self.session.subscribe("volume", self._volume_changed)
        self.session.subscribe("editor", self._editor_changed)
        context.viewer.subscribe("segment", self._selection_changed)
        context.viewer.subscribe("tool", self._tool_changed)
        context.edits.edit_failed.connect(self._edit_failed)
        self._volume_changed(self.session.volume)
        self._editor_changed(self.session.editor)

    # -- construction ---------------------------------------------------------------
    def _threshold_box(self) -> QGroupBox:
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("thresholdPreset")
        self.preset_combo.activated.connect(lambda _index: self._use_preset(show_preview=True))
        self.lower_spin = spin_box(-1e6, 1e6, decimals=1, tracking=False)
        self.upper_spin = spin_box(-1e6, 1e6, decimals=1, tracking=False)
        for spin in (self.lower_spin, self.upper_spin):
            spin.valueChanged.connect(self._spin_changed)
        self.histogram = HistogramWidget()
        self.histogram.range_changed.connect(self._histogram_moved)
        self.histogram.range_released.connect(self._histogram_moved)
        self.preview_check = QCheckBox("Live preview")
        self.preview_check.setChecked(True)
        self.preview_check.setToolTip("Show the voxels the range selects while you choose it")
        self.preview_check.toggled.connect(self._preview_toggled)
        self.apply_button = push_button(
            "Apply threshold",
            "Set the selected segment to the range (a new segment when none is selected)",
            self.apply_threshold,
        )
        self.apply_button.setObjectName("applyThreshold")
        box = QGroupBox("Threshold")
        form = QFormLayout(box)
        form.addRow("Preset", self.preset_combo)
        bounds = QHBoxLayout()
        bounds.addWidget(self.lower_spin)
        bounds.addWidget(QLabel("to"))
        bounds.addWidget(self.upper_spin)
        form.addRow("Range", bounds)
        form.addRow(self.histogram)
        row = QHBoxLayout()
        row.addWidget(self.preview_check)
        row.addWidget(self.apply_button)
        form.addRow(row)
        return box

    def _islands_box(self) -> QGroupBox:
        self.largest_button = push_button("Keep largest island", "", self.keep_largest)
        self.pick_button = QPushButton("Keep clicked island")
        self.pick_button.setCheckable(True)
        self.pick_button.setToolTip("Then click on the island to keep in a slice view (Esc stops)")
        self.pick_button.toggled.connect(self._pick_toggled)
        self.small_spin = spin_box(0.0, 1e7, " mm³", value=1000.0, step=100.0)
        self.small_button = push_button("Remove small islands", "", self.remove_small)
        self.split_button = push_button(
            "Split islands into segments",
            "Keep the largest island here; each other one becomes a segment",
            self.split_islands,
        )
        box = QGroupBox("Islands")
        grid = QGridLayout(box)
        grid.addWidget(self.largest_button, 0, 0)
        grid.addWidget(self.pick_button, 0, 1)
        grid.addWidget(self.small_spin, 1, 0)
        grid.addWidget(self.small_button, 1, 1)
        grid.addWidget(self.split_button, 2, 0, 1, 2)
        return box

    def _morphology_box(self) -> QGroupBox:
        self.radius_spin = spin_box(0.1, 50.0, " mm", value=2.0, step=0.5)
        self.morph_buttons: dict[str, QPushButton] = {}
        box = QGroupBox("Morphology")
        grid = QGridLayout(box)
        grid.addWidget(QLabel("Radius"), 0, 0)
        grid.addWidget(self.radius_spin, 0, 1)
        for number, (operation, text) in enumerate(MORPHOLOGY):
            button = push_button(
                text, "", lambda _=False, operation=operation: self.morphology(operation)
            )
            grid.addWidget(button, 1 + number // 2, number % 2)
            self.morph_buttons[operation] = button
        self.fill_button = push_button(
            "Fill holes", "Fill the cavities the segment encloses", self.fill_holes
        )
        grid.addWidget(self.fill_button, 3, 0, 1, 2)
        self.smooth_spin = spin_box(0.1, 20.0, " mm", value=1.0, step=0.5)
        self.smooth_spin.setToolTip("Standard deviation of the Gaussian smoothing")
        self.smooth_button = push_button(
            "Smooth", "Smooth the segment's surface by the radius on the left", self.smooth
        )
        grid.addWidget(self.smooth_spin, 4, 0)
        grid.addWidget(self.smooth_button, 4, 1)
        return box

    def _edit_buttons(self) -> list[QPushButton]:
        return [
            self.largest_button,
            self.pick_button,
            self.small_button,
            self.split_button,
            self.fill_button,
            self.smooth_button,
            *self.morph_buttons.values(),
        ]

    # -- session and selection ------------------------------------------------------
    def _volume_changed(self, volume: Volume | None) -> None:
        self._pending_preview = None
        self._preview_enabled = False
        self._new_segment = None
        self.preset_combo.clear()
        for preset in presets_for(volume):
            self.preset_combo.addItem(preset.label, preset.name)
        self.preset_combo.addItem("Custom range", CUSTOM)
        self.setEnabled(volume is not None)
        if volume is None:
            self.histogram.set_histogram(None, None)
            return
        edges, counts = compute_histogram(volume.array)
        self.histogram.set_histogram(edges, counts)
        self.preset_combo.setCurrentIndex(0)
        self._use_preset(show_preview=self.isVisible())  # a preview only while shown

    def _editor_changed(self, editor: SegmentEditor | None) -> None:
        if self._editor is not None:
            self._editor.unsubscribe("segments", self._segments_changed)
            self._editor.unsubscribe("voxels", self._voxels_changed)
        self._editor = editor
        self._new_segment = None
        if editor is not None:
            editor.subscribe("segments", self._segments_changed)
            editor.subscribe("voxels", self._voxels_changed)
        self._update_state()

    def _segments_changed(self, _payload: object = None) -> None:
        if self._new_segment is not None and self._editor is not None:
            created = self._editor.segmentation.by_name(self._new_segment)
            if created is not None:
                self._new_segment = None
                if self._selected_name() is None:
                    self.context.viewer.select_segment(created.segment_id)
        self._update_state()

    def _edit_failed(self, _error: object) -> None:
        name, editor = self._new_segment, self._editor
        if name is not None and editor is not None and editor.segmentation.by_name(name) is None:
            self._new_segment = None  # its add_segment failed: ask again next time
            self._update_state()

    def _voxels_changed(self, change: tuple[str, Any]) -> None:
        if change[0] == self.context.viewer.selected_segment:
            self._status_timer.start()  # strokes change voxels dab by dab: count once

    def _selection_changed(self, _segment_id: str | None) -> None:
        self._update_state()

    def _selected_name(self) -> str | None:
        segment = self.context.selected_segment()
        return None if segment is None else segment.name

    def target_segment(self) -> str | None:
        """Name of the segment the buttons edit: the selected one, or the one being made."""
        return self._selected_name() or self._new_segment

    def _update_state(self) -> None:
        editable = self.target_segment() is not None
        for button in self._edit_buttons():
            button.setEnabled(editable)
        self._show_status()

    def _show_status(self) -> None:
        segment = self.context.selected_segment()
        if segment is None or self._editor is None:
            text = (
                f"Making segment {self._new_segment}…"
                if self._new_segment
                else "No segment selected: Apply threshold makes one."
            )
        else:
            count = segment.voxel_count
            millilitres = count * self._editor.segmentation.voxel_volume_mm3 / 1000.0
            text = f"{segment.name}: {count:,} voxels, {millilitres:,.1f} ml"
        self.status_label.setText(text)

    # -- threshold range --------------------------------------------------------------
    def threshold_range(self) -> tuple[float, float]:
        """The (lower, upper) range the next threshold uses."""
        return self._range

    def set_threshold_range(self, lower: float, upper: float) -> None:
        """Set both bounds (as if typed), updating histogram and preview."""
        self._bounds_edited(lower, upper, exact=True)

    def current_preset(self) -> ThresholdPreset | None:
        """The preset shown in the combo box, or None for a custom range."""
        return THRESHOLD_PRESETS.get(self.preset_combo.currentData())

    def _use_preset(self, show_preview: bool) -> None:
        preset = self.current_preset()
        volume = self.session.volume
        if volume is None or preset is None:
            return
        try:
            lower, upper = resolve_threshold(preset.name, volume)
        except SegmentationError as error:
            self.status_label.setText(str(error))
            return
        self._set_range(lower, upper)
        if show_preview:
            self._range_edited()

    def _set_range(self, lower: float, upper: float, exact: bool = True) -> None:
        """Show the bounds; ``exact`` keeps them as given, else as the spin boxes round them."""
        low, high = self.histogram.value_range()
        for spin, value in ((self.lower_spin, lower), (self.upper_spin, upper)):
            spin.blockSignals(True)
            spin.setRange(min(low, lower) - 1.0, max(high, upper) + 1.0)
            spin.setValue(value)
            spin.blockSignals(False)
        rounded = (self.lower_spin.value(), self.upper_spin.value())
        self._range = (float(lower), float(upper)) if exact else rounded
        self.histogram.set_range(*self._range)

    def _spin_changed(self) -> None:
        self._bounds_edited(self.lower_spin.value(), self.upper_spin.value(), exact=True)

    def _histogram_moved(self, lower: float, upper: float) -> None:
        self._bounds_edited(lower, upper, exact=False)

    def _bounds_edited(self, lower: float, upper: float, exact: bool) -> None:
        self._set_range(lower, upper, exact)
        self._select_custom()
        self._range_edited()

    def _select_custom(self) -> None:
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(CUSTOM))

    # -- preview ------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        """The threshold tool is in front: show the live preview of its range at once."""
        super().showEvent(event)
        if not self._preview_enabled:
            self._range_edited()

    def hideEvent(self, event: QHideEvent) -> None:
        """Another tab is in front: the preview belongs to this tool only."""
        super().hideEvent(event)
        self.hide_preview()

    def _range_edited(self) -> None:
        if self.preview_check.isChecked() and self.session.volume is not None:
            self._preview_enabled = True
            self.request_preview(*self.threshold_range())

    def _preview_toggled(self, checked: bool) -> None:
        if checked:
            self._range_edited()
        else:
            self.hide_preview()

    def hide_preview(self) -> None:
        """Take the threshold preview off the slice views."""
        self._pending_preview = None
        if self._preview_enabled:
            self._preview_enabled = False
            self.context.views.set_label_overlay(None)

    def request_preview(self, lower: float, upper: float) -> None:
        """Show a threshold preview; requests arriving during one are coalesced."""
        if self._preview_job is not None:
            self._pending_preview = (lower, upper)
            return
        volume = self.session.volume
        if volume is None:
            return
        self._preview_job = self.context.runner.submit(
            "Threshold preview",
            preview_label,
            volume,
            lower,
            upper,
            on_result=partial(self._preview_ready, volume),
            on_finished=self._preview_finished,
            foreground=False,
        )

    def _preview_ready(self, volume: Volume, label: LabelMap) -> None:
        if volume is self.session.volume and self._preview_enabled:
            self.context.views.set_label_overlay(label, PREVIEW_COLOR, OVERLAY_OPACITY)

    def _preview_finished(self) -> None:
        self._preview_job = None
        if self._pending_preview is not None:
            pending, self._pending_preview = self._pending_preview, None
            self.request_preview(*pending)

    def preview_active(self) -> bool:
        """True while the slice views show (or are about to show) a threshold preview."""
        return self._preview_enabled

    def is_busy(self) -> bool:
        """True while a preview is computing or waiting to."""
        return self._preview_job is not None or self._pending_preview is not None

    # -- edits ----------------------------------------------------------------------------
    def _submit(self, record: dict[str, Any], title: str) -> None:
        self.context.edits.submit(record, title)

    def _target_or_ask(self) -> str | None:
        name = self.target_segment()
        if name is None:
            text = "Select a segment first (Apply threshold makes one)."
            self.status_label.setText(text)
            self.context.show_message(text)
        return name

    def apply_threshold(self) -> None:
        """Set the selected segment to the range; a new segment when none is selected."""
        editor = self.session.editor
        if editor is None:
            return
        lower, upper = sorted(self.threshold_range())
        self.hide_preview()
        name = self.target_segment()
        if name is None:
            name = editor.segmentation.unique_name(segment_name_for(self.current_preset()))
            self._new_segment = name
            preset = self.current_preset()
            meaning = preset_meaning(preset.name if preset else None)
            record = {"op": "add_segment", "name": name, **meaning}
            self._submit(record, f"Add segment {name}")
            self._update_state()
        record = {"op": "threshold", "segment": name, "lower": lower, "upper": upper}
        self._submit(record, f"Threshold {name} {lower:g} to {upper:g}")

    def _islands(self, mode: str, title: str, **fields: Any) -> None:
        name = self._target_or_ask()
        if name is not None:
            self._submit({"op": "islands", "segment": name, "mode": mode, **fields}, title)

    def keep_largest(self) -> None:
        """Keep only the largest island of the segment."""
        self._islands("keep_largest", "Keep largest island")

    def remove_small(self) -> None:
        """Remove the islands smaller than the chosen volume."""
        minimum = self.small_spin.value()
        self._islands("remove_small", f"Remove islands < {minimum:g} mm³", min_mm3=minimum)

    def split_islands(self) -> None:
        """Keep the largest island; every other island becomes a segment of its own."""
        self._islands("split", "Split islands")

    def morphology(self, operation: str) -> None:
        """Dilate, erode, open or close the segment by the chosen radius in mm."""
        name = self._target_or_ask()
        if name is None:
            return
        radius = self.radius_spin.value()
        record = {"op": "morphology", "segment": name, "operation": operation, "radius_mm": radius}
        self._submit(record, f"{operation.capitalize()} {name} {radius:g} mm")

    def fill_holes(self) -> None:
        """Fill the cavities the segment encloses."""
        name = self._target_or_ask()
        if name is not None:
            self._submit({"op": "fill_holes", "segment": name}, f"Fill holes of {name}")

    def smooth(self) -> None:
        """Smooth the segment by the chosen radius in mm."""
        name = self._target_or_ask()
        if name is None:
            return
        radius = self.smooth_spin.value()
        record = {"op": "smooth", "segment": name, "radius_mm": radius}
        self._submit(record, f"Smooth {name} {radius:g} mm")

    # -- the pick-island tool -----------------------------------------------------------
    def _pick_toggled(self, checked: bool) -> None:
        viewer = self.context.viewer
        if checked:
            viewer.set_tool(PICK_ISLAND_TOOL)
            self.status_label.setText("Click on the island to keep in a slice view.")
        elif viewer.tool == PICK_ISLAND_TOOL:
            viewer.set_tool("navigate")

    def _tool_changed(self, tool: str) -> None:
        self.pick_button.blockSignals(True)
        self.pick_button.setChecked(tool == PICK_ISLAND_TOOL)
        self.pick_button.blockSignals(False)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.pick_button.isChecked():
            self.pick_button.setChecked(False)
            return
        super().keyPressEvent(event)
