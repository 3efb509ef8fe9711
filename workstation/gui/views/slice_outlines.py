"""Where each slice view cuts, drawn in the 3D view: one line rectangle per slice view."""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer


class SliceOutlines:
    """Lines only (3D Slicer's slice intersections), so they never hide a model."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self._outlines: dict[str, tuple[vtkPoints, vtkPolyData, vtkActor]] = {}
        self.visible = True

    def set(
        self,
        corners: dict[str, np.ndarray],
        colors: dict[str, tuple[float, float, float]],
    ) -> None:
        """Move (or make) the rectangle of each view name to its 4 LPS corners."""
        for name, points in corners.items():
            entry = self._outlines.get(name)
            if entry is None:
                entry = self._make(colors.get(name, (1.0, 1.0, 1.0)))
                self._outlines[name] = entry
            vtk_points, polydata, _ = entry
            for index, point in enumerate(np.asarray(points, dtype=np.float64)):
                vtk_points.SetPoint(index, *point)
            vtk_points.Modified()
            polydata.Modified()

    def set_visible(self, visible: bool) -> None:
        """Show or hide every outline (they keep following the slices either way)."""
        self.visible = bool(visible)
        for _, _, actor in self._outlines.values():
            actor.SetVisibility(self.visible)

    def names(self) -> list[str]:
        """Names of the slice views whose outlines are drawn."""
        return list(self._outlines)

    def clear(self) -> None:
        """Remove every outline from the renderer."""
        for _, _, actor in self._outlines.values():
            self._renderer.RemoveActor(actor)
        self._outlines.clear()

    def _make(self, color: tuple[float, float, float]) -> tuple[vtkPoints, vtkPolyData, vtkActor]:
        points = vtkPoints()
        points.SetNumberOfPoints(4)
        lines = vtkCellArray()
        lines.InsertNextCell(5)
        for index in (0, 1, 2, 3, 0):
            lines.InsertCellPoint(index)
        polydata = vtkPolyData()
        polydata.SetPoints(points)
        polydata.SetLines(lines)
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(polydata)
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.GetProperty().SetColor(*color)
        actor.GetProperty().SetLineWidth(1.5)
        actor.GetProperty().SetOpacity(0.8)
        actor.GetProperty().LightingOff()
        actor.PickableOff()
        actor.SetVisibility(self.visible)
        self._renderer.AddActor(actor)
        return points, polydata, actor
