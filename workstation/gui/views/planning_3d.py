"""Draws the case's planning objects in the 3D view: spheres, tubes and plane discs (LPS mm).

A point is a small sphere; a line a tube from entry to target with a sphere at each end
(the target's a little larger); a plane a semi-transparent disc of DISC_RADIUS_MM round
its origin with its normal drawn as a short tube.  The selected object is drawn brighter
and larger.  Nothing here can be picked (picking on models ignores it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from vtkmodules.vtkFiltersCore import vtkTubeFilter
from vtkmodules.vtkFiltersSources import vtkLineSource, vtkRegularPolygonSource, vtkSphereSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from workstation.core.planning import PlanningObject
from workstation.gui.views.planning_drawing import highlighted, selected_id
from workstation.gui.views.planning_follower import PlanningFollower

POINT_RADIUS_MM = 1.5
END_RADIUS_MM = 1.2
TUBE_RADIUS_MM = 0.6
DISC_RADIUS_MM = 40.0
DISC_OPACITY = 0.35
NORMAL_LENGTH_MM = 15.0
#: How much larger the selected object is drawn.
SELECTED_SCALE = 1.5


def _actor(source: Any, color: tuple[float, float, float], opacity: float = 1.0) -> vtkActor:
    mapper = vtkPolyDataMapper()
    mapper.SetInputConnection(source.GetOutputPort())
    actor = vtkActor()
    actor.SetMapper(mapper)
    actor.GetProperty().SetColor(*color)
    actor.GetProperty().SetOpacity(opacity)
    actor.PickableOff()
    return actor


def sphere(centre: Any, radius: float, color: tuple[float, float, float]) -> vtkActor:
    """A sphere actor."""
    source = vtkSphereSource()
    source.SetCenter(*(float(c) for c in centre))
    source.SetRadius(radius)
    source.SetThetaResolution(20)
    source.SetPhiResolution(14)
    return _actor(source, color)


def tube(start: Any, end: Any, radius: float, color: tuple[float, float, float]) -> vtkActor:
    """A tube actor from ``start`` to ``end``."""
    line = vtkLineSource()
    line.SetPoint1(*(float(c) for c in start))
    line.SetPoint2(*(float(c) for c in end))
    filter_ = vtkTubeFilter()
    filter_.SetInputConnection(line.GetOutputPort())
    filter_.SetRadius(radius)
    filter_.SetNumberOfSides(16)
    filter_.CappingOn()
    return _actor(filter_, color)


def disc(
    centre: Any, normal: Any, radius: float, color: tuple[float, float, float], opacity: float
) -> vtkActor:
    """A flat disc actor (a 64-gon) round ``centre`` facing ``normal``."""
    source = vtkRegularPolygonSource()
    source.SetCenter(*(float(c) for c in centre))
    source.SetNormal(*(float(c) for c in normal))
    source.SetRadius(radius)
    source.SetNumberOfSides(64)
    source.GeneratePolygonOn()
    source.GeneratePolylineOff()
    actor = _actor(source, color, opacity)
    actor.GetProperty().BackfaceCullingOff()
    return actor


def object_actors(obj: PlanningObject, selected: bool) -> list[vtkActor]:
    """The actors that draw one object (none for a hidden object or a guide)."""
    if not obj.visible or obj.kind == "guide":
        return []
    color = highlighted(obj.color) if selected else obj.color
    scale = SELECTED_SCALE if selected else 1.0
    points = [np.asarray(p, dtype=np.float64) for p in obj.points_lps]
    if obj.kind == "point":
        return [sphere(points[0], POINT_RADIUS_MM * scale, color)]
    if obj.kind == "line":
        return [
            tube(points[0], points[1], TUBE_RADIUS_MM * scale, color),
            sphere(points[0], END_RADIUS_MM * scale, color),
            sphere(points[1], END_RADIUS_MM * 1.3 * scale, color),
        ]
    assert obj.normal_lps is not None
    normal = np.asarray(obj.normal_lps, dtype=np.float64)
    opacity = min(1.0, DISC_OPACITY * scale)
    return [
        disc(points[0], normal, DISC_RADIUS_MM, color, opacity),
        tube(points[0], points[0] + NORMAL_LENGTH_MM * normal, TUBE_RADIUS_MM * scale, color),
        sphere(points[0], END_RADIUS_MM * scale, color),
    ]


class Planning3D(PlanningFollower):
    """Keeps the 3D view's planning actors equal to a PlanningList."""

    def __init__(self, view: Any, renderer: vtkRenderer) -> None:
        super().__init__(view, renderer)
        self._actors: dict[str, list[vtkActor]] = {}
        self.bind(self._own)

    def _redraw_all(self) -> None:
        self.redraw()

    def set_override(self, obj: PlanningObject | None, object_id: str = "") -> None:
        """Draw ``obj`` instead of its record (a drag in progress); None ends it."""
        if obj is None:
            self._overrides.pop(object_id, None)
        else:
            self._overrides[obj.object_id] = obj
        self.redraw()
        self._view.schedule_refresh()

    def _event(self, _payload: object) -> None:
        self.redraw()
        self._view.schedule_refresh()

    def redraw(self) -> None:
        """Make the actors of every object again (few objects: cheap)."""
        self.clear()
        selected = selected_id(self._view)
        for obj in self.planning:
            shown = self._overrides.get(obj.object_id, obj)
            actors = object_actors(shown, obj.object_id == selected)
            for actor in actors:
                self._renderer.AddActor(actor)
            self._actors[obj.object_id] = actors

    def clear(self) -> None:
        """Remove every planning actor."""
        for actors in self._actors.values():
            for actor in actors:
                self._renderer.RemoveActor(actor)
        self._actors.clear()

    def actors(self, object_id: str) -> list[vtkActor]:
        """The actors drawing one object (for tests)."""
        return list(self._actors.get(object_id, []))
