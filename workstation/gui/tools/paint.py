"""Paint and erase: drag a sphere or in-plane disc brush of a radius in mm over a slice view.

A stroke is one undo step and one ``paint`` record.  Dabs are applied as the mouse moves
(live feedback, ``SegmentEditor.dab``), spaced at most half the radius apart so a fast
drag leaves no gap.  While other edits are still being computed the stroke is only
drawn and then queued as one ``paint`` record behind them.  The brush outline (the
circle where the brush cuts the slice, of the true radius) follows the mouse; ``[`` and
``]`` shrink and grow the radius.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PySide6.QtCore import Qt

from workstation.core.operations import OperationError
from workstation.core.viewer_state import BrushSettings
from workstation.gui.tools.base import (
    Pointer,
    ToolHandler,
    editing_target,
    inside_volume,
    points_json,
)
from workstation.gui.tools.graphics import circle_lps
from workstation.gui.tools.registry import register_handler

#: Colour of the brush outline (paint) and the eraser outline.
BRUSH_COLOR = (1.0, 1.0, 0.3)
ERASER_COLOR = (1.0, 0.45, 0.45)
#: Largest distance between two dabs of a stroke, as a fraction of the radius.
DAB_SPACING = 0.5
#: Radius change of one ``[`` or ``]`` press (a factor, so small brushes change finely).
RADIUS_STEP = 1.25


def dab_points(start: np.ndarray, end: np.ndarray, radius_mm: float) -> list[np.ndarray]:
    """Dab centres after ``start`` up to ``end``, at most DAB_SPACING x radius apart."""
    start, end = np.asarray(start, float), np.asarray(end, float)
    distance = float(np.linalg.norm(end - start))
    if distance < 1e-9:
        return []
    count = max(1, math.ceil(distance / (DAB_SPACING * radius_mm) - 1e-9))
    return [start + (end - start) * (step / count) for step in range(1, count + 1)]


def step_radius(radius_mm: float, grow: bool) -> float:
    """The radius after one ``]`` (grow) or ``[`` press."""
    return radius_mm * RADIUS_STEP if grow else radius_mm / RADIUS_STEP


def change_brush_radius(context: Any, grow: bool) -> None:
    """One ``]`` (grow) or ``[`` press: a larger or smaller brush, told in the status bar."""
    context.viewer.set_brush(radius_mm=step_radius(context.viewer.brush.radius_mm, grow))
    context.show_message(f"Brush radius {context.viewer.brush.radius_mm:.3g} mm")


class PaintTool(ToolHandler):
    """Drag to paint the selected segment with the brush of the viewer state."""

    erase = False

    def __init__(self, view) -> None:
        super().__init__(view)
        self.outline = view.make_curve(ERASER_COLOR if self.erase else BRUSH_COLOR)
        self._live = False
        self._record: dict | None = None
        self._last: np.ndarray | None = None
        self._hovered: np.ndarray | None = None
        #: dab centres of the current stroke, in order
        self.points: list[np.ndarray] = []
        if view.context is not None:
            view.context.viewer.subscribe("brush", self._brush_changed)

    # -- the brush --------------------------------------------------------------------
    def _brush(self) -> BrushSettings | None:
        context = self.view.context
        return None if context is None else context.viewer.brush

    def _show_outline(self, centre: np.ndarray) -> None:
        brush, plane = self._brush(), self.view.plane
        if brush is None or plane is None:
            return
        self._hovered = np.asarray(centre, dtype=np.float64)
        shapes = [circle_lps(centre, brush.radius_mm, plane.right, plane.up)]
        if self._record is not None and not self._live and len(self.points) > 1:
            shapes.append(np.array(self.points))  # a queued stroke: its path so far
        self.outline.set_polylines(shapes)

    def hover(self, pointer: Pointer) -> None:
        self._show_outline(pointer.lps)
        # the cursor read-out renders the view after every move

    def leave(self) -> None:
        self.outline.hide()
        self._hovered = None

    def _brush_changed(self, _brush: object) -> None:
        if self.outline.visible and self._hovered is not None:
            self._show_outline(self._hovered)  # the new radius shows at once
            self.view.schedule_refresh()

    def key(self, key: int) -> bool:
        if self.view.context is None or key not in (
            Qt.Key.Key_BracketLeft,
            Qt.Key.Key_BracketRight,
        ):
            return False
        change_brush_radius(self.view.context, key == Qt.Key.Key_BracketRight)
        return True

    # -- the stroke -------------------------------------------------------------------
    def press(self, pointer: Pointer) -> None:
        self.cancel()
        target = editing_target(self.view)
        if target is None:
            return
        context, segment = target
        brush = context.viewer.brush
        normal = self.view.view_direction()
        self._record = {
            "op": "paint",
            "segment": segment.name,
            "radius_mm": float(brush.radius_mm),
            "shape": brush.shape,
            "plane_normal_lps": [float(v) for v in normal] if brush.shape == "disc" else None,
            "erase": self.erase,
            "intensity_range": None
            if brush.intensity_range is None
            else [float(v) for v in brush.intensity_range],
        }
        editor = context.session.editor
        if not context.edits.busy() and not editor.stroke_active:
            try:
                editor.begin_stroke(self._record)
            except OperationError as problem:
                self._record = None
                context.show_message(str(problem))
                return
            self._live = True
        self._add_dab(pointer.lps)
        self._show_outline(pointer.lps)

    def drag(self, pointer: Pointer) -> None:
        if self._record is None:
            return
        if self._last is None:
            self._add_dab(pointer.lps)
        else:
            for point in dab_points(self._last, pointer.lps, self._record["radius_mm"]):
                self._add_dab(point)
        self._show_outline(pointer.lps)

    def release(self, pointer: Pointer) -> None:
        if self._record is None:
            return
        self.drag(pointer)
        self._finish()

    def _add_dab(self, point: np.ndarray) -> None:
        self._last = np.asarray(point, dtype=np.float64)
        volume = self.view.volume
        if volume is None or not inside_volume(volume.shape, volume.affine, point):
            return
        self.points.append(self._last)
        if self._live:
            self.view.context.session.editor.dab(self._last)

    def _finish(self) -> None:
        context = self.view.context
        record, self._record = self._record, None
        points, self.points = self.points, []
        self._last = None
        if self._live:
            self._live = False
            context.session.editor.end_stroke()
        elif record is not None and points:
            record["points_lps"] = points_json(points)
            verb = "Erase" if self.erase else "Paint"
            context.edits.submit(record, f"{verb} {record['segment']}")

    def cancel(self) -> None:
        """An unfinished stroke ends as it is (its dabs are already one undo step)."""
        if self._record is not None:
            self._finish()
        self.outline.hide()

    def reset(self) -> None:
        self._live = False
        self._record = None
        self.points = []
        self._last = None
        self.outline.hide()


class EraseTool(PaintTool):
    """Drag to erase from the selected segment."""

    erase = True


register_handler("paint", PaintTool)
register_handler("erase", EraseTool)
