"""Scissors through real mouse events: polygon, lasso and rectangle, slice views and 3D."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.test_tools_support import (
    AXIAL,
    TILTED,
    click_at,
    editing_window,
    off_lines,
    stroke,
    volume_on,
    voxel_centres,
    wait_edits,
)
from workstation.core import geometry

pytestmark = pytest.mark.gui


def inside_polygon(points_2d: np.ndarray, polygon_2d: np.ndarray) -> np.ndarray:
    """Even-odd rule: points (N, 2) inside a closed polygon (M, 2)."""
    x, y = points_2d[:, 0], points_2d[:, 1]
    inside = np.zeros(len(points_2d), dtype=bool)
    for (x0, y0), (x1, y1) in zip(polygon_2d, np.roll(polygon_2d, -1, axis=0), strict=True):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        inside ^= crosses & (x < at)
    return inside


def expected_cut(affine, polygon_lps, direction, depth_mm=None) -> np.ndarray:
    """Voxels whose centre, moved along ``direction`` onto the polygon's plane, is inside it."""
    polygon = np.asarray(polygon_lps, float)
    direction = np.asarray(direction, float) / np.linalg.norm(direction)
    axis = np.eye(3)[np.argmin(np.abs(direction))]
    first = np.cross(direction, axis)
    first /= np.linalg.norm(first)
    second = np.cross(direction, first)
    centres = voxel_centres(affine).reshape(-1, 3)
    origin = polygon.mean(axis=0)

    def flat(points):
        return np.stack([(points - origin) @ first, (points - origin) @ second], axis=1)

    inside = inside_polygon(flat(centres), flat(polygon))
    if depth_mm is not None:
        inside &= np.abs((centres - origin) @ direction) <= depth_mm / 2 + 1e-9
    return inside.reshape(voxel_centres(affine).shape[:3])


def _mask(window):
    return window.session.editor.segmentation.by_name("Segment 1").mask


@pytest.mark.parametrize(("affine", "view_name"), [(AXIAL, "axial"), (TILTED, "sagittal")])
def test_polygon_of_clicks_fills_its_extrusion_through_the_volume(
    make_main_window, qtbot, affine, view_name
):
    window = editing_window(make_main_window, qtbot, volume_on(affine))
    window.viewer.set_scissors(shape="polygon", mode="fill_inside")
    window.viewer.set_tool("scissors")
    view = window.views.slice_view(view_name)
    x, y = off_lines(view, 0, 0)
    corners = [(x - 61, y - 43), (x + 52, y - 57), (x + 71, y + 38), (x + 3, y + 17)]
    points = [click_at(qtbot, view, *corner) for corner in corners[:-1]]
    assert [r["op"] for r in window.session.editor.operations] == ["add_segment"]  # still open
    points.append(click_at(qtbot, view, *corners[-1]))
    click_at(qtbot, view, *corners[-1], double=True)  # closes the polygon
    wait_edits(qtbot, window)
    record = window.session.editor.operations[-1]
    assert record["op"] == "scissors" and record["mode"] == "fill_inside"
    assert np.allclose(record["polygon_lps"], points)
    assert np.allclose(record["direction_lps"], view.plane.normal)
    expected = expected_cut(affine, points, view.plane.normal)
    assert expected.sum() > 500 and np.array_equal(_mask(window), expected)
    assert window.session.editor.undo_description().startswith("Scissors")


def test_rectangle_erases_inside_a_slab_only(make_main_window, qtbot):
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL))
    window.edits.submit({"op": "threshold", "segment": "Segment 1", "lower": 0})
    wait_edits(qtbot, window)
    assert _mask(window).all()
    window.viewer.set_scissors(shape="rectangle", mode="erase_inside", depth_mm=6.0)
    window.viewer.set_tool("scissors")
    view = window.views.slice_view("axial")
    x, y = off_lines(view, 0, 0)
    stroke(qtbot, view, [(x - 50, y - 30), (x, y), (x + 40, y + 60)])
    wait_edits(qtbot, window)
    record = window.session.editor.operations[-1]
    corners = [
        view.display_to_lps(x - 50, y - 30),
        view.display_to_lps(x + 40, y - 30),
        view.display_to_lps(x + 40, y + 60),
        view.display_to_lps(x - 50, y + 60),
    ]
    assert np.allclose(record["polygon_lps"], corners) and record["depth_mm"] == 6.0
    cut = expected_cut(AXIAL, corners, view.plane.normal, 6.0)
    assert cut.sum() > 0 and cut.any(axis=(1, 2)).sum() == 3  # three 2 mm slices
    assert np.array_equal(_mask(window), ~cut)


def test_lasso_in_the_3d_view_cuts_along_the_camera_direction(make_main_window, qtbot):
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL))
    window.viewer.set_scissors(shape="lasso", mode="fill_inside")
    window.viewer.set_tool("scissors")
    view = window.views.view_3d()
    view.refresh()
    x, y = view.width() / 2, view.height() / 2
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    outline = [(x + 50 * np.cos(a), y + 35 * np.sin(a)) for a in angles]
    camera = view._renderer.GetActiveCamera()
    before = camera.GetPosition()
    points = stroke(qtbot, view, outline)
    assert camera.GetPosition() == before  # the scissors took the left button, not the camera
    wait_edits(qtbot, window)
    record = window.session.editor.operations[-1]
    direction = np.array(record["direction_lps"])
    assert np.allclose(direction, view.view_direction())
    assert np.allclose(direction, [0, 1, 0], atol=1e-6)  # looking from the front
    assert np.allclose(record["polygon_lps"], points)
    expected = expected_cut(AXIAL, record["polygon_lps"], direction)
    assert expected.sum() > 500 and np.array_equal(_mask(window), expected)
    # the outline was drawn on the focal plane under the mouse
    focal = np.array(camera.GetFocalPoint())
    assert np.allclose((np.array(points) - focal) @ direction, 0, atol=1e-6)


def test_escape_drops_a_polygon_and_enter_closes_one(make_main_window, qtbot):
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL))
    window.viewer.set_scissors(shape="polygon")
    window.viewer.set_tool("scissors")
    view = window.views.slice_view("coronal")
    x, y = off_lines(view)
    for dx, dy in ((0, 0), (40, 0), (40, 40)):
        click_at(qtbot, view, x + dx, y + dy)
    handler = view.tool_handler("scissors")
    assert len(handler.points) == 3 and handler.outline.visible
    qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert handler.points == [] and not handler.outline.visible
    qtbot.keyClick(view, Qt.Key.Key_Return)
    wait_edits(qtbot, window)
    assert [r["op"] for r in window.session.editor.operations] == ["add_segment"]
    # Enter closes a polygon as a double click does
    points = [click_at(qtbot, view, x + dx, y + dy) for dx, dy in ((0, 0), (40, 0), (40, 40))]
    qtbot.keyClick(view, Qt.Key.Key_Return)
    wait_edits(qtbot, window)
    record = window.session.editor.operations[-1]
    assert record["op"] == "scissors" and np.allclose(record["polygon_lps"], points)


def test_voxel_centres_match_the_affine():
    centres = voxel_centres(TILTED)
    assert np.allclose(centres[3, 4, 5], geometry.index_to_lps(TILTED, [[3, 4, 5]])[0])
