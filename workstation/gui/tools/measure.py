"""The measuring tools: distance (two clicks), angle (three clicks), rectangle/ellipse ROI.

A finished measurement is a record in the case's ``MeasurementList`` (the session's in a
window): the slice views draw it from there.  The tools draw only their preview.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.core.measurements import Measurement, MeasurementList
from workstation.gui.tools.base import Pointer, ToolHandler
from workstation.gui.tools.registry import register_handler
from workstation.gui.views.measurements import POINTS_NEEDED, ellipse_outline, rectangle_outline
from workstation.processing.roi_statistics import angle_degrees, distance_mm, plane_roi_statistics

#: The numbers an ROI measurement keeps (besides its text and points).
ROI_VALUES = ("value", "mean", "std", "min", "max", "area_mm2", "count", "units")


def measurement_list(view: Any) -> MeasurementList:
    """Where a view's measurements go: the window's session, or the view's own list."""
    context = view.context
    if context is not None:
        return context.session.measurements
    return view.measurement_drawing.measurements


def record(view: Any, result: dict[str, Any], values: dict[str, Any]) -> Measurement:
    """Add a finished measurement (``result`` as ``measurement_done`` reports it) to the case."""
    measurement = measurement_list(view).add(
        result["kind"], result["points"], view.name, result["text"], values
    )
    result["id"] = measurement.measurement_id
    return measurement


def measure(view: Any, kind: str, points: list[np.ndarray]) -> dict[str, Any] | None:
    """What a measurement of ``kind`` through LPS ``points`` gives in ``view``, or None.

    The tools and the handle drag share it: ``kind``, ``value``, ``text`` and, for an ROI
    (statistics of the shown slice of the view's volume), ``mean``, ``std``, ``min``,
    ``max``, ``area_mm2``, ``count`` and ``units``.
    """
    if kind == "distance":
        value = distance_mm(points[0], points[1])
        return {"kind": kind, "value": value, "text": f"{value:.1f} mm"}
    if kind == "angle":
        try:
            value = angle_degrees(points[0], points[1], points[2])
        except ValueError:
            return None
        return {"kind": kind, "value": value, "text": f"{value:.1f}°"}
    volume, plane = view.volume, view.plane
    shape = kind.removeprefix("roi_")
    stats = plane_roi_statistics(
        volume.array,
        volume.affine,
        view.slice_position_lps(),
        plane.right,
        plane.up,
        points[0],
        points[1],
        shape,
    )
    units = "HU" if volume.units == "HU" else ""
    return {
        "kind": kind,
        "value": stats.mean,
        "mean": stats.mean,
        "std": stats.std,
        "min": stats.minimum,
        "max": stats.maximum,
        "area_mm2": stats.area_mm2,
        "count": stats.count,
        "units": units,
        "text": stats.text(units),
    }


def record_values(result: dict[str, Any]) -> dict[str, Any]:
    """The numbers a record keeps of a ``measure`` result (None, never NaN, for an ROI)."""
    if result["kind"].startswith("roi_"):
        return {key: _finite_or_none(result[key]) for key in ROI_VALUES}
    return {"value": result["value"], "units": "mm" if result["kind"] == "distance" else "deg"}


def _finite_or_none(value: Any) -> Any:
    """``value``, or None for a float that is not finite (records are JSON)."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


class PointsMeasureTool(ToolHandler):
    """Click the points of a distance or an angle (arm, vertex, arm); shows the result."""

    kind = "distance"

    def __init__(self, view) -> None:
        super().__init__(view)
        self._points: list[np.ndarray] = []

    def press(self, pointer: Pointer) -> None:
        view = self.view
        self._points.append(np.asarray(pointer.lps, dtype=np.float64))
        polyline = np.array([view.lps_to_plane(p) for p in self._points])
        if len(self._points) < POINTS_NEEDED[self.kind]:
            view.measurements.set_preview(polyline if len(polyline) > 1 else None)
            view.refresh()
            return
        points, self._points = self._points, []
        view.measurements.set_preview(None)
        result = self._measure(points)
        if result is None:
            view.refresh()
            return
        result.update(points=[tuple(float(c) for c in p) for p in points], view=view.name)
        record(view, result, record_values(result))
        view.refresh()
        view.measurement_done.emit(result)

    def _measure(self, points: list[np.ndarray]) -> dict | None:
        return measure(self.view, self.kind, points)

    def cancel(self) -> None:
        self._points.clear()
        self.view.measurements.set_preview(None)


class AngleTool(PointsMeasureTool):
    """Three clicks: arm, vertex, arm."""

    kind = "angle"


class RoiTool(ToolHandler):
    """Drag a rectangle (or the ellipse inside it) for the image statistics within it."""

    shape = "rectangle"

    def __init__(self, view) -> None:
        super().__init__(view)
        self._start: np.ndarray | None = None

    def press(self, pointer: Pointer) -> None:
        self._start = np.asarray(pointer.lps, dtype=np.float64)

    def drag(self, pointer: Pointer) -> None:
        if self._start is not None:
            self.view.measurements.set_preview(self._outline(self._start, pointer.lps))
            self.view.refresh()

    def release(self, pointer: Pointer) -> None:
        start, self._start = self._start, None
        if start is not None:
            self._finish(start, np.asarray(pointer.lps, dtype=np.float64))

    def cancel(self) -> None:
        self._start = None
        self.view.measurements.set_preview(None)

    def _outline(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        (u0, v0), (u1, v1) = self.view.lps_to_plane(start), self.view.lps_to_plane(end)
        if self.shape == "ellipse":
            return ellipse_outline(u0, v0, u1, v1)
        return rectangle_outline(u0, v0, u1, v1)

    def _finish(self, start: np.ndarray, end: np.ndarray) -> None:
        view = self.view
        view.measurements.set_preview(None)
        points = [start, end]
        result = measure(view, f"roi_{self.shape}", points)
        assert result is not None
        result.update(points=[tuple(float(c) for c in p) for p in points], view=view.name)
        record(view, result, record_values(result))
        view.refresh()
        view.measurement_done.emit(result)


class EllipseRoiTool(RoiTool):
    """Drag the box of an ellipse for the image statistics within it."""

    shape = "ellipse"


register_handler("distance", PointsMeasureTool)
register_handler("angle", AngleTool)
register_handler("roi_rectangle", RoiTool)
register_handler("roi_ellipse", EllipseRoiTool)
