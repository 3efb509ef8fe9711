"""Mouse and keys of a slice view: pan, zoom, slice steps and the cursor read-out.

The left button and the keys the active tool takes go to the view's ``ToolDispatcher``;
everything else moves the view.  See ``workstation.gui.views.slice_view`` for the
bindings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent

from workstation.core.display_presets import patient_position_text
from workstation.gui.tools.dispatch import ToolDispatcher
from workstation.gui.views.overlays import CornerText

PAGE_STEP = 10
#: Keys that move the slice, and by how many slices.
SLICE_KEYS = {
    Qt.Key.Key_Up: 1,
    Qt.Key.Key_Down: -1,
    Qt.Key.Key_PageUp: PAGE_STEP,
    Qt.Key.Key_PageDown: -PAGE_STEP,
}


class SliceNavigation:
    """The pan or zoom drag under way and the last mouse position of one slice view."""

    def __init__(self, view: Any, tools: ToolDispatcher, corner: CornerText) -> None:
        self._view = view
        self._tools = tools
        self._corner = corner
        #: the pan or zoom drag under way (None: the left button is the tool's)
        self.drag: dict | None = None
        #: where the mouse was last seen over the view (None once it left)
        self.mouse: tuple[float, float] | None = None

    # -- mouse -----------------------------------------------------------------------
    def press(self, event: QMouseEvent) -> None:
        """Pan, zoom, or hand the left button to the active tool."""
        view = self._view
        if view.volume is None:
            return
        view.setFocus()
        x, y = event.position().x(), event.position().y()
        button = event.button()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and shift):
            self.drag = {"kind": "pan", "last": view.display_to_plane(x, y)}
        elif button == Qt.MouseButton.RightButton:
            self.drag = {"kind": "zoom", "y": y}
        elif button == Qt.MouseButton.LeftButton:
            self._tools.press(event)

    def move(self, event: QMouseEvent) -> None:
        """Continue a drag or let the tool follow the mouse; report what lies under it."""
        if self._view.volume is None:
            return
        x, y = event.position().x(), event.position().y()
        self.mouse = (x, y)
        if self.drag is not None:
            self._continue_drag(x, y)
        else:
            self._tools.move(event)
        self.report_cursor(x, y)

    def release(self, event: QMouseEvent) -> None:
        """Finish a pan or zoom, or the tool's stroke, outline or measurement."""
        if self._view.volume is None:
            return
        if self.drag is not None:
            self.drag = None
        elif event.button() == Qt.MouseButton.LeftButton:
            self._tools.release(event)

    def double_click(self, event: QMouseEvent) -> None:
        """A left double click goes to the tool (most treat it as a press)."""
        if self._view.volume is None:
            return
        plain = not event.modifiers() & Qt.KeyboardModifier.ShiftModifier
        if event.button() == Qt.MouseButton.LeftButton and plain:
            self._tools.press(event, double=True)
        else:
            self.press(event)

    def wheel(self, event: QWheelEvent) -> None:
        """Wheel: one slice per notch; ctrl+wheel: zoom."""
        view = self._view
        if view.volume is None:
            return
        notches = event.angleDelta().y() / 120.0
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            view.zoom(1.1**notches)
            view.refresh()
        elif notches:
            view.slice_step_requested.emit(int(np.sign(notches) * max(1, round(abs(notches)))))

    def leave(self) -> None:
        """The mouse left: tools hide what follows it (the brush outline)."""
        self.mouse = None
        self._tools.leave()
        if self._view.volume is not None:
            self._view.refresh()

    # -- keys ------------------------------------------------------------------------
    def key(self, event: QKeyEvent) -> None:
        """Arrows and Page keys move slices; R resets the view; Escape cancels; the tool's keys."""
        view = self._view
        key = event.key()
        if view.volume is None:
            return
        if self._tools.key(key):
            return
        if key in SLICE_KEYS:
            view.slice_step_requested.emit(SLICE_KEYS[key])
        elif key == Qt.Key.Key_R:
            view.reset_view()
            view.refresh()
        elif key == Qt.Key.Key_Escape:
            self.drag = None
            self._tools.cancel()
            view.refresh()

    # -- what the mouse does and shows -----------------------------------------------
    def _continue_drag(self, x: float, y: float) -> None:
        drag = self.drag
        assert drag is not None
        view = self._view
        if drag["kind"] == "pan":
            now = view.display_to_plane(x, y)
            view.pan(*(now - drag["last"]))
            drag["last"] = view.display_to_plane(x, y)
            view.refresh()
        elif drag["kind"] == "zoom":
            view.zoom(1.01 ** (drag["y"] - y))
            drag["y"] = y
            view.refresh()

    def report_cursor(self, x: float, y: float, render: bool = True) -> None:
        """Show and report the position and value under the mouse (also after a scroll)."""
        view = self._view
        lps = view.display_to_lps(x, y)
        value = view.value_at(lps)
        units = "HU" if view.volume is not None and view.volume.units == "HU" else ""
        point = (float(lps[0]), float(lps[1]), float(lps[2]))
        info = {"lps": point, "value": value, "units": units, "view": view.name}
        # value above the position: two short lines stay clear of the bottom letter
        text = patient_position_text(lps, separator=" ")
        if value is not None:
            text = f"{value:.6g} {units}".rstrip() + "\n" + text
        self._corner.set(CornerText.LOWER_LEFT, text)
        view.cursor_info.emit(info)
        if render and self.drag is None:
            if self._tools.dragging:
                view.schedule_refresh()  # a stroke or outline: one frame per event
            else:
                view.refresh()
