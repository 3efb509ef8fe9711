"""Paint and erase through real mouse events on the slice views: exact voxels, undo, overlay."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import pixel_at
from tests.gui.test_tools_support import (
    AXIAL,
    TILTED,
    editing_window,
    off_lines,
    stroke,
    volume_on,
    voxel_centres,
    wait_edits,
    within,
)
from tests.gui.test_views_helpers import move
from workstation.gui.tools.paint import DAB_SPACING, dab_points, step_radius
from workstation.gui.views.segment_overlay import FILL_OPACITY

pytestmark = pytest.mark.gui

RADIUS = 3.0


def _positions(view, count=9, step=6.0, dy=0.0):
    x, y = off_lines(view)
    return [(x + step * i, y + dy) for i in range(count)]


def _paint_window(make_main_window, qtbot, affine, tool="paint"):
    window = editing_window(make_main_window, qtbot, volume_on(affine))
    window.viewer.set_brush(radius_mm=RADIUS, shape="sphere")
    window.viewer.set_tool(tool)
    return window


def _mask(window, name="Segment 1"):
    return window.session.editor.segmentation.by_name(name).mask


@pytest.mark.parametrize(("affine", "view_name"), [(AXIAL, "axial"), (TILTED, "coronal")])
def test_brush_stroke_paints_exactly_the_voxels_within_the_radius_of_its_dabs(
    make_main_window, qtbot, affine, view_name
):
    window = _paint_window(make_main_window, qtbot, affine)
    view = window.views.slice_view(view_name)
    positions = _positions(view)
    assert 6.0 * view.mm_per_pixel() < DAB_SPACING * RADIUS  # no dab needs interpolating
    centres = stroke(qtbot, view, positions)
    editor = window.session.editor
    expected = within(voxel_centres(affine), centres, RADIUS)
    assert expected.sum() > 100
    assert np.array_equal(_mask(window), expected)
    # one stroke: one undo step and one paint record holding the dab centres
    record = editor.operations[-1]
    assert record["op"] == "paint" and record["erase"] is False
    assert np.allclose(record["points_lps"], centres)
    assert editor.undo_description() == "Paint Segment 1"
    assert editor.undo() and not _mask(window).any()
    assert editor.redo() and np.array_equal(_mask(window), expected)


def test_erase_removes_exactly_its_voxels_and_undo_restores_them(make_main_window, qtbot):
    window = _paint_window(make_main_window, qtbot, TILTED)
    view = window.views.slice_view("axial")
    centres = voxel_centres(TILTED)
    painted = within(centres, stroke(qtbot, view, _positions(view)), RADIUS)
    window.viewer.set_tool("erase")
    erased = within(centres, stroke(qtbot, view, _positions(view, 4, 5.0, dy=8.0)), RADIUS)
    assert (painted & erased).sum() > 10 and (painted & ~erased).sum() > 10
    assert np.array_equal(_mask(window), painted & ~erased)
    editor = window.session.editor
    assert editor.operations[-1]["erase"] is True
    assert editor.undo_description() == "Erase Segment 1"
    editor.undo()
    assert np.array_equal(_mask(window), painted)


def test_fast_drag_interpolates_dabs_so_the_stroke_has_no_gap(make_main_window, qtbot):
    window = _paint_window(make_main_window, qtbot, AXIAL)
    view = window.views.slice_view("axial")
    x, y = off_lines(view)
    start, end = stroke(qtbot, view, [(x, y), (x + 120, y + 40)])
    assert np.linalg.norm(end - start) > 4 * RADIUS
    record = window.session.editor.operations[-1]
    dabs = np.array(record["points_lps"])
    assert len(dabs) >= np.linalg.norm(end - start) / (DAB_SPACING * RADIUS)
    assert np.all(np.linalg.norm(np.diff(dabs, axis=0), axis=1) <= DAB_SPACING * RADIUS + 1e-9)
    # every voxel close to the dragged segment is painted, none farther than the radius
    centres = voxel_centres(AXIAL)
    along = np.clip(((centres - start) @ (end - start)) / np.sum((end - start) ** 2), 0, 1)
    distance = np.linalg.norm(centres - (start + along[..., None] * (end - start)), axis=-1)
    mask = _mask(window)
    assert mask[distance <= 0.95 * RADIUS].all()
    assert not mask[distance > RADIUS + 1e-9].any()
    assert np.array_equal(mask, within(centres, list(dabs), RADIUS))


def test_a_busy_edit_queue_gets_the_stroke_as_one_paint_record(
    make_main_window, qtbot, monkeypatch
):
    window = _paint_window(make_main_window, qtbot, AXIAL)
    view = window.views.slice_view("axial")
    monkeypatch.setattr(window.edits, "busy", lambda: True)
    centres = stroke(qtbot, view, _positions(view, 5))
    assert not _mask(window).any()  # nothing painted live
    monkeypatch.undo()
    wait_edits(qtbot, window)
    assert np.array_equal(_mask(window), within(voxel_centres(AXIAL), centres, RADIUS))
    assert window.session.editor.undo_description() == "Paint Segment 1"


def test_disc_brush_paints_the_shown_slice_only(make_main_window, qtbot):
    window = _paint_window(make_main_window, qtbot, AXIAL)
    window.viewer.set_brush(shape="disc")
    view = window.views.slice_view("axial")
    centres = stroke(qtbot, view, _positions(view, 3))
    mask = _mask(window)
    expected = within(voxel_centres(AXIAL), centres, RADIUS)
    expected[np.arange(expected.shape[0]) != view.slice_index()] = False
    assert expected.sum() > 10 and np.array_equal(mask, expected)
    assert np.allclose(window.session.editor.operations[-1]["plane_normal_lps"], [0, 0, 1])


def test_intensity_range_limits_painting(make_main_window, qtbot):
    volume = volume_on(AXIAL)
    volume.array[:, :, 30:] = 500  # the image's left half is "bone"
    window = editing_window(make_main_window, qtbot, volume)
    window.viewer.set_brush(radius_mm=6.0, intensity_range=(200.0, 1000.0))
    window.viewer.set_tool("paint")
    view = window.views.slice_view("axial")
    centre = np.array(
        view.lps_to_display(volume.affine[:3, 3] + volume.affine[:3, :3] @ [20, 25, 30])
    )
    centres = stroke(qtbot, view, [tuple(centre)])
    expected = within(voxel_centres(AXIAL), centres, 6.0) & (volume.array >= 200)
    assert expected.sum() > 10 and np.array_equal(_mask(window), expected)


def test_overlay_shows_the_painted_colour_and_brush_outline_follows(make_main_window, qtbot):
    window = _paint_window(make_main_window, qtbot, AXIAL)
    view = window.views.slice_view("axial")
    segment = window.session.editor.segmentation.by_name("Segment 1")
    x, y = off_lines(view)
    before = pixel_at(view, view.display_to_lps(x, y))
    stroke(qtbot, view, [(x, y), (x + 4, y)])
    move(view, x + 200, y + 120)
    grey = before.astype(float)
    expected = FILL_OPACITY * 255 * np.array(segment.color) + (1 - FILL_OPACITY) * grey
    shown = pixel_at(view, view.display_to_lps(x + 1, y))
    assert np.all(np.abs(shown - expected) <= 6), (shown, expected)
    # the other views show it too, where they cut it
    point = view.display_to_lps(x + 1, y)
    window.views.set_crosshair_lps(point)
    for name in ("coronal", "sagittal"):
        other = window.views.slice_view(name)
        near = point + 1.0 * other.plane.right + 0.8 * other.plane.up  # off the crosshair lines
        assert np.all(np.abs(pixel_at(other, near) - expected) <= 8), name
    # hiding the segment shows the grey image again, undo of the stroke as well
    probe = point + 1.0 * view.plane.right + 0.8 * view.plane.up
    assert np.all(np.abs(pixel_at(view, probe) - expected) <= 6)
    window.session.editor.set_display(segment.segment_id, visible=False)
    assert np.all(np.abs(pixel_at(view, probe) - grey) <= 2)
    window.session.editor.set_display(segment.segment_id, visible=True)
    assert np.all(np.abs(pixel_at(view, probe) - expected) <= 6)
    window.session.editor.undo()
    assert np.all(np.abs(pixel_at(view, probe) - grey) <= 2)
    # the outline is a circle of the radius around the mouse
    move(view, x, y)
    handler = view.tool_handler("paint")
    circle = handler.outline.polylines[0]
    assert np.allclose(np.linalg.norm(circle - view.display_to_lps(x, y), axis=1), RADIUS)


def test_bracket_keys_change_the_radius(make_main_window, qtbot):
    window = _paint_window(make_main_window, qtbot, AXIAL)
    view = window.views.slice_view("axial")
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_BracketRight)
    assert window.viewer.brush.radius_mm == pytest.approx(step_radius(RADIUS, True))
    qtbot.keyClick(view, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(view, Qt.Key.Key_BracketLeft)
    assert window.viewer.brush.radius_mm == pytest.approx(step_radius(RADIUS, False))
    assert "Brush radius" in window.statusBar().currentMessage()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)  # shortcuts work in the active window
    qtbot.keyClick(window.segments_panel.add_button, Qt.Key.Key_BracketRight)  # anywhere
    assert window.viewer.brush.radius_mm == pytest.approx(RADIUS)
    assert window.segments_panel.options.radius_spin.value() == pytest.approx(RADIUS)


def test_dab_points_are_evenly_spaced():
    points = dab_points(np.zeros(3), np.array([10.0, 0, 0]), 2.0)
    assert len(points) == 10 and np.allclose(points[-1], [10, 0, 0])
    assert dab_points(np.zeros(3), np.zeros(3), 2.0) == []
