"""What every tool handler shares: the pointer it gets, its no-op defaults, small utilities.

A handler belongs to one view (a ``SliceView`` or the ``View3D``) and receives the left
button's press, drag and release, hover moves and keys there.  It reads the view through
a small surface: ``name``, ``context`` (the window's AppContext, None when the view is
used alone), ``volume``, ``plane``, ``display_to_lps``, ``lps_to_display``,
``view_direction``, ``make_curve``, ``mm_per_pixel`` and ``refresh``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workstation.core import geometry
from workstation.core.segmentation import Segment
from workstation.gui.edit_queue import READ_ONLY_MESSAGE


@dataclass(frozen=True)
class Pointer:
    """A mouse position in a view: widget pixels (y down), the LPS point, the modifiers."""

    x: float
    y: float
    lps: np.ndarray
    shift: bool = False
    control: bool = False


class ToolHandler:
    """The mouse and keys of one tool in one view; every method does nothing by default."""

    def __init__(self, view: Any) -> None:
        self.view = view

    def press(self, pointer: Pointer) -> None:
        """The left button went down."""

    def drag(self, pointer: Pointer) -> None:
        """The mouse moved with the left button down."""

    def release(self, pointer: Pointer) -> None:
        """The left button went up."""

    def double_click(self, pointer: Pointer) -> None:
        """A double click (Qt sends it instead of the second press): a press by default."""
        self.press(pointer)

    def hover(self, pointer: Pointer) -> None:
        """The mouse moved with no button down."""

    def key(self, key: int) -> bool:
        """A key press in the view; True when the tool used it."""
        return False

    def cancel(self) -> None:
        """Drop unfinished work and its graphics (Escape, another tool, another slice)."""

    def leave(self) -> None:
        """The mouse left the view."""

    def slice_changed(self) -> None:
        """The view shows another slice (tools redraw marks that belong to one slice)."""

    def reset(self) -> None:
        """The view shows another volume: forget everything."""
        self.cancel()


def editing_target(view: Any) -> tuple[Any, Segment] | None:
    """(context, selected segment) for an editing tool, or None with a message why not."""
    context = view.context
    if context is None or context.session.editor is None:
        return None
    if context.session.read_only:
        context.show_message(READ_ONLY_MESSAGE)
        return None
    segment = context.selected_segment()
    if segment is None:
        context.show_message("Select a segment first (or add one in the Segments panel)")
        return None
    if segment.locked:
        context.show_message(f"{segment.name} is locked; unlock it to edit it")
        return None
    return context, segment


def inside_volume(shape: tuple[int, ...], affine: np.ndarray, lps: np.ndarray) -> bool:
    """True when an LPS point lies within the volume's voxels (half a voxel around centres)."""
    index = geometry.lps_to_index(affine, np.reshape(lps, (1, 3)))[0]
    return bool(np.all(index >= -0.5) and np.all(index <= np.asarray(shape[:3]) - 0.5))


def points_json(points: list[np.ndarray] | np.ndarray) -> list[list[float]]:
    """LPS points as JSON lists of floats (operation records store plain numbers)."""
    return [[float(v) for v in point] for point in points]
