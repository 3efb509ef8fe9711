"""File → Import/Export segmentation… through the real window, its menu and its edit queue.

A file with several structures offers the structure chooser; the tests replace it (it
records what it was offered) or drive the real dialog: filter, All/None, the memory line.
"""

from __future__ import annotations

import json
from dataclasses import replace

import nibabel
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMenu

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
from workstation.gui.structure_chooser import OVER_LIMIT_STYLE, StructureChooser
from workstation.io.segmentation_nifti_read import SWAP_I_K
from workstation.io.segmentation_nrrd_read import read_segmentation_nrrd
from workstation.services.segmentation_import import StructureInfo

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


def _window(make_main_window, qtbot, answer=None):
    """The window and its file actions; the chooser records what it is offered.

    ``answer(structures)`` gives the chooser's result (default: every name, as OK with all
    ticked does).
    """
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL), ("Segment 1",))
    menu = QMenu("File", window)
    files = install_segmentation_file_actions(menu, window.context)
    files.offered = []

    def choose(structures):
        files.offered.append(structures)
        return [s.name for s in structures] if answer is None else answer(structures)

    files.choose_structures = choose
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


# -- choosing structures -----------------------------------------------------------------------
ORGANS = {1: "Liver", 2: "Spleen", 3: "Vertebra L1", 4: "Vertebra L2"}


def _four_labels(tmp_path):
    """A NIfTI on the volume's grid with labels 1-4 (sizes differ) and a table naming them."""
    labels = np.zeros(SHAPE, dtype=np.uint8)
    labels[2:10, 5:20, 5:30] = 1
    labels[12:15, 5:9, 5:40] = 2
    labels[20:30, 30:33, 10:12] = 3
    labels[31:38, 30:34, 10:20] = 4
    ras = geometry.LPS_TO_RAS @ AXIAL @ SWAP_I_K
    image = nibabel.Nifti1Image(labels.transpose(2, 1, 0), ras)
    image.set_sform(ras, code=1)
    path = tmp_path / "total.nii.gz"
    nibabel.save(image, str(path))
    table = tmp_path / "names.json"
    table.write_text(json.dumps({str(value): name for value, name in ORGANS.items()}))
    return labels, path, table


def test_the_chooser_is_offered_every_structure_with_its_voxels(make_main_window, qtbot, tmp_path):
    labels, path, table = _four_labels(tmp_path)
    window, _, files = _window(make_main_window, qtbot)
    files.import_segmentation(str(path), str(table))
    settle(qtbot, window)
    (offered,) = files.offered
    assert [s.name for s in offered] == list(ORGANS.values())
    assert [s.voxels for s in offered] == [int(np.count_nonzero(labels == v)) for v in ORGANS]
    assert window.session.editor.segmentation.names == ["Segment 1", *ORGANS.values()]
    assert window.session.editor.operations[-1]["names"] is None  # all ticked: no list


def test_two_chosen_structures_import_in_one_undo_step(make_main_window, qtbot, tmp_path):
    labels, path, table = _four_labels(tmp_path)
    window, _, files = _window(
        make_main_window, qtbot, answer=lambda structures: ["Spleen", "Vertebra L2"]
    )
    files.import_segmentation(str(path), str(table))
    settle(qtbot, window)
    editor = window.session.editor
    assert not window.errors
    assert editor.segmentation.names == ["Segment 1", "Spleen", "Vertebra L2"]
    np.testing.assert_array_equal(editor.segmentation.by_name("Spleen").mask, labels == 2)
    np.testing.assert_array_equal(editor.segmentation.by_name("Vertebra L2").mask, labels == 4)
    assert editor.operations[-1]["names"] == ["Spleen", "Vertebra L2"]
    assert "Imported 2 segment(s) from total.nii.gz" in window.statusBar().currentMessage()
    window.undo()
    assert editor.segmentation.names == ["Segment 1"]


def test_cancelling_the_chooser_imports_nothing(make_main_window, qtbot, tmp_path):
    _, path, table = _four_labels(tmp_path)
    window, _, files = _window(make_main_window, qtbot, answer=lambda structures: None)
    files.import_segmentation(str(path), str(table))
    settle(qtbot, window)
    editor = window.session.editor
    assert len(files.offered) == 1
    assert editor.segmentation.names == ["Segment 1"]
    assert [r["op"] for r in editor.operations] == ["add_segment"]
    assert window.statusBar().currentMessage() == "Import of total.nii.gz cancelled"


def test_one_structure_or_given_names_skip_the_chooser(make_main_window, qtbot, tmp_path):
    labels, path, table = _four_labels(tmp_path)
    window, _, files = _window(
        make_main_window, qtbot, answer=lambda s: pytest.fail("no chooser expected")
    )
    files.import_segmentation(str(path), str(table), names=["Vertebra L1", "Liver"])
    settle(qtbot, window)
    editor = window.session.editor
    assert editor.segmentation.names == ["Segment 1", "Vertebra L1", "Liver"]
    np.testing.assert_array_equal(editor.segmentation.by_name("Vertebra L1").mask, labels == 3)
    single = np.where(labels == 1, 1, 0).astype(np.uint8)
    ras = geometry.LPS_TO_RAS @ AXIAL @ SWAP_I_K
    image = nibabel.Nifti1Image(single.transpose(2, 1, 0), ras)
    image.set_sform(ras, code=1)
    nibabel.save(image, str(tmp_path / "one.nii"))
    files.import_segmentation(str(tmp_path / "one.nii"))
    settle(qtbot, window)
    assert editor.segmentation.names[-1] == "Label 1" and not files.offered


def test_the_default_chooser_is_the_dialog(make_main_window, qtbot, tmp_path, monkeypatch):
    labels, path, table = _four_labels(tmp_path)
    window = editing_window(make_main_window, qtbot, volume_on(AXIAL), ("Segment 1",))
    files = install_segmentation_file_actions(QMenu("File", window), window.context)
    seen = []

    def answer(dialog):  # what a user does in the modal dialog
        seen.append((dialog.volume_voxels, [s.name for s in dialog.structures]))
        dialog.none_button.click()
        dialog.set_ticked("Liver")
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(StructureChooser, "exec", answer)
    files.import_segmentation(str(path), str(table))
    settle(qtbot, window)
    assert seen == [(int(np.prod(SHAPE)), list(ORGANS.values()))]
    assert window.session.editor.segmentation.names == ["Segment 1", "Liver"]
    np.testing.assert_array_equal(
        window.session.editor.segmentation.by_name("Liver").mask, labels == 1
    )


def _structures(count=117):
    names = [f"vertebrae_L{n}" if n < 6 else f"organ_{n:03d}" for n in range(1, count + 1)]
    return [StructureInfo(name, n, 0, 10 * n) for n, name in enumerate(names, start=1)]


def test_the_dialog_filters_ticks_and_returns_the_chosen_name(qtbot):
    dialog = StructureChooser(_structures(), 1_000_000)
    qtbot.addWidget(dialog)
    dialog.show()
    assert len(dialog.chosen_names()) == 117
    assert dialog.items()[2].text() == "vertebrae_L3  (30 voxels)"
    qtbot.keyClicks(dialog.filter_edit, "VERTEBRAE_l")
    assert dialog.visible_names() == [f"vertebrae_L{n}" for n in range(1, 6)]
    qtbot.mouseClick(dialog.none_button, Qt.MouseButton.LeftButton)
    assert dialog.chosen_names() == []
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled()  # nothing ticked: nothing to import
    item = next(i for i in dialog.items() if i.text().startswith("vertebrae_L4"))
    assert not item.isHidden()
    item.setCheckState(Qt.CheckState.Checked)
    assert ok.isEnabled()
    qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.chosen_names() == ["vertebrae_L4"]
    dialog.filter_edit.clear()
    assert len(dialog.visible_names()) == 117
    qtbot.mouseClick(dialog.all_button, Qt.MouseButton.LeftButton)
    assert dialog.chosen_names() == [s.name for s in _structures()]


def test_the_memory_line_turns_orange_over_the_limit(qtbot, monkeypatch):
    voxels = 512 * 512 * 400
    monkeypatch.setenv("WORKSTATION_MEMORY_LIMIT", str(voxels * 10))  # 10 masks fit
    dialog = StructureChooser(_structures(), voxels)
    qtbot.addWidget(dialog)
    assert dialog.needed_bytes() == voxels * 117
    assert dialog.memory_label.text() == (
        "117 of 117 ticked: about 12.3 GB of memory on this volume (the limit is 1.0 GB)"
    )
    assert dialog.over_limit and dialog.memory_label.styleSheet() == OVER_LIMIT_STYLE
    dialog.none_button.click()
    for name in ("vertebrae_L1", "vertebrae_L2", "organ_050"):
        dialog.set_ticked(name)
    assert dialog.chosen_names() == ["vertebrae_L1", "vertebrae_L2", "organ_050"]
    assert dialog.memory_label.text().startswith("3 of 117 ticked: about 314.6 MB of memory")
    assert not dialog.over_limit and dialog.memory_label.styleSheet() == ""
