"""The guide's marks in the 3D view: the region as translucent spheres, clearance colours.

The contact region of a guide plan is a union of spheres (one sphere, or the brush's
dabs); ``RegionDisplay`` draws each as a translucent, unpickable sphere so the bone stays
visible and clickable through it.  ``clearance_range`` gives the colour scale of a
guide's per-vertex clearance: red where the guide touches the bone, green at the set
clearance, blue at twice the clearance and beyond.  ``ContactFaceView`` hides the bone
and looks at the guide's contact face (where those colours matter), then puts the bone
and the camera back.
"""

from __future__ import annotations

import contextlib
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


def region_inward_normal(bone: Any, spheres: list[tuple[Any, float]]) -> np.ndarray | None:
    """The mean inward normal of the bone surface inside the region (unit LPS), or None."""
    vertices, faces = np.asarray(bone.vertices), np.asarray(bone.faces)
    if not len(faces) or not spheres:
        return None
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    centroids = (a + b + c) / 3.0
    inside = np.zeros(len(faces), dtype=bool)
    for center, radius in spheres:
        offset = centroids - np.asarray(center, dtype=np.float64).reshape(3)
        inside |= np.einsum("ij,ij->i", offset, offset) <= float(radius) ** 2
    outward = np.cross(b - a, c - a)[inside].sum(axis=0)  # area-weighted
    length = float(np.linalg.norm(outward))
    return None if length < 1e-12 else -outward / length


class ContactFaceView:
    """Hide the bone and look at the guide's contact face, then put both back.

    The camera sits on the bone's side of the guide and looks back against the
    insertion direction (the direction the guide moves onto the bone), so the face that
    touches the bone, with its clearance colours, faces the user.
    """

    def __init__(self, view: Any) -> None:
        self.view = view
        self.bone_id: str | None = None
        self._camera: tuple[Any, Any, Any, float] | None = None

    @property
    def active(self) -> bool:
        """True while the bone is hidden for the contact face."""
        return self.bone_id is not None

    def show(self, guide: Any, bone_id: str, insertion: Any) -> None:
        """Hide ``bone_id`` and turn the camera to face the guide's contact face."""
        self.restore()
        camera = self.view.camera()
        self._camera = (
            camera.GetPosition(),
            camera.GetFocalPoint(),
            camera.GetViewUp(),
            camera.GetParallelScale(),
        )
        self.view.update_model(bone_id, visible=False)
        self.bone_id = bone_id
        toward = np.asarray(insertion, dtype=np.float64).reshape(3)
        toward = toward / np.linalg.norm(toward)
        vertices = np.asarray(guide.vertices, dtype=np.float64)
        low, high = vertices.min(axis=0), vertices.max(axis=0)
        focus = (low + high) / 2.0
        up = np.array([0.0, 0.0, 1.0])
        if abs(float(up @ toward)) > 0.9:
            up = np.array([0.0, -1.0, 0.0])
        camera.SetFocalPoint(*focus)
        camera.SetPosition(*(focus + toward * max(float(np.linalg.norm(high - low)), 1.0)))
        camera.SetViewUp(*up)
        renderer = view_renderer(self.view)
        renderer.ResetCamera([float(v) for pair in zip(low, high, strict=True) for v in pair])
        renderer.ResetCameraClippingRange()
        self.view.schedule_refresh()

    def restore(self, visible: bool | None = True) -> None:
        """Show the bone again (``visible``: its own visibility; None: leave it) and the
        camera as it was."""
        if self.bone_id is not None and visible is not None:
            with contextlib.suppress(KeyError):  # the bone was removed meanwhile
                self.view.update_model(self.bone_id, visible=visible)
        if self._camera is not None and self.bone_id is not None:
            position, focal, up, scale = self._camera
            camera = self.view.camera()
            camera.SetPosition(*position)
            camera.SetFocalPoint(*focal)
            camera.SetViewUp(*up)
            camera.SetParallelScale(scale)
            view_renderer(self.view).ResetCameraClippingRange()
            self.view.schedule_refresh()
        self.bone_id = None
        self._camera = None

    def forget(self) -> None:
        """Drop the saved state without touching the view (another case is shown)."""
        self.bone_id = None
        self._camera = None
