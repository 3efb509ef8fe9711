"""Segmentation and models panels in the real window: preset → preview → Apply makes a
segment of exactly the threshold voxels, islands and morphology buttons, quick edits in
order, undo from the Edit menu, create model, export and re-read, and the bytes of
``workstation mesh``."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import trimesh
from PySide6.QtCore import Qt, QTimer

from tests.gui.conftest import (
    BIG_BALL,
    SMALL_BALL,
    TIMEOUT_MS,
    open_and_settle,
    pixel_at,
    settle,
)
from tests.gui.test_panels_models import export_through_dialog, rename_model
from tests.gui.test_panels_segmentation import choose
from tests.support.cli import run_workstation
from workstation.core.operations import operations_document
from workstation.core.volume import LabelMap
from workstation.gui import models_panel as mp
from workstation.gui.segmentation_panel import PREVIEW_COLOR
from workstation.processing import islands, morphology
from workstation.processing.threshold import threshold_mask
from workstation.resources_path import sample_study_dir
from workstation.services.modeling import ModelOptions, segment_model_options

pytestmark = pytest.mark.gui

#: inside the big ball, off the crosshair lines
INSIDE_BIG = np.array(BIG_BALL[0]) + np.array([3.0, 3.0, 0.0])


def _selected(window):
    """The segment selected in the window."""
    return window.session.editor.segmentation.by_id(window.viewer.selected_segment)


def _label(volume, mask) -> LabelMap:
    return LabelMap(mask.view(np.uint8), volume.affine.copy())


def _apply(qtbot, window, bounds=None):
    """Type bounds (or keep the preset) and click Apply threshold; returns the segment."""
    panel = window.segmentation_panel
    window.tools_tabs.setCurrentWidget(panel)
    if bounds is not None:
        panel.set_threshold_range(*bounds)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    return _selected(window)


def test_preset_preview_apply_and_undo_in_the_window(qtbot, main_window, synthetic_ct):
    window = main_window
    volume = open_and_settle(qtbot, window, synthetic_ct)
    panel = window.segmentation_panel
    window.tools_tabs.setCurrentWidget(panel)
    axial = window.views.slice_view("axial")
    grey = pixel_at(axial, INSIDE_BIG)
    assert grey[0] == grey[1] == grey[2], "the image alone after opening"

    # choosing the bone preset shows its live preview at once
    choose(qtbot, panel.preset_combo, "bone")
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=TIMEOUT_MS)

    def blue_ish() -> bool:
        tinted = pixel_at(axial, INSIDE_BIG)
        return tinted[2] > tinted[0] + 30

    qtbot.waitUntil(blue_ish, timeout=2000)  # the preview tints in PREVIEW_COLOR
    assert panel.preview_active() and PREVIEW_COLOR[2] > PREVIEW_COLOR[0]

    # Apply makes the segment "Bone (CT)" of exactly the threshold voxels, and selects it
    segment = _apply(qtbot, window)
    assert segment.name == "Bone (CT)"
    assert np.array_equal(segment.mask, threshold_mask(volume.array, 226.0, 3071.0))
    assert not panel.preview_active()
    assert window.undo_action.isEnabled()
    assert window.undo_action.text() == "&Undo Threshold Bone (CT) 226 to 3071"

    # Edit → Undo takes the threshold back, then the segment; Redo brings both back
    window.undo_action.trigger()
    assert _selected(window).empty
    window.undo_action.trigger()
    assert window.session.editor.segmentation.names == []
    window.redo_action.trigger()
    window.redo_action.trigger()
    assert np.array_equal(
        window.session.editor.segmentation.by_name("Bone (CT)").mask,
        threshold_mask(volume.array, 226.0, 3071.0),
    )
    assert not window.errors


def test_islands_and_morphology_buttons_in_the_window(qtbot, main_window, synthetic_ct):
    window = main_window
    volume = open_and_settle(qtbot, window, synthetic_ct)
    panel = window.segmentation_panel
    both = _label(volume, _apply(qtbot, window, (100.0, 500.0)).mask.copy())
    big_mm3 = 4.0 / 3.0 * np.pi * BIG_BALL[1] ** 3
    small_mm3 = 4.0 / 3.0 * np.pi * SMALL_BALL[1] ** 3
    assert both.volume_mm3 == pytest.approx(big_mm3 + small_mm3, rel=0.1)

    panel.small_spin.setValue(1000.0)
    qtbot.mouseClick(panel.small_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    big_only = islands.remove_small(both, 1000.0).array.astype(bool)
    assert np.array_equal(_selected(window).mask, big_only)
    assert window.undo_action.text() == "&Undo Remove small islands of Threshold"
    window.undo_action.trigger()

    qtbot.mouseClick(panel.largest_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert np.array_equal(_selected(window).mask, big_only)

    panel.radius_spin.setValue(2.0)
    qtbot.mouseClick(panel.morph_buttons["dilate"], Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    dilated = morphology.dilate(_label(volume, big_only), 2.0)
    assert np.array_equal(_selected(window).mask, dilated.array.astype(bool))
    qtbot.mouseClick(panel.morph_buttons["erode"], Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    eroded = morphology.erode(dilated, 2.0).array.astype(bool)
    assert np.array_equal(_selected(window).mask, eroded)
    assert window.undo_action.text() == "&Undo Erode Threshold 2 mm"
    qtbot.mouseClick(panel.fill_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert np.array_equal(_selected(window).mask, eroded)  # a solid ball has nothing to fill
    assert not window.errors


def test_two_quick_edits_both_land(qtbot, main_window, synthetic_ct):
    window = main_window
    volume = open_and_settle(qtbot, window, synthetic_ct)
    panel = window.segmentation_panel
    panel.set_threshold_range(100.0, 500.0)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.largest_button, Qt.MouseButton.LeftButton)  # before Apply is done
    settle(qtbot, window)
    expected = islands.keep_largest(_label(volume, threshold_mask(volume.array, 100.0, 500.0)))
    assert np.array_equal(_selected(window).mask, expected.array.astype(bool))
    ops = [record["op"] for record in window.session.editor.operations]
    assert ops == ["add_segment", "threshold", "islands"]
    assert not window.errors


def test_create_model_export_and_reread(qtbot, main_window, synthetic_ct, tmp_path):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    _apply(qtbot, window, (100.0, 500.0))
    qtbot.mouseClick(window.segmentation_panel.largest_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
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
    assert entry.segment_id == window.viewer.selected_segment
    true_volume = 4.0 / 3.0 * np.pi * BIG_BALL[1] ** 3
    assert entry.statistics["volume_mm3"] == pytest.approx(true_volume, rel=0.08)
    assert models.table.item(0, mp.COL_WATERTIGHT).text() == "yes"
    # every column, statistics included, is in sight in the Tools dock without scrolling
    table = models.table
    qtbot.waitUntil(lambda: table.horizontalScrollBar().maximum() == 0, timeout=2000)
    last = table.columnViewportPosition(mp.COL_WATERTIGHT) + table.columnWidth(mp.COL_WATERTIGHT)
    assert last <= table.viewport().width()
    view_3d.refresh()
    changed = np.abs(view_3d.capture().astype(int) - before.astype(int)).sum(axis=2) > 30
    assert changed.sum() > 300, "the model must be drawn in the 3D view"

    # File → Export all models… names the file after the model
    def fill() -> None:
        dialog = models.export_dialog
        if dialog is None:
            QTimer.singleShot(20, fill)
            return
        dialog.path_edit.setText(str(tmp_path / "Threshold.stl"))
        dialog.accept()

    QTimer.singleShot(0, fill)
    with qtbot.waitSignal(window.runner.ended, timeout=TIMEOUT_MS):
        models.export_all()
    written = tmp_path / "Threshold.stl"
    assert models.last_export == [written]
    mesh = trimesh.load(written, force="mesh")
    assert len(mesh.faces) == entry.mesh.n_faces and mesh.is_watertight
    assert abs(mesh.volume) == pytest.approx(entry.statistics["volume_mm3"], rel=1e-3)
    np.testing.assert_allclose(mesh.center_mass, BIG_BALL[0], atol=0.5)


def test_model_colour_and_remove_update_table_and_3d(qtbot, main_window, synthetic_ct, monkeypatch):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QColorDialog

    from workstation.core.mesh import Mesh

    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
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
    monkeypatch.setattr(QColorDialog, "getColor", lambda *args, **kwargs: QColor(255, 0, 0))
    models.table.cellWidget(0, mp.COL_COLOUR).click()
    assert entry.color == (1.0, 0.0, 0.0)
    models.table.selectRow(0)
    assert models.remove_button.isEnabled()
    models.remove_button.click()
    assert models.table.rowCount() == 0 and not window.session.models


def _cli_mesh(*args: str) -> None:
    """``workstation mesh`` on the sample study, in its own process."""
    result = run_workstation("mesh", str(sample_study_dir()), *args, timeout=300)
    assert result.returncode == 0, result.stderr


def _model_and_export(qtbot, window, path) -> None:
    """Create model (the panel's default options), rename it "Bone", export it as STL."""
    models = window.models_panel
    window.tools_tabs.setCurrentWidget(models)
    qtbot.mouseClick(models.create_button, Qt.MouseButton.LeftButton)
    settle(qtbot, window)
    assert models.table.rowCount() == 1
    rename_model(qtbot, models, 0, "Bone")
    path.parent.mkdir()
    export_through_dialog(qtbot, models, window.runner, path)
    assert models.last_export == [path]
    assert not window.errors, [error.message for error in window.errors]


@pytest.mark.slow
def test_window_bone_model_is_byte_identical_to_workstation_mesh(qtbot, main_window, tmp_path):
    """Sample study: bone preset, Apply, Create model, export STL; ``mesh --preset bone``."""
    window = main_window
    open_and_settle(qtbot, window, sample_study_dir())
    panel = window.segmentation_panel
    window.tools_tabs.setCurrentWidget(panel)
    choose(qtbot, panel.preset_combo, "bone")
    segment = _apply(qtbot, window)
    assert segment.threshold_range == (226.0, 3071.0)
    _model_and_export(qtbot, window, tmp_path / "gui" / "Bone.stl")
    (entry,) = window.session.models.values()
    assert entry.parameters == asdict(segment_model_options(segment, ModelOptions()))
    (tmp_path / "cli").mkdir()
    _cli_mesh("--preset", "bone", "-o", str(tmp_path / "cli" / "Bone.stl"))
    gui = (tmp_path / "gui" / "Bone.stl").read_bytes()
    assert gui[:80].rstrip() == b"SPACE=LPS UNITS=mm Bone"
    assert gui == (tmp_path / "cli" / "Bone.stl").read_bytes()


@pytest.mark.slow
def test_window_edited_segment_model_is_byte_identical_to_mesh_ops(qtbot, main_window, tmp_path):
    """Threshold then an erase, Create model, export STL; OPS.json through ``mesh --ops``."""
    window = main_window
    volume = open_and_settle(qtbot, window, sample_study_dir())
    panel = window.segmentation_panel
    window.tools_tabs.setCurrentWidget(panel)
    choose(qtbot, panel.preset_combo, "bone")
    segment = _apply(qtbot, window)
    # erase a 6 mm ball around a bone voxel: the record the erase tool's stroke makes
    voxel = np.argwhere(segment.mask)[segment.voxel_count // 2].astype(float)
    point = (volume.affine @ np.append(voxel, 1.0))[:3].tolist()
    erase = {"op": "paint", "segment": segment.name, "points_lps": [point], "radius_mm": 6.0}
    window.edits.submit({**erase, "erase": True})
    settle(qtbot, window)
    assert segment.threshold_range is None and segment.voxel_count > 0
    _model_and_export(qtbot, window, tmp_path / "gui" / "Bone.stl")
    ops = tmp_path / "OPS.json"
    ops.write_text(json.dumps(operations_document(window.session.editor.operations)))
    (tmp_path / "cli").mkdir()
    _cli_mesh(
        "--ops", str(ops), "--segment", segment.name, "-o", str(tmp_path / "cli" / "Bone.stl")
    )
    assert (tmp_path / "gui" / "Bone.stl").read_bytes() == (
        tmp_path / "cli" / "Bone.stl"
    ).read_bytes()
