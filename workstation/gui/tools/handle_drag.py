"""Dragging the handles of planning objects and measurements in the views.

With the navigate tool, a measuring tool or a planning tool active, a left press within
GRAB_PX display pixels of a handle drags that handle instead of doing the tool's work.
In a slice view the handle moves parallel to the slice (a point, a line's entry or target,
a measurement's point, a plane's origin handle), or the plane turns about the view's
normal (a plane's rotation handle).  In the 3D view a point handle (a point, a line's
end, a plane's origin) slides along the model surface under the mouse.  The drawing
follows the drag; on release the record is updated (``PlanningList.update`` /
``MeasurementList.update``, a measurement with its recomputed value and text).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from workstation.core.measurements import Measurement
from workstation.core.planning import PlanningObject
from workstation.gui.tools.base import Pointer, ToolHandler
from workstation.gui.tools.measure import measure, measurement_list, record_values
from workstation.gui.views.measurement_drawing import plane_polyline
from workstation.gui.views.planning_drawing import (
    Handle,
    object_geometry,
    select,
    slice_uv_to_lps,
    target_list,
)

#: Display pixels within which a press takes a handle.
GRAB_PX = 6.0
#: The tools with which a press near a handle drags it.
DRAG_TOOLS = frozenset(
    {
        "navigate",
        "distance",
        "angle",
        "roi_rectangle",
        "roi_ellipse",
        "plan_point",
        "plan_line",
        "plan_plane",
    }
)


def takes_handles(tool: str, handler: Any) -> bool:
    """True when a press with ``tool`` may drag a handle (its own work is not half done)."""
    return tool in DRAG_TOOLS and not getattr(handler, "_points", None)


def rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    """The 3x3 rotation by ``angle`` radians about the unit ``axis`` (right hand)."""
    x, y, z = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * k + (1.0 - math.cos(angle)) * (k @ k)


def measurement_handles(view: Any) -> list[Handle]:
    """The points of the measurements made in this view and drawn on its shown slice."""
    if view.plane is None:
        return []
    shown, half = view.slice_offset(), view.slice_step() / 2.0
    handles = []
    for item in view.measurement_drawing.measurements:
        first = np.asarray(item.points_lps[0], dtype=np.float64)
        if item.view != view.name or abs(view.offset_of(first) - shown) > half:
            continue
        for index, point in enumerate(item.points_lps):
            lps = np.asarray(point, dtype=np.float64)
            uv = view.lps_to_plane(lps)
            handles.append(Handle("measurement", item.measurement_id, index, uv, lps))
    return handles


def nearest(view: Any, handles: list[Handle], x: float, y: float) -> Handle | None:
    """The handle drawn nearest to widget position (x, y), if within GRAB_PX."""
    best, best_distance = None, GRAB_PX
    for handle in handles:
        hx, hy = view.lps_to_display(handle.lps)
        distance = math.hypot(hx - x, hy - y)
        if distance <= best_distance:
            best, best_distance = handle, distance
    return best


def slice_handle_at(view: Any, x: float, y: float) -> Handle | None:
    """The planning or measurement handle under (x, y) in a slice view, or None."""
    return nearest(view, view.planning_drawing.handles() + measurement_handles(view), x, y)


def moved_object(
    view: Any, obj: PlanningObject, handle: Handle, start: np.ndarray, now: np.ndarray
) -> PlanningObject:
    """``obj`` with ``handle`` dragged from LPS ``start`` to ``now`` on the shown slice."""
    delta = np.asarray(now, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    points = [np.asarray(p, dtype=np.float64) for p in obj.points_lps]
    if obj.kind != "plane":
        points[handle.index] = points[handle.index] + delta
        return replace(obj, points_lps=tuple(tuple(float(c) for c in p) for p in points))
    if handle.index == 0:
        return replace(obj, points_lps=(tuple(float(c) for c in points[0] + delta),))
    # the rotation handle turns the plane about the view normal through the origin handle
    assert obj.normal_lps is not None
    pivot = _origin_handle(view, obj)
    axis = view.view_direction()
    before, after = np.asarray(start) - pivot, np.asarray(now) - pivot
    angle = math.atan2(float(axis @ np.cross(before, after)), float(before @ after))
    turn = rotation(axis, angle)
    origin = pivot + turn @ (points[0] - pivot)
    normal = turn @ np.asarray(obj.normal_lps)
    return replace(
        obj,
        points_lps=(tuple(float(c) for c in origin),),
        normal_lps=tuple(float(c) for c in normal),
    )


def _origin_handle(view: Any, obj: PlanningObject) -> np.ndarray:
    handles = object_geometry(view, obj, view.mm_per_pixel()).handles
    return slice_uv_to_lps(view, handles[0].uv) if handles else np.asarray(obj.points_lps[0])


def moved_measurement(item: Measurement, index: int, delta: np.ndarray) -> Measurement:
    """``item`` with point ``index`` moved by ``delta`` (LPS mm)."""
    points = [np.asarray(p, dtype=np.float64) for p in item.points_lps]
    points[index] = points[index] + delta
    return replace(item, points_lps=tuple(tuple(float(c) for c in p) for p in points))


class HandleDrag(ToolHandler):
    """Drags one handle in a slice view; the record changes on release."""

    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self._handle: Handle | None = None
        self._start = np.zeros(3)
        self._record: Any = None
        self._moved: Any = None

    def over(self, pointer: Pointer) -> bool:
        """True when a press here would take a handle."""
        return slice_handle_at(self.view, pointer.x, pointer.y) is not None

    def press(self, pointer: Pointer) -> bool:  # type: ignore[override]
        """Take the handle under the pointer; False when there is none."""
        handle = slice_handle_at(self.view, pointer.x, pointer.y)
        if handle is None:
            return False
        self._handle, self._start = handle, np.asarray(pointer.lps, dtype=np.float64)
        if handle.owner == "planning":
            self._record = target_list(self.view).by_id(handle.object_id)
        else:
            self._record = measurement_list(self.view).by_id(handle.object_id)
        self._moved = None
        select(self.view, handle.object_id)
        return True

    def drag(self, pointer: Pointer) -> None:
        handle, view = self._handle, self.view
        if handle is None:
            return
        if handle.owner == "planning":
            self._moved = moved_object(view, self._record, handle, self._start, pointer.lps)
            view.planning_drawing.set_override(self._moved)
        else:
            delta = np.asarray(pointer.lps) - self._start
            self._moved = moved_measurement(self._record, handle.index, delta)
            graphic = view.measurements.graphic(handle.object_id)
            for actor in graphic.actors if graphic is not None else []:
                actor.VisibilityOff()
            view.measurements.set_preview(plane_polyline(view, self._moved))
        view.schedule_refresh()

    def release(self, pointer: Pointer) -> None:
        handle, moved = self._handle, None
        if handle is not None:
            self.drag(pointer)
            moved = self._moved
        self.cancel()
        if handle is None or moved is None or moved == self._record:
            if handle is not None and handle.owner == "measurement":
                self.view.measurement_drawing.redraw()
            self.view.refresh()
            return
        if handle.owner == "planning":
            target_list(self.view).update(
                handle.object_id, points_lps=moved.points_lps, normal_lps=moved.normal_lps
            )
        else:
            self._commit_measurement(moved)
        self.view.refresh()

    def _commit_measurement(self, moved: Measurement) -> None:
        points = [np.asarray(p) for p in moved.points_lps]
        result = measure(self.view, moved.kind, points)
        items = measurement_list(self.view)
        if result is None:  # an angle folded flat: keep the measurement as it was
            self.view.measurement_drawing.redraw()
            return
        items.update(
            moved.measurement_id,
            points_lps=moved.points_lps,
            text=result["text"],
            values=record_values(result),
        )

    def cancel(self) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        if handle.owner == "planning":
            self.view.planning_drawing.set_override(None, handle.object_id)
        else:
            self.view.measurements.set_preview(None)


class HandleDrag3D(ToolHandler):
    """Slides a planning point (a point, a line's end, a plane's origin) along the models."""

    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self._grab: tuple[PlanningObject, int] | None = None
        self._moved: PlanningObject | None = None

    def _under(self, pointer: Pointer) -> tuple[PlanningObject, int] | None:
        best, best_distance = None, GRAB_PX
        for obj in target_list(self.view):
            if not obj.visible or obj.kind == "guide":
                continue
            for index, point in enumerate(obj.points_lps):
                x, y = self.view.lps_to_display(np.asarray(point))
                distance = math.hypot(x - pointer.x, y - pointer.y)
                if distance <= best_distance:
                    best, best_distance = (obj, index), distance
        return best

    def over(self, pointer: Pointer) -> bool:
        """True when a press here would take a planning point."""
        return self._under(pointer) is not None

    def press(self, pointer: Pointer) -> bool:  # type: ignore[override]
        """Take the planning point drawn under the pointer; False when there is none."""
        best = self._under(pointer)
        if best is None:
            return False
        self._grab, self._moved = best, None
        select(self.view, best[0].object_id)
        return True

    def drag(self, pointer: Pointer) -> None:
        if self._grab is None:
            return
        picked = self.view.pick_model_point(pointer.x, pointer.y)
        if picked is None:
            return
        obj, index = self._grab
        points = list(obj.points_lps)
        points[index] = tuple(float(c) for c in picked[1])
        self._moved = replace(obj, points_lps=tuple(points))
        self.view.planning_drawing.set_override(self._moved)

    def release(self, pointer: Pointer) -> None:
        grab, moved = self._grab, self._moved
        self.cancel()
        if grab is not None and moved is not None and moved.points_lps != grab[0].points_lps:
            target_list(self.view).update(grab[0].object_id, points_lps=moved.points_lps)
        self.view.schedule_refresh()

    def cancel(self) -> None:
        grab, self._grab = self._grab, None
        if grab is not None:
            self.view.planning_drawing.set_override(None, grab[0].object_id)


def handle_grabber(view: Any, in_3d: bool) -> HandleDrag | HandleDrag3D:
    """The handle dragger of a view (slice or 3D)."""
    return HandleDrag3D(view) if in_3d else HandleDrag(view)
