"""Measurement graphics on a slice view: polylines and labels in plane coordinates.

The graphics are only a picture of the case's measurements (``MeasurementList``, drawn
by ``measurement_drawing.MeasurementDrawing``); the preview is the tool's unfinished one.
Labels keep clear of the crosshair lines (``place_labels``, before every frame).
"""

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
#: Display pixels kept between a label's box and a crosshair line.
LABEL_CLEARANCE_PX = 4.0
#: Display pixels between a label's box and the top of its shape (the box never hides it).
LABEL_GAP_PX = 2.0

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


def clear_of_lines(
    anchor: np.ndarray,
    box: tuple[float, float, float, float],
    lines: list[np.ndarray],
    clearance: float,
) -> np.ndarray:
    """The anchor moved the least distance that keeps a box clear of every line.

    ``box`` is (u0, u1, v0, v1) relative to the anchor, ``lines`` are (2, 2) end points of
    infinite lines, all in the same units as ``clearance``.  A box within ``clearance`` of
    a line is pushed across the nearer side of it, along the line's normal.
    """
    anchor = np.asarray(anchor, dtype=np.float64).copy()
    u0, u1, v0, v1 = box
    corners = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], dtype=np.float64)
    for _ in range(3):  # oblique lines may need a second look; straight ones never do
        moved = False
        for line in lines:
            direction = np.asarray(line[1], dtype=np.float64) - np.asarray(line[0])
            length = float(np.linalg.norm(direction))
            if length < 1e-12:
                continue
            normal = np.array([-direction[1], direction[0]]) / length
            distances = (anchor + corners - line[0]) @ normal
            low, high = float(distances.min()), float(distances.max())
            if low >= clearance or high <= -clearance:
                continue
            up, down = clearance - low, -(high + clearance)
            anchor += (up if abs(up) <= abs(down) else down) * normal
            moved = True
        if not moved:
            break
    return anchor


@dataclass
class MeasurementGraphic:
    """One drawn measurement: a polyline (plane u, v) and its label, on slice offset ``w``."""

    kind: str
    w: float
    polyline: np.ndarray
    text: str
    actors: list = field(default_factory=list)
    measurement_id: str = ""

    @property
    def label(self) -> vtkTextActor:
        """The text actor of the label."""
        return self.actors[1]

    def anchor(self) -> np.ndarray:
        """The shape's top-left corner (u, v): its label sits just above it, from its left."""
        return np.array([self.polyline[:, 0].min(), self.polyline[:, 1].max()])


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

    def add(
        self, kind: str, w: float, polyline: np.ndarray, text: str, measurement_id: str = ""
    ) -> MeasurementGraphic:
        """Draw a finished measurement on slice offset ``w``."""
        polyline = np.asarray(polyline, dtype=np.float64)
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
        graphic = MeasurementGraphic(kind, w, polyline, text, [line, label], measurement_id)
        label.GetPositionCoordinate().SetCoordinateSystemToWorld()
        label.GetPositionCoordinate().SetValue(*graphic.anchor(), MEASURE_Z)
        self._renderer.AddActor(line)
        self._renderer.AddViewProp(label)
        self.graphics.append(graphic)
        return graphic

    def graphic(self, measurement_id: str) -> MeasurementGraphic | None:
        """The graphic drawing measurement ``measurement_id``, if any."""
        for graphic in self.graphics:
            if graphic.measurement_id == measurement_id:
                return graphic
        return None

    def remove(self, measurement_id: str) -> bool:
        """Remove the graphic of one measurement; False when none was drawn."""
        graphic = self.graphic(measurement_id)
        if graphic is None:
            return False
        for actor in graphic.actors:
            self._renderer.RemoveViewProp(actor)
        self.graphics.remove(graphic)
        return True

    def show_for_slice(self, w: float, tolerance: float) -> None:
        """Show the measurements made on slice offset ``w`` and hide the others."""
        for graphic in self.graphics:
            visible = abs(graphic.w - w) <= tolerance
            for actor in graphic.actors:
                actor.SetVisibility(visible)

    def place_labels(self, lines: list[np.ndarray], mm_per_pixel: float) -> None:
        """Put each visible label just above its shape and off the crosshair ``lines``.

        ``lines`` are (2, 2) plane end points; the label's box keeps LABEL_GAP_PX from the
        shape's top and LABEL_CLEARANCE_PX from every line (moved across it the short way).
        """
        if mm_per_pixel <= 0:
            return
        for graphic in self.graphics:
            if graphic.label.GetVisibility():
                place_label(self._renderer, graphic.label, graphic.anchor(), lines, mm_per_pixel)

    def clear(self) -> None:
        """Remove every measurement graphic and the preview."""
        for graphic in self.graphics:
            for actor in graphic.actors:
                self._renderer.RemoveViewProp(actor)
        self.graphics.clear()
        self.set_preview(None)


def place_label(
    renderer: vtkRenderer,
    label: vtkTextActor,
    anchor: np.ndarray,
    lines: list[np.ndarray],
    mm_per_pixel: float,
    z: float = MEASURE_Z,
) -> np.ndarray:
    """Put a world-positioned label just above ``anchor`` (plane u, v) and off ``lines``.

    The label's box keeps LABEL_GAP_PX above the anchor and LABEL_CLEARANCE_PX from every
    line (moved across it the short way); returns the label's new position (u, v).
    """
    pixels = [0.0, 0.0, 0.0, 0.0]
    label.GetBoundingBox(renderer, pixels)  # display pixels from the anchor
    box = (
        pixels[0] * mm_per_pixel,
        pixels[1] * mm_per_pixel,
        pixels[2] * mm_per_pixel,
        pixels[3] * mm_per_pixel,
    )
    position = np.asarray(anchor, dtype=np.float64) + np.array(
        [0.0, LABEL_GAP_PX * mm_per_pixel - box[2]]
    )
    if lines:
        position = clear_of_lines(position, box, lines, LABEL_CLEARANCE_PX * mm_per_pixel)
    label.GetPositionCoordinate().SetValue(float(position[0]), float(position[1]), z)
    return position


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
