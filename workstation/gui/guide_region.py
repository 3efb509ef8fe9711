"""The guide's contact region in the Guide panel: a sphere or brush dabs on the bone.

A sphere has a centre (LPS mm, set by typing or by a click on the bone with the Guide
region tool) and a radius; the brush is a set of dabs of one radius painted by dragging
over the bone.  The editor is the region tool's target (``set_region_target``), draws
the region as translucent spheres in the 3D view and gives the PLAN.json ``region``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QWidget,
)

from workstation.gui.views.guide_3d import RegionDisplay
from workstation.gui.widgets import push_button, spin_box

#: The tool whose clicks set the region.
REGION_TOOL = "guide_region"


class RegionEditor(QWidget):
    """Sphere centre and radius, or the brush's dabs; shown in the 3D view as it changes."""

    #: a click or dab landed on this model (its id): the bone to use
    model_picked = Signal(str)
    #: the user asked to pick on the model (the panel makes the region tool active)
    pick_requested = Signal()
    #: the region changed (a click, a dab, a typed value; not emitted by ``load``)
    edited = Signal()

    def __init__(self, view_3d: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.brush_points: list[np.ndarray] = []
        self.display = RegionDisplay(view_3d)
        self._loading = False
        self.mode_combo = QComboBox()
        self.mode_combo.addItem("Sphere", "sphere")
        self.mode_combo.addItem("Brush on the model", "brush")
        self.mode_combo.currentIndexChanged.connect(self._mode_changed)
        self.center_spins = [spin_box(-2000.0, 2000.0, decimals=3) for _ in range(3)]
        self.radius_spin = spin_box(0.5, 200.0, " mm", value=15.0, decimals=1)
        self.brush_spin = spin_box(0.5, 50.0, " mm", value=4.0, decimals=1)
        for spin in (*self.center_spins, self.radius_spin, self.brush_spin):
            spin.valueChanged.connect(self._changed)
        self.brush_label = QLabel("")
        self.pick_button = push_button(
            "Pick on model",
            "Click (sphere) or drag (brush) on the bone in the 3D view",
            self.pick_requested.emit,
        )
        self.clear_brush_button = push_button("Clear", "Remove the painted dabs", self.clear_brush)
        self.show_check = QCheckBox("Show region")
        self.show_check.setChecked(True)
        self.show_check.toggled.connect(self._changed)

        sphere_page, brush_page = QWidget(), QWidget()
        sphere_form = QFormLayout(sphere_page)
        centre = QHBoxLayout()
        for spin in self.center_spins:
            centre.addWidget(spin)
        sphere_form.addRow("Centre (LPS mm)", centre)
        sphere_form.addRow("Radius", self.radius_spin)
        brush_form = QFormLayout(brush_page)
        brush_form.addRow("Dab radius", self.brush_spin)
        dabs = QHBoxLayout()
        dabs.addWidget(self.brush_label, 1)
        dabs.addWidget(self.clear_brush_button)
        brush_form.addRow("Painted", dabs)
        self.pages = QStackedWidget()
        self.pages.addWidget(sphere_page)
        self.pages.addWidget(brush_page)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Region", self.mode_combo)
        form.addRow(self.pages)
        pick_row = QHBoxLayout()
        pick_row.addWidget(self.pick_button)
        pick_row.addWidget(self.show_check)
        form.addRow(pick_row)
        self._mode_changed()

    # -- the region tool's target -------------------------------------------------------
    def region_mode(self) -> str:
        """The region's form: "sphere" or "brush"."""
        return str(self.mode_combo.currentData())

    def set_mode(self, mode: str) -> None:
        """Switch to "sphere" or "brush"."""
        self.mode_combo.setCurrentIndex(self.mode_combo.findData(mode))

    def brush_radius_mm(self) -> float:
        """The radius of each brush dab."""
        return float(self.brush_spin.value())

    def set_sphere_center(self, point_lps: np.ndarray, model_id: str | None = None) -> None:
        """Centre the sphere at an LPS point (a click on the bone)."""
        self._loading = True
        for spin, value in zip(self.center_spins, np.asarray(point_lps, float), strict=True):
            spin.setValue(float(value))
        self._loading = False
        self._picked(model_id)
        self._changed()

    def add_brush_points(self, points_lps: list[np.ndarray], model_id: str | None = None) -> None:
        """Add painted dabs."""
        self.brush_points.extend(np.asarray(p, dtype=np.float64).reshape(3) for p in points_lps)
        self._picked(model_id)
        self._changed()

    def _picked(self, model_id: str | None) -> None:
        if model_id is not None:
            self.model_picked.emit(model_id)

    # -- reading and writing ------------------------------------------------------------
    def sphere_center(self) -> np.ndarray:
        """The sphere's centre (LPS mm)."""
        return np.array([spin.value() for spin in self.center_spins])

    def clear_brush(self) -> None:
        """Remove every painted dab."""
        self.brush_points = []
        self._changed()

    def reset(self) -> None:
        """Forget the dabs and stop drawing the region (another case was loaded)."""
        self.brush_points = []
        self.brush_label.setText("0 dab(s)")
        self.display.clear()

    def spheres(self) -> list[tuple[np.ndarray, float]]:
        """The region as (centre, radius) spheres."""
        if self.region_mode() == "brush":
            return [(point, self.brush_radius_mm()) for point in self.brush_points]
        return [(self.sphere_center(), float(self.radius_spin.value()))]

    def value(self) -> dict[str, Any]:
        """The PLAN.json ``region``: {"sphere": ...} or {"brush": ...}."""
        if self.region_mode() == "brush":
            points = [[float(v) for v in point] for point in self.brush_points]
            return {"brush": {"radius_mm": self.brush_radius_mm(), "points_lps": points}}
        center = [float(v) for v in self.sphere_center()]
        return {"sphere": {"center_lps": center, "radius_mm": float(self.radius_spin.value())}}

    def load(self, region: dict[str, Any]) -> None:
        """Show a saved plan's region (sphere or brush); other forms are left as they are."""
        self._loading = True
        try:
            if "brush" in region:
                brush = region["brush"]
                self.set_mode("brush")
                self.brush_spin.setValue(float(brush.get("radius_mm", self.brush_radius_mm())))
                self.brush_points = [np.asarray(p, dtype=np.float64) for p in brush["points_lps"]]
            elif "sphere" in region:
                sphere = region["sphere"]
                self.set_mode("sphere")
                for spin, value in zip(self.center_spins, sphere["center_lps"], strict=True):
                    spin.setValue(float(value))
                self.radius_spin.setValue(float(sphere["radius_mm"]))
        finally:
            self._loading = False
        self._redraw()

    def _mode_changed(self, *_: object) -> None:
        self.pages.setCurrentIndex(0 if self.region_mode() == "sphere" else 1)
        self._changed()

    def _changed(self, *_: object) -> None:
        if self._loading:
            return
        self._redraw()
        self.edited.emit()

    def _redraw(self) -> None:
        self.brush_label.setText(f"{len(self.brush_points)} dab(s)")
        self.display.show(self.spheres(), self.show_check.isChecked())
