"""Planning objects in the slice views: placed by clicks, drawn, dragged; measurement drags."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.conftest import open_and_settle
from tests.gui.test_tools_support import click_at
from tests.gui.test_views_helpers import drag, move
from workstation.gui.views.measurements import LABEL_CLEARANCE_PX, LABEL_GAP_PX
from workstation.gui.views.planning_drawing import MARKER_PX, highlighted
from workstation.processing.roi_statistics import plane_roi_statistics

pytestmark = pytest.mark.gui


def independent_lps(view, x: float, y: float) -> np.ndarray:
    """The LPS point under widget pixel (x, y), from the camera and the plane axes only.

    A parallel camera looking down the plane normal: the focal point is the viewport's
    centre and the parallel scale is half the viewport's height in mm.
    """
    camera = view.camera()
    ratio = view.devicePixelRatioF()
    width, height = view.GetRenderWindow().GetSize()
    mm = 2.0 * camera.GetParallelScale() / height
    fu, fv, _ = camera.GetFocalPoint()
    u = fu + (x * ratio - (width - 1) / 2.0) * mm
    v = fv - (y * ratio - (height - 1) / 2.0) * mm
    centre = view.slice_position_lps()
    assert np.allclose(view.lps_to_plane(centre), 0.0, atol=1e-9)
    return centre + u * view.plane.right + v * view.plane.up


def colour_near(view, lps, color, radius: int = 2) -> bool:
    """True when a pixel within ``radius`` of an LPS point has about ``color`` (0..1 RGB)."""
    view.refresh()
    x, y = view.lps_to_display(np.asarray(lps, float))
    ratio = view.devicePixelRatioF()
    row, col = round(y * ratio), round(x * ratio)
    patch = view.capture()[row - radius : row + radius + 1, col - radius : col + radius + 1]
    target = np.array(color) * 255
    return bool(np.any(np.abs(patch.reshape(-1, 3).astype(float) - target).max(axis=1) < 40))


@pytest.fixture
def window(qtbot, main_window, synthetic_ct):
    open_and_settle(qtbot, main_window, synthetic_ct)
    main_window.viewer.set_crosshair([25.0, 25.0, 0.0])  # its lines stay away from the clicks
    return main_window


def test_points_lines_and_planes_are_placed_where_clicked(qtbot, window):
    axial = window.views.slice_view("axial")
    planning = window.session.planning
    mm = axial.mm_per_pixel()
    window.set_tool("plan_point")
    x, y = axial.lps_to_display(np.array([15.0, -20.0, 0.0]))
    click_at(qtbot, axial, x, y)
    assert len(planning) == 1
    point = planning.items[0]
    assert point.kind == "point"
    expected = independent_lps(axial, round(x), round(y))
    np.testing.assert_allclose(point.points_lps[0], expected, atol=0.51 * mm)
    assert point.points_lps[0][2] == pytest.approx(0.0, abs=1e-9)  # on the shown slice
    assert window.viewer.selected_object == point.object_id  # a new object is selected
    assert colour_near(axial, point.points_lps[0], highlighted(point.color))  # selected
    window.viewer.select_object(None)
    assert colour_near(axial, point.points_lps[0], point.color)

    window.set_tool("plan_line")
    ends = [(-25.0, 5.0), (-5.0, 20.0)]
    pixels = [axial.lps_to_display(np.array([u, v, 0.0])) for u, v in ends]
    click_at(qtbot, axial, *pixels[0])
    assert len(planning) == 1  # a line needs its target
    click_at(qtbot, axial, *pixels[1])
    line = planning.of_kind("line")[0]
    for got, (px, py) in zip(line.points_lps, pixels, strict=True):
        np.testing.assert_allclose(
            got, independent_lps(axial, round(px), round(py)), atol=0.51 * mm
        )
    middle = np.mean(np.array(line.points_lps), axis=0)
    assert colour_near(axial, middle, highlighted(line.color))

    window.set_tool("plan_plane")
    trace = [(-5.0, -20.0), (0.0, 20.0)]
    pixels = [axial.lps_to_display(np.array([u, v, 0.0])) for u, v in trace]
    clicked = [independent_lps(axial, round(px), round(py)) for px, py in pixels]
    for px, py in pixels:
        click_at(qtbot, axial, px, py)
    plane = planning.of_kind("plane")[0]
    origin, normal = np.array(plane.points_lps[0]), np.array(plane.normal_lps)
    np.testing.assert_allclose(origin, (clicked[0] + clicked[1]) / 2, atol=0.51 * mm)
    # the plane contains the trace and the view's normal (z for the axial view)
    assert abs(normal @ np.array([0.0, 0.0, 1.0])) < 1e-9
    along = (clicked[1] - clicked[0]) / np.linalg.norm(clicked[1] - clicked[0])
    assert abs(normal @ along) < 0.05
    # the coronal view (through the crosshair, y = 25) shows the plane's trace
    coronal = window.views.slice_view("coronal")
    y_slice = coronal.slice_position_lps()[1]
    # a point of the plane on the coronal slice: solve n . (p - o) = 0 for x
    x_on = origin[0] - normal[1] * (y_slice - origin[1]) / normal[0]
    for z in (-20.0, 20.0):  # away from the handles and the label, near the origin
        assert colour_near(coronal, (x_on, y_slice, z), highlighted(plane.color))
        assert not colour_near(coronal, (x_on + 6.0, y_slice, z), highlighted(plane.color))
    window.set_tool("navigate")
    assert len(planning) == 3 and window.session.modified


def test_dragging_handles_updates_the_records(qtbot, window):
    axial = window.views.slice_view("axial")
    planning = window.session.planning
    mm = axial.mm_per_pixel()
    point = planning.add("point", [(12.0, -18.0, 0.0)])
    line = planning.add("line", [(-24.0, 4.0, 0.0), (-8.0, 22.0, 4.0)])  # target 2 slices up
    axial.refresh()

    def drag_from(lps, offset_px):
        start = axial.lps_to_display(np.asarray(lps, float))
        end = (start[0] + offset_px[0], start[1] + offset_px[1])
        grabbed = independent_lps(axial, round(start[0]), round(start[1]))
        released = independent_lps(axial, round(end[0]), round(end[1]))
        drag(qtbot, axial, start, end)
        return released - grabbed

    window.set_tool("navigate")
    # an open hand over a handle tells that a press drags it
    from PySide6.QtCore import Qt

    x, y = axial.lps_to_display(np.array(point.points_lps[0]))
    move(axial, x + 2, y)
    assert axial.cursor().shape() == Qt.CursorShape.OpenHandCursor
    move(axial, x + 40, y)
    assert axial.cursor().shape() != Qt.CursorShape.OpenHandCursor
    crosshair = window.viewer.crosshair_lps.copy()
    delta = drag_from(point.points_lps[0], (30, -20))
    moved = planning.by_id(point.object_id)
    np.testing.assert_allclose(moved.points_lps[0], np.add(point.points_lps[0], delta), atol=1e-6)
    assert np.linalg.norm(delta) > 20 * mm
    np.testing.assert_allclose(window.viewer.crosshair_lps, crosshair)  # the handle took it
    assert window.viewer.selected_object == point.object_id

    # a line's target, off the shown slice, moves parallel to the slice: its depth stays
    window.set_tool("plan_line")
    delta = drag_from(line.points_lps[1], (-25, 15))
    moved = planning.by_id(line.object_id)
    assert moved.points_lps[0] == line.points_lps[0]
    np.testing.assert_allclose(moved.points_lps[1], np.add(line.points_lps[1], delta), atol=1e-6)
    assert moved.points_lps[1][2] == pytest.approx(4.0)
    assert len(planning) == 2  # the press dragged; it did not start a line

    # a plane: the origin handle moves it, the rotation handle turns it about the view normal
    plane = planning.add("plane", [(0.0, -5.0, 0.0)], normal_lps=(1.0, 0.0, 0.0))
    axial.refresh()
    origin_handle, rotate_handle = (
        h for h in axial.planning_drawing.handles() if h.object_id == plane.object_id
    )
    np.testing.assert_allclose(origin_handle.lps, (0.0, -5.0, 0.0), atol=1e-9)
    assert rotate_handle.lps[0] == pytest.approx(0.0, abs=1e-9)  # on the trace x = 0
    delta = drag_from(origin_handle.lps, (20, 0))
    moved = planning.by_id(plane.object_id)
    np.testing.assert_allclose(moved.points_lps[0], np.add(plane.points_lps[0], delta), atol=1e-6)
    np.testing.assert_allclose(moved.normal_lps, (1.0, 0.0, 0.0), atol=1e-12)
    axial.refresh()
    pivot, rotate_handle = (
        h for h in axial.planning_drawing.handles() if h.object_id == plane.object_id
    )
    start = axial.lps_to_display(rotate_handle.lps)
    end = (start[0] + 25, start[1] + 5)
    drag(qtbot, axial, start, end)
    turned = planning.by_id(plane.object_id)
    normal = np.array(turned.normal_lps)
    released = independent_lps(axial, round(end[0]), round(end[1]))
    assert abs(normal[2]) < 1e-9 and np.linalg.norm(normal) == pytest.approx(1.0)
    origin = np.array(turned.points_lps[0])
    assert abs(normal @ (pivot.lps - origin)) < 1e-6  # still through the pivot
    assert abs(normal @ (released - origin)) < 0.6 * mm  # its trace runs under the mouse
    grabbed = independent_lps(axial, round(start[0]), round(start[1]))
    angle = np.degrees(np.arccos(np.clip(normal @ np.array(moved.normal_lps), -1, 1)))
    a, b = grabbed - pivot.lps, released - pivot.lps
    truth = np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))
    assert angle == pytest.approx(truth, abs=1.5) and angle > 10  # a pixel at 40 px: 1.4°


def test_dragging_a_measurement_recomputes_it(qtbot, window):
    axial = window.views.slice_view("axial")
    measurements = window.session.measurements
    window.set_tool("distance")
    targets = [np.array([-20.0, 10.0, 0.0]), np.array([-5.0, 20.0, 0.0])]
    for target in targets:
        click_at(qtbot, axial, *axial.lps_to_display(target))
    record = measurements.items[0]
    # with the distance tool still active, pressing on its end drags it (no new measurement)
    start = axial.lps_to_display(np.array(record.points_lps[1]))
    end = (start[0] + 40, start[1] - 30)
    drag(qtbot, axial, start, end)
    assert len(measurements) == 1
    moved = measurements.by_id(record.measurement_id)
    expected_end = np.add(
        record.points_lps[1],
        independent_lps(axial, round(end[0]), round(end[1]))
        - independent_lps(axial, round(start[0]), round(start[1])),
    )
    np.testing.assert_allclose(moved.points_lps[1], expected_end, atol=1e-6)
    assert moved.points_lps[0] == record.points_lps[0]
    truth = float(np.linalg.norm(expected_end - np.array(record.points_lps[0])))
    assert moved.values["value"] == pytest.approx(truth, rel=1e-9)
    assert moved.text == f"{truth:.1f} mm" and moved.text != record.text
    assert axial.measurements.graphic(record.measurement_id).text == moved.text

    # an ROI corner: the statistics are those of the new rectangle
    window.set_tool("roi_rectangle")
    corner_a, corner_b = np.array([-8.0, -8.0, 0.0]), np.array([8.0, 8.0, 0.0])
    drag(qtbot, axial, axial.lps_to_display(corner_a), axial.lps_to_display(corner_b))
    roi = measurements.items[-1]
    start = axial.lps_to_display(np.array(roi.points_lps[1]))
    end = (start[0] + 60, start[1] + 50)
    window.set_tool("navigate")
    drag(qtbot, axial, start, end)
    moved = measurements.by_id(roi.measurement_id)
    volume = window.session.volume
    stats = plane_roi_statistics(
        volume.array,
        volume.affine,
        axial.slice_position_lps(),
        axial.plane.right,
        axial.plane.up,
        np.array(moved.points_lps[0]),
        np.array(moved.points_lps[1]),
    )
    assert moved.values["count"] == stats.count > roi.values["count"]
    assert moved.values["mean"] == pytest.approx(stats.mean)
    assert moved.values["mean"] < roi.values["mean"]  # now reaches outside the ball
    assert moved.text == stats.text("HU")


def test_planning_labels_keep_clear_of_the_crosshair_lines(qtbot, window):
    window.viewer.set_crosshair([0.0, 0.0, 0.0])
    axial = window.views.slice_view("axial")
    renderer = axial._renderer
    axial.refresh()
    xc, yc = axial.lps_to_display(np.zeros(3))
    planning = window.session.planning
    # each object's natural label place lies across both crosshair lines
    point = planning.add("point", [tuple(axial.display_to_lps(xc - 12, yc + 12))])
    line = planning.add(
        "line",
        [
            tuple(axial.display_to_lps(xc - 15, yc + 8)),
            tuple(axial.display_to_lps(xc + 40, yc + 60)),
        ],
    )
    plane = planning.add("plane", [(0.0, 0.0, 0.0)], normal_lps=(0.0, 1.0, 0.0))
    axial.refresh()

    def display(point):
        renderer.SetWorldPoint(point[0], point[1], 0.0, 1.0)
        renderer.WorldToDisplay()
        return np.array(renderer.GetDisplayPoint()[:2])

    lines = axial.crosshair_lines()
    assert len(lines) == 2
    ends = [(display(a), display(b)) for a, b in lines]
    vertical_x = next(a[0] for a, b in ends if abs(a[0] - b[0]) < 1e-6)
    horizontal_y = next(a[1] for a, b in ends if abs(a[1] - b[1]) < 1e-6)
    slack = LABEL_CLEARANCE_PX - 1.0
    for obj in (point, line, plane):
        label = axial.planning_drawing.label_actor(obj.object_id)
        assert label.GetVisibility() and obj.name in label.GetInput()
        box = [0.0] * 4
        label.GetBoundingBox(renderer, box)
        assert box[1] - box[0] > 20
        x, y = label.GetPositionCoordinate().GetComputedViewportValue(renderer)
        assert x + box[0] >= vertical_x + slack or x + box[1] <= vertical_x - slack, obj.kind
        assert y + box[2] >= horizontal_y + slack or y + box[3] <= horizontal_y - slack, obj.kind
    # without the crosshair the point's label would sit just above its marker, across both
    label = axial.planning_drawing.label_actor(point.object_id)
    box = [0.0] * 4
    label.GetBoundingBox(renderer, box)
    mm = axial.mm_per_pixel()
    anchor = axial.lps_to_plane(np.array(point.points_lps[0])) + MARKER_PX * mm * np.array([-1, 1])
    natural = display(anchor) + np.array([0.0, LABEL_GAP_PX - box[2]])
    assert natural[0] + box[0] < vertical_x < natural[0] + box[1]
    assert natural[1] + box[2] < horizontal_y < natural[1] + box[3]
    length = float(np.linalg.norm(np.subtract(*line.points_lps)))
    assert f"{length:.1f} mm" in axial.planning_drawing.label_actor(line.object_id).GetInput()


def test_off_slice_points_are_faint_and_parallel_planes_have_no_trace(qtbot, window):
    axial = window.views.slice_view("axial")
    planning = window.session.planning
    step = axial.slice_step()
    on = planning.add("point", [(10.0, -10.0, 0.0)])
    near = planning.add("point", [(-10.0, -10.0, 0.4 * step)])
    off = planning.add("point", [(-10.0, 10.0, 3 * step)])
    parallel = planning.add("plane", [(0.0, 0.0, 0.0)], normal_lps=(0.0, 0.0, 1.0))
    axial.refresh()
    graphics = axial.planning_drawing._graphics
    for obj, solid in ((on, True), (near, True), (off, False)):
        assert bool(graphics[obj.object_id].solid.GetVisibility()) == solid
        assert bool(graphics[obj.object_id].faint.GetVisibility()) != solid
    assert graphics[off.object_id].faint.GetProperty().GetOpacity() < 0.5
    assert not graphics[parallel.object_id].solid.GetVisibility()
    assert not [h for h in axial.planning_drawing.handles() if h.object_id == parallel.object_id]
    # three slices up the far point is drawn solid and the others faint
    axial.set_slice_index(axial.slice_index() + 3)
    axial.refresh()
    assert graphics[off.object_id].solid.GetVisibility()
    assert (
        graphics[on.object_id].faint.GetVisibility()
        and not graphics[on.object_id].solid.GetVisibility()
    )
    # a hidden object is not drawn
    planning.update(off.object_id, visible=False)
    axial.refresh()
    assert not graphics[off.object_id].solid.GetVisibility()
    assert not graphics[off.object_id].label.GetVisibility()


def test_delete_removes_the_selected_object_and_escape_drops_clicks(qtbot, window):
    from PySide6.QtCore import Qt

    axial = window.views.slice_view("axial")
    planning = window.session.planning
    keep = planning.add("point", [(10.0, 10.0, 0.0)])
    gone = planning.add("point", [(-10.0, 10.0, 0.0)])
    window.set_tool("plan_line")
    click_at(qtbot, axial, *axial.lps_to_display(np.array([-20.0, -20.0, 0.0])))
    qtbot.keyClick(axial, Qt.Key.Key_Escape)
    click_at(qtbot, axial, *axial.lps_to_display(np.array([-5.0, -20.0, 0.0])))
    assert len(planning) == 2  # the first click was dropped: one click is no line
    qtbot.keyClick(axial, Qt.Key.Key_Escape)
    window.viewer.select_object(gone.object_id)
    qtbot.keyClick(axial, Qt.Key.Key_Delete)
    assert [obj.object_id for obj in planning] == [keep.object_id]
    assert window.viewer.selected_object is None
    assert axial.planning_drawing.label_actor(gone.object_id) is None
