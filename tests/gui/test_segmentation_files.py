"""File → Import/Export segmentation… through the real window, its menu and its edit queue."""

from __future__ import annotations

import json
from dataclasses import replace

import nibabel
import numpy as np
import pytest
from PySide6.QtWidgets import QMenu

from tests.gui.conftest import TIMEOUT_MS, settle
from tests.gui.test_tools_support import AXIAL, SHAPE, editing_window, volume_on
from workstation.core import geometry
from workstation.core.provenance import SeriesIdentity
from workstation.core.volume import SourceInfo
from workstation.gui.segmentation_files import (
    default_export_name,
    import_filter,
    install_segmentation_file_actions,
)
from workstation.io.segmentation_nifti_read import SWAP_I_K
from workstation.io.segmentation_nrrd_read import read_segmentation_nrrd

pytestmark = pytest.mark.gui


def _coarse_nifti(path, shift_mm=0.0):
    """Labels 1 and 2 on a grid twice as coarse as the volume's, LPS-placed like it."""
    coarse = AXIAL.copy()
    coarse[:3, :3] *= 2.0
    coarse[:3, 3] += (shift_mm, 0.0, 0.0)
    labels = np.zeros((SHAPE[0] // 2, SHAPE[1] // 2, SHAPE[2] // 2), dtype=np.uint8)
    labels[5:12, 6:15, 8:20] = 1
    labels[2:5, 2:6, 2:6] = 2
    ras = geometry.LPS_TO_RAS @ coarse @ SWAP_I_K
    image = nibabel.Nifti1Image(labels.transpose(2, 1, 0), ras)
    image.set_sform(ras, code=1)
    nibabel.save(image, str(path))
    return path


def _window(make_main_window, qtbot):
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL), ("Segment 1",))
    menu = QMenu("File", window)
    files = install_segmentation_file_actions(menu, window.context)
    return window, menu, files


def test_the_menu_gets_both_actions_enabled_with_a_volume(make_main_window, qtbot):
    window = make_main_window()
    menu = QMenu("File", window)
    files = install_segmentation_file_actions(menu, window.context)
    assert [action.text() for action in menu.actions()] == [
        "Import segmentation…",
        "Export segmentation…",
    ]
    assert not files.import_action.isEnabled() and not files.export_action.isEnabled()
    window.session.set_volume(volume_on(AXIAL))
    assert files.import_action.isEnabled() and files.export_action.isEnabled()
    assert "*.seg.nrrd" in import_filter() and "*.nii.gz" in import_filter()


def test_import_from_the_menu_adds_named_segments_in_one_undo_step(
    make_main_window, qtbot, tmp_path
):
    window, _, files = _window(make_main_window, qtbot)
    path = _coarse_nifti(tmp_path / "auto.nii.gz")
    table = tmp_path / "names.json"
    table.write_text(json.dumps({"1": "Liver", "2": "Spleen"}))
    files.choose_import_path = lambda: str(path)
    files.choose_label_table = lambda: str(table)
    files.import_action.trigger()
    settle(qtbot, window)
    editor = window.session.editor
    assert editor.segmentation.names == ["Segment 1", "Liver", "Spleen"]
    assert not window.errors
    message = window.statusBar().currentMessage()
    assert "resampled from" in message and "(nearest neighbour)" in message
    assert "Imported 2 segment(s) from auto.nii.gz" in message
    liver = editor.segmentation.by_name("Liver")
    assert liver.mask[9:23, 11:29, 15:39].all()  # coarse voxel n covers fine 2n-1 and 2n
    assert np.count_nonzero(liver.mask) == 7 * 9 * 12 * 8
    assert editor.operations[-1]["op"] == "import_segmentation"
    window.undo()
    assert editor.segmentation.names == ["Segment 1"]


def test_import_with_a_path_and_no_table(make_main_window, qtbot, tmp_path):
    window, _, files = _window(make_main_window, qtbot)
    files.choose_label_table = lambda: pytest.fail("no dialog when the path is given")
    files.import_segmentation(str(_coarse_nifti(tmp_path / "labels.nii")))
    settle(qtbot, window)
    assert window.session.editor.segmentation.names == ["Segment 1", "Label 1", "Label 2"]


def test_a_file_beside_the_volume_is_refused_with_its_message(make_main_window, qtbot, tmp_path):
    window, _, files = _window(make_main_window, qtbot)
    path = _coarse_nifti(tmp_path / "far.nii.gz", shift_mm=900.0)
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS) as blocker:
        files.import_segmentation(str(path))
    settle(qtbot, window)
    assert "far.nii.gz does not overlap the volume" in blocker.args[0].message
    assert window.session.editor.segmentation.names == ["Segment 1"]
    if window.last_error_dialog is not None:
        window.last_error_dialog.close()


def test_export_writes_a_seg_nrrd_that_reads_back(make_main_window, qtbot, tmp_path):
    window, _, files = _window(make_main_window, qtbot)
    files.import_segmentation(str(_coarse_nifti(tmp_path / "labels.nii")))
    settle(qtbot, window)
    target = tmp_path / "out.seg.nrrd"
    files.choose_export_path = lambda: str(target)
    files.export_action.trigger()
    settle(qtbot, window)
    assert files.last_export == target
    assert window.statusBar().currentMessage() == f"Saved the segmentation to {target}"
    back = read_segmentation_nrrd(target).to_segmentation()
    editor = window.session.editor
    assert back.same_grid(editor.segmentation)
    for ours, read in zip(editor.segmentation, back, strict=True):
        assert (read.name, read.color) == (ours.name, ours.color)
        np.testing.assert_array_equal(read.mask, ours.mask)


def test_export_to_an_unknown_format_is_refused_before_any_job(make_main_window, qtbot, tmp_path):
    window, _, files = _window(make_main_window, qtbot)
    assert files.export_segmentation(str(tmp_path / "labels.mha")) is None
    assert "unknown segmentation format" in window.errors[-1].message
    assert not (tmp_path / "labels.mha").exists()
    if window.last_error_dialog is not None:
        window.last_error_dialog.close()


def test_the_default_export_name_is_the_series(make_main_window, qtbot):
    window, _, _ = _window(make_main_window, qtbot)
    assert default_export_name(window.context) == "segmentation.seg.nrrd"
    identity = SeriesIdentity(series_description="CT Head 1.0 H70s")
    volume = replace(volume_on(AXIAL), source=SourceInfo(identity=identity))
    window.session.set_volume(volume)
    assert default_export_name(window.context) == "CT_Head_1.0_H70s.seg.nrrd"
