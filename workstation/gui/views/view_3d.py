"""The 3D view: surface models, volume rendering, slice outlines, orientation cube (LPS mm).

Mouse (VTK trackball camera): left-drag rotates, middle-drag pans, right-drag or wheel
zooms, ``r`` resets the camera.  The default camera looks at the patient from the front
(anterior), superior up, so the patient's left is on the screen's right.  A tool that
works in 3D (the scissors) takes the left button instead while it is active.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QWidget
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
from vtkmodules.vtkCommonCore import vtkLookupTable, vtkPoints
from vtkmodules.vtkCommonDataModel import (
    vtkCellArray,
    vtkImageData,
    vtkPiecewiseFunction,
    vtkPolyData,
    vtkStaticCellLocator,
)
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals
from vtkmodules.vtkFiltersModeling import vtkOutlineFilter
from vtkmodules.vtkInteractionStyle import vtkInteractorStyleTrackballCamera
from vtkmodules.vtkInteractionWidgets import vtkOrientationMarkerWidget
from vtkmodules.vtkRenderingAnnotation import vtkAnnotatedCubeActor, vtkScalarBarActor
from vtkmodules.vtkRenderingCore import (
    vtkActor,
    vtkCamera,
    vtkCellPicker,
    vtkColorTransferFunction,
    vtkPolyDataMapper,
    vtkRenderer,
    vtkVolume,
    vtkVolumeProperty,
)
from vtkmodules.vtkRenderingVolumeOpenGL2 import vtkOpenGLGPUVolumeRayCastMapper

from workstation.core.display_presets import (
    VolumeRenderingPreset,
    default_volume_rendering_preset,
    volume_rendering_preset,
)
from workstation.core.mesh import Mesh
from workstation.core.volume import Volume
from workstation.gui.tools.base import ToolHandler
from workstation.gui.tools.dispatch import FollowsActiveTool, ToolDispatcher
from workstation.gui.tools.graphics import Curve
from workstation.gui.views.planning_3d import Planning3D
from workstation.gui.views.vtk_setup import (
    QVTKRenderWindowInteractor,
    capture_render_window,
    image_from_array,
    index_to_lps_matrix,
    vtk_matrix,
)

BACKGROUND = (0.08, 0.09, 0.12)
BACKGROUND_TOP = (0.25, 0.28, 0.36)
#: Longest side (voxels) of the copy sent to the volume renderer (software GL is slow).
VOLUME_RENDERING_MAX_SIDE = 256


@dataclass
class _Model:
    """A model's VTK objects and display state."""

    actor: vtkActor
    mesh: Mesh


def mesh_to_polydata(mesh: Mesh) -> vtkPolyData:
    """VTK triangles from a Mesh (vertices LPS mm, faces (M, 3))."""
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(mesh.vertices), deep=1))
    faces = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    offsets = np.arange(0, 3 * len(faces) + 1, 3, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtkIdTypeArray(offsets, deep=1),
        numpy_to_vtkIdTypeArray(faces.reshape(-1), deep=1),
    )
    polydata = vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetPolys(cells)
    return polydata


def volume_rendering_input(
    volume: Volume, max_side: int = VOLUME_RENDERING_MAX_SIDE
) -> tuple[np.ndarray, np.ndarray]:
    """A strided copy (longest side <= max_side) of the voxels and its matching affine."""
    steps = [max(1, int(np.ceil(n / max_side))) for n in volume.shape]
    array = np.ascontiguousarray(volume.array[:: steps[0], :: steps[1], :: steps[2]])
    affine = volume.affine @ np.diag([*steps, 1]).astype(np.float64)
    return array, affine


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
        self._models: dict[str, _Model] = {}
        self._volume: Volume | None = None
        self._outline_actor: vtkActor | None = None
        self._volume_actor: vtkVolume | None = None
        self._volume_preset = ""
        self._vr_keepalive: np.ndarray | None = None
        self._slice_outlines: dict[str, tuple[vtkPoints, vtkPolyData, vtkActor]] = {}
        self._outlines_visible = True
        self._keep_camera = False
        self._marker = self._make_orientation_marker()
        self._tools = ToolDispatcher(self, in_3d=True)
        #: draws the case's planning objects (the window's list once a context is attached)
        self.planning_drawing = Planning3D(self, self._renderer)
        self._pick_locators: dict[str, tuple[vtkPolyData, vtkStaticCellLocator]] = {}
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
        if self._volume_actor is not None:  # rebuild the rendering from the new voxels
            self._remove_volume_actor()
            self.set_volume_rendering(True)
        self.reset_camera()

    def clear(self) -> None:
        """Remove the volume, its rendering and every model."""
        self._tools.reset()
        self._remove_volume_actor()
        if self._outline_actor is not None:
            self._renderer.RemoveActor(self._outline_actor)
            self._outline_actor = None
        for model_id in list(self._models):
            self.remove_model(model_id)
        for _, _, actor in self._slice_outlines.values():
            self._renderer.RemoveActor(actor)
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
        for name, points in corners.items():
            entry = self._slice_outlines.get(name)
            if entry is None:
                entry = self._make_outline(colors.get(name, (1.0, 1.0, 1.0)))
                self._slice_outlines[name] = entry
            vtk_points, polydata, _ = entry
            for index, point in enumerate(np.asarray(points, dtype=np.float64)):
                vtk_points.SetPoint(index, *point)
            vtk_points.Modified()
            polydata.Modified()

    def set_slice_outlines_visible(self, visible: bool) -> None:
        """Show or hide the slice outlines (they keep following the slices either way)."""
        self._outlines_visible = bool(visible)
        for _, _, actor in self._slice_outlines.values():
            actor.SetVisibility(self._outlines_visible)

    def slice_outlines_visible(self) -> bool:
        """True when the slice outlines are shown."""
        return self._outlines_visible

    def slice_outline_names(self) -> list[str]:
        """Names of the slice views whose outlines are drawn."""
        return list(self._slice_outlines)

    def _make_outline(
        self, color: tuple[float, float, float]
    ) -> tuple[vtkPoints, vtkPolyData, vtkActor]:
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
        actor.SetVisibility(self._outlines_visible)
        self._renderer.AddActor(actor)
        return points, polydata, actor

    def set_volume_rendering(self, enabled: bool, preset: str = "") -> None:
        """Turn direct volume rendering on (with a preset key) or off."""
        if not enabled or self._volume is None:
            self._remove_volume_actor()
            if preset:
                self._volume_preset = preset
            return
        key = preset or self._volume_preset or default_volume_rendering_preset(self._volume)
        settings = volume_rendering_preset(key)
        self._volume_preset = key
        if self._volume_actor is None:
            array, affine = volume_rendering_input(self._volume)
            image, self._vr_keepalive = image_from_array(array)
            mapper = self._volume_mapper()
            mapper.SetInputData(image)
            actor = vtkVolume()
            actor.SetMapper(mapper)
            actor.SetUserMatrix(vtk_matrix(index_to_lps_matrix(affine)))
            actor.SetProperty(vtkVolumeProperty())
            self._renderer.AddVolume(actor)
            self._volume_actor = actor
        _apply_preset(self._volume_actor.GetProperty(), settings)

    def _volume_mapper(self):
        """OpenGL ray casting with jittered ray starts, also under software OpenGL.

        Measured here (llvmpipe, 2 cores, sample CT strided to 256x256x134, 780x920 view):
        vtkFixedPointVolumeRayCastMapper 0.2-0.8 s per frame but with strong "wood-grain"
        rings on smooth surfaces (skin, bone), the jittered GPU mapper 0.5-1.8 s without
        them.  While the camera moves the mapper coarsens its sampling to keep the frame
        rate (AutoAdjustSampleDistances), so rotating stays usable.
        """
        mapper = vtkOpenGLGPUVolumeRayCastMapper()
        mapper.UseJitteringOn()
        mapper.AutoAdjustSampleDistancesOn()
        return mapper

    def volume_rendering(self) -> tuple[bool, str]:
        """(enabled, preset key)."""
        return self._volume_actor is not None, self._volume_preset

    def _remove_volume_actor(self) -> None:
        if self._volume_actor is not None:
            self._renderer.RemoveVolume(self._volume_actor)
            self._volume_actor = None
            self._vr_keepalive = None

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
        normals = vtkPolyDataNormals()
        normals.SetInputData(mesh_to_polydata(mesh))
        normals.SplittingOff()
        normals.ConsistencyOff()
        normals.AutoOrientNormalsOff()
        normals.ComputeCellNormalsOff()
        normals.Update()
        mapper = vtkPolyDataMapper()
        mapper.SetInputData(normals.GetOutput())
        mapper.ScalarVisibilityOff()
        actor = vtkActor()
        actor.SetMapper(mapper)
        prop = actor.GetProperty()
        prop.SetColor(*color)
        prop.SetOpacity(float(opacity))
        prop.SetSpecular(0.2)
        prop.SetSpecularPower(20)
        actor.SetVisibility(bool(visible))
        self._renderer.AddActor(actor)
        first_model = not self._models
        self._models[model_id] = _Model(actor, mesh)
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
        if model_id == getattr(self, "_scalar_bar_model", None):
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
        actors = {id(m.actor): key for key, m in self._models.items() if m.actor.GetVisibility()}
        if not actors:
            return None
        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        picker.PickFromListOn()
        for key in actors.values():
            picker.AddPickList(self._models[key].actor)
            picker.AddLocator(self._pick_locator(key))
        ratio = self.devicePixelRatioF()
        height = self.GetRenderWindow().GetSize()[1]
        if not picker.Pick(x * ratio, height - y * ratio - 1.0, 0.0, self._renderer):
            return None
        model_id = actors.get(id(picker.GetActor()))
        cell = picker.GetCellId()
        if model_id is None or cell < 0:
            return None
        model = self._models[model_id]
        point = np.array(picker.GetPickPosition(), dtype=np.float64)
        normal = _face_normal(model.mesh, cell)
        if normal is None:
            normal = np.array(picker.GetPickNormal(), dtype=np.float64)
        elif model.actor.GetUserMatrix() is not None or not model.actor.GetIsIdentity():
            matrix = model.actor.GetMatrix()
            linear = np.array([[matrix.GetElement(r, c) for c in range(3)] for r in range(3)])
            normal = np.linalg.inv(linear).T @ normal
        length = float(np.linalg.norm(normal))
        return model_id, point, normal / length if length > 0 else normal

    def _pick_locator(self, model_id: str) -> vtkStaticCellLocator:
        """A cell locator of a model's triangles (made once per mesh: picks stay fast)."""
        for stale in set(self._pick_locators) - set(self._models):
            del self._pick_locators[stale]
        dataset = self._models[model_id].actor.GetMapper().GetInput()
        cached = self._pick_locators.get(model_id)
        if cached is None or cached[0] is not dataset:
            locator = vtkStaticCellLocator()
            locator.SetDataSet(dataset)
            locator.BuildLocator()
            cached = self._pick_locators[model_id] = (dataset, locator)
        return cached[1]

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
        model = self._models.get(model_id)
        bar = getattr(self, "_scalar_bar", None)
        if values is None:
            if model is not None:
                model.actor.GetMapper().ScalarVisibilityOff()
            if bar is not None and self._scalar_bar_model == model_id:
                self._renderer.RemoveViewProp(bar)
                self._scalar_bar = self._scalar_bar_model = None
            return
        if model is None:
            raise KeyError(model_id)
        data = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        if len(data) != len(model.mesh.vertices):
            raise ValueError(f"{len(data)} values for {len(model.mesh.vertices)} vertices")
        low, high = float(value_range[0]), float(value_range[1])
        high = high if high > low else low + 1e-6
        array = numpy_to_vtk(data, deep=1)
        array.SetName("values")
        mapper = model.actor.GetMapper()
        mapper.GetInput().GetPointData().SetScalars(array)
        table = vtkLookupTable()
        table.SetHueRange(0.0, 0.667)  # red (low) through green to blue (high)
        table.SetRange(low, high)
        table.Build()
        mapper.SetLookupTable(table)
        mapper.SetScalarRange(low, high)
        mapper.SetColorModeToMapScalars()
        mapper.SetScalarModeToUsePointData()
        mapper.ScalarVisibilityOn()
        if bar is None:
            bar = vtkScalarBarActor()
            bar.SetNumberOfLabels(5)
            bar.SetWidth(0.08)
            bar.SetHeight(0.45)
            bar.SetPosition(0.9, 0.05)
            bar.PickableOff()
            self._renderer.AddViewProp(bar)
            self._scalar_bar = bar
        bar.SetLookupTable(table)
        bar.SetTitle(title)
        self._scalar_bar_model = model_id

    def model_scalars(self, model_id: str) -> np.ndarray | None:
        """The per-vertex values a model is coloured by, or None when it has its plain colour."""
        mapper = self._models[model_id].actor.GetMapper()
        scalars = mapper.GetInput().GetPointData().GetScalars()
        if not mapper.GetScalarVisibility() or scalars is None:
            return None
        from vtkmodules.util.numpy_support import vtk_to_numpy

        return vtk_to_numpy(scalars).copy()

    def scalar_bar(self) -> vtkScalarBarActor | None:
        """The colour bar shown for a coloured model, or None."""
        return getattr(self, "_scalar_bar", None)

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


def _face_normal(mesh: Mesh, face: int) -> np.ndarray | None:
    """Unit normal of triangle ``face`` of a mesh (right-hand rule), None if degenerate."""
    if face >= len(mesh.faces):
        return None
    a, b, c = np.asarray(mesh.vertices, dtype=np.float64)[mesh.faces[face]]
    normal = np.cross(b - a, c - a)
    length = float(np.linalg.norm(normal))
    return normal / length if length > 0 else None


def _apply_preset(prop: vtkVolumeProperty, preset: VolumeRenderingPreset) -> None:
    """Fill a vtkVolumeProperty from plain preset numbers."""
    opacity = vtkPiecewiseFunction()
    for value, alpha in preset.opacity:
        opacity.AddPoint(value, alpha)
    colors = vtkColorTransferFunction()
    for value, red, green, blue in preset.colors:
        colors.AddRGBPoint(value, red, green, blue)
    gradient = vtkPiecewiseFunction()
    for value, alpha in preset.gradient_opacity:
        gradient.AddPoint(value, alpha)
    prop.SetScalarOpacity(opacity)
    prop.SetColor(colors)
    if any(alpha < 1.0 for _, alpha in preset.gradient_opacity):
        prop.SetGradientOpacity(gradient)
    else:
        prop.DisableGradientOpacityOn()
    prop.SetInterpolationTypeToLinear()
    prop.SetShade(preset.shade)
    prop.SetAmbient(preset.ambient)
    prop.SetDiffuse(preset.diffuse)
    prop.SetSpecular(preset.specular)
    prop.SetSpecularPower(preset.specular_power)
