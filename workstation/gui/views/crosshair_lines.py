"""The crosshair of a slice view: one line per other view, where that view's plane cuts."""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkFiltersSources import vtkLineSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

from workstation.gui.views.planes import ViewPlane

#: Depth of the lines in plane coordinates (above the image, the labels and the segments).
CROSSHAIR_Z = 1.0


class CrosshairLines:
    """Lines in a slice view's plane (u, v), each in the colour of the view it stands for."""

    def __init__(
        self, renderer: vtkRenderer, colors: dict[str, tuple[float, float, float]]
    ) -> None:
        self._renderer = renderer
        self._colors = colors
        self._lines: dict[str, tuple[vtkLineSource, vtkActor]] = {}
        self._other_normals: dict[str, np.ndarray] = {}

    def rebuild(self, other_planes: dict[str, ViewPlane]) -> None:
        """One line per other view (replacing the previous ones)."""
        for _, actor in self._lines.values():
            self._renderer.RemoveActor(actor)
        self._lines.clear()
        self._other_normals = {name: plane.normal for name, plane in other_planes.items()}
        for other in other_planes:
            source = vtkLineSource()
            mapper = vtkPolyDataMapper()
            mapper.SetInputConnection(source.GetOutputPort())
            actor = vtkActor()
            actor.SetMapper(mapper)
            actor.GetProperty().SetColor(*self._colors.get(other, (1.0, 1.0, 1.0)))
            actor.GetProperty().SetLineWidth(1.5)
            actor.GetProperty().LightingOff()
            actor.PickableOff()
            self._renderer.AddActor(actor)
            self._lines[other] = (source, actor)

    def place(self, plane: ViewPlane, u: float, v: float, half: float) -> None:
        """Draw every line through plane point (u, v), ``half`` mm each way.

        A view parallel to this one cuts nowhere: its line is hidden.
        """
        for other, (source, actor) in self._lines.items():
            direction = self._other_normals[other]
            line_dir = np.cross(plane.normal, direction)
            d2 = np.array([line_dir @ plane.right, line_dir @ plane.up])
            norm = np.linalg.norm(d2)
            if norm < 1e-6:
                actor.VisibilityOff()
                continue
            d2 /= norm
            source.SetPoint1(u - half * d2[0], v - half * d2[1], CROSSHAIR_Z)
            source.SetPoint2(u + half * d2[0], v + half * d2[1], CROSSHAIR_Z)
            actor.VisibilityOn()

    def hide(self) -> None:
        """Hide every line (until the next ``place``)."""
        for _, actor in self._lines.values():
            actor.VisibilityOff()

    def shown(self) -> list[np.ndarray]:
        """The lines shown, each as (2, 2) plane end points (u, v)."""
        return [
            np.array([source.GetPoint1()[:2], source.GetPoint2()[:2]])
            for source, actor in self._lines.values()
            if actor.GetVisibility()
        ]
