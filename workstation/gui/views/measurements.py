"""Measurement graphics on a slice view: polylines and labels in plane coordinates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer, vtkTextActor

#: Light blue: distinct from the red/green/yellow crosshair lines and the grey image.
MEASURE_COLOR = (0.3, 0.85, 1.0)
#: Height above the image (towards the camera) at which measurement graphics are drawn.
MEASURE_Z = 2.0

INTERACTION_MODES = (
    "navigate",
    "window_level",
    "pick_seed",
    "distance",
    "angle",
    "roi_rectangle",
    "roi_ellipse",
)

#: Number of clicked points that completes each point-based measurement.
POINTS_NEEDED = {"distance": 2, "angle": 3}


def ellipse_outline(u0: float, v0: float, u1: float, v1: float, segments: int = 64) -> np.ndarray:
    """Closed polyline (segments+1, 2) of the ellipse inscribed in a (u, v) rectangle."""
    centre = np.array([(u0 + u1) / 2.0, (v0 + v1) / 2.0])
    radii = np.array([abs(u1 - u0) / 2.0, abs(v1 - v0) / 2.0])
    angles = np.linspace(0.0, 2.0 * np.pi, segments + 1)
    return centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii


def rectangle_outline(u0: float, v0: float, u1: float, v1: float) -> np.ndarray:
    """Closed polyline (5, 2) of a (u, v) rectangle."""
    return np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1], [u0, v0]], dtype=np.float64)


@dataclass
class MeasurementGraphic:
    """One drawn measurement: a polyline (plane u, v) and its label, on slice offset ``w``."""

    kind: str
    w: float
    polyline: np.ndarray
    text: str
    actors: list = field(default_factory=list)


class MeasurementLayer:
    """Keeps the measurement graphics of one view; shows those on the current slice only."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self.graphics: list[MeasurementGraphic] = []
        self._preview_points = vtkPoints()
        self._preview = vtkPolyData()
        self._preview.SetPoints(self._preview_points)
        self._preview.SetLines(vtkCellArray())
        self.preview_actor = _line_actor(self._preview)
        renderer.AddActor(self.preview_actor)

    def set_preview(self, polyline: np.ndarray | None) -> None:
        """Show an in-progress polyline (N, 2) in plane coordinates, or hide it."""
        _fill_polyline(self._preview, self._preview_points, polyline)

    def add(self, kind: str, w: float, polyline: np.ndarray, text: str) -> MeasurementGraphic:
        """Draw a finished measurement on slice offset ``w``."""
        points = vtkPoints()
        polydata = vtkPolyData()
        _fill_polyline(polydata, points, polyline)
        line = _line_actor(polydata)
        label = vtkTextActor()
        label.SetInput(text)
        label.GetTextProperty().SetColor(*MEASURE_COLOR)
        label.GetTextProperty().SetFontSize(14)
        label.GetTextProperty().BoldOn()
        label.GetTextProperty().SetVerticalJustificationToBottom()
        label.GetTextProperty().SetBackgroundColor(0.0, 0.0, 0.0)
        label.GetTextProperty().SetBackgroundOpacity(0.6)
        # above the shape's top edge, starting at its left edge
        anchor_u, anchor_v = float(polyline[:, 0].min()), float(polyline[:, 1].max())
        label.GetPositionCoordinate().SetCoordinateSystemToWorld()
        label.GetPositionCoordinate().SetValue(anchor_u, anchor_v, MEASURE_Z)
        self._renderer.AddActor(line)
        self._renderer.AddViewProp(label)
        graphic = MeasurementGraphic(kind, w, polyline, text, [line, label])
        self.graphics.append(graphic)
        return graphic

    def show_for_slice(self, w: float, tolerance: float) -> None:
        """Show the measurements made on slice offset ``w`` and hide the others."""
        for graphic in self.graphics:
            visible = abs(graphic.w - w) <= tolerance
            for actor in graphic.actors:
                actor.SetVisibility(visible)

    def clear(self) -> None:
        """Remove every measurement graphic and the preview."""
        for graphic in self.graphics:
            for actor in graphic.actors:
                self._renderer.RemoveViewProp(actor)
        self.graphics.clear()
        self.set_preview(None)


def _line_actor(polydata: vtkPolyData) -> vtkActor:
    """An actor drawing ``polydata``'s lines in the measurement style."""
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(polydata)
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*MEASURE_COLOR)
    actor.GetProperty().SetLineWidth(2)
    actor.GetProperty().LightingOff()
    return actor


def _fill_polyline(polydata: vtkPolyData, points: vtkPoints, polyline: np.ndarray | None) -> None:
    """Replace a polydata's content by one open polyline at height MEASURE_Z."""
    cells = vtkCellArray()
    polydata.SetPoints(points)
    count = 0 if polyline is None else len(polyline)
    points.SetNumberOfPoints(count)
    for index in range(count):
        u, v = polyline[index]  # type: ignore[index]
        points.SetPoint(index, float(u), float(v), MEASURE_Z)
    if count >= 2:
        cells.InsertNextCell(count)
        for index in range(count):
            cells.InsertCellPoint(index)
    points.Modified()
    polydata.SetLines(cells)
    polydata.Modified()
