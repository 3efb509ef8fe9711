"""The looking tools: navigate (move the crosshair), window/level drag, pick a point."""

from __future__ import annotations

from workstation.gui.tools.base import Pointer, ToolHandler
from workstation.gui.tools.registry import register_handler

#: Window/level change per dragged pixel, as a fraction of the window width (Slicer-like).
WINDOW_DRAG_SCALE = 1.0 / 250.0


class NavigateTool(ToolHandler):
    """Click or drag: the crosshair follows the mouse (the other views show that point)."""

    def press(self, pointer: Pointer) -> None:
        self.view.crosshair_requested.emit(pointer.lps)

    def drag(self, pointer: Pointer) -> None:
        self.view.crosshair_requested.emit(pointer.lps)


class WindowLevelTool(ToolHandler):
    """Drag right for a wider window, up for a higher level (3D Slicer's convention)."""

    def __init__(self, view) -> None:
        super().__init__(view)
        self._start: tuple[float, float, tuple[float, float]] | None = None

    def press(self, pointer: Pointer) -> None:
        self._start = (pointer.x, pointer.y, self.view.window_level())

    def drag(self, pointer: Pointer) -> None:
        if self._start is None:
            return
        x, y, (center, width) = self._start
        scale = max(width, 10.0) * WINDOW_DRAG_SCALE
        new_width = max(width + (pointer.x - x) * scale, 1.0)
        new_center = center + (y - pointer.y) * scale
        self.view.window_level_dragged.emit(float(new_center), float(new_width))

    def release(self, pointer: Pointer) -> None:
        self._start = None

    def cancel(self) -> None:
        self._start = None


class PickPointTool(ToolHandler):
    """A click reports the LPS point under the mouse (``point_picked``)."""

    def press(self, pointer: Pointer) -> None:
        self.view.point_picked.emit(pointer.lps)


register_handler("navigate", NavigateTool)
register_handler("window_level", WindowLevelTool)
register_handler("pick_seed", PickPointTool)
