"""Shared set-up of the editing-tool tests (no tests here): windows with a volume, voxels."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt

from tests.gui.conftest import TIMEOUT_MS
from tests.gui.test_views_helpers import centred_affine, move
from workstation.core import geometry
from workstation.core.volume import Volume

SHAPE = (40, 50, 60)
SPACING = (0.9, 0.9, 2.0)  # row, column, slice mm
AXIAL = centred_affine((1, 0, 0), (0, 1, 0), SPACING, SHAPE)
#: Rows and columns rotated 25 degrees about S then tipped 15 degrees, slices gantry-tilted.
_ROW = np.array([np.cos(0.44), np.sin(0.44), 0.0])
_COL = np.array([-np.sin(0.44) * np.cos(0.26), np.cos(0.44) * np.cos(0.26), np.sin(0.26)])
_NORMAL = np.cross(_ROW, _COL)
TILTED = centred_affine(_ROW, _COL, (1.1, 0.8, 1.5), SHAPE, slice_step=_NORMAL * 1.5 + _COL * 0.3)


def volume_on(affine: np.ndarray, value: int = 40, shape=SHAPE) -> Volume:
    """A constant CT-like volume on ``affine``."""
    return Volume(np.full(shape, value, dtype=np.int16), affine, units="HU")


def wait_edits(qtbot, window) -> None:
    """Wait until every queued edit is applied."""
    qtbot.waitUntil(lambda: not window.edits.busy(), timeout=TIMEOUT_MS)


def editing_window(make_main_window, qtbot, volume: Volume, segments=("Segment 1",)):
    """A shown window with ``volume`` loaded, the given segments added, the first selected."""
    window = make_main_window()
    window.views.follow_segments(window.context)
    window.session.set_volume(volume)
    for name in segments:
        window.edits.submit({"op": "add_segment", "name": name})
    wait_edits(qtbot, window)
    if segments:
        select(window, segments[0])
    qtbot.wait(10)
    return window


def select(window, name: str) -> None:
    """Select segment ``name`` (the one the editing tools change)."""
    window.viewer.select_segment(window.session.editor.segmentation.by_name(name).segment_id)


def click_at(qtbot, view, x: float, y: float, double: bool = False) -> np.ndarray:
    """Left click (or double click) at widget position (x, y); returns the LPS point there."""
    position = QPoint(round(x), round(y))
    if double:
        qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=position)
    else:
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=position)
    return view.display_to_lps(round(x), round(y))


def voxel_centres(affine: np.ndarray, shape=SHAPE) -> np.ndarray:
    """LPS centres of every voxel, shaped (slices, rows, cols, 3)."""
    index = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1)
    return geometry.index_to_lps(affine, index.reshape(-1, 3)).reshape(*shape, 3)


def within(centres: np.ndarray, points: list[np.ndarray], radius: float) -> np.ndarray:
    """Voxels whose centre lies within ``radius`` of any of ``points``."""
    result = np.zeros(centres.shape[:3], dtype=bool)
    for point in points:
        result |= np.linalg.norm(centres - np.asarray(point), axis=-1) <= radius + 1e-9
    return result


def stroke(qtbot, view, positions, button=Qt.MouseButton.LeftButton) -> list[np.ndarray]:
    """Press at the first position, move through the others, release at the last.

    Returns the LPS points under those positions (each ``display_to_lps`` of the event).
    """
    points = [view.display_to_lps(round(x), round(y)) for x, y in positions]
    first = positions[0]
    qtbot.mousePress(view, button, pos=QPoint(round(first[0]), round(first[1])))
    for x, y in positions[1:]:
        move(view, x, y, button)
    last = positions[-1]
    qtbot.mouseRelease(view, button, pos=QPoint(round(last[0]), round(last[1])))
    return points


def off_lines(view, dx: float = 23.0, dy: float = 17.0) -> tuple[float, float]:
    """A widget position near the centre but off the crosshair lines."""
    return view.width() / 2 + dx, view.height() / 2 + dy
