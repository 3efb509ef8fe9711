"""ViewLayout: the four-view widget (axial, 3D, sagittal, coronal) with linked crosshairs.

Layout as in 3D Slicer's "four-up": axial top-left, 3D top-right, sagittal bottom-left,
coronal bottom-right; ``set_layout`` shows one of them alone.  See
``workstation.gui.views.slice_view`` for the mouse and key bindings: in
``window_level`` mode a left-drag changes window/level (Slicer's convention).

In the window the layout follows the ``ViewerState`` of its ``AppContext`` (crosshair,
window/level, layout, tool) and reports its own changes there (crosshair clicks and
scrolling, window/level drags, the value under the cursor), so panels never read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QPoint, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QWidget

from workstation.core import geometry
from workstation.core.display_presets import (
    MIN_WINDOW_WIDTH,
    default_volume_rendering_preset,
    default_window,
)
from workstation.core.measurements import MeasurementList
from workstation.core.mesh import Mesh
from workstation.core.viewer_state import CursorInfo
from workstation.core.volume import LabelMap, Volume
from workstation.gui.views.planes import (
    SLICE_VIEW_NAMES,
    ViewPlane,
    patient_plane,
    volume_aligned_plane,
)
from workstation.gui.views.slice_view import VIEW_COLORS, SliceView
from workstation.gui.views.view_3d import View3D
from workstation.gui.views.vtk_setup import configure_vtk, image_from_array, replace_image_scalars

if TYPE_CHECKING:
    from workstation.gui.context import AppContext
    from workstation.gui.views.segment_overlay import SegmentOverlay

LAYOUT_NAMES = ("four", "axial", "coronal", "sagittal", "3d")
PLANE_ALIGNMENTS = ("patient", "volume")
_GRID_POSITIONS = {"axial": (0, 0), "3d": (0, 1), "sagittal": (1, 0), "coronal": (1, 1)}
_CANVAS_COLOR = (40, 40, 40)
#: While one view scrolls, the other slice views (crosshair line only) redraw this often.
OTHER_VIEWS_DELAY_MS = 80
#: The 3D view shows the new slice outlines once the crosshair has rested this long.
VIEW_3D_DELAY_MS = 150


class ViewLayout(QWidget):
    """Three linked slice views and a 3D view of one volume, its label overlay and models."""

    window_level_changed = Signal(float, float)
    crosshair_moved = Signal(object)
    cursor_info = Signal(object)
    point_picked = Signal(object)
    measurement_done = Signal(object)
    volume_rendering_changed = Signal(bool, str)  # enabled, preset key

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        configure_vtk()
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(2)
        self._slice_views: dict[str, SliceView] = {}
        for name in SLICE_VIEW_NAMES:
            view = SliceView(name, self)
            view.crosshair_requested.connect(self.set_crosshair_lps)
            view.slice_step_requested.connect(
                lambda steps, view_name=name: self.scroll(view_name, steps)
            )
            view.cursor_info.connect(self.cursor_info)
            view.window_level_dragged.connect(self.set_window_level)
            view.point_picked.connect(self.point_picked)
            view.measurement_done.connect(self.measurement_done)
            self._slice_views[name] = view
        self._view_3d = View3D(self)
        for name, widget in self._all_views().items():
            self._grid.addWidget(widget, *_GRID_POSITIONS[name])
        self._layout_name = "four"
        self._volume: Volume | None = None
        self._image = None
        self._image_array: np.ndarray | None = None
        self._label_image = None
        self._label_array: np.ndarray | None = None
        self._label_style: tuple | None = None
        self._window = (40.0, 400.0)
        self._crosshair = np.zeros(3)
        self._alignment = "patient"
        self._mode = "navigate"
        self._scrolled_view = ""
        self._shut_down = False
        self.context: AppContext | None = None
        # the measurements drawn: this list until a window's context hands its session's
        self._measurement_list = MeasurementList()
        for view in self._slice_views.values():
            view.measurement_drawing.bind(self._measurement_list)
        self._others_timer = QTimer(self)
        self._others_timer.setSingleShot(True)
        self._others_timer.setInterval(OTHER_VIEWS_DELAY_MS)
        self._others_timer.timeout.connect(self._refresh_other_views)
        self._view_3d_timer = QTimer(self)
        self._view_3d_timer.setSingleShot(True)
        self._view_3d_timer.setInterval(VIEW_3D_DELAY_MS)
        self._view_3d_timer.timeout.connect(self._view_3d.refresh)
        for view in self._slice_views.values():
            view.set_window_level(*self._window)

    def _all_views(self) -> dict[str, QWidget]:
        return {**self._slice_views, "3d": self._view_3d}

    # ------------------------------------------------------------ viewer state
    def set_context(self, context: AppContext) -> None:
        """Work in a window: hand its context to every view and follow its ViewerState."""
        self.context = context
        for widget in self._all_views().values():
            widget.context = context
        for view in self._slice_views.values():
            view.measurement_drawing.bind(context.session.measurements)
        viewer = context.viewer
        viewer.subscribe("crosshair", self._follow_crosshair)
        viewer.subscribe("window", self._follow_window)
        viewer.subscribe("layout", self.set_layout)
        viewer.subscribe("tool", self._follow_tool)
        # the views' own changes go to the viewer (which ignores values that did not change)
        self.crosshair_moved.connect(viewer.set_crosshair)
        self.window_level_changed.connect(viewer.set_window)
        self.cursor_info.connect(self._report_cursor)
        self.set_layout(viewer.layout)
        self._follow_tool(viewer.tool)

    def _follow_crosshair(self, point: np.ndarray) -> None:
        if not np.allclose(point, self._crosshair, atol=1e-9, rtol=0):
            self.set_crosshair_lps(point)

    def _follow_window(self, window: tuple[float, float]) -> None:
        if tuple(window) != self._window:
            self.set_window_level(*window)

    def _follow_tool(self, tool: str) -> None:
        self._mode = tool  # each view follows the viewer's tool itself (see SliceView)

    def _report_cursor(self, info: object) -> None:
        """Pass a view's cursor read-out (a dict: view, lps, value) to the viewer."""
        if self.context is None:
            return
        if not isinstance(info, dict) or info.get("lps") is None:
            self.context.viewer.set_cursor(None)
            return
        lps = tuple(float(v) for v in info["lps"])
        value = info.get("value")
        cursor = CursorInfo(str(info.get("view", "")), lps, None if value is None else float(value))
        self.context.viewer.set_cursor(cursor)

    # ----------------------------------------------------------------- volume
    def set_volume(self, volume: Volume) -> None:
        """Show a new volume: crosshair to its centre, window from the series or a default."""
        if self.context is None:
            self._measurement_list.clear()  # in a window the session clears its own
        self._volume = volume
        self._image, self._image_array = image_from_array(volume.array)
        self._label_image = None
        self._label_array = None
        low, high = volume.bounds()
        self._crosshair = (low + high) / 2.0
        self._background = float(volume.array[::4, ::4, ::4].min())
        self._setup_slice_views()
        self._view_3d.set_volume(volume, self._image)
        self._window = default_window(volume)
        for view in self._slice_views.values():
            view.set_window_level(*self._window)
            view.set_label_image(None, None)
        self._update_crosshair_views()
        self.refresh()
        self.window_level_changed.emit(*self._window)
        self.crosshair_moved.emit(self._crosshair.copy())

    def _planes(self) -> dict[str, ViewPlane]:
        if self._alignment == "volume" and self._volume is not None:
            return {n: volume_aligned_plane(n, self._volume.affine) for n in SLICE_VIEW_NAMES}
        return {name: patient_plane(name) for name in SLICE_VIEW_NAMES}

    def _setup_slice_views(self) -> None:
        assert self._volume is not None and self._image is not None
        planes = self._planes()
        low, high = self._volume.bounds()
        centre = (low + high) / 2.0
        for name, view in self._slice_views.items():
            others = {other: plane for other, plane in planes.items() if other != name}
            view.set_volume(self._volume, self._image, planes[name], centre, self._background,
                            others)  # fmt: skip
            if self._label_image is not None:
                view.set_label_image(self._label_image, self._volume.affine)

    def volume(self) -> Volume | None:
        """The volume shown, if any."""
        return self._volume

    def clear(self) -> None:
        """Show nothing (volume, overlay and models removed)."""
        self._volume = None
        self._image = None
        self._image_array = None
        self._label_image = None
        self._label_array = None
        for view in self._slice_views.values():
            view.clear()
        self._view_3d.clear()

    def set_plane_alignment(self, alignment: str) -> None:
        """'patient' (default: true axial/coronal/sagittal) or 'volume' (acquisition planes)."""
        if alignment not in PLANE_ALIGNMENTS:
            raise ValueError(f"plane alignment must be one of {PLANE_ALIGNMENTS}")
        self._alignment = alignment
        if self._volume is not None:
            self._setup_slice_views()
            self._update_crosshair_views()
            self.refresh()

    def plane_alignment(self) -> str:
        """'patient' or 'volume'."""
        return self._alignment

    # ---------------------------------------------------------- label overlay
    def set_label_overlay(
        self,
        label: LabelMap | None,
        color: tuple[float, float, float] = (1.0, 0.3, 0.3),
        opacity: float = 0.5,
    ) -> None:
        """Colour the label's foreground on the three slice views (cheap: swaps voxels in place)."""
        if label is None or self._volume is None:
            self._label_image = None
            self._label_array = None
            for view in self._slice_views.values():
                view.set_label_image(None, None)
            self._refresh_slices()
            return
        if label.shape != self._volume.shape:
            raise ValueError(
                f"label map shape {label.shape} differs from the volume shape {self._volume.shape}"
            )
        if self._label_image is None:
            self._label_image, self._label_array = image_from_array(label.array)
        elif self._label_array is not label.array:
            self._label_array = replace_image_scalars(self._label_image, label.array)
        else:
            self._label_image.Modified()
        style = (tuple(float(c) for c in color), float(opacity))
        for view in self._slice_views.values():
            if style != self._label_style:
                view.set_label_colors(*style)
            view.set_label_image(self._label_image, self._volume.affine)
        self._label_style = style
        self._refresh_slices()

    # ----------------------------------------------------------------- models
    def add_model(
        self,
        model_id: str,
        mesh: Mesh,
        color: tuple[float, float, float],
        opacity: float = 1.0,
        visible: bool = True,
    ) -> None:
        """Show a surface model (LPS mm) in the 3D view."""
        self._view_3d.add_model(model_id, mesh, color, opacity, visible)
        self._view_3d.refresh()

    def update_model(
        self,
        model_id: str,
        color: tuple[float, float, float] | None = None,
        opacity: float | None = None,
        visible: bool | None = None,
    ) -> None:
        """Change a model's colour, opacity or visibility."""
        self._view_3d.update_model(model_id, color, opacity, visible)
        self._view_3d.refresh()

    def remove_model(self, model_id: str) -> None:
        """Remove a model from the 3D view."""
        self._view_3d.remove_model(model_id)
        self._view_3d.refresh()

    # ----------------------------------------------------------- window/level
    def set_window_level(self, center: float, width: float) -> None:
        """Grey mapping of the three slice views."""
        width = max(float(width), MIN_WINDOW_WIDTH)
        self._window = (float(center), width)
        for view in self._slice_views.values():
            view.set_window_level(*self._window)
        self._refresh_slices()
        self.window_level_changed.emit(*self._window)

    def window_level(self) -> tuple[float, float]:
        """(center, width) shown."""
        return self._window

    # -------------------------------------------------------------- crosshair
    def crosshair_lps(self) -> np.ndarray:
        """The crosshair point in LPS mm."""
        return self._crosshair.copy()

    def set_crosshair_lps(self, point: np.ndarray) -> None:
        """Move the crosshair (clamped into the volume); the slice views follow."""
        if self._volume is None:
            return
        point = np.asarray(point, dtype=np.float64).reshape(3)
        index = geometry.lps_to_index(self._volume.affine, point)[0]
        clamped = np.clip(index, 0, np.asarray(self._volume.shape) - 1)
        if not np.allclose(clamped, index):
            point = geometry.index_to_lps(self._volume.affine, clamped)[0]
        self._crosshair = point
        self._update_crosshair_views()
        self._refresh_slices()
        self.crosshair_moved.emit(self._crosshair.copy())

    def _update_crosshair_views(self) -> None:
        for view in self._slice_views.values():
            view.set_crosshair(self._crosshair)
        self._update_slice_outlines()

    def _update_slice_outlines(self) -> None:
        """Move the slice rectangles in the 3D view; redraw it soon (not per scroll step)."""
        corners = {}
        for name, view in self._slice_views.items():
            points = view.slice_corners_lps()
            if points is not None:
                corners[name] = points
        if not corners:
            return
        self._view_3d.set_slice_outlines(corners, VIEW_COLORS)
        # Redrawn once the crosshair rests for VIEW_3D_DELAY_MS (restarting the timer), so
        # scrolling never waits for a 3D frame (a large model takes 50-100 ms here); a
        # volume rendering (up to a second per frame) shows them with its next frame.
        if not self._view_3d.volume_rendering()[0]:
            self._view_3d_timer.start()

    def scroll(self, view_name: str, steps: int) -> None:
        """Move a slice view by ``steps`` slices; the crosshair moves with it."""
        view = self._slice_views[view_name]
        if self._volume is None or view.plane is None:
            return
        before = view.slice_index()
        view.set_slice_index(before + int(steps))
        moved = view.slice_offset() - view.offset_of(self._crosshair)
        self._crosshair = self._crosshair + moved * view.plane.normal
        self._update_crosshair_views()
        # The scrolled view draws now; the others only move a crosshair line, so they are
        # redrawn at most every OTHER_VIEWS_DELAY_MS while scrolling (keeps scrolling fast).
        view.refresh()
        self._scrolled_view = view_name
        if not self._others_timer.isActive():
            self._others_timer.start()
        self.crosshair_moved.emit(self._crosshair.copy())

    def _refresh_other_views(self) -> None:
        for name, view in self._slice_views.items():
            if name != self._scrolled_view:
                view.refresh()

    # ------------------------------------------------------------ interaction
    def set_interaction_mode(self, mode: str) -> None:
        """Make tool ``mode`` drive the left button (in a window: the viewer's tool)."""
        if self.context is not None:
            self.context.viewer.set_tool(mode)  # the views follow the viewer themselves
            return
        for view in self._slice_views.values():
            view.set_interaction_mode(mode)  # ValueError for a tool without a handler
        self._mode = mode

    def interaction_mode(self) -> str:
        """The current left-button mode."""
        return self._mode

    def measurements(self) -> MeasurementList:
        """The measurements drawn: the session's in a window, else the layout's own."""
        if self.context is not None:
            return self.context.session.measurements
        return self._measurement_list

    def clear_measurements(self) -> None:
        """Delete every measurement of the case (the views' graphics follow)."""
        self.measurements().clear()
        for view in self._slice_views.values():
            view.clear_measurements()  # and any unfinished one

    # -------------------------------------------------------------- 3D, views
    def set_volume_rendering(self, enabled: bool, preset: str = "") -> None:
        """Direct volume rendering in the 3D view with a preset (ct_bone, ct_soft_tissue,...)."""
        self._view_3d.set_volume_rendering(enabled, preset)
        self._view_3d.refresh()
        self.volume_rendering_changed.emit(*self.volume_rendering())

    def volume_rendering(self) -> tuple[bool, str]:
        """(enabled, preset key) of the 3D view: the preset it uses, or would use when on."""
        enabled, preset = self._view_3d.volume_rendering()
        if not preset and self._volume is not None:
            preset = default_volume_rendering_preset(self._volume)
        return enabled, preset

    def set_slice_outlines_visible(self, visible: bool) -> None:
        """Show or hide where the slice views cut, as coloured rectangles in the 3D view."""
        self._view_3d.set_slice_outlines_visible(visible)
        self._view_3d.refresh()

    def reset_views(self) -> None:
        """Fit every slice view and reset the 3D camera."""
        for view in self._slice_views.values():
            view.reset_view()
        self._view_3d.reset_camera()
        self.refresh()

    def reset_camera(self) -> None:
        """Reset the 3D camera (front view)."""
        self._view_3d.reset_camera()
        self._view_3d.refresh()

    def set_layout(self, name: str) -> None:
        """'four' shows all views; 'axial', 'coronal', 'sagittal' or '3d' one large view."""
        if name not in LAYOUT_NAMES:
            raise ValueError(f"layout must be one of {LAYOUT_NAMES}")
        if self.context is not None and self.context.viewer.layout != name:
            self.context.viewer.set_layout(name)  # the viewer calls back here with it
            return
        self._layout_name = name
        for view_name, widget in self._all_views().items():
            widget.setVisible(name in ("four", view_name))
        self._grid.activate()  # the views take their new sizes now, not on the next event
        self.refresh()

    def layout_name(self) -> str:
        """The current layout name."""
        return self._layout_name

    def slice_view(self, name: str) -> SliceView:
        """The 'axial', 'coronal' or 'sagittal' view widget."""
        return self._slice_views[name]

    def view_3d(self) -> View3D:
        """The 3D view widget."""
        return self._view_3d

    # -------------------------------------------------------------- rendering
    def refresh(self) -> None:
        """Render every visible view now."""
        self._refresh_slices()
        self._view_3d.refresh()

    def _refresh_slices(self) -> None:
        for view in self._slice_views.values():
            view.refresh()

    def render_to_image(self) -> np.ndarray:
        """(H, W, 3) uint8 picture of the layout: every visible view at its place."""
        ratio = self.devicePixelRatioF()
        height, width = round(self.height() * ratio), round(self.width() * ratio)
        canvas = np.empty((height, width, 3), dtype=np.uint8)
        canvas[:] = _CANVAS_COLOR
        for widget in self._all_views().values():
            if not widget.isVisible():
                continue
            pixels = widget.capture()
            corner = widget.mapTo(self, QPoint(0, 0))
            top, left = round(corner.y() * ratio), round(corner.x() * ratio)
            rows = min(pixels.shape[0], height - top)
            cols = min(pixels.shape[1], width - left)
            if rows > 0 and cols > 0:
                canvas[top : top + rows, left : left + cols] = pixels[:rows, :cols]
        return canvas

    def shutdown(self) -> None:
        """Release the OpenGL resources of every view (call before the widget is deleted)."""
        if self._shut_down:
            return
        self._shut_down = True
        self._others_timer.stop()
        self._view_3d_timer.stop()
        for view in self._slice_views.values():
            view.measurement_drawing.bind(None)
        self._view_3d.shutdown()
        for widget in self._all_views().values():
            widget.Finalize()

    def closeEvent(self, event) -> None:
        """Release the render windows when the layout is closed as a window."""
        self.shutdown()
        super().closeEvent(event)

    # -------------------------------------------------------------- segments
    def follow_segments(self, context: AppContext) -> None:
        """Colour every visible segment of the session's editor on the slice views (once)."""
        from workstation.gui.views.segment_overlay import SegmentOverlay

        if getattr(self, "_segment_overlay", None) is None:
            self._segment_overlay = SegmentOverlay(self, context)

    def segment_overlay(self) -> SegmentOverlay | None:
        """The SegmentOverlay drawing the segments (None until ``follow_segments``)."""
        return getattr(self, "_segment_overlay", None)
