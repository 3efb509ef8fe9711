"""What the views show, Qt-free: crosshair, window/level, active tool, selection, layout.

The views and panels observe a ``ViewerState`` (napari's ``ViewerModel``: evented state,
visuals subscribe) instead of reading each other or the main window.  Setting a value
that did not change emits nothing, so two views that both follow and set the crosshair
never loop.

Events (``subscribe(event, callback)``; payload the new value): ``"crosshair"`` (LPS
point, 3 floats), ``"window"`` ((center, width)), ``"tool"`` (tool key), ``"segment"``
(selected segment id or None), ``"layout"`` (layout name), ``"brush"``
(BrushSettings), ``"scissors"`` (ScissorsSettings), ``"cursor"`` (CursorInfo or None),
``"selected_object"`` (the id of the selected planning object or measurement, or None).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from workstation.core.events import EventSource

EVENTS = (
    "crosshair",
    "window",
    "tool",
    "segment",
    "layout",
    "brush",
    "scissors",
    "cursor",
    "selected_object",
)
LAYOUT_NAMES = ("four", "axial", "coronal", "sagittal", "3d")

#: Brush radius limits in mm (the shortcuts step the radius within them).
BRUSH_RADIUS_RANGE = (0.25, 100.0)


@dataclass(frozen=True)
class BrushSettings:
    """The paint/erase brush: radius in mm, sphere or in-plane disc, editable range."""

    radius_mm: float = 5.0
    shape: str = "sphere"
    intensity_range: tuple[float, float] | None = None


@dataclass(frozen=True)
class ScissorsSettings:
    """The scissors: how the outline is drawn, what it does, and an optional slab depth."""

    shape: str = "lasso"  # lasso | polygon | rectangle
    mode: str = "erase_inside"  # erase_inside | erase_outside | fill_inside
    depth_mm: float | None = None


@dataclass(frozen=True)
class CursorInfo:
    """What lies under the mouse: the view, the LPS point and the image value there."""

    view: str
    lps: tuple[float, float, float]
    value: float | None


class ViewerState(EventSource):
    """Evented state shared by the views and panels of one window."""

    def __init__(self) -> None:
        super().__init__(EVENTS, "viewer")
        self.crosshair_lps = np.zeros(3)
        self.window: tuple[float, float] = (40.0, 400.0)
        self.tool = "navigate"
        self.selected_segment: str | None = None
        self.layout = "four"
        self.brush = BrushSettings()
        self.scissors = ScissorsSettings()
        self.cursor: CursorInfo | None = None
        #: the selected planning object or measurement ("line-2", "measurement-1"), or None
        self.selected_object: str | None = None

    def set_crosshair(self, point_lps: np.ndarray | list[float] | tuple[float, ...]) -> None:
        """Move the crosshair to an LPS point."""
        point = np.asarray(point_lps, dtype=np.float64).reshape(3)
        if np.allclose(point, self.crosshair_lps, atol=1e-9, rtol=0):
            return
        self.crosshair_lps = point
        self._emit("crosshair", point.copy())

    def set_window(self, center: float, width: float) -> None:
        """Set window/level (width at least 1)."""
        value = (float(center), max(float(width), 1.0))
        if value != self.window:
            self.window = value
            self._emit("window", value)

    def set_tool(self, tool: str) -> None:
        """Make ``tool`` (a key of the tool registry) the active one."""
        if tool != self.tool:
            self.tool = tool
            self._emit("tool", tool)

    def select_segment(self, segment_id: str | None) -> None:
        """Select the segment the editing tools act on (None: none)."""
        if segment_id != self.selected_segment:
            self.selected_segment = segment_id
            self._emit("segment", segment_id)

    def set_layout(self, layout: str) -> None:
        """Show another layout (one of ``LAYOUT_NAMES``)."""
        if layout not in LAYOUT_NAMES:
            raise ValueError(f"unknown layout {layout!r}; known: {', '.join(LAYOUT_NAMES)}")
        if layout != self.layout:
            self.layout = layout
            self._emit("layout", layout)

    def set_brush(self, **changes: Any) -> None:
        """Change brush settings (radius clamped to ``BRUSH_RADIUS_RANGE``)."""
        if "radius_mm" in changes:
            low, high = BRUSH_RADIUS_RANGE
            changes["radius_mm"] = min(max(float(changes["radius_mm"]), low), high)
        brush = replace(self.brush, **changes)
        if brush != self.brush:
            self.brush = brush
            self._emit("brush", brush)

    def set_scissors(self, **changes: Any) -> None:
        """Change scissors settings."""
        scissors = replace(self.scissors, **changes)
        if scissors != self.scissors:
            self.scissors = scissors
            self._emit("scissors", scissors)

    def set_cursor(self, cursor: CursorInfo | None) -> None:
        """Report what lies under the mouse (None: nothing, e.g. after another study loads)."""
        if cursor != self.cursor:
            self.cursor = cursor
            self._emit("cursor", cursor)

    def select_object(self, object_id: str | None) -> None:
        """Select a planning object or measurement by its id (None: none); views highlight it."""
        if object_id != self.selected_object:
            self.selected_object = object_id
            self._emit("selected_object", object_id)

    def reset(self) -> None:
        """Forget per-study state (cursor, selection) when another volume loads."""
        self.set_cursor(None)
        self.select_segment(None)
        self.select_object(None)
