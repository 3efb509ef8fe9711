"""The guide's marks in the 3D view: the region as translucent spheres, clearance colours.

The contact region of a guide plan is a union of spheres (one sphere, or the brush's
dabs); ``RegionDisplay`` draws each as a translucent, unpickable sphere so the bone stays
visible and clickable through it.  ``clearance_range`` gives the colour scale of a
guide's per-vertex clearance: red where the guide touches the bone, green at the set
clearance, blue at twice the clearance and beyond.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from vtkmodules.vtkFiltersSources import vtkSphereSource
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper, vtkRenderer

#: Colour and opacity of the region spheres.
REGION_COLOR = (0.2, 0.85, 1.0)
REGION_OPACITY = 0.25
#: More dabs than this are drawn with coarser spheres (software GL stays responsive).
FINE_DABS = 200


def clearance_range(clearance_mm: float) -> tuple[float, float]:
    """The colour scale of a guide's clearance: 0 (touching) to twice the set clearance."""
    return 0.0, max(2.0 * float(clearance_mm), 1e-3)


def view_renderer(view: Any) -> vtkRenderer:
    """The scene renderer of a 3D view (the first of its render window)."""
    return view.GetRenderWindow().GetRenderers().GetFirstRenderer()


class RegionDisplay:
    """Translucent spheres for a guide region in one 3D view."""

    def __init__(self, view: Any) -> None:
        self.view = view
        self._actors: list[vtkActor] = []
        self._spheres: list[tuple[tuple[float, float, float], float]] = []

    def show(self, spheres: list[tuple[Any, float]], visible: bool = True) -> None:
        """Draw exactly these (centre LPS, radius mm) spheres (none: nothing)."""
        renderer = view_renderer(self.view)
        self.clear()
        resolution = 24 if len(spheres) <= FINE_DABS else 10
        for center, radius in spheres:
            point = tuple(float(c) for c in np.asarray(center, dtype=np.float64).reshape(3))
            source = vtkSphereSource()
            source.SetCenter(*point)
            source.SetRadius(float(radius))
            source.SetThetaResolution(resolution)
            source.SetPhiResolution(resolution)
            mapper = vtkPolyDataMapper()
            mapper.SetInputConnection(source.GetOutputPort())
            actor = vtkActor()
            actor.SetMapper(mapper)
            prop = actor.GetProperty()
            prop.SetColor(*REGION_COLOR)
            prop.SetOpacity(REGION_OPACITY)
            actor.PickableOff()  # clicks go through to the bone
            actor.SetVisibility(bool(visible))
            renderer.AddActor(actor)
            self._actors.append(actor)
            self._spheres.append((point, float(radius)))  # type: ignore[arg-type]
        self.view.schedule_refresh()

    def set_visible(self, visible: bool) -> None:
        """Show or hide the spheres."""
        for actor in self._actors:
            actor.SetVisibility(bool(visible))
        self.view.schedule_refresh()

    def spheres(self) -> list[tuple[tuple[float, float, float], float]]:
        """The (centre, radius) of every sphere drawn."""
        return list(self._spheres)

    def actors(self) -> list[vtkActor]:
        """The sphere actors (for tests)."""
        return list(self._actors)

    def clear(self) -> None:
        """Remove every sphere."""
        renderer = view_renderer(self.view)
        for actor in self._actors:
            renderer.RemoveActor(actor)
        self._actors = []
        self._spheres = []
