"""Main window with the real views: opening, the study browser, crosshair, window/level."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import (
    BALL_HU,
    BIG_BALL,
    SMALL_BALL,
    SYNTH_SHAPE,
    TIMEOUT_MS,
    open_and_settle,
    pixel_at,
    settle,
)
from tests.support.dicom_factory import expected_affine
from workstation.gui import study_browser as sb

pytestmark = pytest.mark.gui


def test_browser_double_click_loads_the_series(qtbot, main_window, synthetic_ct):
    window = main_window
    with qtbot.waitSignal(window.scan_loaded, timeout=TIMEOUT_MS):
        window.open_path(synthetic_ct, auto_load=False)
    assert window.session.volume is None
    stack = window.session.scan.stacks[0]
    item = window.browser.stack_item(stack.stack_id)
    assert item.text(sb.COL_MODALITY) == "CT"
    assert item.text(sb.COL_DESCRIPTION) == "Two balls"
    assert item.text(sb.COL_IMAGES) == str(SYNTH_SHAPE[0])
    assert item.text(sb.COL_DIMS) == f"{SYNTH_SHAPE[2]}x{SYNTH_SHAPE[1]}x{SYNTH_SHAPE[0]}"
    study = item.parent()
    assert study.data(0, sb.KIND_ROLE) == "study"
    assert study.parent().data(0, sb.KIND_ROLE) == "patient"
    assert "SYNTH001" in study.parent().text(0)
    qtbot.waitUntil(lambda: not item.icon(sb.COL_NAME).isNull(), timeout=20000)

    viewport = window.browser.viewport()
    centre = window.browser.visualItemRect(item).center()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=centre)
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=centre)
    volume = window.session.volume
    assert volume.shape == SYNTH_SHAPE
    truth = expected_affine((1, 0, 0), (0, 1, 0), (1.0, 1.0), (-32, -32, -30), (0, 0, 2.0))
    np.testing.assert_allclose(volume.affine, truth, atol=1e-6)
    assert window.views.volume() is volume
    assert item.font(sb.COL_NAME).bold()
    assert "Two balls" in window.windowTitle()
    # the path was remembered
    assert window.recent.paths() == [str(synthetic_ct)]


def test_clicking_in_axial_moves_the_other_views(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    axial = window.views.slice_view("axial")
    coronal = window.views.slice_view("coronal")
    sagittal = window.views.slice_view("sagittal")
    small_centre = np.array(SMALL_BALL[0])
    # the crosshair starts at the volume centre: the small ball is in no other view
    assert np.all(pixel_at(coronal, small_centre + np.array([2.0, 0, 2.0])) < 60)
    # go to the small ball's slice, then click on its centre in the axial view
    window.views.set_crosshair_lps([0.0, 0.0, small_centre[2]])
    assert np.all(pixel_at(axial, small_centre + np.array([2.0, 2.0, 0])) > 200)
    x, y = axial.lps_to_display(small_centre)
    moved = []
    window.views.crosshair_moved.connect(moved.append)
    qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(round(x), round(y)))
    assert moved, "a click in the axial view must move the crosshair"
    crosshair = window.views.crosshair_lps()
    np.testing.assert_allclose(crosshair, small_centre, atol=1.0)
    # the coronal and sagittal views now cut through the small ball ...
    assert abs(coronal.slice_position_lps()[1] - small_centre[1]) <= 1.0
    assert abs(sagittal.slice_position_lps()[0] - small_centre[0]) <= 1.0
    # ... and show it: bright inside the ball (off the crosshair lines), dark outside it
    assert np.all(pixel_at(coronal, small_centre + np.array([2.0, 0, 2.0])) > 200)
    assert np.all(pixel_at(sagittal, small_centre + np.array([0, 2.0, 2.0])) > 200)
    assert np.all(pixel_at(coronal, small_centre + np.array([8.0, 0, 6.0])) < 60)
    # the status bar shows the position and HU under the cursor
    window.views.cursor_info.emit(
        {"lps": tuple(small_centre), "value": float(BALL_HU), "units": "HU", "view": "axial"}
    )
    assert "300 HU" in window.cursor_label.text()
    # negative L/P/S coordinates read as distances to the right, anterior and inferior
    assert "R 20.0  A 20.0  I 16.0 mm" in window.cursor_label.text()


def test_window_level_presets_and_mouse_drag(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    axial = window.views.slice_view("axial")
    centre = np.array(BIG_BALL[0])
    assert window.views.window_level() == (40.0, 400.0)  # the series' own window
    inside = centre + np.array([3.0, 3.0, 0])  # off the crosshair lines
    assert np.all(pixel_at(axial, inside) == 255)  # 300 HU is above 40 + 200
    window.apply_window_preset("bone")
    assert window.views.window_level() == (400.0, 1000.0)
    expected = (BALL_HU - (400 - 500)) / 1000 * 255  # 102
    assert np.all(np.abs(pixel_at(axial, inside) - expected) <= 3)
    assert window.window_label.text() == "W 1000  L 400"
    # the menu lists the series window and the CT presets
    labels = [action.text() for action in window.window_menu.actions()]
    assert labels[0].startswith("Series window") and any("Lung" in t for t in labels)
    # drag in window/level mode changes the window
    window.set_tool("window_level")
    before = window.views.window_level()
    start = QPoint(axial.width() // 2, axial.height() // 2)
    qtbot.mousePress(axial, Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(axial, start + QPoint(60, 40))
    qtbot.mouseRelease(axial, Qt.MouseButton.LeftButton, pos=start + QPoint(60, 40))
    assert window.views.window_level() != before
    window.set_tool("navigate")


def test_layout_switch_and_volume_rendering(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    window.layout_actions["axial"].trigger()
    assert window.views.layout_name() == "axial"
    assert not window.views.view_3d().isVisible()
    window.layout_actions["four"].trigger()
    assert window.views.view_3d().isVisible()
    view_3d = window.views.view_3d()
    view_3d.refresh()
    before = view_3d.capture()
    window.volume_rendering_action.setChecked(True)
    view_3d.refresh()
    after = view_3d.capture()
    changed = np.abs(after.astype(int) - before.astype(int)).sum(axis=2) > 30
    assert changed.sum() > 200, "volume rendering must draw the balls in 3D"


def test_drop_and_recent_studies(qtbot, main_window, synthetic_ct, tmp_path):
    window = main_window
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(synthetic_ct))])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(
        QPoint(200, 200),  # a drag-enter event takes integer positions
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted(), "a dragged folder must be accepted"
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        QApplication.sendEvent(window, event)
    settle(qtbot, window)
    assert window.session.volume.shape == SYNTH_SHAPE
    gone = tmp_path / "gone"
    gone.mkdir()
    window.recent.add(str(gone))
    gone.rmdir()
    for number in range(12):
        folder = tmp_path / f"study{number}"
        folder.mkdir()
        window.recent.add(str(folder))
    paths = window.recent.paths()
    assert len(paths) == 10 and paths[0].endswith("study11")
    assert str(gone) not in paths and str(synthetic_ct) not in paths
    window._fill_recent_menu()
    assert [a.text() for a in window.recent_menu.actions()][:10] == paths


def test_zip_opens_and_reopens_from_the_recent_menu(qtbot, main_window, synthetic_ct, tmp_path):
    import zipfile

    window = main_window
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(synthetic_ct.rglob("*")):
            if path.is_file():
                bundle.write(path, path.relative_to(synthetic_ct))
    volume = open_and_settle(qtbot, window, archive)
    assert volume.shape == SYNTH_SHAPE
    truth = expected_affine((1, 0, 0), (0, 1, 0), (1.0, 1.0), (-32, -32, -30), (0, 0, 2.0))
    np.testing.assert_allclose(volume.affine, truth, atol=1e-6)
    assert window.recent.paths()[0] == str(archive)
    # open something else, then the zip again from File → Recent studies
    other = open_and_settle(qtbot, window, synthetic_ct)
    assert window.session.source_path == str(synthetic_ct)
    window._fill_recent_menu()
    action = next(a for a in window.recent_menu.actions() if a.text() == str(archive))
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        action.trigger()
    settle(qtbot, window)
    assert window.session.source_path == str(archive)
    assert window.session.volume is not other and window.session.volume.shape == SYNTH_SHAPE


def test_browser_shows_warnings_and_skipped_files(qtbot, main_window, tmp_path):
    from tests.support.dicom_factory import write_series

    folder = tmp_path / "gappy"
    array = np.full((9, 16, 16), -1000, dtype=np.int16)
    positions = [(0.0, 0.0, 2.0 * i) for i in range(10) if i != 5]  # slice 5 missing
    write_series(folder / "ct", array, positions=positions, series_description="Gap")
    (folder / "README.txt").write_text("not DICOM")
    window = main_window
    with qtbot.waitSignal(window.scan_loaded, timeout=TIMEOUT_MS):
        window.open_path(folder, auto_load=False)
    stack = window.session.scan.stacks[0]
    assert stack.warnings, "the scan must warn about the missing slice"
    item = window.browser.stack_item(stack.stack_id)
    assert item.text(sb.COL_WARNINGS) == str(len(stack.warnings))
    assert not item.icon(sb.COL_WARNINGS).isNull()
    for warning in stack.warnings:
        assert warning in item.toolTip(sb.COL_WARNINGS)
    # the mark is in sight without scrolling the browser sideways
    browser = window.browser
    left = browser.columnViewportPosition(sb.COL_WARNINGS)
    assert left >= 0 and left + browser.columnWidth(sb.COL_WARNINGS) <= browser.viewport().width()
    assert browser.visualItemRect(item).bottom() <= browser.viewport().height()
    skipped = window.browser.skipped_item
    assert skipped is not None and skipped.text(0).startswith("1 file skipped (")
    assert "README.txt" in skipped.toolTip(0)
    assert window.session.scan.skipped[0].reason in skipped.toolTip(0)
    # once loaded, the volume's own warnings stay marked in the status bar
    assert not window.warnings_label.isVisible()
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        window.load_stack(stack)
    settle(qtbot, window)
    volume = window.session.volume
    assert volume.warnings, "loading a stack with a gap must warn"
    assert window.warnings_label.isVisible()
    for warning in volume.warnings:
        assert warning in window.warnings_label.toolTip()


def test_measurement_result_reaches_the_status_bar(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    window.set_tool("distance")
    axial = window.views.slice_view("axial")
    a = np.array([-10.0, 0.0, 0.0])
    b = np.array([20.0, 0.0, 0.0])
    done = []
    window.views.measurement_done.connect(done.append)
    for point in (a, b):
        x, y = axial.lps_to_display(point)
        qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(round(x), round(y)))
    assert done, "two clicks in distance mode must give a measurement"
    assert done[0]["kind"] == "distance"
    assert done[0]["value"] == pytest.approx(30.0, abs=1.5)
    assert done[0]["text"] in window.statusBar().currentMessage()
    window.set_tool("navigate")


def test_sample_study_opens_like_at_startup(qtbot, main_window):
    from workstation.resources_path import sample_study_dir

    sample = sample_study_dir()
    if not sample.is_dir():
        pytest.skip(f"bundled sample study missing at {sample}")
    volume = open_and_settle(qtbot, main_window, sample)
    assert volume.shape == (134, 512, 512)
    assert volume.units == "HU"
    assert float(volume.array[60, 5:15, 5:15].mean()) == pytest.approx(-1000, abs=60)
    assert main_window.views.volume() is volume
    assert main_window.segmentation_panel.preset_combo.currentData() == "bone"
