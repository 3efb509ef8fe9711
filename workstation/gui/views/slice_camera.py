"""The parallel camera of a slice view: fit, zoom, pan, and widget pixels <-> plane (u, v).

The renderer's world is the view's plane coordinates (u right, v up, mm); the camera
looks down from ``CAMERA_DISTANCE`` above it.  Widget positions are Qt logical pixels
with y down; the render window counts device pixels with y up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from vtkmodules.vtkRenderingCore import vtkCamera, vtkRenderer

CAMERA_DISTANCE = 1000.0


class SliceCamera:
    """The camera of one slice view's renderer and its widget's pixel size."""

    def __init__(self, renderer: vtkRenderer, widget: Any) -> None:
        self._renderer = renderer
        self._widget = widget
        renderer.GetActiveCamera().ParallelProjectionOn()

    @property
    def camera(self) -> vtkCamera:
        """The VTK camera (parallel projection, looking down the plane normal)."""
        return self._renderer.GetActiveCamera()

    def fit(self, centre: np.ndarray, scale: float) -> None:
        """Look at plane point ``centre`` (u, v), v up, with parallel scale ``scale``."""
        camera = self.camera
        camera.SetFocalPoint(centre[0], centre[1], 0.0)
        camera.SetPosition(centre[0], centre[1], CAMERA_DISTANCE)
        camera.SetViewUp(0.0, 1.0, 0.0)
        camera.SetClippingRange(1.0, 2.0 * CAMERA_DISTANCE)
        camera.SetParallelScale(scale)

    def fitted(
        self, first: np.ndarray, spacing: np.ndarray, size: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """Centre (u, v) and parallel scale that fit a pixel grid in the view now."""
        extent = size * spacing
        centre = first + (size - 1) * spacing / 2.0
        width, height = self.viewport_size()
        aspect = width / max(height, 1)
        return centre, 1.05 * max(extent[1] / 2.0, extent[0] / 2.0 / aspect)

    def zoom(self, factor: float) -> None:
        """Magnify by ``factor`` (> 1 zooms in)."""
        camera = self.camera
        camera.SetParallelScale(camera.GetParallelScale() / factor)

    def pan(self, du: float, dv: float) -> None:
        """Move the image by (du, dv) mm on the screen."""
        camera = self.camera
        fx, fy, fz = camera.GetFocalPoint()
        camera.SetFocalPoint(fx - du, fy - dv, fz)
        px, py, pz = camera.GetPosition()
        camera.SetPosition(px - du, py - dv, pz)

    def mm_per_pixel(self) -> float:
        """Current zoom: millimetres per display pixel."""
        _, height = self.viewport_size()
        return 2.0 * self.camera.GetParallelScale() / max(height, 1)

    def viewport_size(self) -> tuple[int, int]:
        """Render window size in device pixels (the widget's before the first render)."""
        widget = self._widget
        width, height = widget.GetRenderWindow().GetSize()
        if width <= 1 or height <= 1:
            ratio = widget.devicePixelRatioF()
            width, height = int(widget.width() * ratio), int(widget.height() * ratio)
        return max(width, 1), max(height, 1)

    def display_to_plane(self, x: float, y: float) -> np.ndarray:
        """Plane (u, v) of a widget position (Qt logical pixels, y down)."""
        ratio = self._widget.devicePixelRatioF()
        _, height = self.viewport_size()
        self._renderer.SetDisplayPoint(x * ratio, height - y * ratio - 1.0, 0.0)
        self._renderer.DisplayToWorld()
        wx, wy, _, ww = self._renderer.GetWorldPoint()
        return np.array([wx / ww, wy / ww])

    def plane_to_display(self, u: float, v: float) -> tuple[float, float]:
        """Widget position (Qt logical pixels, y down) of plane point (u, v)."""
        self._renderer.SetWorldPoint(u, v, 0.0, 1.0)
        self._renderer.WorldToDisplay()
        dx, dy, _ = self._renderer.GetDisplayPoint()
        ratio = self._widget.devicePixelRatioF()
        _, height = self.viewport_size()
        return dx / ratio, (height - 1.0 - dy) / ratio
