"""The 3D view: surface models, volume rendering, slice outlines, orientation cube (LPS mm).

Mouse (VTK trackball camera): left-drag rotates, middle-drag pans, right-drag or wheel
zooms, ``r`` resets the camera.  The default camera looks at the patient from the front
(anterior), superior up, so the patient's left is on the screen's right.  A tool that
works in 3D (the scissors) takes the left button instead while it is active.  Model
actors, picking, per-vertex colouring, volume rendering and the slice outlines each live
in their own module; this widget holds them together and handles the Qt events.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QWidget
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersModeling import vtkOutlineFilter
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor, vtkScalarBarActor
from vtkmodules.vtkRenderingCore import vtkActor, vtkCamera, vtkPolyDataMapper, vtkRenderer

from workstation.core.mesh import Mesh
from workstation.core.volume import Volume
from workstation.gui.tools.base import ToolHandler
from workstation.gui.tools.dispatch import FollowsActiveTool, ToolDispatcher
from workstation.gui.tools.graphics import Curve
from workstation.gui.views.model_actors import ShownModel, model_actor
from workstation.gui.views.model_actors import mesh_to_polydata as mesh_to_polydata
from workstation.gui.views.model_picking import ModelPicker
from workstation.gui.views.model_scalars import ModelScalars, actor_scalars
from workstation.gui.views.planning_3d import Planning3D
from workstation.gui.views.slice_outlines import SliceOutlines
from workstation.gui.views.volume_rendering import (
    VOLUME_RENDERING_MAX_SIDE as VOLUME_RENDERING_MAX_SIDE,
)
from workstation.gui.views.volume_rendering import VolumeRendering
from workstation.gui.views.volume_rendering import (
    volume_rendering_input as volume_rendering_input,
)
from workstation.gui.views.vtk_setup import (
    QVTKRenderWindowInteractor,
    capture_render_window,
    index_to_lps_matrix,
    vtk_matrix,
)

BACKGROUND = (0.08, 0.09, 0.12)
BACKGROUND_TOP = (0.25, 0.28, 0.36)


class View3D(FollowsActiveTool, QVTKRenderWindowInteractor):
    """Surface models and volume rendering in patient LPS space."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = "3d"
        self._renderer = vtkRenderer()
        self._renderer.GradientBackgroundOn()
        self._renderer.SetBackground(*BACKGROUND)
        self._renderer.SetBackground2(*BACKGROUND_TOP)
        self.GetRenderWindow().SetMultiSamples(0)  # 4x MSAA costs 4x fill in software GL
        self.GetRenderWindow().AddRenderer(self._renderer)
        self._Iren.SetInteractorStyle(vtkInteractorStyleTrackballCamera())
        self._models: dict[str, ShownModel] = {}
        self._volume: Volume | None = None
        self._outline_actor: vtkActor | None = None
        self._rendering = VolumeRendering(self._renderer)
        self._slice_outlines = SliceOutlines(self._renderer)
        self._keep_camera = False
        self._marker = self._make_orientation_marker()
        self._tools = ToolDispatcher(self, in_3d=True)
        #: draws the case's planning objects (the window's list once a context is attached)
        self.planning_drawing = Planning3D(self, self._renderer)
        self._picker = ModelPicker()
        self._scalars = ModelScalars(self._renderer)
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self.refresh)
        self.setMinimumSize(120, 120)

    def _follow_tool(self, tool: str) -> None:
        """Tools that work in 3D take the left button while active."""
        self._tools.set_tool(tool)

    def _make_orientation_marker(self) -> vtkOrientationMarkerWidget:
        cube = vtkAnnotatedCubeActor()
        # World is LPS: +x = patient left, +y = posterior, +z = superior.
        cube.SetXPlusFaceText("L")
        cube.SetXMinusFaceText("R")
        cube.SetYPlusFaceText("P")
        cube.SetYMinusFaceText("A")
        cube.SetZPlusFaceText("S")
        cube.SetZMinusFaceText("I")
        cube.SetFaceTextScale(0.6)
        cube.GetCubeProperty().SetColor(0.55, 0.6, 0.7)
        cube.GetTextEdgesProperty().SetColor(0.9, 0.9, 0.9)
        for face in ("XPlus", "XMinus"):
            getattr(cube, f"Get{face}FaceProperty")().SetColor(0.95, 0.35, 0.35)
        for face in ("YPlus", "YMinus"):
            getattr(cube, f"Get{face}FaceProperty")().SetColor(0.45, 0.85, 0.45)
        for face in ("ZPlus", "ZMinus"):
            getattr(cube, f"Get{face}FaceProperty")().SetColor(0.35, 0.55, 0.95)
        widget = vtkOrientationMarkerWidget()
        widget.SetOrientationMarker(cube)
        widget.SetInteractor(self._Iren)
        widget.SetViewport(0.0, 0.0, 0.2, 0.2)
        widget.SetEnabled(1)
        widget.InteractiveOff()
        return widget

    # ----------------------------------------------------------------- volume
    def set_volume(self, volume: Volume, image: vtkImageData) -> None:
        """Show the volume's outline (and its rendering when enabled)."""
        self._volume = volume
        self._keep_camera = False
        self._tools.reset()
        if self._outline_actor is not None:
            self._renderer.RemoveActor(self._outline_actor)
        outline = vtkOutlineFilter()
        outline.SetInputData(image)
        mapper = vtkPolyDataMapper()
        mapper.SetInputConnection(outline.GetOutputPort())
        actor = vtkActor()
        actor.SetMapper(mapper)
        actor.SetUserMatrix(vtk_matrix(index_to_lps_matrix(volume.affine)))
        actor.GetProperty().SetColor(0.6, 0.6, 0.65)
        actor.GetProperty().LightingOff()
        actor.PickableOff()
        self._renderer.AddActor(actor)
        self._outline_actor = actor
        if self._rendering.actor is not None:  # rebuild the rendering from the new voxels
            self._rendering.remove()
            self.set_volume_rendering(True)
        self.reset_camera()

    def clear(self) -> None:
        """Remove the volume, its rendering and every model."""
        self._tools.reset()
        self._rendering.remove()
        if self._outline_actor is not None:
            self._renderer.RemoveActor(self._outline_actor)
            self._outline_actor = None
        for model_id in list(self._models):
            self.remove_model(model_id)
        self._slice_outlines.clear()
        self._volume = None
        self.refresh()

    def set_slice_outlines(
        self,
        corners: dict[str, np.ndarray],
        colors: dict[str, tuple[float, float, float]],
    ) -> None:
        """Draw where each slice view cuts: a rectangle (4 LPS corners) per view name.

        Lines only (3D Slicer's slice intersections), so they never hide a model.
        """
        self._slice_outlines.set(corners, colors)

    def set_slice_outlines_visible(self, visible: bool) -> None:
        """Show or hide the slice outlines (they keep following the slices either way)."""
        self._slice_outlines.set_visible(visible)

    def slice_outlines_visible(self) -> bool:
        """True when the slice outlines are shown."""
        return self._slice_outlines.visible

    def slice_outline_names(self) -> list[str]:
        """Names of the slice views whose outlines are drawn."""
        return self._slice_outlines.names()

    def set_volume_rendering(self, enabled: bool, preset: str = "") -> None:
        """Turn direct volume rendering on (with a preset key) or off."""
        if not enabled or self._volume is None:
            self._rendering.hide(preset)
        else:
            self._rendering.show(self._volume, preset)

    def volume_rendering(self) -> tuple[bool, str]:
        """(enabled, preset key)."""
        return self._rendering.actor is not None, self._rendering.preset

    # ----------------------------------------------------------------- models
    def add_model(
        self,
        model_id: str,
        mesh: Mesh,
        color: tuple[float, float, float],
        opacity: float = 1.0,
        visible: bool = True,
    ) -> None:
        """Show a surface (replacing a model with the same id)."""
        if model_id in self._models:
            self.remove_model(model_id)
        actor = model_actor(mesh, color, opacity, visible)
        self._renderer.AddActor(actor)
        first_model = not self._models
        self._models[model_id] = ShownModel(actor, mesh)
        if first_model and not self._keep_camera:
            # the first model is what the user wants to see: frame it, not the whole scan
            self.reset_camera(models_only=True)

    def update_model(
        self,
        model_id: str,
        color: tuple[float, float, float] | None = None,
        opacity: float | None = None,
        visible: bool | None = None,
    ) -> None:
        """Change a model's colour, opacity or visibility (KeyError for an unknown id)."""
        actor = self._models[model_id].actor
        if color is not None:
            actor.GetProperty().SetColor(*color)
        if opacity is not None:
            actor.GetProperty().SetOpacity(float(opacity))
        if visible is not None:
            actor.SetVisibility(bool(visible))

    def remove_model(self, model_id: str) -> None:
        """Remove a model (no error if it is not shown)."""
        model = self._models.pop(model_id, None)
        if model is not None:
            self._renderer.RemoveActor(model.actor)
        if model_id == self._scalars.bar_model:
            self.set_model_scalars(model_id, None)

    def model_ids(self) -> list[str]:
        """Ids of the models shown."""
        return list(self._models)

    def model_actor(self, model_id: str) -> vtkActor:
        """The VTK actor of a model (for tests and advanced use)."""
        return self._models[model_id].actor

    def pick_model_point(self, x: float, y: float) -> tuple[str, np.ndarray, np.ndarray] | None:
        """(model id, LPS point, outward unit normal) of the visible model under a widget
        position (Qt pixels, y down), or None when no model is there.

        Only model actors are picked (never slice outlines, planning marks or the volume
        rendering); the normal is the picked triangle's (faces are counter-clockwise
        outward), turned by the actor's matrix if it has one.
        """
        ratio = self.devicePixelRatioF()
        height = self.GetRenderWindow().GetSize()[1]
        return self._picker.pick(self._models, self._renderer, x * ratio, height - y * ratio - 1.0)

    def set_model_scalars(
        self,
        model_id: str,
        values: np.ndarray | None,
        value_range: tuple[float, float] = (0.0, 1.0),
        title: str = "mm",
    ) -> None:
        """Colour a model by one value per vertex (red at the low end of ``value_range``,
        green in the middle, blue at the high end) with a colour bar; None: plain colour.

        KeyError for an unknown model with values, ValueError for a wrong count.
        """
        self._scalars.set(model_id, self._models.get(model_id), values, value_range, title)

    def model_scalars(self, model_id: str) -> np.ndarray | None:
        """The per-vertex values a model is coloured by, or None when it has its plain colour."""
        return actor_scalars(self._models[model_id].actor)

    def scalar_bar(self) -> vtkScalarBarActor | None:
        """The colour bar shown for a coloured model, or None."""
        return self._scalars.bar

    # ----------------------------------------------------------------- camera
    def camera(self) -> vtkCamera:
        """The active VTK camera of the 3D scene."""
        return self._renderer.GetActiveCamera()

    def keep_camera(self, keep: bool = True) -> None:
        """Stop (True) or allow framing the first model automatically, until the next volume.

        A restored camera (a reopened project) wins over automatic framing.
        """
        self._keep_camera = bool(keep)

    def reset_camera(self, models_only: bool = False) -> None:
        """Look from the front (anterior), superior up, fitting everything shown.

        With ``models_only`` the visible models fill the view (the scan's outline and its
        volume rendering may then extend past the edges).
        """
        camera = self._renderer.GetActiveCamera()
        camera.SetFocalPoint(0.0, 0.0, 0.0)
        camera.SetPosition(0.0, -1.0, 0.0)
        camera.SetViewUp(0.0, 0.0, 1.0)
        bounds = self._visible_model_bounds() if models_only else None
        if bounds is not None:
            self._renderer.ResetCamera(bounds)
        else:
            self._renderer.ResetCamera()
        self._renderer.ResetCameraClippingRange()

    def _visible_model_bounds(self) -> list[float] | None:
        """(xmin, xmax, ymin, ymax, zmin, zmax) of the visible models, or None."""
        shown = [model.mesh for model in self._models.values() if model.actor.GetVisibility()]
        shown = [mesh for mesh in shown if len(mesh.vertices)]
        if not shown:
            return None
        low = np.min([mesh.vertices.min(axis=0) for mesh in shown], axis=0)
        high = np.max([mesh.vertices.max(axis=0) for mesh in shown], axis=0)
        return [float(v) for pair in zip(low, high, strict=True) for v in pair]

    # ------------------------------------------------------------ tool surface
    @property
    def volume(self) -> Volume | None:
        """The volume shown."""
        return self._volume

    @property
    def plane(self) -> None:
        """The 3D view has no slice plane."""
        return None

    def view_direction(self) -> np.ndarray:
        """The camera's direction of projection (LPS unit vector)."""
        direction = np.array(self._renderer.GetActiveCamera().GetDirectionOfProjection())
        return direction / np.linalg.norm(direction)

    def display_to_lps(self, x: float, y: float) -> np.ndarray:
        """LPS point on the camera's focal plane under a widget position (Qt pixels, y down)."""
        renderer = self._renderer
        focal = renderer.GetActiveCamera().GetFocalPoint()
        renderer.SetWorldPoint(*focal, 1.0)
        renderer.WorldToDisplay()
        depth = renderer.GetDisplayPoint()[2]
        ratio = self.devicePixelRatioF()
        height = self.GetRenderWindow().GetSize()[1]
        renderer.SetDisplayPoint(x * ratio, height - y * ratio - 1.0, depth)
        renderer.DisplayToWorld()
        point = np.array(renderer.GetWorldPoint())
        return point[:3] / point[3]

    def mm_per_pixel(self) -> float:
        """Millimetres per display pixel on the focal plane."""
        return float(np.linalg.norm(self.display_to_lps(1.0, 0.0) - self.display_to_lps(0.0, 0.0)))

    def make_curve(self, color: tuple[float, float, float], width: float = 1.5) -> Curve:
        """A tool outline drawn over the scene in screen pixels (models never hide it)."""

        def project(points: np.ndarray) -> np.ndarray:
            renderer = self._renderer
            projected = []
            for point in np.asarray(points, dtype=np.float64):
                renderer.SetWorldPoint(*point, 1.0)
                renderer.WorldToDisplay()
                dx, dy, _ = renderer.GetDisplayPoint()
                projected.append((dx, dy, 0.0))
            return np.array(projected).reshape(-1, 3)

        return Curve(self._renderer, project, color, width, screen=True)

    def tool_handler(self, key: str) -> ToolHandler | None:
        """This view's handler of tool ``key`` if it was made (for tests)."""
        return self._tools.handlers.get(key)

    def schedule_refresh(self) -> None:
        """Render once the current event is handled."""
        if not self._render_timer.isActive():
            self._render_timer.start()

    # ------------------------------------------------------------ Qt events
    def _plain_left(self, event: QMouseEvent) -> bool:
        none = Qt.KeyboardModifier.NoModifier
        return event.button() == Qt.MouseButton.LeftButton and event.modifiers() == none

    def mousePressEvent(self, event: QMouseEvent) -> None:
        """A 3D tool takes a plain left press; everything else moves the camera."""
        if not (self._plain_left(event) and self._tools.press(event)):
            super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """A 3D tool takes a plain left double click (a polygon closes)."""
        if not (self._plain_left(event) and self._tools.press(event, double=True)):
            super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """A 3D tool's drag or hover; the camera follows otherwise."""
        dragging = self._tools.dragging
        self._tools.move(event)
        if not dragging:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """The end of a 3D tool's drag, or of a camera move."""
        if not (event.button() == Qt.MouseButton.LeftButton and self._tools.release(event)):
            super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Keys of a 3D tool (Enter closes a polygon, Escape drops it), else VTK's."""
        if not self._tools.key(event.key()):
            super().keyPressEvent(event)

    def lps_to_display(self, lps: np.ndarray) -> tuple[float, float]:
        """Widget position (Qt logical pixels, y down) of an LPS point."""
        self._renderer.SetWorldPoint(float(lps[0]), float(lps[1]), float(lps[2]), 1.0)
        self._renderer.WorldToDisplay()
        dx, dy, _ = self._renderer.GetDisplayPoint()
        ratio = self.devicePixelRatioF()
        height = self.GetRenderWindow().GetSize()[1]
        return dx / ratio, (height - 1.0 - dy) / ratio

    # -------------------------------------------------------------- rendering
    def refresh(self) -> None:
        """Render now if visible."""
        self._render_timer.stop()
        self.planning_drawing.sync()
        if self.isVisible():
            self._renderer.ResetCameraClippingRange()
            self.GetRenderWindow().Render()

    def capture(self) -> np.ndarray:
        """This view's current frame as (H, W, 3) uint8."""
        return capture_render_window(self.GetRenderWindow())

    def shutdown(self) -> None:
        """Release the orientation marker before the render window goes away."""
        if self._marker.GetInteractor() is not None:
            self._marker.SetEnabled(0)
            self._marker.SetInteractor(None)
