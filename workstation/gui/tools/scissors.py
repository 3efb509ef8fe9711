"""Scissors: draw an outline in a slice view or the 3D view, cut along the viewing direction.

The outline is a free-hand lasso (drag), a polygon (clicks; double click or Enter
closes it, Escape drops it) or a rectangle (drag), as the viewer state's scissors
settings say.  Its points are LPS points on the slice (in the 3D view on the camera's
focal plane); the cut goes along the view's direction (the slice normal, or the camera's
direction of projection) through the whole volume or a slab of ``depth_mm``, and is one
``scissors`` record: one undo step.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from workstation.core.viewer_state import ScissorsSettings
from workstation.gui.tools.base import Pointer, ToolHandler, editing_target, points_json
from workstation.gui.tools.registry import register_handler

#: Colour of the outline being drawn.
SCISSORS_COLOR = (1.0, 0.55, 0.1)
#: Lasso points closer than this (screen pixels) to the previous one are skipped.
LASSO_SPACING_PX = 3.0
#: A rectangle smaller than this (screen pixels) on either side is a click, not a cut.
MIN_RECTANGLE_PX = 3.0
_CLOSE_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


class ScissorsTool(ToolHandler):
    """Draw an outline; on completion the selected segment is cut through the volume."""

    def __init__(self, view) -> None:
        super().__init__(view)
        self.outline = view.make_curve(SCISSORS_COLOR, 2.0)
        #: outline points drawn so far: (x, y) on the screen and the LPS point
        self.screen: list[tuple[float, float]] = []
        self.points: list[np.ndarray] = []
        self._shape = "lasso"
        self._hover: np.ndarray | None = None

    def _settings(self) -> ScissorsSettings | None:
        context = self.view.context
        return None if context is None else context.viewer.scissors

    # -- drawing ----------------------------------------------------------------------
    def press(self, pointer: Pointer) -> None:
        settings = self._settings()
        if settings is None:
            return
        if self.points and self._shape == "polygon" and settings.shape == "polygon":
            self._add(pointer)
            return
        self.cancel()
        self._shape = settings.shape
        self._add(pointer)

    def drag(self, pointer: Pointer) -> None:
        if not self.points:
            return
        if self._shape == "lasso":
            last = self.screen[-1]
            if np.hypot(pointer.x - last[0], pointer.y - last[1]) >= LASSO_SPACING_PX:
                self._add(pointer)
        elif self._shape == "rectangle":
            self._rectangle(pointer)
        else:
            self._hover = np.asarray(pointer.lps)
            self._draw()

    def release(self, pointer: Pointer) -> None:
        if not self.points:
            return
        if self._shape == "lasso":
            self.drag(pointer)
            self.finish()
        elif self._shape == "rectangle":
            self._rectangle(pointer)
            self.finish()

    def double_click(self, pointer: Pointer) -> None:
        if self._shape == "polygon" and self.points:
            self.finish()
        else:
            self.press(pointer)

    def hover(self, pointer: Pointer) -> None:
        if self._shape == "polygon" and self.points:
            self._hover = np.asarray(pointer.lps)
            self._draw()

    def key(self, key: int) -> bool:
        if key in _CLOSE_KEYS and self.points:
            self.finish()
            return True
        if key == Qt.Key.Key_Escape and self.points:
            self.cancel()
            self.view.refresh()
            return True
        return False

    def _add(self, pointer: Pointer) -> None:
        self.screen.append((pointer.x, pointer.y))
        self.points.append(np.asarray(pointer.lps, dtype=np.float64))
        self._draw()

    def _rectangle(self, pointer: Pointer) -> None:
        (x0, y0), x1, y1 = self.screen[0], pointer.x, pointer.y
        corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
        self.screen = corners
        self.points = [np.asarray(self.view.display_to_lps(x, y), float) for x, y in corners]
        self._draw()

    def _draw(self) -> None:
        points = list(self.points)
        if self._hover is not None and self._shape == "polygon":
            points.append(self._hover)
        if len(points) > 1:
            points.append(points[0])
        self.outline.set_polylines([np.array(points)] if points else [])
        self.view.schedule_refresh()

    # -- the cut ----------------------------------------------------------------------
    def finish(self) -> None:
        """Submit the cut of the outline drawn (three or more distinct points)."""
        screen, points = self.screen, self.points
        self.cancel()
        self.view.schedule_refresh()
        if len(_distinct(points)) < 3 or _too_small(screen, self._shape):
            return
        target = editing_target(self.view)
        settings = self._settings()
        if target is None or settings is None:
            return
        context, segment = target
        record = {
            "op": "scissors",
            "segment": segment.name,
            "polygon_lps": points_json(_distinct(points)),
            "direction_lps": [float(v) for v in self.view.view_direction()],
            "mode": settings.mode,
            "depth_mm": settings.depth_mm,
        }
        context.edits.submit(record, f"Scissors on {segment.name}")

    def cancel(self) -> None:
        self.screen = []
        self.points = []
        self._hover = None
        self.outline.hide()


def _distinct(points: list[np.ndarray]) -> list[np.ndarray]:
    """The points without consecutive repeats (a double click repeats the last one)."""
    kept: list[np.ndarray] = []
    for point in points:
        if not kept or np.linalg.norm(point - kept[-1]) > 1e-6:
            kept.append(point)
    if len(kept) > 1 and np.linalg.norm(kept[0] - kept[-1]) <= 1e-6:
        kept.pop()
    return kept


def _too_small(screen: list[tuple[float, float]], shape: str) -> bool:
    if shape != "rectangle" or len(screen) < 3:
        return False
    (x0, y0), (x1, y1) = screen[0], screen[2]
    return abs(x1 - x0) < MIN_RECTANGLE_PX or abs(y1 - y0) < MIN_RECTANGLE_PX


register_handler("scissors", ScissorsTool, in_3d=True)
