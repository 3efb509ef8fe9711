"""Segmentation panel and models panel on the real window: threshold, islands, undo,
create model, export and re-read."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PySide6.QtCore import QPoint, Qt

from tests.gui.conftest import (
    BALL_HU,
    BIG_BALL,
    SMALL_BALL,
    TIMEOUT_MS,
    open_and_settle,
    pixel_at,
    settle,
)
from workstation.gui import models_panel as mp
from workstation.gui.segmentation_panel import LABEL_COLOR, PREVIEW_COLOR
from workstation.processing.threshold import threshold_mask

pytestmark = pytest.mark.gui


def _open_and_threshold(qtbot, window, path):
    """Open ``path`` and apply the threshold 100..500 (both balls); returns the panel."""
    open_and_settle(qtbot, window, path)
    panel = window.segmentation_panel
    panel.set_threshold_range(100.0, 500.0)
    panel.apply_threshold()
    settle(qtbot, window)
    return panel


def _red_pixels(view_3d) -> int:
    """How many pixels of the 3D view are pure red."""
    view_3d.refresh()
    image = view_3d.capture().astype(int)
    return int(((image[..., 0] > 150) & (image[..., 1] < 80) & (image[..., 2] < 80)).sum())


def test_threshold_islands_undo_model_and_export(qtbot, main_window, synthetic_ct, tmp_path):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    panel = window.segmentation_panel
    volume = window.session.volume
    axial = window.views.slice_view("axial")
    big = np.array(BIG_BALL[0]) + np.array([3.0, 3.0, 0.0])  # inside the ball, off the crosshair

    # CT volume: HU presets, bone first; its range contains the balls' 300 HU
    assert panel.preset_combo.currentData() == "bone"
    low, high = panel.threshold_range()
    assert low <= BALL_HU <= high
    grey = pixel_at(axial, big)
    assert grey[0] == grey[1] == grey[2]

    # live preview while the bounds change, coloured in the preview colour
    panel.set_threshold_range(100.0, 500.0)
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)
    assert panel.preview_active()
    tinted = pixel_at(axial, big)
    assert tinted[2] > tinted[0], f"preview must tint blue-ish {PREVIEW_COLOR}, got {tinted}"

    # apply at full resolution: the Session holds the exact threshold
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    label = window.session.label
    expected = threshold_mask(volume.array, 100.0, 500.0)
    assert np.array_equal(label.mask, expected)
    tinted = pixel_at(axial, big)
    assert tinted[0] > tinted[2], f"label overlay must be orange {LABEL_COLOR}, got {tinted}"
    both = label.voxel_count

    # keep the largest island: the small ball goes
    qtbot.mouseClick(panel.largest_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    largest = window.session.label
    small_index = np.round(np.linalg.solve(volume.affine, [*SMALL_BALL[0], 1.0])[:3]).astype(int)
    assert largest.array[tuple(small_index)] == 0
    assert 0 < largest.voxel_count < both
    assert panel.undo_button.isEnabled() and not panel.redo_button.isEnabled()

    # undo / redo with the keyboard shortcuts
    window.activateWindow()
    window.undo_action.trigger()
    assert window.session.label.voxel_count == both
    window.redo_action.trigger()
    assert window.session.label.voxel_count == largest.voxel_count

    # create a model with no decimation; it appears in the table and in 3D
    view_3d = window.views.view_3d()
    view_3d.refresh()
    before = view_3d.capture()
    window.tools_tabs.setCurrentWidget(window.models_panel)
    models = window.models_panel
    models.decimate_spin.setValue(0.0)
    models.smooth_spin.setValue(10)
    qtbot.mouseClick(models.create_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert models.table.rowCount() == 1
    entry = next(iter(window.session.models.values()))
    true_volume = 4.0 / 3.0 * np.pi * BIG_BALL[1] ** 3
    assert entry.statistics["volume_mm3"] == pytest.approx(true_volume, rel=0.08)
    assert models.table.item(0, mp.COL_WATERTIGHT).text() == "yes"
    assert models.table.item(0, mp.COL_TRIANGLES).text() == f"{entry.mesh.n_faces:,}"
    # every column, statistics included, is in sight in the Tools dock without scrolling
    table = models.table
    qtbot.waitUntil(lambda: table.horizontalScrollBar().maximum() == 0, timeout=2000)
    last = table.columnViewportPosition(mp.COL_WATERTIGHT) + table.columnWidth(mp.COL_WATERTIGHT)
    assert last <= table.viewport().width()
    summary = models.summary_label.text()
    assert f"{entry.mesh.n_faces:,} triangles" in summary and "watertight" in summary
    assert f"{entry.statistics['volume_mm3'] / 1000.0:,.2f} ml" in summary
    view_3d.refresh()
    changed = np.abs(view_3d.capture().astype(int) - before.astype(int)).sum(axis=2) > 30
    assert changed.sum() > 300, "the model must be drawn in the 3D view"

    # rename, hide, recolour through the table
    models.table.item(0, mp.COL_NAME).setText("Big ball")
    assert entry.name == "Big ball"
    models.table.item(0, mp.COL_SHOW).setCheckState(Qt.CheckState.Unchecked)
    assert entry.visible is False
    window.views.reset_camera()  # the first model was framed; frame the scan as before
    view_3d.refresh()
    hidden = np.abs(view_3d.capture().astype(int) - before.astype(int)).sum(axis=2) > 30
    assert hidden.sum() < changed.sum() / 10
    models.table.item(0, mp.COL_SHOW).setCheckState(Qt.CheckState.Checked)
    models.table.cellWidget(0, mp.COL_OPACITY).setValue(40)
    assert entry.opacity == pytest.approx(0.4)

    # export in LPS and RAS, re-read with trimesh
    targets = [tmp_path / "big_lps.stl"]
    with qtbot.waitSignal(window.runner.ended, timeout=TIMEOUT_MS):
        models.export_models([entry.model_id], targets, "lps")
    ras_target = tmp_path / "big_ras.ply"
    with qtbot.waitSignal(window.runner.ended, timeout=TIMEOUT_MS):
        models.export_models([entry.model_id], [ras_target], "ras")
    assert models.last_export == [ras_target]
    lps = trimesh.load(targets[0], force="mesh")
    ras = trimesh.load(ras_target, force="mesh")
    assert len(lps.faces) == entry.mesh.n_faces == len(ras.faces)
    assert lps.is_watertight
    assert abs(lps.volume) == pytest.approx(entry.statistics["volume_mm3"], rel=1e-3)
    np.testing.assert_allclose(lps.center_mass, BIG_BALL[0], atol=0.5)
    np.testing.assert_allclose(ras.center_mass, lps.center_mass * [-1, -1, 1], atol=1e-3)


def test_keep_clicked_island_and_morphology(qtbot, main_window, synthetic_ct):
    window = main_window
    panel = _open_and_threshold(qtbot, window, synthetic_ct)
    both = window.session.label.voxel_count
    # pick the small ball in the axial view
    small = np.array(SMALL_BALL[0])
    window.views.set_crosshair_lps([0.0, 0.0, small[2]])
    panel.clicked_button.setChecked(True)
    assert window.views.interaction_mode() == "pick_seed"
    axial = window.views.slice_view("axial")
    x, y = axial.lps_to_display(small)
    qtbot.mouseClick(axial, Qt.MouseButton.LeftButton, pos=QPoint(round(x), round(y)))
    settle(qtbot, window)
    assert window.views.interaction_mode() == "navigate"
    kept = window.session.label
    assert 0 < kept.voxel_count < both / 10
    small_volume = 4.0 / 3.0 * np.pi * SMALL_BALL[1] ** 3
    assert kept.volume_mm3 == pytest.approx(small_volume, rel=0.35)
    # dilate by 2 mm grows it; erode back shrinks it; fill holes keeps a solid ball
    panel.radius_spin.setValue(2.0)
    panel.morph_buttons["dilate"].click()
    settle(qtbot, window)
    dilated = window.session.label.voxel_count
    assert dilated > kept.voxel_count
    panel.morph_buttons["erode"].click()
    settle(qtbot, window)
    assert window.session.label.voxel_count < dilated
    assert window.session.undo_description() == "Erode 2 mm"
    solid = window.session.label.voxel_count
    panel.fill_button.click()
    settle(qtbot, window)
    assert window.session.label.voxel_count == solid  # a solid ball has nothing to fill
    assert window.session.undo_description() == "Fill holes"


def test_histogram_drag_moves_the_bounds(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    panel = window.segmentation_panel
    histogram = panel.histogram
    low, high = histogram.value_range()
    assert low == pytest.approx(-1000) and high == pytest.approx(BALL_HU)
    x_lower = round(histogram.value_to_x(panel.threshold_range()[0]))
    y = histogram.height() // 2
    target = round(histogram.value_to_x(0.0))
    qtbot.mousePress(histogram, Qt.MouseButton.LeftButton, pos=QPoint(x_lower, y))
    qtbot.mouseMove(histogram, QPoint(target, y))
    qtbot.mouseRelease(histogram, Qt.MouseButton.LeftButton, pos=QPoint(target, y))
    lower, _ = panel.threshold_range()
    assert abs(lower - 0.0) < (high - low) / histogram.width() * 2
    assert panel.preset_combo.currentData() == "custom"
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)
    assert panel.preview_active()


def test_model_colour_and_remove_update_table_and_3d(qtbot, main_window, synthetic_ct, monkeypatch):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QColorDialog

    from workstation.core.mesh import Mesh

    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    # an octahedron of radius 10 mm at the volume centre
    vertices = np.array(
        [[10, 0, 0], [-10, 0, 0], [0, 10, 0], [0, -10, 0], [0, 0, 10], [0, 0, -10]], float
    )
    faces = np.array(
        [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]]
    )
    entry = window.session.add_model(Mesh(vertices, faces), {"triangles": 8}, name="Octa")
    models = window.models_panel
    assert models.table.item(0, mp.COL_NAME).text() == "Octa"
    assert models.table.item(0, mp.COL_TRIANGLES).text() == "8"
    view_3d = window.views.view_3d()
    window.slice_outlines_action.setChecked(False)  # the axial outline is red as well
    assert not view_3d.slice_outlines_visible()
    window.views.reset_camera()
    assert _red_pixels(view_3d) == 0
    monkeypatch.setattr(QColorDialog, "getColor", lambda *args, **kwargs: QColor(255, 0, 0))
    models.table.cellWidget(0, mp.COL_COLOUR).click()
    assert entry.color == (1.0, 0.0, 0.0)
    assert _red_pixels(view_3d) > 100, "the recoloured model must be drawn red"
    models.table.selectRow(0)
    assert models.remove_button.isEnabled()
    models.remove_button.click()
    assert models.table.rowCount() == 0 and not window.session.models
    assert _red_pixels(view_3d) == 0


def test_remove_small_islands_and_fill_an_enclosed_cavity(qtbot, main_window, synthetic_ct):
    from workstation.core.volume import LabelMap

    window = main_window
    panel = _open_and_threshold(qtbot, window, synthetic_ct)
    both = window.session.label
    big_mm3 = 4.0 / 3.0 * np.pi * BIG_BALL[1] ** 3
    small_mm3 = 4.0 / 3.0 * np.pi * SMALL_BALL[1] ** 3
    assert both.volume_mm3 == pytest.approx(big_mm3 + small_mm3, rel=0.1)
    # islands under 1000 mm3 go: the small ball (about 270 mm3) but not the big one
    panel.small_spin.setValue(1000.0)
    panel.small_button.click()
    settle(qtbot, window)
    big_only = window.session.label
    assert big_only.volume_mm3 == pytest.approx(both.volume_mm3 - small_mm3, rel=0.05)
    assert window.session.undo_description() == "Remove islands < 1000 mm³"
    # carve a closed cavity into the big ball; Fill holes gives the solid ball back
    hollow = big_only.array.copy()
    centre = np.argwhere(hollow).mean(axis=0).round().astype(int)
    s, r, c = centre
    hollow[s - 1 : s + 2, r - 3 : r + 4, c - 3 : c + 4] = 0
    carved = int(big_only.array.sum() - hollow.sum())
    assert carved == 3 * 7 * 7
    window.session.set_label(LabelMap(hollow, big_only.affine), "Carve")
    panel.fill_button.click()
    settle(qtbot, window)
    filled = window.session.label
    assert filled.voxel_count == big_only.voxel_count
    assert np.array_equal(filled.array.astype(bool), big_only.array.astype(bool))
    # undo brings the cavity back exactly
    window.session.undo()
    assert window.session.label.voxel_count == big_only.voxel_count - carved
