"""Editing options: brush radius and shape, editable intensity range, scissors settings.

The controls mirror the viewer state both ways: changing a control sets the viewer
state, and a change made elsewhere shows in the control.  ``[`` and ``]`` shrink and
grow the brush anywhere in the window (not while a text field takes the keys).
The editable intensity range limits painting and growing from seeds to the voxels whose
image value lies within it (3D Slicer's masking setting).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from workstation.core.viewer_state import BRUSH_RADIUS_RANGE, BrushSettings, ScissorsSettings
from workstation.gui.tools.paint import change_brush_radius
from workstation.gui.widgets import spin_box

BRUSH_SHAPES = (("sphere", "Sphere"), ("disc", "Disc (this slice)"))
SCISSORS_SHAPES = (("lasso", "Free-hand"), ("polygon", "Polygon"), ("rectangle", "Rectangle"))
SCISSORS_MODES = (
    ("erase_inside", "Erase inside"),
    ("erase_outside", "Erase outside"),
    ("fill_inside", "Fill inside"),
)
#: Default range offered when the editable intensity range is first switched on (CT bone).
DEFAULT_RANGE = (200.0, 3000.0)
#: Default slab depth offered when the scissors are first limited to a slab.
DEFAULT_DEPTH_MM = 10.0


def _combo(entries: tuple[tuple[str, str], ...], tooltip: str) -> QComboBox:
    combo = QComboBox()
    for key, label in entries:
        combo.addItem(label, key)
    combo.setToolTip(tooltip)
    return combo


class EditOptions(QWidget):
    """Brush, intensity-range and scissors controls bound to the window's viewer state."""

    def __init__(self, context: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = context.viewer
        self._showing = False

        self.radius_spin = spin_box(*BRUSH_RADIUS_RANGE, " mm", decimals=2, tracking=False)
        self.radius_spin.setToolTip("Brush radius ([ and ] in a slice view change it)")
        self.brush_shape = _combo(BRUSH_SHAPES, "A ball, or a disc one slice thick")
        self.range_check = QCheckBox("Editable intensity range")
        self.range_check.setToolTip("Paint and grow only where the image value lies in the range")
        self.range_low = spin_box(-1e6, 1e6, decimals=1, tracking=False)
        self.range_high = spin_box(-1e6, 1e6, decimals=1, tracking=False)
        self.scissors_shape = _combo(SCISSORS_SHAPES, "How the scissors outline is drawn")
        self.scissors_mode = _combo(SCISSORS_MODES, "What the scissors do inside the outline")
        self.slab_check = QCheckBox("Slab only")
        self.slab_check.setToolTip("Cut only within this depth around the drawn outline")
        self.depth_spin = spin_box(0.1, 10000.0, " mm", decimals=1, tracking=False)
        self.depth_spin.setValue(DEFAULT_DEPTH_MM)

        brush_box = QGroupBox("Brush")
        brush_form = QFormLayout(brush_box)
        brush_form.addRow("Radius", self.radius_spin)
        brush_form.addRow("Shape", self.brush_shape)
        brush_form.addRow(self.range_check)
        limits = QHBoxLayout()
        limits.addWidget(self.range_low)
        limits.addWidget(QLabel("to"))
        limits.addWidget(self.range_high)
        brush_form.addRow(limits)
        scissors_box = QGroupBox("Scissors")
        scissors_form = QFormLayout(scissors_box)
        scissors_form.addRow("Outline", self.scissors_shape)
        scissors_form.addRow("Action", self.scissors_mode)
        slab = QHBoxLayout()
        slab.addWidget(self.slab_check)
        slab.addWidget(self.depth_spin)
        scissors_form.addRow(slab)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(brush_box)
        layout.addWidget(scissors_box)

        for spin in (self.radius_spin, self.range_low, self.range_high, self.depth_spin):
            spin.valueChanged.connect(self._changed)
        for combo in (self.brush_shape, self.scissors_shape, self.scissors_mode):
            combo.currentIndexChanged.connect(self._changed)
        for check in (self.range_check, self.slab_check):
            check.toggled.connect(self._changed)
        for key, grow in (("]", True), ("[", False)):
            shortcut = QShortcut(QKeySequence(key), self, context=Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(lambda grow=grow: change_brush_radius(context, grow))
        self.viewer.subscribe("brush", self._show_brush)
        self.viewer.subscribe("scissors", self._show_scissors)
        self._show_brush(self.viewer.brush)
        self._show_scissors(self.viewer.scissors)

    # -- viewer state → controls ------------------------------------------------------
    def _show_brush(self, brush: BrushSettings) -> None:
        self._showing = True
        self.radius_spin.setValue(brush.radius_mm)
        self.brush_shape.setCurrentIndex(self.brush_shape.findData(brush.shape))
        limited = brush.intensity_range is not None
        self.range_check.setChecked(limited)
        low, high = brush.intensity_range if limited else self._range_or_default()
        self.range_low.setValue(low)
        self.range_high.setValue(high)
        self.range_low.setEnabled(limited)
        self.range_high.setEnabled(limited)
        self._showing = False

    def _range_or_default(self) -> tuple[float, float]:
        low, high = self.range_low.value(), self.range_high.value()
        return (low, high) if high > low else DEFAULT_RANGE

    def _show_scissors(self, scissors: ScissorsSettings) -> None:
        self._showing = True
        self.scissors_shape.setCurrentIndex(self.scissors_shape.findData(scissors.shape))
        self.scissors_mode.setCurrentIndex(self.scissors_mode.findData(scissors.mode))
        self.slab_check.setChecked(scissors.depth_mm is not None)
        if scissors.depth_mm is not None:
            self.depth_spin.setValue(scissors.depth_mm)
        self.depth_spin.setEnabled(scissors.depth_mm is not None)
        self._showing = False

    # -- controls → viewer state ------------------------------------------------------
    def _changed(self, *_: object) -> None:
        if self._showing:
            return
        intensity = None
        if self.range_check.isChecked():
            low, high = sorted((self.range_low.value(), self.range_high.value()))
            intensity = (low, high)
        self.viewer.set_brush(
            radius_mm=self.radius_spin.value(),
            shape=self.brush_shape.currentData(),
            intensity_range=intensity,
        )
        self.viewer.set_scissors(
            shape=self.scissors_shape.currentData(),
            mode=self.scissors_mode.currentData(),
            depth_mm=self.depth_spin.value() if self.slab_check.isChecked() else None,
        )
        self._show_brush(self.viewer.brush)
        self._show_scissors(self.viewer.scissors)
