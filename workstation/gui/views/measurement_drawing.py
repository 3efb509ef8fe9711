"""Draws the case's measurements in one slice view: the model (MeasurementList) → graphics.

A slice view observes a ``MeasurementList`` (the session's in a window, a private one
when the view is used alone) and draws the measurements made in it (``measurement.view``
is its name).  Each is drawn from its LPS points with this view's own plane mapping, on
the slice through its first point, so a reopened measurement sits exactly where it was
made; the graphics are never the record.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.core.measurements import EVENTS, Measurement, MeasurementList
from workstation.gui.views.measurements import (
    MeasurementLayer,
    ellipse_outline,
    rectangle_outline,
)


def label_text(measurement: Measurement) -> str:
    """The label a view shows: an ROI's statistics on three short lines, else the text."""
    if measurement.kind.startswith("roi_"):
        return measurement.text.replace(", min", "\nmin").replace(", area", "\narea")
    return measurement.text


def plane_polyline(view: Any, measurement: Measurement) -> np.ndarray:
    """The (N, 2) plane polyline of a measurement in ``view``: its points, or an ROI outline."""
    uv = np.array([view.lps_to_plane(np.asarray(point)) for point in measurement.points_lps])
    if measurement.kind == "roi_ellipse":
        return ellipse_outline(uv[0, 0], uv[0, 1], uv[1, 0], uv[1, 1])
    if measurement.kind == "roi_rectangle":
        return rectangle_outline(uv[0, 0], uv[0, 1], uv[1, 0], uv[1, 1])
    return uv


class MeasurementDrawing:
    """Keeps one slice view's measurement graphics equal to a MeasurementList."""

    def __init__(self, view: Any, layer: MeasurementLayer) -> None:
        self._view = view
        self._layer = layer
        self._own = MeasurementList()
        self._list: MeasurementList | None = None
        self._handlers = {
            "added": self._added,
            "removed": self._removed,
            "changed": self._changed,
            "cleared": self._cleared,
        }
        assert set(self._handlers) == set(EVENTS)
        self.bind(self._own)

    @property
    def measurements(self) -> MeasurementList:
        """The list drawn (the view's own one when none was bound)."""
        return self._list if self._list is not None else self._own

    def bind(self, measurements: MeasurementList | None) -> None:
        """Draw ``measurements`` from now on (None: stop observing, draw nothing)."""
        if measurements is self._list:
            return
        if self._list is not None:
            for event, handler in self._handlers.items():
                self._list.unsubscribe(event, handler)
        self._list = measurements
        if measurements is not None:
            for event, handler in self._handlers.items():
                measurements.subscribe(event, handler)
        self.redraw()

    def redraw(self) -> None:
        """Draw every measurement of this view again (another volume, plane or list)."""
        self._layer.clear()
        if self._list is not None:
            for measurement in self._list:
                self._draw(measurement)
        self._show_current_slice()

    def remove_own(self) -> None:
        """Delete the measurements made in this view from the list."""
        if self._list is not None:
            for measurement in self._list:
                if measurement.view == self._view.name:
                    self._list.remove(measurement.measurement_id)

    # -- list events --------------------------------------------------------------------
    def _added(self, measurement: Measurement) -> None:
        if self._draw(measurement):
            self._show_current_slice()
            self._view.schedule_refresh()

    def _removed(self, measurement: Measurement) -> None:
        if self._layer.remove(measurement.measurement_id):
            self._view.schedule_refresh()

    def _changed(self, measurement: Measurement) -> None:
        removed = self._layer.remove(measurement.measurement_id)
        if self._draw(measurement):
            self._show_current_slice()
        if removed or measurement.view == self._view.name:
            self._view.schedule_refresh()

    def _cleared(self, _payload: object) -> None:
        if self._layer.graphics:
            self._layer.clear()
            self._view.schedule_refresh()

    # -- drawing --------------------------------------------------------------------------
    def _draw(self, measurement: Measurement) -> bool:
        """Draw one measurement if it belongs to this view and a volume is shown."""
        view = self._view
        if measurement.view != view.name or view.plane is None:
            return False
        w = view.offset_of(np.asarray(measurement.points_lps[0]))
        polyline = plane_polyline(view, measurement)
        self._layer.add(
            measurement.kind, w, polyline, label_text(measurement), measurement.measurement_id
        )
        return True

    def _show_current_slice(self) -> None:
        view = self._view
        if view.plane is not None:
            self._layer.show_for_slice(view.slice_offset(), view.slice_step() / 2.0)
