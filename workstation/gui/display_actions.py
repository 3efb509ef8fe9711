"""The display controls of the View menu and toolbar: window/level presets, volume rendering.

They change only what the views show (through the viewer state and the view layout),
never the study's data.
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QComboBox, QMainWindow, QMenu, QToolBar, QToolButton

from workstation.core.display_presets import (
    SERIES_WINDOW,
    VOLUME_RENDERING_PRESETS,
    WINDOW_PRESETS,
    default_volume_rendering_preset,
    window_presets_for,
)
from workstation.core.volume import Volume
from workstation.gui.context import AppContext


class DisplayActions(QObject):
    """Window/level presets, volume rendering and slice outlines for one window."""

    def __init__(
        self, window: QMainWindow, context: AppContext, menu: QMenu, toolbar: QToolBar
    ) -> None:
        super().__init__(window)
        self.context = context
        self.window_menu = menu.addMenu("&Window/level presets")
        window_button = QToolButton()
        window_button.setText("W/L")
        window_button.setToolTip("Window/level presets")
        window_button.setMenu(self.window_menu)
        window_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        toolbar.addWidget(window_button)

        self.volume_rendering_action = QAction("Volume rendering", window, checkable=True)
        self.volume_rendering_action.setIconText("Volume")  # the toolbar's short text
        self.volume_rendering_action.setToolTip("Volume rendering: the image itself in 3D")
        self.volume_rendering_action.toggled.connect(self._volume_rendering_changed)
        menu.addAction(self.volume_rendering_action)
        toolbar.addAction(self.volume_rendering_action)
        self.vr_preset_combo = QComboBox()
        self.vr_preset_combo.setToolTip("Volume rendering preset")
        for key, preset in VOLUME_RENDERING_PRESETS.items():
            self.vr_preset_combo.addItem(preset.label, key)
        self.vr_preset_combo.currentIndexChanged.connect(self._volume_rendering_changed)
        toolbar.addWidget(self.vr_preset_combo)

        self.slice_outlines_action = QAction("Slice outlines in 3D", window, checkable=True)
        self.slice_outlines_action.setChecked(True)
        self.slice_outlines_action.setToolTip("Show where the slice views cut in the 3D view")
        self.slice_outlines_action.toggled.connect(context.views.set_slice_outlines_visible)
        menu.addAction(self.slice_outlines_action)
        context.views.volume_rendering_changed.connect(self._show_volume_rendering)
        self.volume_changed(None)

    def volume_changed(self, volume: Volume | None) -> None:
        """Offer the presets that suit the new volume (none without one)."""
        if volume is not None:
            preset = default_volume_rendering_preset(volume)
            self.vr_preset_combo.setCurrentIndex(self.vr_preset_combo.findData(preset))
        self._fill_window_menu(volume)
        if self.volume_rendering_action.isChecked():
            self._volume_rendering_changed()

    def apply_window_preset(self, key: str) -> None:
        """Apply a window preset (a WINDOW_PRESETS key, 'series' or 'auto')."""
        volume = self.context.session.volume
        if volume is None:
            return
        presets = window_presets_for(volume)
        if key in presets:
            self.context.viewer.set_window(*presets[key])

    def _fill_window_menu(self, volume: Volume | None) -> None:
        self.window_menu.clear()
        self.window_menu.setEnabled(volume is not None)
        if volume is None:
            return
        for key, (center, width) in window_presets_for(volume).items():
            if key == SERIES_WINDOW:
                label = "Series window"
            elif key in WINDOW_PRESETS:
                label = WINDOW_PRESETS[key].label
            else:
                label = "Automatic"
            self.window_menu.addAction(
                f"{label} (W {width:g} L {center:g})",
                lambda key=key: self.apply_window_preset(key),
            )

    def _show_volume_rendering(self, enabled: bool, preset: str) -> None:
        """Show the 3D view's rendering state (also when a reopened project set it)."""
        controls = (self.volume_rendering_action, self.vr_preset_combo)
        for control in controls:
            control.blockSignals(True)
        self.volume_rendering_action.setChecked(enabled)
        if self.vr_preset_combo.findData(preset) >= 0:
            self.vr_preset_combo.setCurrentIndex(self.vr_preset_combo.findData(preset))
        for control in controls:
            control.blockSignals(False)

    def _volume_rendering_changed(self, *_: object) -> None:
        if self.context.session.volume is None:
            return
        self.context.views.set_volume_rendering(
            self.volume_rendering_action.isChecked(), str(self.vr_preset_combo.currentData())
        )
