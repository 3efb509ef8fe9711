"""Segmentation panel: threshold presets and range with a live overlay, islands, morphology.

Every edit runs in a job and lands in the Session as one undoable step; the overlay on
the slice views shows a live threshold preview while the bounds move, then the label.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import SegmentationError
from workstation.core.volume import LabelMap, Volume
from workstation.gui.histogram_widget import HistogramWidget, compute_histogram
from workstation.processing.presets import THRESHOLD_PRESETS, resolve_threshold
from workstation.processing.threshold import nothing_selected, threshold, threshold_mask

if TYPE_CHECKING:
    from workstation.gui.main_window import MainWindow

LABEL_COLOR = (1.0, 0.6, 0.1)
PREVIEW_COLOR = (0.2, 0.8, 1.0)
OVERLAY_OPACITY = 0.45
CUSTOM = "custom"


def presets_for(volume: Volume | None) -> list[Any]:
    """Threshold presets suitable for a volume: HU presets for CT in HU, percentiles otherwise."""
    presets = list(THRESHOLD_PRESETS.values())
    if volume is not None and volume.units == "HU":
        return [p for p in presets if not p.percentile]
    return [p for p in presets if p.percentile]


def _preview_label(volume: Volume, lower: float, upper: float, progress, cancel) -> LabelMap:
    mask = threshold_mask(volume.array, lower, upper)
    cancel.raise_if_cancelled()
    return LabelMap(mask.view(np.uint8), volume.affine, name="Preview")


class SegmentationPanel(QWidget):
    """Threshold, islands, morphology and undo/redo on the window's Session."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.setObjectName("segmentationPanel")
        self.window_ = window
        self.session = window.session
        self._preview_job = None
        self._pending_preview: tuple[float, float] | None = None
        self._preview_enabled = False
        self._picking = False

        self.preset_combo = QComboBox()
        self.lower_spin = QDoubleSpinBox()
        self.upper_spin = QDoubleSpinBox()
        for spin in (self.lower_spin, self.upper_spin):
            spin.setDecimals(1)
            spin.setRange(-1e6, 1e6)
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(self._spin_changed)
        self.histogram = HistogramWidget()
        self.histogram.range_changed.connect(self._histogram_moved)
        self.histogram.range_released.connect(self._histogram_moved)
        self.preview_check = QCheckBox("Live preview")
        self.preview_check.setChecked(True)
        self.preview_check.toggled.connect(self._preview_toggled)
        self.apply_button = QPushButton("Apply threshold")
        self.apply_button.setObjectName("applyThreshold")
        self.apply_button.clicked.connect(self.apply_threshold)

        threshold_box = QGroupBox("Threshold")
        form = QFormLayout(threshold_box)
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
        self.preset_combo.currentIndexChanged.connect(self._preset_chosen)

        self.largest_button = QPushButton("Keep largest island")
        self.largest_button.clicked.connect(self.keep_largest)
        self.clicked_button = QPushButton("Keep clicked island")
        self.clicked_button.setCheckable(True)
        self.clicked_button.setToolTip("Then click on the island to keep in a slice view")
        self.clicked_button.toggled.connect(self._pick_toggled)
        self.small_spin = QDoubleSpinBox()
        self.small_spin.setRange(0.0, 1e7)
        self.small_spin.setValue(1000.0)
        self.small_spin.setSuffix(" mm³")
        self.small_button = QPushButton("Remove small islands")
        self.small_button.clicked.connect(self.remove_small)
        islands_box = QGroupBox("Islands")
        grid = QGridLayout(islands_box)
        grid.addWidget(self.largest_button, 0, 0)
        grid.addWidget(self.clicked_button, 0, 1)
        grid.addWidget(self.small_spin, 1, 0)
        grid.addWidget(self.small_button, 1, 1)

        self.radius_spin = QDoubleSpinBox()
        self.radius_spin.setRange(0.1, 50.0)
        self.radius_spin.setValue(2.0)
        self.radius_spin.setSingleStep(0.5)
        self.radius_spin.setSuffix(" mm")
        self.morph_buttons = {}
        morphology_box = QGroupBox("Morphology")
        grid = QGridLayout(morphology_box)
        grid.addWidget(QLabel("Radius"), 0, 0)
        grid.addWidget(self.radius_spin, 0, 1)
        for number, name in enumerate(("dilate", "erode", "opening", "closing")):
            button = QPushButton(name.capitalize())
            button.clicked.connect(lambda _=False, name=name: self.morphology(name))
            grid.addWidget(button, 1 + number // 2, number % 2)
            self.morph_buttons[name] = button
        self.fill_button = QPushButton("Fill holes")
        self.fill_button.clicked.connect(self.fill_holes)
        grid.addWidget(self.fill_button, 3, 0, 1, 2)

        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.session.undo)
        self.redo_button = QPushButton("Redo")
        self.redo_button.clicked.connect(self.session.redo)
        self.status_label = QLabel("No segmentation")
        self.status_label.setWordWrap(True)
        history = QHBoxLayout()
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)

        layout = QVBoxLayout(self)
        layout.addWidget(threshold_box)
        layout.addWidget(islands_box)
        layout.addWidget(morphology_box)
        layout.addLayout(history)
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        self.session.subscribe("volume", self._volume_changed)
        self.session.subscribe("label", self._label_changed)
        self.session.subscribe("history", self._history_changed)
        self._volume_changed(self.session.volume)

    # -- state ----------------------------------------------------------------------
    def _edit_buttons(self) -> list[QPushButton]:
        return [
            self.largest_button,
            self.clicked_button,
            self.small_button,
            self.fill_button,
            *self.morph_buttons.values(),
        ]

    def _volume_changed(self, volume: Volume | None) -> None:
        self._pending_preview = None
        self._preview_enabled = False
        self.preset_combo.blockSignals(True)
        self.preset_combo.clear()
        for preset in presets_for(volume):
            self.preset_combo.addItem(preset.label, preset.name)
        self.preset_combo.addItem("Custom range", CUSTOM)
        self.preset_combo.blockSignals(False)
        self.setEnabled(volume is not None)
        if volume is None:
            self.histogram.set_histogram(None, None)
            return
        edges, counts = compute_histogram(volume.array)
        self.histogram.set_histogram(edges, counts)
        self.preset_combo.setCurrentIndex(0)
        self._preset_chosen()
        self._preview_enabled = False  # no preview until the user touches the range

    def _label_changed(self, label: LabelMap | None) -> None:
        for button in self._edit_buttons():
            button.setEnabled(label is not None)
        if label is None:
            self.status_label.setText("No segmentation: choose a range and Apply threshold.")
        else:
            self.status_label.setText(
                f"Segmentation: {label.voxel_count:,} voxels, {label.volume_mm3 / 1000.0:,.1f} ml"
            )
        if not self._preview_enabled:
            self.show_label_overlay()

    def _history_changed(self, state: tuple[bool, bool]) -> None:
        can_undo, can_redo = state
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)
        self.undo_button.setToolTip(f"Undo {self.session.undo_description()}")
        self.redo_button.setToolTip(f"Redo {self.session.redo_description()}")

    def show_label_overlay(self) -> None:
        """Show the session's label map (not the preview) on the slice views."""
        self.window_.views.set_label_overlay(self.session.label, LABEL_COLOR, OVERLAY_OPACITY)

    # -- threshold ------------------------------------------------------------------
    def threshold_range(self) -> tuple[float, float]:
        """The (lower, upper) bounds shown in the spin boxes."""
        return self.lower_spin.value(), self.upper_spin.value()

    def set_threshold_range(self, lower: float, upper: float) -> None:
        """Set both bounds (as if typed), updating histogram and preview."""
        self._set_range(lower, upper, source=None)
        self._range_edited()

    def _preset_chosen(self) -> None:
        name = self.preset_combo.currentData()
        volume = self.session.volume
        if volume is None or name in (None, CUSTOM):
            return
        try:
            lower, upper = resolve_threshold(name, volume)
        except SegmentationError as error:
            self.status_label.setText(str(error))
            return
        self._set_range(lower, upper, source=None)
        self._range_edited()

    def _set_range(self, lower: float, upper: float, source: object) -> None:
        low, high = self.histogram.value_range()
        for spin in (self.lower_spin, self.upper_spin):
            spin.blockSignals(True)
            spin.setRange(min(low, lower) - 1.0, max(high, upper) + 1.0)
        self.lower_spin.setValue(lower)
        self.upper_spin.setValue(upper)
        for spin in (self.lower_spin, self.upper_spin):
            spin.blockSignals(False)
        if source is not self.histogram:
            self.histogram.set_range(lower, upper)

    def _spin_changed(self) -> None:
        lower, upper = self.threshold_range()
        self.histogram.set_range(lower, upper)
        self._select_custom()
        self._range_edited()

    def _histogram_moved(self, lower: float, upper: float) -> None:
        self._set_range(lower, upper, source=self.histogram)
        self._select_custom()
        self._range_edited()

    def _select_custom(self) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentIndex(self.preset_combo.findData(CUSTOM))
        self.preset_combo.blockSignals(False)

    def _range_edited(self) -> None:
        if self.preview_check.isChecked() and self.session.volume is not None:
            self._preview_enabled = True
            self.request_preview(*self.threshold_range())

    def _preview_toggled(self, checked: bool) -> None:
        if checked:
            self._range_edited()
        else:
            self._preview_enabled = False
            self.show_label_overlay()

    def request_preview(self, lower: float, upper: float) -> None:
        """Show a threshold preview; requests arriving during one are coalesced."""
        if self._preview_job is not None:
            self._pending_preview = (lower, upper)
            return
        volume = self.session.volume
        if volume is None:
            return
        self._preview_job = self.window_.runner.submit(
            "Threshold preview",
            _preview_label,
            volume,
            lower,
            upper,
            on_result=lambda label, volume=volume: self._preview_ready(volume, label),
            on_finished=self._preview_finished,
            foreground=False,
        )

    def _preview_ready(self, volume: Volume, label: LabelMap) -> None:
        if volume is self.session.volume and self._preview_enabled:
            self.window_.views.set_label_overlay(label, PREVIEW_COLOR, OVERLAY_OPACITY)

    def _preview_finished(self) -> None:
        self._preview_job = None
        if self._pending_preview is not None:
            pending, self._pending_preview = self._pending_preview, None
            self.request_preview(*pending)

    def apply_threshold(self) -> None:
        """Threshold the volume at full resolution and make it the segmentation."""
        volume = self.session.volume
        if volume is None:
            return
        lower, upper = self.threshold_range()
        self._preview_enabled = False
        self._pending_preview = None

        def run(progress, cancel):
            label = threshold(volume, lower, upper)
            if label.voxel_count == 0:
                raise SegmentationError(nothing_selected(volume, lower, upper))
            return label

        self._run_edit(f"Threshold {lower:g}..{upper:g}", run, volume)

    # -- label edits ----------------------------------------------------------------
    def _run_edit(self, title: str, fn, volume: Volume | None = None) -> None:
        volume = volume or self.session.volume

        def done(label: LabelMap) -> None:
            if volume is self.session.volume:
                self.session.set_label(label, title)

        def failed(error) -> None:
            self.show_label_overlay()
            self.window_.report_error(error)

        self.window_.runner.submit(title, fn, on_result=done, on_error=failed)

    def _current_label(self) -> LabelMap | None:
        label = self.session.label
        if label is None:
            self.status_label.setText("Apply a threshold first.")
        return label

    def keep_largest(self) -> None:
        """Keep only the largest connected island."""
        label = self._current_label()
        if label is None:
            return
        from workstation.processing.islands import keep_largest

        self._run_edit("Keep largest island", lambda progress, cancel: keep_largest(label))

    def remove_small(self) -> None:
        """Remove islands smaller than the chosen volume."""
        label = self._current_label()
        if label is None:
            return
        from workstation.processing.islands import remove_small

        minimum = self.small_spin.value()
        self._run_edit(
            f"Remove islands < {minimum:g} mm³",
            lambda progress, cancel: remove_small(label, minimum),
        )

    def _pick_toggled(self, checked: bool) -> None:
        views = self.window_.views
        if checked:
            self._picking = True
            views.set_interaction_mode("pick_seed")
            views.point_picked.connect(self._seed_picked)
            self.status_label.setText("Click on the island to keep in a slice view.")
        elif self._picking:
            self._picking = False
            views.point_picked.disconnect(self._seed_picked)
            views.set_interaction_mode("navigate")

    def _seed_picked(self, point: object) -> None:
        self.clicked_button.setChecked(False)
        self.keep_island_at(np.asarray(point, dtype=float))

    def keep_island_at(self, seed_lps: np.ndarray) -> None:
        """Keep only the island containing the LPS point ``seed_lps``."""
        label = self._current_label()
        if label is None:
            return
        from workstation.processing.islands import keep_connected_to

        seed = tuple(float(v) for v in seed_lps)
        self._run_edit(
            "Keep clicked island", lambda progress, cancel: keep_connected_to(label, seed)
        )

    def morphology(self, operation: str) -> None:
        """Dilate, erode, opening or closing with the chosen radius in mm."""
        label = self._current_label()
        if label is None:
            return
        from workstation.processing import morphology

        function = getattr(morphology, operation)
        radius = self.radius_spin.value()
        self._run_edit(
            f"{operation.capitalize()} {radius:g} mm",
            lambda progress, cancel: function(label, radius),
        )

    def fill_holes(self) -> None:
        """Fill enclosed cavities."""
        label = self._current_label()
        if label is None:
            return
        from workstation.processing.morphology import fill_cavities

        self._run_edit("Fill holes", lambda progress, cancel: fill_cavities(label))

    def preview_active(self) -> bool:
        """True while the overlay shows a threshold preview rather than the label."""
        return self._preview_enabled

    def is_busy(self) -> bool:
        """True while a preview is computing."""
        return self._preview_job is not None

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.clicked_button.isChecked():
            self.clicked_button.setChecked(False)
            return
        super().keyPressEvent(event)
