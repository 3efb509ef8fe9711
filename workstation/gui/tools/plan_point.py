"""The point tool: a click places a planning point (a landmark) on the slice or a model.

In a slice view the point is where the click lands on the shown slice; in the 3D view it
is the point of the model surface under the mouse (nothing happens off the models).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from workstation.gui.tools.base import Pointer, ToolHandler
from workstation.gui.tools.measure import measurement_list
from workstation.gui.tools.registry import register_handler
from workstation.gui.views.planning_drawing import select, selected_id, target_list

#: Colour of the rubber band of an unfinished line or plane.
PREVIEW_COLOR = (1.0, 0.95, 0.6)


def placed_point(view: Any, pointer: Pointer) -> np.ndarray | None:
    """The LPS point a click places: on the slice, or on a model in 3D (None off them)."""
    if view.plane is not None:
        return np.asarray(pointer.lps, dtype=np.float64)
    picked = view.pick_model_point(pointer.x, pointer.y)
    if picked is None:
        message = getattr(view.context, "show_message", None)
        if message is not None:
            message("Click on a model to place the point")
        return None
    return picked[1]


def as_point(lps: np.ndarray) -> tuple[float, float, float]:
    """Three plain floats (records hold JSON numbers)."""
    return (float(lps[0]), float(lps[1]), float(lps[2]))


def delete_selected(view: Any) -> bool:
    """Delete the selected planning object or measurement; False when none is selected."""
    object_id = selected_id(view)
    planning = target_list(view)
    if object_id is not None and object_id in planning:
        planning.remove(object_id)
    elif object_id is not None and object_id.startswith("measurement-"):
        try:
            measurement_list(view).remove(object_id)
        except (KeyError, AttributeError):
            return False
    else:
        return False
    select(view, None)
    view.refresh()
    return True


class ClickPointsTool(ToolHandler):
    """Collects clicked points (with a rubber band to the mouse) until ``needed`` are in."""

    needed = 1

    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self._points: list[np.ndarray] = []
        self._curve: Any = None

    def press(self, pointer: Pointer) -> None:
        point = placed_point(self.view, pointer)
        if point is None:
            return
        self._points.append(point)
        if len(self._points) < self.needed:
            self._show(pointer)
            return
        points, self._points = self._points, []
        self._hide()
        obj = self.finish(points)
        if obj is not None:
            select(self.view, obj.object_id)
        self.view.refresh()

    def hover(self, pointer: Pointer) -> None:
        if self._points:
            self._show(pointer)

    def finish(self, points: list[np.ndarray]) -> Any:
        """Record the object the clicked points make (returns it, or None)."""
        return target_list(self.view).add("point", [as_point(points[0])])

    def key(self, key: int) -> bool:
        """Delete or Backspace deletes the selected object; Escape drops unfinished clicks."""
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            return delete_selected(self.view)
        if key == Qt.Key.Key_Escape and self._points:
            self.cancel()
            self.view.refresh()
            return True
        return False

    def slice_changed(self) -> None:
        if self._points:
            self._show(None)

    def cancel(self) -> None:
        self._points.clear()
        self._hide()

    def _show(self, pointer: Pointer | None) -> None:
        if self._curve is None:
            self._curve = self.view.make_curve(PREVIEW_COLOR, 1.5)
        band = list(self._points)
        if pointer is not None:
            band.append(np.asarray(pointer.lps, dtype=np.float64))
        self._curve.set_polylines([np.array(band)])
        self.view.refresh()

    def _hide(self) -> None:
        if self._curve is not None:
            self._curve.hide()


register_handler("plan_point", ClickPointsTool, in_3d=True)
