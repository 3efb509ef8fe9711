"""Helpers shared by the view tests (no tests here): volumes with markers, pixels, input."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from tests.support.dicom_factory import expected_affine
from workstation.core import geometry
from workstation.core.volume import Volume

LAYOUT_SIZE = (900, 700)


def affine_from(row_cosine, col_cosine, spacing, origin, slice_step=None) -> np.ndarray:
    """index (slice, row, col) -> LPS affine from DICOM-style geometry.

    ``spacing`` = (row spacing, column spacing, slice spacing); ``slice_step`` overrides
    the slice step vector (for gantry tilt); by default it is the normal times spacing.
    """
    if slice_step is None:
        slice_step = np.cross(row_cosine, col_cosine) * spacing[2]
    return expected_affine(row_cosine, col_cosine, spacing[:2], origin, slice_step)


def centred_affine(row_cosine, col_cosine, spacing, shape, slice_step=None) -> np.ndarray:
    """Like affine_from, with the origin chosen so the volume centre is at LPS (0, 0, 0)."""
    affine = affine_from(row_cosine, col_cosine, spacing, (0, 0, 0), slice_step)
    centre_index = (np.asarray(shape, float) - 1) / 2.0
    affine[:3, 3] = -(affine[:3, :3] @ centre_index)
    return affine


def marker_volume(shape, affine, markers, background=-1000, body=40, units="HU") -> Volume:
    """A volume of ``body`` value with balls (lps centre, radius mm, value) set on it."""
    s, r, c = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    points = geometry.index_to_lps(affine, np.stack([s, r, c], axis=-1).reshape(-1, 3))
    array = np.full(len(points), body, dtype=np.int16)
    for centre, radius, value in markers:
        inside = np.linalg.norm(points - np.asarray(centre, float), axis=1) <= radius
        array[inside] = value
    array = array.reshape(shape)
    # a one-voxel frame of background shows the volume's edge
    frame = np.full(shape, background, dtype=np.int16)
    frame[1:-1, 1:-1, 1:-1] = array[1:-1, 1:-1, 1:-1]
    return Volume(frame, affine, units=units)


def bright_mask(pixels: np.ndarray, level: int = 245) -> np.ndarray:
    """Pixels that are (nearly) pure white: the markers at a soft-tissue window."""
    return np.all(pixels >= level, axis=-1)


def centroid(mask: np.ndarray) -> np.ndarray:
    """(x, y) pixel centroid of a mask (fails when empty)."""
    rows, cols = np.nonzero(mask)
    assert rows.size, "expected pixels not found in the rendered image"
    return np.array([cols.mean(), rows.mean()])


def interior(pixels: np.ndarray, margin: int = 40) -> np.ndarray:
    """A copy with a border of ``margin`` pixels blacked out (text and labels live there)."""
    result = pixels.copy()
    result[:margin] = 0
    result[-margin:] = 0
    result[:, :margin] = 0
    result[:, -margin:] = 0
    return result


def make_layout(qtbot):
    """A shown ViewLayout of LAYOUT_SIZE."""
    from workstation.gui.views import ViewLayout

    layout = ViewLayout()
    layout.resize(*LAYOUT_SIZE)
    layout.show()
    qtbot.waitExposed(layout)
    QApplication.processEvents()
    return layout


def close_layout(layout) -> None:
    """Close and delete a layout and fail if any top-level window stays visible."""
    layout.close()  # closeEvent releases the render windows
    layout.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QApplication.processEvents()
    visible = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    if visible:
        pytest.fail(f"windows left open: {[type(w).__name__ for w in visible]}")


def click(qtbot, widget, x: float, y: float, button=Qt.MouseButton.LeftButton) -> None:
    """Press and release a mouse button at widget position (x, y)."""
    qtbot.mouseClick(widget, button, pos=QPoint(round(x), round(y)))


def drag(qtbot, widget, start, end, button=Qt.MouseButton.LeftButton, steps: int = 4) -> None:
    """Press at ``start``, move in steps, release at ``end`` (widget coordinates)."""
    begin = QPoint(round(start[0]), round(start[1]))
    qtbot.mousePress(widget, button, pos=begin)
    for fraction in np.linspace(0, 1, steps + 1)[1:]:
        x = start[0] + (end[0] - start[0]) * fraction
        y = start[1] + (end[1] - start[1]) * fraction
        move(widget, x, y, button)
    qtbot.mouseRelease(widget, button, pos=QPoint(round(end[0]), round(end[1])))


def move(widget, x: float, y: float, buttons=Qt.MouseButton.NoButton) -> None:
    """Deliver a mouse-move event now (QTest.mouseMove warps the X cursor: asynchronous)."""
    position = QPointF(round(x), round(y))
    event = QMouseEvent(
        QEvent.Type.MouseMove,
        position,
        widget.mapToGlobal(position),
        Qt.MouseButton.NoButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, event)


def wheel(widget, notches: int, modifiers=Qt.KeyboardModifier.NoModifier, at=None) -> None:
    """Send a vertical wheel event of ``notches`` (positive = away from the user).

    ``at`` is the widget position (x, y) of the mouse; the widget's centre by default.
    """
    if at is None:
        position = QPointF(widget.width() / 2, widget.height() / 2)
    else:
        position = QPointF(round(at[0]), round(at[1]))
    event = QWheelEvent(
        position,
        widget.mapToGlobal(position),
        QPoint(0, 0),
        QPoint(0, 120 * notches),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)
