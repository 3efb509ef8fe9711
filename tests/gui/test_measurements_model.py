"""Measurements are case data: the tools add records, the slice views draw what the list holds."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.conftest import open_and_settle
from tests.gui.test_tools_support import click_at
from tests.gui.test_views_helpers import close_layout, drag, make_layout, marker_volume
from workstation.core.measurements import Measurement
from workstation.core.volume import Volume
from workstation.gui.views.measurements import (
    LABEL_CLEARANCE_PX,
    LABEL_GAP_PX,
    clear_of_lines,
)

pytestmark = pytest.mark.gui

VIEWS = ("axial", "coronal", "sagittal")


def blue_at(view, lps) -> bool:
    """True when the measurement colour (light blue) is drawn within 2 pixels of an LPS point."""
    view.refresh()
    x, y = view.lps_to_display(np.asarray(lps, float))
    ratio = view.devicePixelRatioF()
    row, col = round(y * ratio), round(x * ratio)
    patch = view.capture()[row - 2 : row + 3, col - 2 : col + 3].reshape(-1, 3).astype(int)
    return bool(np.any((patch[:, 2] > 200) & (patch[:, 1] > 150) & (patch[:, 0] < 140)))


def drawn_ids(view) -> list[str]:
    return [graphic.measurement_id for graphic in view.measurements.graphics]


def test_a_distance_made_with_the_tool_is_a_record_of_the_case(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    window.viewer.set_crosshair([25.0, 25.0, 0.0])  # its lines stay away from the points
    window.set_tool("distance")
    axial = window.views.slice_view("axial")
    done = []
    window.views.measurement_done.connect(done.append)
    targets = [np.array([-15.0, -5.0, 0.0]), np.array([10.0, 12.0, 0.0])]
    clicked = [click_at(qtbot, axial, *axial.lps_to_display(target)) for target in targets]
    window.set_tool("navigate")

    assert len(window.session.measurements) == 1 and window.session.modified
    measurement = window.session.measurements.items[0]
    assert measurement.kind == "distance" and measurement.view == "axial"
    np.testing.assert_allclose(measurement.points_lps, clicked, atol=1e-9)
    for point, target in zip(measurement.points_lps, targets, strict=True):
        assert point[2] == pytest.approx(0.0, abs=1e-9)  # on the shown slice, z = 0
        assert np.linalg.norm(np.array(point[:2]) - target[:2]) <= axial.mm_per_pixel()
    truth = float(np.sqrt(np.sum((np.array(clicked[1]) - np.array(clicked[0])) ** 2)))
    assert measurement.values["value"] == pytest.approx(truth, rel=1e-12)
    assert measurement.values["units"] == "mm" and measurement.text == f"{truth:.1f} mm"
    assert truth == pytest.approx(np.linalg.norm(targets[1] - targets[0]), abs=2.0)
    # the status bar's signal carries the same dict as before, with the record's id
    assert len(done) == 1 and done[0]["id"] == measurement.measurement_id
    assert done[0]["kind"] == "distance" and done[0]["view"] == "axial"
    assert done[0]["value"] == measurement.values["value"] and done[0]["text"] == measurement.text
    np.testing.assert_allclose(done[0]["points"], measurement.points_lps)

    # drawn in the view it was made in only, all along the line
    assert drawn_ids(axial) == [measurement.measurement_id]
    assert not drawn_ids(window.views.slice_view("coronal"))
    along = [targets[0] + f * (targets[1] - targets[0]) for f in (0.25, 0.5, 0.75)]
    assert all(blue_at(axial, point) for point in along)
    # removing the record removes the graphic
    window.session.measurements.remove(measurement.measurement_id)
    assert not drawn_ids(axial)
    assert not any(blue_at(axial, point) for point in along)


def test_an_roi_record_keeps_the_statistics_the_tool_showed(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    window.viewer.set_crosshair([25.0, 25.0, 0.0])
    window.set_tool("roi_rectangle")
    axial = window.views.slice_view("axial")
    done = []
    window.views.measurement_done.connect(done.append)
    corners = [np.array([-6.0, -6.0, 0.0]), np.array([6.0, 6.0, 0.0])]  # inside the big ball
    start, end = (axial.lps_to_display(corner) for corner in corners)
    drag(qtbot, axial, start, end)
    window.set_tool("navigate")
    assert len(done) == 1 and len(window.session.measurements) == 1
    measurement = window.session.measurements.items[0]
    assert measurement.kind == "roi_rectangle" and measurement.view == "axial"
    np.testing.assert_allclose(measurement.points_lps, done[0]["points"])
    for key in ("mean", "std", "min", "max", "area_mm2", "count", "units"):
        assert measurement.values[key] == done[0][key]
    # every voxel of the square lies in the 300 HU ball: its statistics are exact
    assert measurement.values["mean"] == 300 and measurement.values["std"] == 0
    (x0, y0, _), (x1, y1, _) = measurement.points_lps
    count = sum(
        1
        for x in range(-32, 32)
        for y in range(-32, 32)
        if min(x0, x1) <= x <= max(x0, x1) and min(y0, y1) <= y <= max(y0, y1)
    )
    assert measurement.values["count"] == count and measurement.values["area_mm2"] == count
    label = axial.measurements.graphic(measurement.measurement_id).label.GetInput()
    assert label.count("\n") == 2 and label.replace("\n", ", ") == measurement.text


def test_saved_records_are_drawn_in_their_view_on_their_slice(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    views = {name: window.views.slice_view(name) for name in VIEWS}
    distance = Measurement(
        "measurement-7", "distance", ((-12.0, 6.0, 0.0), (12.0, 6.0, 0.0)), "axial", "24.0 mm",
        {"value": 24.0, "units": "mm"},
    )  # fmt: skip
    ellipse = Measurement(
        "measurement-8", "roi_ellipse", ((-10.0, 0.0, -10.0), (10.0, 0.0, 10.0)), "coronal",
        "mean 300.0 ± 0.0 HU, min 300, max 300, area 314.0 mm²", {"value": 300.0},
    )  # fmt: skip
    window.viewer.set_crosshair([20.0, 0.0, 0.0])  # axial slice z = 0, coronal slice y = 0
    window.session.measurements.replace_all([distance, ellipse])
    assert drawn_ids(views["axial"]) == ["measurement-7"]
    assert drawn_ids(views["coronal"]) == ["measurement-8"]
    assert not drawn_ids(views["sagittal"])
    on_line = [(-6.0, 6.0, 0.0), (0.0, 6.0, 0.0), (6.0, 6.0, 0.0)]
    angles = np.radians([-45.0, -90.0, -135.0])
    on_ellipse = [(10 * np.cos(a), 0.0, 10 * np.sin(a)) for a in angles]
    assert all(blue_at(views["axial"], point) for point in on_line)
    assert all(blue_at(views["coronal"], point) for point in on_ellipse)
    assert not blue_at(views["coronal"], (0.0, 0.0, -5.0))  # inside the outline: not drawn
    # another axial slice hides the distance, the ellipse stays (the coronal slice is the same)
    window.viewer.set_crosshair([20.0, 0.0, 10.0])
    axial_graphic = views["axial"].measurements.graphic("measurement-7")
    assert not axial_graphic.label.GetVisibility()
    assert not any(blue_at(views["axial"], (x, 6.0, 10.0)) for x in (-6.0, 0.0, 6.0))
    assert all(blue_at(views["coronal"], point) for point in on_ellipse)
    window.viewer.set_crosshair([20.0, 10.0, 0.0])  # back on z = 0; coronal moves to y = 10
    assert all(blue_at(views["axial"], point) for point in on_line)
    assert not any(blue_at(views["coronal"], (p[0], 10.0, p[2])) for p in on_ellipse)
    window.viewer.set_crosshair([20.0, 0.0, 0.0])
    assert all(blue_at(views["coronal"], point) for point in on_ellipse)
    # a new volume: the session forgets them and the views draw nothing
    window.session.set_volume(Volume(np.zeros((8, 16, 16), np.int16), np.eye(4), units="HU"))
    assert len(window.session.measurements) == 0
    assert not any(drawn_ids(view) for view in views.values())


def test_clear_measurements_empties_the_case(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    measurements = window.session.measurements
    measurements.add("distance", [(0, 0, 0), (5, 0, 0)], "axial", "5.0 mm")
    measurements.add("angle", [(0, 0, 0), (0, 0, 5), (5, 0, 5)], "coronal", "90.0°")
    assert drawn_ids(window.views.slice_view("coronal"))
    window.views.clear_measurements()
    assert len(measurements) == 0
    assert not any(drawn_ids(window.views.slice_view(name)) for name in VIEWS)
    # an edit of a record is drawn again where its new points are
    record = measurements.add("distance", [(-10, 0, 0), (10, 0, 0)], "axial", "20.0 mm")
    axial = window.views.slice_view("axial")
    window.viewer.set_crosshair([25.0, 25.0, 0.0])
    assert blue_at(axial, (-5.0, 0.0, 0.0))
    measurements.update(record.measurement_id, points_lps=((-10, 10, 0), (10, 10, 0)))
    assert drawn_ids(axial) == [record.measurement_id]
    assert blue_at(axial, (-5.0, 10.0, 0.0)) and not blue_at(axial, (-5.0, 0.0, 0.0))


def test_labels_keep_clear_of_the_crosshair_lines(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    window.viewer.set_crosshair([0.0, 0.0, 0.0])
    axial = window.views.slice_view("axial")
    renderer = axial._renderer
    axial.refresh()
    xc, yc = axial.lps_to_display(np.zeros(3))
    # the shape's top-left corner is 5 pixels below the horizontal line and 10 pixels left
    # of the vertical one: a label just above it would lie across both lines
    first = axial.display_to_lps(xc - 10, yc + 5)
    second = axial.display_to_lps(xc + 30, yc + 40)
    record = window.session.measurements.add("distance", [first, second], "axial", "12.3 mm")
    axial.refresh()
    graphic = axial.measurements.graphic(record.measurement_id)
    box = [0.0] * 4
    graphic.label.GetBoundingBox(renderer, box)  # display pixels from the anchor (y up)
    assert box[1] - box[0] > 20 and box[3] - box[2] > 8

    def display(point):
        renderer.SetWorldPoint(point[0], point[1], 0.0, 1.0)
        renderer.WorldToDisplay()
        return np.array(renderer.GetDisplayPoint()[:2])

    lines = axial.crosshair_lines()
    assert len(lines) == 2
    ends = [(display(line[0]), display(line[1])) for line in lines]
    vertical_x = next(a[0] for a, b in ends if abs(a[0] - b[0]) < 1e-6)
    horizontal_y = next(a[1] for a, b in ends if abs(a[1] - b[1]) < 1e-6)
    top_left = display(graphic.anchor())
    lift = np.array([0.0, LABEL_GAP_PX - box[2]])  # the box's bottom just above the shape
    natural = top_left + lift
    assert natural[0] + box[0] < vertical_x < natural[0] + box[1]
    assert natural[1] + box[2] < horizontal_y < natural[1] + box[3]
    # as drawn: the whole box is past both lines, by the clearance
    x, y = graphic.label.GetPositionCoordinate().GetComputedViewportValue(renderer)
    slack = LABEL_CLEARANCE_PX - 1.0
    assert x + box[0] >= vertical_x + slack or x + box[1] <= vertical_x - slack
    assert y + box[2] >= horizontal_y + slack or y + box[3] <= horizontal_y - slack
    # moved the short way: up past the line (not down by the label's height), still above
    # its shape
    assert y + box[2] >= horizontal_y + slack and y - natural[1] < 12
    # a label far from the lines sits just above its shape
    far = window.session.measurements.add(
        "distance", [(-25.0, -25.0, 0.0), (-15.0, -20.0, 0.0)], "axial", "11.2 mm"
    )
    axial.refresh()
    far_graphic = axial.measurements.graphic(far.measurement_id)
    x, y = far_graphic.label.GetPositionCoordinate().GetComputedViewportValue(renderer)
    expected = display(far_graphic.anchor()) + lift
    np.testing.assert_allclose((x, y), expected, atol=1.0)


def test_clear_of_lines_moves_boxes_the_short_way():
    horizontal = np.array([[-100.0, 5.0], [100.0, 5.0]])
    vertical = np.array([[3.0, -100.0], [3.0, 100.0]])
    box = (0.0, 10.0, 0.0, 2.0)  # 10 wide, 2 high, from the anchor
    # crossing the horizontal line near its bottom: moved up to 1 above the line
    moved = clear_of_lines(np.array([20.0, 4.5]), box, [horizontal], 1.0)
    np.testing.assert_allclose(moved, [20.0, 6.0])
    # crossing near its top: moved down until its top is 1 below the line
    moved = clear_of_lines(np.array([20.0, 3.5]), box, [horizontal], 1.0)
    np.testing.assert_allclose(moved, [20.0, 2.0])
    # across both lines: each is cleared
    moved = clear_of_lines(np.array([1.0, 4.5]), box, [horizontal, vertical], 1.0)
    np.testing.assert_allclose(moved, [4.0, 6.0])
    # clear already: unchanged
    np.testing.assert_allclose(clear_of_lines(np.array([20.0, 7.0]), box, [horizontal], 1.0),
                               [20.0, 7.0])  # fmt: skip
    # an oblique line: the box ends up at least the clearance from it
    diagonal = np.array([[0.0, 0.0], [1.0, 1.0]])
    moved = clear_of_lines(np.array([0.0, -1.0]), box, [diagonal], 0.5)
    corners = moved + np.array([[0, 0], [10, 0], [10, 2], [0, 2]])
    distances = (corners @ np.array([-1.0, 1.0])) / np.sqrt(2.0)
    assert distances.min() >= 0.5 - 1e-9 or distances.max() <= -0.5 + 1e-9


def test_a_view_layout_alone_keeps_its_own_list(qtbot):
    layout = make_layout(qtbot)
    try:
        # index (slice, row, col) -> x = col - 20, y = row - 20, z = 2 slice - 20 (mm)
        affine = np.array([[0, 0, 1, -20], [0, 1, 0, -20], [2, 0, 0, -20], [0, 0, 0, 1]], float)
        layout.set_volume(marker_volume((20, 40, 40), affine, []))
        layout.set_interaction_mode("distance")
        axial = layout.slice_view("axial")
        clicked = [click_at(qtbot, axial, 100 + 60 * i, 120 + 20 * i) for i in range(2)]
        assert len(layout.measurements()) == 1
        np.testing.assert_allclose(layout.measurements().items[0].points_lps, clicked)
        assert len(axial.measurements.graphics) == 1
        layout.set_volume(marker_volume((20, 40, 40), affine, []))  # another volume
        assert len(layout.measurements()) == 0 and not axial.measurements.graphics
    finally:
        close_layout(layout)
