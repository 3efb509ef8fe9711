"""DICOM SEG and Encapsulated STL through the real window: listed in the study browser under
their series, opened as segments and models, exported as .dcm like the command line, and
sent to a PACS (Orthanc)."""

from __future__ import annotations

import shutil

import numpy as np
import pydicom
import pytest
import trimesh
from PySide6.QtCore import Qt

from tests.gui.conftest import BIG_BALL, TIMEOUT_MS, open_and_settle, settle
from workstation.core.mesh import Mesh
from workstation.core.segmentation import Segmentation
from workstation.gui.derived_items import DERIVED_ROLE
from workstation.gui.segments_panel import NAME_COLUMN
from workstation.io.dicom.source_context import source_context

pytestmark = pytest.mark.gui

SEG_NAME, STL_NAME = "Bone", "Skull"


def ball_mesh() -> Mesh:
    """An icosphere on the big ball with float32-exact vertices (STL stores float32)."""
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=10.0)
    vertices = (sphere.vertices + BIG_BALL[0]).astype(np.float32).astype(np.float64)
    return Mesh(vertices, sphere.faces, name=STL_NAME)


def vertex_rows(vertices: np.ndarray) -> np.ndarray:
    """Vertices as sorted float32 rows (order-free comparison)."""
    rows = np.asarray(vertices, dtype=np.float32)
    return rows[np.lexsort(rows.T[::-1])]


@pytest.fixture
def study_with_results(synthetic_ct, tmp_path):
    """A copy of the synthetic CT with a SEG (ball > 0 HU) and an Encapsulated STL of it."""
    from workstation.io.dicom_seg import write_dicom_seg
    from workstation.io.encapsulated_stl import write_encapsulated_stl
    from workstation.services.loading import load_volume

    folder = tmp_path / "study"
    shutil.copytree(synthetic_ct, folder)
    loaded = load_volume(folder)
    source = source_context(loaded.stack, loaded.volume)
    (folder / "results").mkdir()
    segmentation = Segmentation.for_volume(loaded.volume)
    mask = loaded.volume.array > 0
    segmentation.add(SEG_NAME, mask=mask)
    seg_path = write_dicom_seg(segmentation, folder / "results" / "seg.dcm", source=source)
    written = pydicom.dcmread(seg_path)
    written.SeriesDescription = SEG_NAME  # the browser shows the series description
    written.save_as(seg_path, enforce_file_format=True)
    mesh = ball_mesh()
    write_encapsulated_stl(mesh, folder / "results" / "model.dcm", source=source)
    return folder, loaded, mask, mesh


def double_click(qtbot, tree, item) -> None:
    """Double-click a tree row as a user does."""
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def derived_rows(browser) -> dict[str, object]:
    """The browser's derived rows by their text."""
    return {browser.derived_item(uid).text(0): browser.derived_item(uid) for uid in browser.derived}


def open_row(qtbot, window, text: str) -> list[str]:
    """Double-click the derived row ``text`` and wait until it is opened; returns its names."""
    item = derived_rows(window.browser)[text]
    with qtbot.waitSignal(window.derived.opened, timeout=TIMEOUT_MS) as opened:
        double_click(qtbot, window.browser, item)
    settle(qtbot, window)
    assert not window.errors, [error.message for error in window.errors]
    return opened.args[0]


def test_the_browser_lists_both_under_their_series_and_opens_them(
    make_main_window, qtbot, study_with_results
):
    folder, _, mask, mesh = study_with_results
    window = make_main_window(headless=True)
    open_and_settle(qtbot, window, folder)
    rows = derived_rows(window.browser)
    assert set(rows) == {f"Segmentation: {SEG_NAME}", f"3D model: {STL_NAME}"}
    series_row = window.browser.stack_item(window.session.stack.stack_id)
    for item in rows.values():
        assert item.parent() is series_row
        assert item.data(0, DERIVED_ROLE) in window.browser.derived

    assert open_row(qtbot, window, f"Segmentation: {SEG_NAME}") == [SEG_NAME]
    segment = window.session.editor.segmentation.by_name(SEG_NAME)
    assert segment is not None
    assert segment.mask.shape == mask.shape
    assert np.array_equal(segment.mask, mask)
    tree = window.segments_panel.tree
    shown = [tree.topLevelItem(row).text(NAME_COLUMN) for row in range(tree.topLevelItemCount())]
    assert shown == [SEG_NAME]
    assert window.session.editor.can_undo  # one undo step removes it again

    assert open_row(qtbot, window, f"3D model: {STL_NAME}") == [STL_NAME]
    (entry,) = [entry for entry in window.session.models.values() if entry.name == STL_NAME]
    assert entry.mesh.n_faces == mesh.n_faces
    stl_uid = pydicom.dcmread(folder / "results" / "model.dcm").SOPInstanceUID
    assert entry.parameters["sop_instance_uid"] == stl_uid  # where the model came from
    np.testing.assert_array_equal(vertex_rows(entry.mesh.vertices), vertex_rows(mesh.vertices))
    assert window.models_panel.table.rowCount() == 1
    assert window.models_panel.table.item(0, 1).text() == STL_NAME


def test_opening_from_another_series_loads_the_referenced_one_first(
    make_main_window, qtbot, study_with_results
):
    from tests.support.dicom_factory import write_series

    folder, loaded, mask, _ = study_with_results
    other = np.full((6, 32, 32), -1000, dtype=np.int16)
    write_series(
        folder / "other",
        other,
        study_uid=loaded.volume.source.identity.study_uid,
        patient_id=loaded.volume.source.identity.patient_id,
        series_description="Other",
        series_number=7,
    )
    window = make_main_window(headless=True)
    open_and_settle(qtbot, window, folder, series=None)
    wanted = loaded.volume.source.identity.series_uid
    (other_stack,) = [s for s in window.session.scan.stacks if s.identity.series_uid != wanted]
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        window.load_stack(other_stack)
    settle(qtbot, window)
    assert window.session.stack.identity.series_uid != wanted
    asked = []
    window.derived.confirm_load = lambda derived, stack: asked.append(stack) or True

    assert open_row(qtbot, window, f"Segmentation: {SEG_NAME}") == [SEG_NAME]
    assert [stack.identity.series_uid for stack in asked] == [wanted]
    assert window.session.stack.identity.series_uid == wanted
    segment = window.session.editor.segmentation.by_name(SEG_NAME)
    assert np.array_equal(segment.mask, mask)

    # declining the question leaves the loaded series as it is
    with qtbot.waitSignal(window.volume_loaded, timeout=TIMEOUT_MS):
        window.load_stack(other_stack)
    settle(qtbot, window)
    window.derived.confirm_load = lambda derived, stack: False
    assert window.derived.open(window.browser.derived[next(iter(window.browser.derived))]) is None
    assert window.session.stack is other_stack


def test_context_menu_open_and_a_seg_of_a_missing_series(
    make_main_window, qtbot, study_with_results
):
    from workstation.gui.derived_items import show_derived_menu

    folder, _, _, _ = study_with_results
    orphan = pydicom.dcmread(folder / "results" / "seg.dcm")
    orphan.SOPInstanceUID = orphan.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    orphan.SeriesDescription = "Elsewhere"
    orphan.ReferencedSeriesSequence[0].SeriesInstanceUID = "1.2.3.4.5"
    orphan.save_as(folder / "results" / "orphan.dcm", enforce_file_format=True)
    window = make_main_window(headless=True)
    open_and_settle(qtbot, window, folder)
    rows = derived_rows(window.browser)
    assert set(rows) == {
        f"Segmentation: {SEG_NAME}",
        f"3D model: {STL_NAME}",
        "Segmentation: Elsewhere",
    }
    study_row = window.browser.stack_item(window.session.stack.stack_id).parent()
    assert rows["Segmentation: Elsewhere"].parent() is study_row

    # the context menu's Open emits the row's object
    browser = window.browser
    menu = show_derived_menu(browser, rows[f"3D model: {STL_NAME}"], browser.derived, print)
    assert [action.text() for action in menu.actions()] == ["Open"]
    assert show_derived_menu(browser, study_row, browser.derived, print) is None
    menu = show_derived_menu(
        browser, rows[f"3D model: {STL_NAME}"], browser.derived, browser.derived_activated.emit
    )
    with qtbot.waitSignal(window.derived.opened, timeout=TIMEOUT_MS):
        menu.actions()[0].trigger()
    settle(qtbot, window)
    assert [entry.name for entry in window.session.models.values()] == [STL_NAME]

    # the orphan's series is not in the study: one line, nothing changes
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS):
        double_click(qtbot, browser, rows["Segmentation: Elsewhere"])
    error = window.errors[-1]
    assert error.expected and "\n" not in error.message
    assert "1.2.3.4.5" in error.message, error.message
    assert window.session.editor.segmentation.names == []
