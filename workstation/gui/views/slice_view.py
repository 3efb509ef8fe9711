"""One 2D slice view (axial, coronal or sagittal) cutting the volume in patient space.

Mouse and keys (every tool): wheel or Up/Down arrows move one slice, PageUp/PageDown ten
slices; middle-drag (or shift+left-drag) pans; right-drag or ctrl+wheel zooms; ``R``
resets the view; Escape cancels what the tool has not finished.  The left button and the
other keys go to the active tool's handler (``workstation.gui.tools``): the view never
looks at which tool it is.  With a window's context attached (``attach``) the active tool
follows the viewer state, the segments are drawn in colour and the cursor read-out goes
to the viewer state as well as to ``cursor_info``.  Its parts: ``slice_navigation`` (mouse
and keys), ``slice_camera``, ``crosshair_lines``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QWidget
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkRenderingCore import vtkCamera, vtkImageActor, vtkRenderer

from workstation.core import geometry
from workstation.core.display_presets import MIN_WINDOW_WIDTH
from workstation.core.volume import Volume
from workstation.gui.tools.base import ToolHandler
from workstation.gui.tools.dispatch import FollowsActiveTool, ToolDispatcher
from workstation.gui.tools.graphics import TOOL_Z, Curve
from workstation.gui.views.crosshair_lines import CrosshairLines
from workstation.gui.views.measurement_drawing import MeasurementDrawing
from workstation.gui.views.measurements import MeasurementLayer
from workstation.gui.views.overlays import CornerText, OrientationLabels, ScaleBar
from workstation.gui.views.planes import SliceGrid, ViewPlane, in_plane_extent, slice_grid
from workstation.gui.views.planning_drawing import PlanningDrawing
from workstation.gui.views.reslice import LabelLayer, PlaneReslicer
from workstation.gui.views.segment_overlay import SEGMENT_Z, CompositeImage
from workstation.gui.views.slice_camera import CAMERA_DISTANCE as CAMERA_DISTANCE
from workstation.gui.views.slice_camera import SliceCamera
from workstation.gui.views.slice_navigation import PAGE_STEP as PAGE_STEP
from workstation.gui.views.slice_navigation import SliceNavigation
from workstation.gui.views.text_boxes import text_boxes
from workstation.gui.views.vtk_setup import QVTKRenderWindowInteractor, capture_render_window
from workstation.processing.roi_statistics import sample_nearest

#: Colour of each view, used for its crosshair line in the other views (Slicer's colours).
VIEW_COLORS = {
    "axial": (0.95, 0.35, 0.35),
    "coronal": (0.45, 0.85, 0.45),
    "sagittal": (0.95, 0.85, 0.35),
}
LABEL_Z = 0.5


class SliceView(FollowsActiveTool, QVTKRenderWindowInteractor):
    """A VTK render window showing one patient-aligned slice with overlays and tools."""

    crosshair_requested = Signal(object)  # LPS point (navigate-mode click or drag)
    slice_step_requested = Signal(int)  # slices to move along the normal
    cursor_info = Signal(object)  # dict: lps, value, units, view
    window_level_dragged = Signal(float, float)  # new (center, width)
    point_picked = Signal(object)  # LPS point (pick_seed tool)
    measurement_done = Signal(object)  # dict: kind, value(s), text, points

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._renderer = vtkRenderer()
        self._renderer.SetBackground(0.0, 0.0, 0.0)
        self.GetRenderWindow().SetMultiSamples(0)  # 4x MSAA costs 4x fill in software GL
        self.GetRenderWindow().AddRenderer(self._renderer)
        self._Iren.SetInteractorStyle(None)
        self._camera = SliceCamera(self._renderer, self)

        self._reslicer = PlaneReslicer("linear")
        self._image_actor = vtkImageActor()
        self._image_actor.GetMapper().SetInputConnection(self._reslicer.output_port())
        self._image_actor.GetProperty().SetInterpolationTypeToLinear()
        self._image_actor.VisibilityOff()
        self._renderer.AddActor(self._image_actor)

        self._label = LabelLayer(self._renderer, LABEL_Z)  # the threshold preview

        self._segments = LabelLayer(self._renderer, SEGMENT_Z)
        self._cross_lines = CrosshairLines(self._renderer, VIEW_COLORS)
        self._labels = OrientationLabels(self._renderer)
        self._scale_bar = ScaleBar(self._renderer)
        self._corner = CornerText(self._renderer)
        self._measurements = MeasurementLayer(self._renderer)
        self._renderer.AddObserver("StartEvent", self._before_render)

        self._volume: Volume | None = None
        self._plane: ViewPlane | None = None
        self._origin = np.zeros(3)
        self._grid = SliceGrid(0.0, 1.0, 1)
        self._offset = 0.0
        self._crosshair = np.zeros(3)
        self._pixel_first = np.zeros(2)
        self._pixel_spacing = np.ones(2)
        self._pixel_size = np.ones(2, dtype=int)
        self._window = (0.0, 1.0)
        self._tools = ToolDispatcher(self)
        #: draws the case's measurements made in this view (ViewLayout binds the session's)
        self.measurement_drawing = MeasurementDrawing(self, self._measurements)
        #: draws the case's planning objects (the window's list once a context is attached)
        self.planning_drawing = PlanningDrawing(self, self._renderer)
        self._navigation = SliceNavigation(self, self._tools, self._corner)
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(0)
        self._render_timer.timeout.connect(self.refresh)
        self.setMinimumSize(120, 120)

    def _follow_tool(self, tool: str) -> None:
        self._navigation.drag = None
        self._tools.set_tool(tool)  # a key without a handler leaves the left button idle
        self.refresh()

    # ----------------------------------------------------------------- set-up
    def set_volume(
        self,
        volume: Volume,
        image: vtkImageData,
        plane: ViewPlane,
        origin: np.ndarray,
        background: float,
        other_planes: dict[str, ViewPlane],
    ) -> None:
        """Show ``volume`` (its index-space ``image``) cut by ``plane`` around ``origin``."""
        self._volume = volume
        self._plane = plane
        self._origin = np.asarray(origin, dtype=np.float64)
        self._grid = slice_grid(volume.shape, volume.affine, plane, self._origin)
        first, spacing, size = in_plane_extent(volume.shape, volume.affine, plane, self._origin)
        self._pixel_first, self._pixel_spacing, self._pixel_size = first, spacing, size
        self._reslicer.set_input(image, volume.affine, background)
        self._reslicer.set_grid(first, spacing, size)
        self._label.set_grid(first, spacing, size)
        self._segments.set_grid(first, spacing, size)
        self._labels.set_labels(plane.labels())
        self._cross_lines.rebuild(other_planes)
        self.measurement_drawing.redraw()  # from the measurements' LPS points, on this plane
        self.planning_drawing.sync()
        self._tools.reset()
        self._offset = self._grid.position(self._grid.count // 2)
        self._apply_offset()
        self._image_actor.VisibilityOn()
        self.reset_view()

    def clear(self) -> None:
        """Show nothing."""
        self._volume = None
        self._plane = None
        self._image_actor.VisibilityOff()
        self._reslicer.reslice.SetInputData(None)  # let the old voxels go
        self._label.set_image(None, None, self._frame())
        self._segments.set_image(None, None, self._frame())
        self._tools.reset()
        self._cross_lines.hide()
        self._labels.set_labels({})
        self._measurements.clear()
        self._corner.set(CornerText.UPPER_LEFT, "")
        self._corner.set(CornerText.LOWER_LEFT, "")
        self._corner.set(CornerText.UPPER_RIGHT, "")
        self.refresh()

    def set_label_image(self, image: vtkImageData | None, affine: np.ndarray | None) -> None:
        """Overlay a label image sharing the volume grid (None hides the overlay)."""
        if self._volume is None:
            image = None
        self._label.set_image(image, affine, self._frame())

    def set_segment_overlay(self, composite: CompositeImage | None) -> None:
        """Draw the segments' composite label image (None: no segments)."""
        frame = self._frame()
        if composite is None:
            self._segments.set_image(None, None, frame)
        else:
            self._segments.set_image(composite.image, composite.affine, frame, composite.lut)

    def set_label_colors(self, color: tuple[float, float, float], opacity: float) -> None:
        """Label value 0 transparent, every other value ``color`` at ``opacity``."""
        lut = self._label.lut
        lut.SetNumberOfTableValues(256)
        lut.SetTableRange(0.0, 255.0)
        lut.SetTableValue(0, 0.0, 0.0, 0.0, 0.0)
        for value in range(1, 256):
            lut.SetTableValue(value, *color, opacity)
        lut.Modified()

    def set_window_level(self, center: float, width: float) -> None:
        """Linear grey mapping of the slice image."""
        width = max(float(width), MIN_WINDOW_WIDTH)
        self._window = (float(center), width)
        prop = self._image_actor.GetProperty()
        prop.SetColorWindow(width)
        prop.SetColorLevel(float(center))
        self._corner.set(CornerText.UPPER_RIGHT, f"W {width:.0f}  L {center:.0f}")

    def window_level(self) -> tuple[float, float]:
        """(center, width) of the grey mapping."""
        return self._window

    def set_interaction_mode(self, mode: str) -> None:
        """Make tool ``mode`` (a key with a registered handler) drive the left button."""
        if not self._tools.known(mode):
            raise ValueError(f"unknown interaction mode {mode!r}")
        self._navigation.drag = None
        self._tools.set_tool(mode)
        self.refresh()

    def interaction_mode(self) -> str:
        """The key of the tool that drives the left button."""
        return self._tools.tool

    def tool_handler(self, key: str) -> ToolHandler | None:
        """This view's handler of tool ``key`` if it was made (for tests and tools)."""
        return self._tools.handlers.get(key)

    # ------------------------------------------------------------- slice state
    @property
    def plane(self) -> ViewPlane | None:
        """The plane geometry of this view (None before a volume is set)."""
        return self._plane

    def slice_count(self) -> int:
        """Number of slice positions along this view's normal."""
        return self._grid.count

    def slice_index(self) -> int:
        """Index of the slice shown (0 = lowest along the normal: I, P or R)."""
        return self._grid.index(self._offset)

    def slice_step(self) -> float:
        """Distance in mm between neighbouring slice positions."""
        return self._grid.step

    def slice_offset(self) -> float:
        """Plane offset w in mm (along the normal from the volume centre) of the slice shown."""
        return self._offset

    def slice_position_lps(self) -> np.ndarray:
        """The LPS point where the view normal through the centre meets the shown slice."""
        return self._origin + self._offset * self._plane_normal()

    def slice_position_text(self) -> str:
        """Where the shown slice lies in the patient, e.g. 'S 283.9 mm' or 'R 12.0 mm'.

        The patient coordinate along the view normal (the table position for an axial
        view), read towards the side it lies on, as scanners label their slices.
        """
        if self._plane is None:
            return ""
        normal = self._plane.normal
        position = float(normal @ self.slice_position_lps())
        towards = geometry.direction_letters(normal)
        if position < 0:
            towards = geometry.opposite_letters(towards)
        return f"{towards} {abs(position):.1f} mm"

    def slice_corners_lps(self) -> np.ndarray | None:
        """The four LPS corners (4, 3) of the shown slice's image area, or None."""
        if self._plane is None:
            return None
        low = self._pixel_first
        high = self._pixel_first + (self._pixel_size - 1) * self._pixel_spacing
        corners = [(low[0], low[1]), (high[0], low[1]), (high[0], high[1]), (low[0], high[1])]
        return np.array([self._plane.to_lps(self._origin, u, v, self._offset) for u, v in corners])

    def offset_of(self, lps: np.ndarray) -> float:
        """Plane offset w (mm along the normal) of an LPS point."""
        if self._plane is None:
            return 0.0
        return float(self._plane.to_plane(self._origin, lps)[2])

    def cuts(self, points_lps: np.ndarray) -> bool:
        """True when the shown slice passes within the box spanned by these LPS points."""
        if self._plane is None:
            return False
        offsets = (np.reshape(points_lps, (-1, 3)) - self._origin) @ self._plane.normal
        half = self._grid.step / 2.0
        return bool(offsets.min() - half <= self._offset <= offsets.max() + half)

    def set_slice_index(self, index: int) -> None:
        """Show slice ``index`` (clamped)."""
        self._offset = self._grid.position(index)
        self._apply_offset()

    def set_crosshair(self, lps: np.ndarray) -> None:
        """Show the slice through ``lps`` and draw the crosshair lines through it."""
        self._crosshair = np.asarray(lps, dtype=np.float64)
        if self._plane is None:
            return
        u, v, w = self._plane.to_plane(self._origin, self._crosshair)
        new_offset = self._grid.position(self._grid.index(w))
        if new_offset != self._offset:
            self._offset = new_offset
            self._apply_offset()
        half = 4.0 * float(np.max(self._pixel_size * self._pixel_spacing))
        self._cross_lines.place(self._plane, u, v, half)

    def _apply_offset(self) -> None:
        frame = self._frame()
        self._reslicer.set_plane(frame)
        self._label.set_plane(frame)
        self._segments.set_plane(frame)
        self._measurements.show_for_slice(self._offset, self._grid.step / 2.0)
        if self._plane is not None:
            # two short lines, so the text stays clear of the orientation letter at the top
            self._corner.set(
                CornerText.UPPER_LEFT,
                f"{self.name.capitalize()}  {self.slice_index() + 1}/{self._grid.count}\n"
                f"{self.slice_position_text()}",
            )
        self._tools.slice_changed()
        mouse = self._navigation.mouse
        if mouse is not None and self._volume is not None:
            self._navigation.report_cursor(*mouse, render=False)  # the value under a still mouse

    def _frame(self) -> np.ndarray:
        if self._plane is None:
            return np.eye(4)
        return self._plane.frame(self._origin + self._offset * self._plane.normal)

    def _plane_normal(self) -> np.ndarray:
        return self._plane.normal if self._plane is not None else np.array([0.0, 0.0, 1.0])

    # ----------------------------------------------------------------- camera
    def reset_view(self) -> None:
        """Fit the whole slice in the view, centred."""
        self._camera.fit(*self.fitted_camera())

    def fitted_camera(self) -> tuple[np.ndarray, float]:
        """Plane centre (u, v) and parallel scale that fit the whole slice in the view now."""
        return self._camera.fitted(self._pixel_first, self._pixel_spacing, self._pixel_size)

    def camera(self) -> vtkCamera:
        """The view's VTK camera (parallel projection, looking down the plane normal)."""
        return self._camera.camera

    def zoom(self, factor: float) -> None:
        """Magnify by ``factor`` (> 1 zooms in)."""
        self._camera.zoom(factor)

    def pan(self, du: float, dv: float) -> None:
        """Move the image by (du, dv) mm on the screen."""
        self._camera.pan(du, dv)

    def mm_per_pixel(self) -> float:
        """Current zoom: millimetres per display pixel."""
        return self._camera.mm_per_pixel()

    def _before_render(self, _caller: object, _event: str) -> None:
        width, _ = self._camera.viewport_size()
        self._scale_bar.update(self.mm_per_pixel() if self._plane is not None else 0.0, width)
        self._measurements.place_labels(self.crosshair_lines(), self.mm_per_pixel())
        self.planning_drawing.before_render(self.crosshair_lines(), self.mm_per_pixel())

    def crosshair_lines(self) -> list[np.ndarray]:
        """The crosshair lines shown, each as (2, 2) plane end points (u, v)."""
        if self._plane is None:
            return []
        return self._cross_lines.shown()

    # -------------------------------------------------------------- rendering
    def refresh(self) -> None:
        """Render now if visible."""
        self._render_timer.stop()
        if self.isVisible():
            self.GetRenderWindow().Render()

    def schedule_refresh(self) -> None:
        """Render once the current event is handled (many changes, one frame)."""
        if not self._render_timer.isActive():
            self._render_timer.start()

    def capture(self) -> np.ndarray:
        """This view's current frame as (H, W, 3) uint8."""
        return capture_render_window(self.GetRenderWindow())

    def orientation_labels(self) -> dict[str, str]:
        """The letters shown on the four sides."""
        return self._labels.labels()

    def annotation_boxes(self) -> dict[str, tuple[float, float, float, float]]:
        """Display boxes (x0, x1, y0, y1) of the shown texts: 'left', ..., 'corner0' .. 3.

        As last rendered; empty texts are left out (for layout checks).
        """
        actors = {**self._labels.actors}
        actors.update({f"corner{key}": actor for key, actor in self._corner.actors.items()})
        return text_boxes(self._renderer, actors)

    def scale_bar_length_mm(self) -> float:
        """Length in mm of the scale bar as last drawn."""
        return self._scale_bar.length_mm

    # -------------------------------------------------------- coordinate maps
    def display_to_plane(self, x: float, y: float) -> np.ndarray:
        """Plane (u, v) of a widget position (Qt logical pixels, y down)."""
        return self._camera.display_to_plane(x, y)

    def display_to_lps(self, x: float, y: float) -> np.ndarray:
        """LPS point on the shown slice under a widget position."""
        u, v = self.display_to_plane(x, y)
        if self._plane is None:
            return np.zeros(3)
        return self._plane.to_lps(self._origin, u, v, self._offset)

    def lps_to_display(self, lps: np.ndarray) -> tuple[float, float]:
        """Widget position (Qt logical pixels, y down) of an LPS point projected on the view."""
        if self._plane is None:
            return 0.0, 0.0
        u, v, _ = self._plane.to_plane(self._origin, lps)
        return self._camera.plane_to_display(u, v)

    def value_at(self, lps: np.ndarray) -> float | None:
        """Voxel value nearest to an LPS point, or None outside the volume."""
        if self._volume is None:
            return None
        value = sample_nearest(self._volume.array, self._volume.affine, np.reshape(lps, (1, 3)))
        return None if np.isnan(value[0]) else float(value[0])

    # ------------------------------------------------------------ tool surface
    @property
    def volume(self) -> Volume | None:
        """The volume shown."""
        return self._volume

    @property
    def measurements(self) -> MeasurementLayer:
        """The measurement graphics of this view."""
        return self._measurements

    def lps_to_plane(self, lps: np.ndarray) -> np.ndarray:
        """Plane (u, v) of an LPS point projected on the view."""
        if self._plane is None:
            return np.zeros(2)
        return self._plane.to_plane(self._origin, lps)[:2]

    def view_direction(self) -> np.ndarray:
        """The LPS direction the view looks along (the slice normal)."""
        return self._plane_normal().copy()

    def make_curve(self, color: tuple[float, float, float], width: float = 1.5) -> Curve:
        """A tool outline drawn in this view's plane, above the image and segments."""

        def project(points: np.ndarray) -> np.ndarray:
            if self._plane is None:
                return np.zeros((len(points), 3))
            local = (np.asarray(points, dtype=np.float64) - self._origin) @ np.stack(
                [self._plane.right, self._plane.up], axis=1
            )
            return np.column_stack([local, np.full(len(local), TOOL_Z)])

        return Curve(self._renderer, project, color, width, screen=False)

    def show_message(self, text: str) -> None:
        """A short status message through the window (when attached)."""
        if self.context is not None:
            self.context.show_message(text)

    # ------------------------------------------------------------ Qt events
    def mousePressEvent(self, event: QMouseEvent) -> None:
        """Pan, zoom, or hand the left button to the active tool."""
        self._navigation.press(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        """Continue a drag or let the tool follow the mouse; report what lies under it."""
        self._navigation.move(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """Finish a pan or zoom, or the tool's stroke, outline or measurement."""
        self._navigation.release(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        """A left double click goes to the tool (most treat it as a press)."""
        self._navigation.double_click(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        """Wheel: one slice per notch; ctrl+wheel: zoom."""
        self._navigation.wheel(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Arrows and Page keys move slices; R resets the view; Escape cancels; the tool's keys."""
        self._navigation.key(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        """Keys are handled on press only."""

    def enterEvent(self, event) -> None:
        """Nothing to forward: this view handles its own events."""

    def leaveEvent(self, event) -> None:
        """The mouse left: tools hide what follows it (the brush outline)."""
        self._navigation.leave()

    def clear_measurements(self) -> None:
        """Delete the measurements made in this view from the case, and an unfinished one."""
        self.measurement_drawing.remove_own()
        self._tools.cancel()
        self.refresh()
