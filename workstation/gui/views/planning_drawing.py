"""Draws the case's planning objects in one slice view: points, lines, plane traces, labels.

A slice view observes a ``PlanningList`` (the session's in a window, its own when used
alone) and draws every visible object from its LPS points with the view's own plane
mapping: a point as a marker (solid within half a slice of the shown plane, faint and
projected otherwise), a line as its projected segment with entry and target markers and a
diamond where it pierces the shown slice, a plane as its intersection line with the slice
(nothing when they are parallel) with two handles on it.  Labels (name, and length for a
line) keep clear of the crosshair lines like the measurement labels.  The selected object
(``viewer.selected_object``) is drawn thicker and brighter.  The graphics are never the
record: geometry is recomputed from the records before every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer, vtkTextActor

from workstation.core.planning import PlanningList, PlanningObject, line_length_mm
from workstation.gui.views.measurements import place_label
from workstation.gui.views.planning_follower import PlanningFollower, planning_list

#: Height above the image (towards the camera): above measurements, below tool outlines.
PLANNING_Z = 2.5
#: Radius in display pixels of a point or handle marker.
MARKER_PX = 5.0
#: Display pixels from a plane's origin handle to its rotation handle along the trace.
ROTATE_HANDLE_PX = 40.0
#: Opacity of what lies off the shown slice (drawn projected).
FAINT_OPACITY = 0.35
LINE_WIDTH = 2.0
SELECTED_LINE_WIDTH = 4.0


def target_list(view: Any) -> PlanningList:
    """Where a view's planning objects go: the window's list, or the view's own one."""
    planning = planning_list(view)
    return planning if planning is not None else view.planning_drawing.planning


def selected_id(view: Any) -> str | None:
    """The id of the selected planning object or measurement, or None."""
    return getattr(getattr(view.context, "viewer", None), "selected_object", None)


def select(view: Any, object_id: str | None) -> None:
    """Make ``object_id`` the selected object of the window (no-op without one)."""
    viewer = getattr(view.context, "viewer", None)
    chooser = getattr(viewer, "select_object", None)
    if chooser is not None:
        chooser(object_id)


def highlighted(color: tuple[float, float, float]) -> tuple[float, float, float]:
    """A brighter colour for the selected object (halfway to white)."""
    return (
        color[0] + (1.0 - color[0]) * 0.5,
        color[1] + (1.0 - color[1]) * 0.5,
        color[2] + (1.0 - color[2]) * 0.5,
    )


@dataclass(frozen=True)
class Handle:
    """A point of a drawn object that can be dragged: where it is in the view and in LPS.

    ``owner`` is "planning" or "measurement"; ``index`` is the point's index (a plane:
    0 the origin handle, 1 the rotation handle, both on its trace in the shown slice).
    """

    owner: str
    object_id: str
    index: int
    uv: np.ndarray
    lps: np.ndarray


@dataclass
class Geometry:
    """What one object looks like in a view now: plane polylines, label anchor, handles."""

    solid: list[np.ndarray] = field(default_factory=list)
    faint: list[np.ndarray] = field(default_factory=list)
    anchor: np.ndarray | None = None
    handles: list[Handle] = field(default_factory=list)


def slice_uv_to_lps(view: Any, uv: np.ndarray) -> np.ndarray:
    """LPS point on the shown slice at plane coordinates (u, v)."""
    centre = view.slice_position_lps()
    du, dv = np.asarray(uv, dtype=np.float64) - view.lps_to_plane(centre)
    return centre + du * view.plane.right + dv * view.plane.up


def plane_trace(
    view: Any, origin: np.ndarray, normal: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Where a plane cuts the shown slice, or None when the two are parallel.

    (the trace's point nearest the origin's projection, its unit direction), in plane (u, v).
    """
    plane = view.plane
    normal = np.asarray(normal, dtype=np.float64)
    a, b = float(normal @ plane.right), float(normal @ plane.up)
    length2 = a * a + b * b
    if length2 < 1e-12:
        return None
    centre = view.slice_position_lps()
    uv_centre = view.lps_to_plane(centre)
    uv_origin = view.lps_to_plane(origin)
    # f(u, v) = n . (point(u, v) - origin), zero on the trace
    f0 = float(normal @ (centre - origin)) + (uv_origin - uv_centre) @ np.array([a, b])
    nearest = uv_origin - f0 / length2 * np.array([a, b])
    return nearest, np.array([-b, a]) / np.sqrt(length2)


def circle(centre: np.ndarray, radius: float, count: int = 20) -> np.ndarray:
    """A closed polyline (count+1, 2) round ``centre``."""
    angles = np.linspace(0.0, 2.0 * np.pi, count + 1)
    return np.asarray(centre) + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def cross(centre: np.ndarray, radius: float) -> list[np.ndarray]:
    """Two short segments crossing at ``centre`` (an x)."""
    c = np.asarray(centre, dtype=np.float64)
    return [c + radius * np.array([[-1, -1], [1, 1]]), c + radius * np.array([[-1, 1], [1, -1]])]


def diamond(centre: np.ndarray, radius: float) -> np.ndarray:
    """A closed diamond (5, 2) round ``centre``."""
    return np.asarray(centre) + radius * np.array([[0, 1], [1, 0], [0, -1], [-1, 0], [0, 1]])


def object_geometry(view: Any, obj: PlanningObject, mm_per_pixel: float) -> Geometry:
    """How ``obj`` is drawn in ``view`` on the shown slice (empty if hidden or a guide)."""
    geometry = Geometry()
    if not obj.visible or view.plane is None or obj.kind == "guide":
        return geometry
    radius = MARKER_PX * mm_per_pixel
    shown, half = view.slice_offset(), view.slice_step() / 2.0
    points = [np.asarray(p, dtype=np.float64) for p in obj.points_lps]
    uvs = [view.lps_to_plane(p) for p in points]
    offsets = [view.offset_of(p) - shown for p in points]

    def on_slice(offset: float) -> bool:
        return abs(offset) <= half + 1e-9

    def add(polylines: list[np.ndarray], solid: bool) -> None:
        (geometry.solid if solid else geometry.faint).extend(polylines)

    if obj.kind == "point":
        add([circle(uvs[0], radius), *cross(uvs[0], radius * 0.5)], on_slice(offsets[0]))
        geometry.anchor = uvs[0] + np.array([-radius, radius])
        geometry.handles.append(Handle("planning", obj.object_id, 0, uvs[0], points[0]))
    elif obj.kind == "line":
        low, high = min(offsets), max(offsets)
        add([np.array(uvs)], low - half <= 0.0 <= high + half)
        add([circle(uvs[0], radius)], on_slice(offsets[0]))
        add([circle(uvs[1], radius), *cross(uvs[1], radius * 0.7)], on_slice(offsets[1]))
        if high - low > 1e-9 and low <= 0.0 <= high:
            fraction = -offsets[0] / (offsets[1] - offsets[0])
            add([diamond(uvs[0] + fraction * (uvs[1] - uvs[0]), radius * 0.8)], True)
        ends = np.array(uvs)
        geometry.anchor = np.array([ends[:, 0].min() - radius, ends[:, 1].max() + radius])
        for index in (0, 1):
            handle = Handle("planning", obj.object_id, index, uvs[index], points[index])
            geometry.handles.append(handle)
    elif obj.kind == "plane":
        assert obj.normal_lps is not None
        trace = plane_trace(view, points[0], np.asarray(obj.normal_lps))
        if trace is None:
            return geometry
        nearest, direction = trace
        reach = 4.0 * _slice_extent(view)
        rotate = nearest + ROTATE_HANDLE_PX * mm_per_pixel * direction
        add([np.array([nearest - reach * direction, nearest + reach * direction])], True)
        add([circle(nearest, radius)], True)
        add([diamond(rotate, radius)], True)
        geometry.anchor = rotate + np.array([radius, radius])
        for index, uv in enumerate((nearest, rotate)):
            geometry.handles.append(
                Handle("planning", obj.object_id, index, uv, slice_uv_to_lps(view, uv))
            )
    return geometry


def label_text(obj: PlanningObject) -> str:
    """The label of an object: its name, and a line's length."""
    if obj.kind == "line":
        return f"{obj.name}  {line_length_mm(obj):.1f} mm"
    return obj.name


def _slice_extent(view: Any) -> float:
    corners = view.slice_corners_lps()
    if corners is None:
        return 500.0
    return float(np.linalg.norm(corners.max(axis=0) - corners.min(axis=0))) or 500.0


@dataclass
class _Graphic:
    """The actors of one drawn object."""

    solid: vtkActor
    faint: vtkActor
    label: vtkTextActor
    anchor: np.ndarray | None = None

    @property
    def actors(self) -> list[Any]:
        return [self.solid, self.faint, self.label]


class PlanningDrawing(PlanningFollower):
    """Keeps one slice view's planning graphics equal to a PlanningList."""

    def __init__(self, view: Any, renderer: vtkRenderer) -> None:
        super().__init__(view, renderer)
        self._graphics: dict[str, _Graphic] = {}
        self.bind(self._own)

    def _redraw_all(self) -> None:
        self._rebuild()

    def objects(self) -> list[PlanningObject]:
        """The objects drawn, with dragged ones as they are being dragged."""
        return [self._overrides.get(obj.object_id, obj) for obj in self.planning]

    def set_override(self, obj: PlanningObject | None, object_id: str = "") -> None:
        """Draw ``obj`` instead of its record (a drag in progress); None ends it."""
        if obj is None:
            self._overrides.pop(object_id, None)
        else:
            self._overrides[obj.object_id] = obj
        self._view.schedule_refresh()

    def handles(self) -> list[Handle]:
        """The draggable points of the objects drawn on the shown slice."""
        if self._view.plane is None:
            return []
        mm = self._view.mm_per_pixel()
        return [h for obj in self.objects() for h in object_geometry(self._view, obj, mm).handles]

    # -- events -------------------------------------------------------------------------
    def _event(self, _payload: object) -> None:
        self._rebuild()
        self._view.schedule_refresh()

    def _rebuild(self) -> None:
        """Make one set of actors per object (their geometry is filled before each frame)."""
        wanted = {obj.object_id for obj in self.planning}
        for object_id in list(self._graphics):
            if object_id not in wanted:
                for actor in self._graphics.pop(object_id).actors:
                    self._renderer.RemoveViewProp(actor)
        for object_id in wanted - set(self._graphics):
            graphic = _Graphic(_line_actor(), _line_actor(), vtkTextActor())
            text = graphic.label.GetTextProperty()
            text.SetFontSize(14)
            text.SetVerticalJustificationToBottom()
            text.SetBackgroundColor(0.0, 0.0, 0.0)
            text.SetBackgroundOpacity(0.6)
            graphic.label.GetPositionCoordinate().SetCoordinateSystemToWorld()
            for actor in graphic.actors:
                actor.VisibilityOff()
                self._renderer.AddViewProp(actor)
            self._graphics[object_id] = graphic

    def clear(self) -> None:
        """Hide everything (the view shows no volume)."""
        for graphic in self._graphics.values():
            for actor in graphic.actors:
                actor.VisibilityOff()

    def before_render(self, lines: list[np.ndarray], mm_per_pixel: float) -> None:
        """Fill every object's graphics for the shown slice and zoom; labels off ``lines``."""
        self.sync()
        if self._view.plane is None or mm_per_pixel <= 0:
            self.clear()
            return
        selected = selected_id(self._view)
        for obj in self.objects():
            graphic = self._graphics.get(obj.object_id)
            if graphic is None:
                continue
            geometry = object_geometry(self._view, obj, mm_per_pixel)
            chosen = obj.object_id == selected
            color = highlighted(obj.color) if chosen else obj.color
            width = SELECTED_LINE_WIDTH if chosen else LINE_WIDTH
            for actor, polylines, opacity in (
                (graphic.solid, geometry.solid, 1.0),
                (graphic.faint, geometry.faint, FAINT_OPACITY),
            ):
                _fill(actor, polylines)
                actor.GetProperty().SetColor(*color)
                actor.GetProperty().SetOpacity(opacity)
                actor.GetProperty().SetLineWidth(width)
                actor.SetVisibility(bool(polylines))
            graphic.anchor = geometry.anchor
            label = graphic.label
            label.SetVisibility(geometry.anchor is not None)
            if geometry.anchor is not None:
                label.SetInput(label_text(obj))
                label.GetTextProperty().SetColor(*color)
                label.GetTextProperty().SetBold(chosen)
                label.GetTextProperty().SetOpacity(1.0 if geometry.solid else 0.6)
                place_label(self._renderer, label, geometry.anchor, lines, mm_per_pixel, PLANNING_Z)

    def label_actor(self, object_id: str) -> vtkTextActor | None:
        """The label of an object (for tests), or None if it is not drawn."""
        graphic = self._graphics.get(object_id)
        return None if graphic is None else graphic.label


def _line_actor() -> vtkActor:
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(vtkPolyData())
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().LightingOff()
    actor.PickableOff()
    return actor


def _fill(actor: vtkActor, polylines: list[np.ndarray]) -> None:
    """Replace an actor's polydata by ``polylines`` (each (N, 2) in plane u, v)."""
    points = vtkPoints()
    cells = vtkCellArray()
    for polyline in polylines:
        start = points.GetNumberOfPoints()
        cells.InsertNextCell(len(polyline))
        for index, (u, v) in enumerate(np.asarray(polyline, dtype=np.float64)):
            points.InsertNextPoint(float(u), float(v), PLANNING_Z)
            cells.InsertCellPoint(start + index)
    polydata = vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetLines(cells)
    actor.GetMapper().SetInputData(polydata)
