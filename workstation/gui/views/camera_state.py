"""Cameras as plain numbers: the 3D view's camera and each slice view's zoom and pan.

A slice view's picture is set by its camera's parallel scale and focal point in plane
coordinates.  They are kept relative to the fitted view (``SliceView.fitted_camera``):
``zoom`` is the fitted parallel scale over the current one (1 = the whole slice fits,
2 = twice as large) and ``pan`` how far (mm, plane u and v) the image was moved on the
screen from the fitted centre, as ``SliceView.pan`` moves it.  The same window shows the
same picture again, and a window of another size a matching one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from vtkmodules.vtkRenderingCore import vtkCamera


def camera_state(camera: vtkCamera) -> dict[str, Any]:
    """A JSON-ready copy of a camera: position, focal point, view up, angle, projection."""
    return {
        "position": [float(v) for v in camera.GetPosition()],
        "focal_point": [float(v) for v in camera.GetFocalPoint()],
        "view_up": [float(v) for v in camera.GetViewUp()],
        "view_angle": float(camera.GetViewAngle()),
        "parallel_scale": float(camera.GetParallelScale()),
        "parallel_projection": bool(camera.GetParallelProjection()),
    }


def apply_camera_state(camera: vtkCamera, state: dict[str, Any]) -> bool:
    """Set a camera from ``camera_state`` numbers; malformed or missing ones are skipped.

    False (and the camera unchanged) when the state holds no usable position and focal
    point, or they coincide.
    """
    position = vector(state.get("position"))
    focal = vector(state.get("focal_point"))
    if position is None or focal is None or np.allclose(position, focal, rtol=0, atol=1e-12):
        return False
    direction = (focal - position) / np.linalg.norm(focal - position)
    view_up = vector(state.get("view_up"))
    if view_up is None or _along(view_up, direction):
        view_up = np.array(camera.GetViewUp())  # keep the current one if it still works
        if _along(view_up, direction):
            axis = np.eye(3)[int(np.argmin(np.abs(direction)))]
            view_up = axis - (axis @ direction) * direction
    camera.SetPosition(*position)
    camera.SetFocalPoint(*focal)
    camera.SetViewUp(*view_up)
    angle = number(state.get("view_angle"))
    if angle is not None and 0.0 < angle < 180.0:
        camera.SetViewAngle(angle)
    scale = number(state.get("parallel_scale"))
    if scale is not None and scale > 0.0:
        camera.SetParallelScale(scale)
    projection = state.get("parallel_projection")
    if isinstance(projection, bool):
        camera.SetParallelProjection(projection)
    return True


def _along(vector_: np.ndarray, direction: np.ndarray) -> bool:
    """True when ``vector_`` is (nearly) zero or parallel to the unit ``direction``."""
    length = float(np.linalg.norm(vector_))
    return length < 1e-12 or float(np.linalg.norm(np.cross(vector_ / length, direction))) < 1e-6


def slice_view_state(view: Any) -> dict[str, Any] | None:
    """A slice view's zoom and pan (see the module text), or None without a volume."""
    if view.plane is None:
        return None
    camera = view.camera()
    centre, fitted_scale = view.fitted_camera()
    focal = camera.GetFocalPoint()
    return {
        "zoom": float(fitted_scale / camera.GetParallelScale()),
        "pan": [float(centre[0] - focal[0]), float(centre[1] - focal[1])],
    }


def apply_slice_view_state(view: Any, state: dict[str, Any]) -> bool:
    """Zoom and pan a slice view as ``slice_view_state`` recorded; False when not applied."""
    if view.plane is None or not isinstance(state, dict):
        return False
    camera = view.camera()
    centre, fitted_scale = view.fitted_camera()
    zoom = number(state.get("zoom"))
    if zoom is not None and zoom > 0.0:
        camera.SetParallelScale(fitted_scale / zoom)
    pan = vector(state.get("pan"), 2)
    if pan is not None:
        u, v = centre[0] - pan[0], centre[1] - pan[1]
        _, _, focal_z = camera.GetFocalPoint()
        _, _, position_z = camera.GetPosition()
        camera.SetFocalPoint(u, v, focal_z)
        camera.SetPosition(u, v, position_z)
    return zoom is not None or pan is not None


def number(value: Any) -> float | None:
    """A finite float, or None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def vector(value: Any, size: int = 3) -> np.ndarray | None:
    """``size`` finite floats as an array, or None when ``value`` is not that."""
    if not isinstance(value, list | tuple) or len(value) != size:
        return None
    numbers = [number(item) for item in value]
    if any(item is None for item in numbers):
        return None
    return np.array(numbers, dtype=np.float64)
