"""Guide region: click on the bone to centre the guide's sphere, or drag to paint brush dabs.

In the 3D view the point is where the click meets a visible model's surface (nothing
happens off the models); in a slice view it is the clicked point of the slice.  What the
point does belongs to the Guide panel of the same window, which registers itself with
``set_region_target``: in sphere mode a click moves the sphere's centre, in brush mode a
drag lays dabs (one every half brush radius along the stroke) that join the region.
"""

from __future__ import annotations

import weakref
from typing import Any, Protocol

import numpy as np

from workstation.gui.tools.base import Pointer, ToolHandler
from workstation.gui.tools.registry import register_handler

#: Dabs of one stroke are at least this fraction of the brush radius apart.
DAB_SPACING = 0.5


class RegionTarget(Protocol):
    """What receives the picked points (the Guide panel)."""

    def region_mode(self) -> str:
        """The region's form: "sphere" or "brush"."""

    def brush_radius_mm(self) -> float:
        """The brush's dab radius."""

    def set_sphere_center(self, point_lps: np.ndarray, model_id: str | None) -> None:
        """A click in sphere mode."""

    def add_brush_points(self, points_lps: list[np.ndarray], model_id: str | None) -> None:
        """Dabs painted in brush mode (called as the stroke goes)."""


_TARGETS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def set_region_target(viewer: Any, target: RegionTarget | None) -> None:
    """Make ``target`` receive the region picks of the window whose viewer state this is."""
    if target is None:
        _TARGETS.pop(viewer, None)
    else:
        _TARGETS[viewer] = target


def region_target(viewer: Any) -> RegionTarget | None:
    """The target registered for ``viewer``, or None."""
    return _TARGETS.get(viewer)


class GuideRegionTool(ToolHandler):
    """Picks points on the bone for the guide region."""

    def __init__(self, view: Any) -> None:
        super().__init__(view)
        self._stroke: list[np.ndarray] = []
        self._model: str | None = None
        self._painting = False

    def _target(self) -> RegionTarget | None:
        context = self.view.context
        target = None if context is None else region_target(context.viewer)
        if target is None and context is not None:
            context.show_message("Open the Guide tab to set the guide's region")
        return target

    def _pick(self, pointer: Pointer) -> tuple[str | None, np.ndarray] | None:
        """(model id, LPS point) under the pointer: on a model in 3D, on the slice otherwise."""
        pick = getattr(self.view, "pick_model_point", None)
        if pick is None:
            return None, np.asarray(pointer.lps, dtype=np.float64)
        hit = pick(pointer.x, pointer.y)
        if hit is None:
            return None
        model_id, point, _normal = hit
        return model_id, np.asarray(point, dtype=np.float64)

    def press(self, pointer: Pointer) -> None:
        target = self._target()
        if target is None:
            return
        hit = self._pick(pointer)
        if hit is None:
            if self.view.context is not None:
                self.view.context.show_message("Click on the bone model")
            return
        model_id, point = hit
        if target.region_mode() == "brush":
            self._painting = True
            self._model = model_id
            self._stroke = [point]
            target.add_brush_points([point], model_id)
        else:
            target.set_sphere_center(point, model_id)

    def drag(self, pointer: Pointer) -> None:
        if not self._painting:
            return
        target = self._target()
        hit = self._pick(pointer)
        if target is None or hit is None:
            return
        model_id, point = hit
        spacing = DAB_SPACING * target.brush_radius_mm()
        if np.linalg.norm(point - self._stroke[-1]) >= spacing:
            self._stroke.append(point)
            target.add_brush_points([point], model_id or self._model)

    def release(self, pointer: Pointer) -> None:
        self.cancel()

    def cancel(self) -> None:
        self._painting = False
        self._stroke = []
        self._model = None


register_handler("guide_region", GuideRegionTool, in_3d=True)
