"""Tool graphics: outlines a tool draws over a view (brush circle, scissors outline, seeds).

A curve takes LPS polylines.  On a slice view it is drawn in the view's plane
coordinates (it stays right when the view zooms or pans); on the 3D view in screen
pixels over the scene, so models never hide it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkActor2D,
    vtkPolyDataMapper,
    vtkPolyDataMapper2D,
    vtkRenderer,
)

#: Height above the slice image (towards the camera) at which tool graphics are drawn.
TOOL_Z = 3.0
#: Points of a drawn circle.
CIRCLE_POINTS = 64


def circle_lps(
    centre: np.ndarray, radius: float, right: np.ndarray, up: np.ndarray, count: int = CIRCLE_POINTS
) -> np.ndarray:
    """Closed polyline (count+1, 3) of a circle in the plane spanned by ``right`` and ``up``."""
    angles = np.linspace(0.0, 2.0 * np.pi, count + 1)
    return (
        np.asarray(centre, float)
        + radius * np.cos(angles)[:, None] * np.asarray(right, float)
        + radius * np.sin(angles)[:, None] * np.asarray(up, float)
    )


def _polydata(points_xyz: np.ndarray, lengths: Sequence[int]) -> vtkPolyData:
    """Polylines (one per length, consecutive points) as vtkPolyData."""
    polydata = vtkPolyData()
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(points_xyz, dtype=np.float64), deep=1))
    polydata.SetPoints(points)
    kept = [n for n in lengths if n >= 2]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    connectivity = np.concatenate(
        [np.arange(offsets[i], offsets[i] + n) for i, n in enumerate(lengths) if n >= 2]
        or [np.zeros(0, np.int64)]
    ).astype(np.int64)
    cell_offsets = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtkIdTypeArray(cell_offsets, deep=1),
        numpy_to_vtkIdTypeArray(connectivity, deep=1),
    )
    polydata.SetLines(cells)
    return polydata


class Curve:
    """Polylines in LPS drawn over one view; ``project`` maps (N, 3) LPS to drawn points."""

    def __init__(
        self,
        renderer: vtkRenderer,
        project: Callable[[np.ndarray], np.ndarray],
        color: tuple[float, float, float],
        width: float,
        screen: bool,
    ) -> None:
        self._renderer = renderer
        self._project = project
        if screen:
            self._mapper = vtkPolyDataMapper2D()
            self.actor = vtkActor2D()
        else:
            self._mapper = vtkPolyDataMapper()
            self.actor = vtkActor()
            self.actor.GetProperty().LightingOff()
            self.actor.PickableOff()
        self.actor.SetMapper(self._mapper)
        self.actor.GetProperty().SetColor(*color)
        self.actor.GetProperty().SetLineWidth(width)
        self.actor.VisibilityOff()
        self._mapper.SetInputData(vtkPolyData())
        renderer.AddViewProp(self.actor)
        self.polylines: list[np.ndarray] = []

    def set_polylines(self, polylines: Sequence[np.ndarray]) -> None:
        """Draw these LPS polylines (each (N, 3)); an empty list hides the curve."""
        self.polylines = [np.asarray(p, dtype=np.float64).reshape(-1, 3) for p in polylines]
        shown = [p for p in self.polylines if len(p)]
        if not shown:
            self.actor.VisibilityOff()
            return
        projected = self._project(np.concatenate(shown))
        self._mapper.SetInputData(_polydata(projected, [len(p) for p in shown]))
        self.actor.VisibilityOn()

    def redraw(self) -> None:
        """Project the polylines again (after the camera moved)."""
        self.set_polylines(self.polylines)

    def hide(self) -> None:
        """Draw nothing."""
        self.set_polylines([])

    @property
    def visible(self) -> bool:
        """True when something is drawn."""
        return bool(self.actor.GetVisibility())

    def remove(self) -> None:
        """Take the curve out of its renderer."""
        self._renderer.RemoveViewProp(self.actor)
