"""Slice-view interaction through real widgets: crosshair, scrolling, W/L, measurements."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.test_views_helpers import (
    bright_mask,
    centred_affine,
    centroid,
    click,
    close_layout,
    drag,
    interior,
    make_layout,
    marker_volume,
    move,
    wheel,
)
from workstation.core import geometry
from workstation.core.volume import Volume

pytestmark = pytest.mark.gui

SHAPE = (40, 50, 60)
SPACING = (0.9, 0.9, 2.0)  # row, column, slice mm
AXIAL = centred_affine((1, 0, 0), (0, 1, 0), SPACING, SHAPE)
#: In the central axial slice, off the centre lines: not on the central coronal/sagittal cuts.
MARKER = geometry.index_to_lps(AXIAL, [[19.5, 12, 44]])[0]


@pytest.fixture
def layout(qtbot):
    widget = make_layout(qtbot)
    yield widget
    close_layout(widget)


def _marker_volume():
    return marker_volume(SHAPE, AXIAL, [(MARKER, 4.0, 1000)])


def test_click_in_axial_moves_coronal_and_sagittal_to_the_clicked_point(layout, qtbot):
    layout.set_volume(_marker_volume())
    layout.set_crosshair_lps([0.0, 0.0, MARKER[2]])
    axial, coronal, sagittal = (layout.slice_view(n) for n in ("axial", "coronal", "sagittal"))
    before_coronal, before_sagittal = coronal.slice_offset(), sagittal.slice_offset()
    # the marker is not cut by the central coronal and sagittal planes
    assert not bright_mask(interior(coronal.capture())).any()
    assert not bright_mask(interior(sagittal.capture())).any()
    spot = centroid(bright_mask(interior(axial.capture())))
    moved = []
    layout.crosshair_moved.connect(moved.append)
    click(qtbot, axial, *spot)
    assert moved, "crosshair_moved was not emitted"
    point = layout.crosshair_lps()
    tolerance = 2 * axial.mm_per_pixel() + 0.5
    assert abs(point[0] - MARKER[0]) < tolerance and abs(point[1] - MARKER[1]) < tolerance
    assert point[2] == pytest.approx(MARKER[2], abs=1.0)  # the axial slice did not change
    # coronal now cuts at the marker's y (P), sagittal at its x (L), to the voxel grid
    assert coronal.slice_offset() != before_coronal and sagittal.slice_offset() != before_sagittal
    assert coronal.slice_position_lps()[1] == pytest.approx(MARKER[1], abs=SPACING[0])
    assert sagittal.slice_position_lps()[0] == pytest.approx(MARKER[0], abs=SPACING[1])
    # and they really show the marker now, at its height (S) and side
    for view in (coronal, sagittal):
        shown = centroid(bright_mask(interior(view.capture())))
        assert np.linalg.norm(shown - np.array(view.lps_to_display(MARKER))) < 3.0


def test_wheel_arrow_and_page_keys_scroll_slices(layout, qtbot):
    layout.set_volume(_marker_volume())
    axial = layout.slice_view("axial")
    assert axial.slice_count() == SHAPE[0]
    start = axial.slice_index()
    first_pixels = axial.capture()
    wheel(axial, 1)
    assert axial.slice_index() == start + 1
    qtbot.keyClick(axial, Qt.Key.Key_Up)
    assert axial.slice_index() == start + 2
    qtbot.keyClick(axial, Qt.Key.Key_Down)
    qtbot.keyClick(axial, Qt.Key.Key_PageDown)
    assert axial.slice_index() == start + 1 - 10
    wheel(axial, -2)
    assert axial.slice_index() == start - 11
    # the crosshair follows the slice (S goes down), the other views' lines move with it
    expected_z = geometry.index_to_lps(AXIAL, [[start - 11, 0, 0]])[0][2]
    assert layout.crosshair_lps()[2] == pytest.approx(expected_z)
    # a slice outside the marker looks different from the one through it
    layout.set_crosshair_lps(MARKER)
    with_marker = bright_mask(interior(axial.capture())).sum()
    qtbot.keyClick(axial, Qt.Key.Key_PageUp)
    assert bright_mask(interior(axial.capture())).sum() == 0 < with_marker
    assert not np.array_equal(first_pixels, axial.capture())
    # clamped at the ends
    for _ in range(5):
        qtbot.keyClick(axial, Qt.Key.Key_PageUp)
    assert axial.slice_index() == SHAPE[0] - 1


def test_window_level_changes_grey_values_as_computed(layout, qtbot):
    array = np.full(SHAPE, 100, dtype=np.int16)
    layout.set_volume(Volume(array, AXIAL, units="HU"))
    axial = layout.slice_view("axial")
    probe = (axial.height() // 4, axial.width() // 4)  # off the crosshair lines
    changes = []
    layout.window_level_changed.connect(lambda c, w: changes.append((c, w)))
    for center, width in ((40.0, 400.0), (100.0, 50.0), (300.0, 500.0), (0.0, 100.0)):
        layout.set_window_level(center, width)
        grey = axial.capture()[probe]
        expected = np.clip((100 - (center - width / 2)) / width * 255, 0, 255)
        assert np.all(np.abs(grey.astype(float) - expected) <= 2.0), (center, width, grey)
    assert changes[-1] == (0.0, 100.0)
    # dragging in window_level mode: right widens the window, up raises the level
    layout.set_window_level(100.0, 200.0)
    layout.set_interaction_mode("window_level")
    before = axial.capture()[probe].astype(int)
    centre = (axial.width() / 2, axial.height() / 2)
    drag(qtbot, axial, centre, (centre[0] + 100, centre[1] - 60))
    center, width = layout.window_level()
    assert width > 200.0 and center > 100.0
    after = axial.capture()[probe].astype(int)
    expected = np.clip((100 - (center - width / 2)) / width * 255, 0, 255)
    assert np.all(np.abs(after - expected) <= 2.0) and not np.array_equal(before, after)


def test_distance_between_two_clicked_markers_is_the_true_distance(layout, qtbot):
    first = geometry.index_to_lps(AXIAL, [[20, 12, 12]])[0]
    second = geometry.index_to_lps(AXIAL, [[20, 36, 47]])[0]
    layout.set_volume(marker_volume(SHAPE, AXIAL, [(first, 2.5, 1000), (second, 2.5, 1000)]))
    layout.set_crosshair_lps([0.0, 0.0, first[2]])
    axial = layout.slice_view("axial")
    pixels = bright_mask(interior(axial.capture()))
    half = pixels.shape[1] // 2
    left_spot = centroid(np.where(np.arange(pixels.shape[1]) < half, pixels, False))
    right_spot = centroid(np.where(np.arange(pixels.shape[1]) >= half, pixels, False))
    results = []
    layout.measurement_done.connect(results.append)
    layout.set_interaction_mode("distance")
    click(qtbot, axial, *left_spot)
    assert not results
    click(qtbot, axial, *right_spot)
    assert len(results) == 1 and results[0]["kind"] == "distance"
    truth = float(np.linalg.norm(second - first))
    assert results[0]["value"] == pytest.approx(truth, abs=1.5 * axial.mm_per_pixel())
    assert results[0]["text"].endswith("mm")
    # the line is drawn (light blue) all along between the two markers
    drawn = axial.capture().astype(int)
    for fraction in (0.25, 0.4, 0.6, 0.75):
        x, y = (left_spot + fraction * (right_spot - left_spot)).round().astype(int)
        patch = drawn[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3)
        assert np.any((patch[:, 2] > 200) & (patch[:, 0] < 140)), fraction


def test_angle_of_three_clicks(layout, qtbot):
    layout.set_volume(_marker_volume())
    axial = layout.slice_view("axial")
    results = []
    layout.measurement_done.connect(results.append)
    layout.set_interaction_mode("angle")
    cx, cy = axial.width() / 2, axial.height() / 2
    for x, y in ((cx + 80, cy + 10), (cx, cy + 10), (cx, cy - 70)):
        click(qtbot, axial, x, y)
    assert len(results) == 1 and results[0]["kind"] == "angle"
    assert results[0]["value"] == pytest.approx(90.0, abs=0.5)
    a, b, c = (np.array(p) for p in results[0]["points"])
    assert np.dot(a - b, c - b) == pytest.approx(0.0, abs=1e-6 + 1.0)


@pytest.mark.parametrize("shape", ["rectangle", "ellipse"])
def test_roi_statistics_match_numpy(layout, qtbot, shape):
    rng = np.random.default_rng(7)
    array = rng.integers(-200, 800, size=SHAPE).astype(np.int16)
    layout.set_volume(Volume(array, AXIAL, units="HU"))
    axial = layout.slice_view("axial")
    results = []
    layout.measurement_done.connect(results.append)
    layout.set_interaction_mode(f"roi_{shape}")
    cx, cy = axial.width() / 2, axial.height() / 2
    drag(qtbot, axial, (cx - 90, cy - 50), (cx + 60, cy + 70))
    assert len(results) == 1
    result = results[0]
    assert result["kind"] == f"roi_{shape}" and result["units"] == "HU"
    # independent: voxel centres of the shown slice inside the dragged shape
    corner_a, corner_b = (np.array(p) for p in result["points"])
    slice_index = axial.slice_index()
    rows, cols = np.meshgrid(np.arange(SHAPE[1]), np.arange(SHAPE[2]), indexing="ij")
    x = AXIAL[0, 3] + AXIAL[0, 0] * slice_index + cols * AXIAL[0, 2]
    y = AXIAL[1, 3] + AXIAL[1, 0] * slice_index + rows * AXIAL[1, 1]
    x_low, x_high = sorted((corner_a[0], corner_b[0]))
    y_low, y_high = sorted((corner_a[1], corner_b[1]))
    if shape == "rectangle":
        inside = (x >= x_low) & (x <= x_high) & (y >= y_low) & (y <= y_high)
    else:
        cxm, cym = (x_low + x_high) / 2, (y_low + y_high) / 2
        rx, ry = (x_high - x_low) / 2, (y_high - y_low) / 2
        inside = ((x - cxm) / rx) ** 2 + ((y - cym) / ry) ** 2 <= 1.0
    values = array[slice_index][inside].astype(float)
    assert values.size > 100
    assert result["count"] == values.size
    assert result["mean"] == pytest.approx(values.mean())
    assert result["std"] == pytest.approx(values.std())
    assert result["min"] == values.min() and result["max"] == values.max()
    assert result["area_mm2"] == pytest.approx(values.size * SPACING[0] * SPACING[1])


def test_pick_seed_mode_emits_the_clicked_point(layout, qtbot):
    layout.set_volume(_marker_volume())
    axial = layout.slice_view("axial")
    picked = []
    layout.point_picked.connect(picked.append)
    layout.set_interaction_mode("pick_seed")
    before = layout.crosshair_lps()
    x, y = axial.lps_to_display(MARKER)
    click(qtbot, axial, x, y)
    assert len(picked) == 1
    assert np.linalg.norm(picked[0][:2] - MARKER[:2]) < 2 * axial.mm_per_pixel()
    assert np.allclose(layout.crosshair_lps(), before)  # picking does not move the crosshair


def test_cursor_info_reports_position_and_hounsfield_value(layout, qtbot):
    layout.set_volume(_marker_volume())
    layout.set_crosshair_lps(MARKER)
    axial = layout.slice_view("axial")
    infos = []
    layout.cursor_info.connect(infos.append)
    x, y = axial.lps_to_display(MARKER)
    move(axial, axial.width() / 2, axial.height() / 2)
    move(axial, x, y)
    assert infos, "no cursor_info emitted"
    info = infos[-1]
    assert info["view"] == "axial" and info["units"] == "HU" and info["value"] == 1000.0
    assert np.linalg.norm(np.array(info["lps"][:2]) - MARKER[:2]) < 2 * axial.mm_per_pixel()
    far = geometry.index_to_lps(AXIAL, [[20, 45, 5]])[0]
    move(axial, *axial.lps_to_display(far))
    assert infos[-1]["value"] == 40.0


def test_zoom_pan_and_scale_bar(layout, qtbot):
    layout.set_volume(_marker_volume())
    axial = layout.slice_view("axial")
    axial.refresh()
    scale_before, bar_before = axial.mm_per_pixel(), axial.scale_bar_length_mm()
    # the bar is a round length close to a fifth of the view width
    assert bar_before in (1, 2, 5, 10, 20, 50, 100, 200)
    assert 0.08 < bar_before / (axial.width() * scale_before) <= 0.2 + 1e-9
    wheel(axial, 3, Qt.KeyboardModifier.ControlModifier)
    assert axial.mm_per_pixel() == pytest.approx(scale_before / 1.1**3)
    assert axial.scale_bar_length_mm() <= bar_before
    x, y = axial.lps_to_display(MARKER)
    drag(qtbot, axial, (200, 200), (240, 230), button=Qt.MouseButton.MiddleButton)
    x2, y2 = axial.lps_to_display(MARKER)
    assert (x2 - x, y2 - y) == pytest.approx((40, 30), abs=1.5)
    qtbot.keyClick(axial, Qt.Key.Key_R)
    assert axial.mm_per_pixel() == pytest.approx(scale_before)


def _overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


@pytest.mark.parametrize("name", ["axial", "coronal", "sagittal"])
def test_corner_texts_stay_clear_of_the_orientation_letters(layout, qtbot, name):
    layout.resize(700, 560)  # each view about as wide as in a 1600-pixel main window
    qtbot.wait(20)
    layout.set_volume(_marker_volume())
    view = layout.slice_view(name)
    # the cursor read-out (value and position) fills the lower-left corner
    move(view, view.width() / 2 + 15, view.height() / 2 + 10)
    view.refresh()
    boxes = view.annotation_boxes()
    assert {"top", "bottom", "left", "right", "corner0", "corner2", "corner3"} <= set(boxes)
    # the slice is named by its patient coordinate along the view normal
    point = geometry.index_to_lps(AXIAL, [[31, 7, 9]])[0]  # a voxel centre: L-, P-, S+
    layout.set_crosshair_lps(point)
    axis, letters = {"axial": (2, "SI"), "coronal": (1, "PA"), "sagittal": (0, "LR")}[name]
    value = point[axis]
    text = view.slice_position_text()
    letter, number, unit = text.split()
    assert letter == (letters[0] if value >= 0 else letters[1]) and unit == "mm"
    assert float(number) == pytest.approx(abs(value), abs=0.051)
    assert text in view._corner.get(view._corner.UPPER_LEFT)
    for letter in ("top", "bottom", "left", "right"):
        for corner in ("corner0", "corner1", "corner2", "corner3"):
            if corner in boxes:
                assert not _overlap(boxes[letter], boxes[corner]), (letter, corner, boxes)
