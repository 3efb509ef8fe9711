"""Seeds: clicks collect seed points per segment for "Grow from seeds" (Slicer's effect).

The seeds of a window live in one ``SeedPoints`` (Qt-free, evented) shared by its slice
views and the segments panel: the views draw them as small circles, in the segment's
colour, on the slices they lie on; the panel turns them into one ``grow_from_seeds``
record and clears them.  A new volume starts with no seeds.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from workstation.core.viewer_state import ViewerState
from workstation.gui.tools.base import Pointer, ToolHandler, editing_target, inside_volume
from workstation.gui.tools.graphics import circle_lps
from workstation.gui.tools.registry import register_handler

#: Radius of a drawn seed marker, in screen pixels.
MARKER_RADIUS_PX = 4.0
#: Colour of seed markers whose segment is gone.
MARKER_COLOR = (1.0, 1.0, 1.0)


class SeedPoints:
    """Seed points (LPS) per segment id, in the order they were clicked."""

    def __init__(self) -> None:
        self.points: dict[str, list[np.ndarray]] = {}
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change."""
        self._listeners.append(callback)

    def unsubscribe(self, callback: Callable[[], None]) -> None:
        """Stop calling ``callback``."""
        if callback in self._listeners:
            self._listeners.remove(callback)

    def _changed(self) -> None:
        for callback in list(self._listeners):
            callback()

    def add(self, segment_id: str, point_lps: np.ndarray) -> None:
        """One more seed of a segment."""
        self.points.setdefault(segment_id, []).append(np.asarray(point_lps, dtype=np.float64))
        self._changed()

    def clear(self) -> None:
        """Forget every seed."""
        if self.points:
            self.points = {}
            self._changed()

    def count(self) -> int:
        """Number of seeds of all segments."""
        return sum(len(points) for points in self.points.values())

    def record(self, names: dict[str, str], intensity_range: tuple[float, float] | None) -> dict:
        """The ``grow_from_seeds`` record of the seeds of the segments in ``names`` (id: name)."""
        seeds = {
            names[key]: [[float(v) for v in p] for p in points]
            for key, points in self.points.items()
            if key in names and points
        }
        limits = None if intensity_range is None else [float(v) for v in intensity_range]
        return {"op": "grow_from_seeds", "seeds": seeds, "intensity_range": limits}


_STORES: weakref.WeakKeyDictionary[ViewerState, SeedPoints] = weakref.WeakKeyDictionary()


def seed_points(context: Any) -> SeedPoints:
    """The seeds of the window of ``context`` (one per viewer state; cleared per volume)."""
    store = _STORES.get(context.viewer)
    if store is None:
        store = _STORES[context.viewer] = SeedPoints()
        context.session.subscribe("editor", lambda _editor: store.clear())
    return store


class SeedsTool(ToolHandler):
    """Click to add a seed of the selected segment; the seeds show in every slice view."""

    def __init__(self, view) -> None:
        super().__init__(view)
        #: seeds drawn on the shown slice, per colour
        self.markers: dict[tuple[float, float, float], int] = {}
        self._curves: dict[tuple[float, float, float], Any] = {}
        self._store = None if view.context is None else seed_points(view.context)
        if self._store is not None:
            self._store.subscribe(self.redraw)
            self.redraw()

    def press(self, pointer: Pointer) -> None:
        target = editing_target(self.view)
        volume = self.view.volume
        if target is None or self._store is None or volume is None:
            return
        if not inside_volume(volume.shape, volume.affine, pointer.lps):
            return
        _context, segment = target
        self._store.add(segment.segment_id, pointer.lps)

    def slice_changed(self) -> None:
        self.redraw()

    def reset(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw the seeds lying on the shown slice, in their segments' colours."""
        view, store = self.view, self._store
        context = view.context
        editor = None if context is None else context.session.editor
        plane = view.plane
        by_colour: dict[tuple[float, float, float], list[np.ndarray]] = {}
        if store is not None and plane is not None and view.volume is not None:
            radius = MARKER_RADIUS_PX * view.mm_per_pixel()
            half = view.slice_step() / 2.0
            for segment_id, points in store.points.items():
                colour = _colour_of(editor, segment_id)
                for point in points:
                    if abs(view.offset_of(point) - view.slice_offset()) <= half + 1e-6:
                        circle = circle_lps(point, radius, plane.right, plane.up, 16)
                        by_colour.setdefault(colour, []).append(circle)
        for colour in set(self._curves) - set(by_colour):
            self._curves[colour].hide()
        for colour, circles in by_colour.items():
            if colour not in self._curves:
                self._curves[colour] = view.make_curve(colour, 2.0)
            self._curves[colour].set_polylines(circles)
        self.markers = {colour: len(circles) for colour, circles in by_colour.items()}
        view.schedule_refresh()


def _colour_of(editor: Any, segment_id: str) -> tuple[float, float, float]:
    try:
        red, green, blue = editor.segmentation.by_id(segment_id).color
    except (AttributeError, KeyError):
        return MARKER_COLOR
    return float(red), float(green), float(blue)


register_handler("seeds", SeedsTool)
