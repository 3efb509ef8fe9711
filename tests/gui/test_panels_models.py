"""The models panel on its own context: the selected segment's model, the table, export, and
the same file bytes as ``workstation mesh`` for the same study and parameters."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest
import trimesh
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialogButtonBox, QLineEdit

from tests.gui.conftest import BIG_BALL, TIMEOUT_MS
from tests.gui.test_panels_segmentation import choose, open_panels
from workstation.gui import models_panel as mp
from workstation.gui.model_jobs import model_options, start_segment_model
from workstation.io.writers import formats
from workstation.services.modeling import ModelOptions, segment_model_options

pytestmark = pytest.mark.gui


@pytest.fixture
def panels(qapp, qtbot, tmp_path, no_dangling_workers):
    """The segmentation and models panels on a fresh session for one test."""
    with open_panels(qapp, qtbot, tmp_path) as host:
        yield host


def _threshold(panels, preset: str | None = "bone", bounds=None):
    """Choose a preset (or type bounds) and click Apply threshold; returns the new segment."""
    panel = panels.segmentation
    if bounds is None:
        choose(panels.qtbot, panel.preset_combo, preset)
    else:
        panel.set_threshold_range(*bounds)
    panels.qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    panels.settle()
    return panels.selected()


def _create_model(panels):
    """Click Create model in the Models tab; returns the new model entry."""
    panels.tabs.setCurrentWidget(panels.models)
    before = set(panels.session.models)
    panels.qtbot.mouseClick(panels.models.create_button, Qt.MouseButton.LeftButton)
    panels.settle()
    assert not panels.errors, [error.message for error in panels.errors]
    (model_id,) = set(panels.session.models) - before
    return panels.session.models[model_id]


def rename_model(qtbot, models, row: int, name: str) -> None:
    """Type a new model name into the table, as a user does (double-click, type, Enter)."""
    table = models.table
    rect = table.visualItemRect(table.item(row, mp.COL_NAME))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    def line_edit():
        visible = [edit for edit in table.findChildren(QLineEdit) if edit.isVisible()]
        return visible[0] if visible else None

    qtbot.waitUntil(lambda: line_edit() is not None, timeout=2000)
    editor = line_edit()
    editor.selectAll()
    qtbot.keyClicks(editor, name)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: table.item(row, mp.COL_NAME).text() == name, timeout=2000)


def export_through_dialog(
    qtbot, models, runner, path, extension: str = ".stl", coords: str = "lps"
) -> list[str]:
    """Click Export selected…, fill in the dialog and click Save; returns the formats listed."""
    seen: list[str] = []

    def fill() -> None:
        dialog = models.export_dialog
        if dialog is None:
            QTimer.singleShot(20, fill)
            return
        seen.extend(dialog.format_combo.itemData(i) for i in range(dialog.format_combo.count()))
        dialog.set_format(extension)
        dialog.coords_combo.setCurrentIndex(dialog.coords_combo.findData(coords))
        dialog.path_edit.setText(str(path))
        buttons = dialog.findChild(QDialogButtonBox)
        buttons.button(QDialogButtonBox.StandardButton.Save).click()

    QTimer.singleShot(0, fill)
    with qtbot.waitSignal(runner.ended, timeout=TIMEOUT_MS):
        qtbot.mouseClick(models.export_selected_button, Qt.MouseButton.LeftButton)
    return seen


def test_create_model_asks_for_a_segment_then_builds_the_selected_one(panels, synthetic_ct):
    panels.load(synthetic_ct)
    panels.settle()  # the threshold tool's live preview of the loaded volume
    models = panels.models
    assert models.segment_label.text() == "none selected"
    assert models.create_model() is None
    assert panels.messages[-1].startswith("Select a segment first")
    assert not panels.runner.jobs

    segment = _threshold(panels, bounds=(100.0, 500.0))
    panels.segmentation.largest_button.click()
    panels.settle()
    assert models.segment_label.text() == "Threshold"
    models.smooth_spin.setValue(10)
    models.decimate_spin.setValue(0.0)
    entry = _create_model(panels)
    assert entry.name == entry.mesh.name == "Threshold"
    assert entry.segment_id == segment.segment_id
    assert entry.color == segment.color
    chosen = ModelOptions(smooth_iterations=10, decimate_fraction=0.0)
    assert entry.parameters == asdict(segment_model_options(panels.selected(), chosen))
    assert entry.parameters["lower"] is None, "an edited segment is modelled from its voxels"
    true_volume = 4.0 / 3.0 * np.pi * BIG_BALL[1] ** 3
    assert entry.statistics["volume_mm3"] == pytest.approx(true_volume, rel=0.08)
    assert models.table.rowCount() == 1
    assert models.table.item(0, mp.COL_NAME).text() == "Threshold"
    assert models.table.item(0, mp.COL_WATERTIGHT).text() == "yes"
    assert models.table.item(0, mp.COL_TRIANGLES).text() == f"{entry.mesh.n_faces:,}"
    assert f"{entry.mesh.n_faces:,} triangles" in models.summary_label.text()


def test_a_model_job_works_on_the_segment_as_it_was_clicked(panels, synthetic_ct):
    panels.load(synthetic_ct)
    segment = _threshold(panels, bounds=(100.0, 500.0))
    voxels = segment.voxel_count
    job = start_segment_model(panels.context, segment.segment_id, model_options(0, 0.0))
    panels.segmentation.largest_button.click()  # lands while the model may still build
    panels.settle()
    assert job.done and panels.selected().voxel_count < voxels
    (entry,) = panels.session.models.values()
    # the model is of the segment at the click: both balls, from the threshold range
    assert entry.parameters["lower"] == 100.0 and entry.parameters["upper"] == 500.0
    assert entry.statistics["components"] == 2


def test_create_model_right_after_apply_waits_for_the_edits(panels, synthetic_ct):
    panels.load(synthetic_ct)
    panels.segmentation.set_threshold_range(100.0, 500.0)
    panels.segmentation.apply_button.click()
    panels.segmentation.largest_button.click()
    assert panels.models.create_model() is None  # the segment does not exist yet
    panels.settle()
    panels.qtbot.waitUntil(lambda: bool(panels.session.models), timeout=TIMEOUT_MS)
    panels.settle()
    (entry,) = panels.session.models.values()
    assert entry.segment_id == panels.viewer.selected_segment
    assert entry.statistics["components"] == 1, "the model of the largest island only"
    assert not panels.errors


def test_empty_segment_and_unknown_segment_make_no_job(panels, synthetic_ct):
    panels.load(synthetic_ct)
    panels.edits.submit({"op": "add_segment", "name": "Empty"})
    panels.settle()
    (segment,) = panels.editor.segmentation.segments
    assert start_segment_model(panels.context, segment.segment_id) is None
    assert panels.messages[-1] == "Segment Empty is empty: paint or threshold it first."
    assert start_segment_model(panels.context, "segment-404") is None
    assert not panels.runner.jobs and not panels.session.models


def test_export_dialog_lists_the_registered_formats_and_writes_lps_and_ras(
    panels, synthetic_ct, tmp_path
):
    panels.load(synthetic_ct)
    _threshold(panels, bounds=(100.0, 500.0))
    panels.segmentation.largest_button.click()
    panels.settle()
    entry = _create_model(panels)
    rename_model(panels.qtbot, panels.models, 0, "Big ball")
    assert entry.name == "Big ball"
    seen = export_through_dialog(
        panels.qtbot, panels.models, panels.runner, tmp_path / "Big ball.stl"
    )
    assert seen == [extension for extension, _ in formats("mesh")]
    written = tmp_path / "Big ball.stl"
    assert panels.models.last_export == [written]
    assert written.read_bytes()[:80].rstrip() == b"SPACE=LPS UNITS=mm Big ball"
    export_through_dialog(
        panels.qtbot, panels.models, panels.runner, tmp_path / "big_ras.stl", ".ply", "ras"
    )
    assert not panels.errors
    ras_path = tmp_path / "big_ras.ply"
    assert panels.models.last_export == [ras_path]
    lps = trimesh.load(written, force="mesh")
    ras = trimesh.load(ras_path, force="mesh")
    assert len(lps.faces) == entry.mesh.n_faces == len(ras.faces)
    assert lps.is_watertight
    assert abs(lps.volume) == pytest.approx(entry.statistics["volume_mm3"], rel=1e-3)
    np.testing.assert_allclose(lps.center_mass, BIG_BALL[0], atol=0.5)
    np.testing.assert_allclose(ras.center_mass, lps.center_mass * [-1, -1, 1], atol=1e-3)


def test_export_all_names_each_file_after_its_model(panels, synthetic_ct, tmp_path):
    panels.load(synthetic_ct)
    _threshold(panels, bounds=(100.0, 500.0))
    models = panels.models
    models.smooth_spin.setValue(0)
    first = _create_model(panels)
    second = _create_model(panels)
    assert first.name == second.name == "Threshold"
    targets = [tmp_path / "Threshold.obj", tmp_path / "Threshold_2.obj"]

    def fill() -> None:
        dialog = models.export_dialog
        if dialog is None:
            QTimer.singleShot(20, fill)
            return
        dialog.set_format(".obj")
        dialog.path_edit.setText(str(tmp_path))
        assert dialog.targets() == targets
        dialog.accept()

    QTimer.singleShot(0, fill)
    with panels.qtbot.waitSignal(panels.runner.ended, timeout=TIMEOUT_MS):
        models.export_all_button.click()
    assert models.last_export == targets
    assert all(path.read_text().startswith("# Threshold\n") for path in targets)
