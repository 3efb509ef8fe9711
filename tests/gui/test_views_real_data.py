"""The views on real DICOM from ../shared/data: anatomy lands where radiologists expect it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.gui.test_views_helpers import close_layout, interior, make_layout

pytestmark = pytest.mark.gui

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _load(folder: str):
    path = DATA / folder
    if not path.is_dir():
        pytest.skip(f"real test data not found at {path}")
    from workstation.services.loading import load_volume

    return load_volume(path).volume


@pytest.fixture
def layout(qtbot):
    widget = make_layout(qtbot)
    yield widget
    close_layout(widget)


def _body_and_bone(layout, view) -> tuple[np.ndarray, np.ndarray]:
    """(centre of the body at a soft-tissue window, centroid of bone above 400 HU) as (x, y)."""
    layout.set_window_level(40.0, 400.0)
    body = np.any(interior(view.capture()) > 60, axis=-1)
    layout.set_window_level(300.0, 200.0)  # white from 400 HU up: bone
    bone = np.all(interior(view.capture()) >= 245, axis=-1)
    rows, cols = np.nonzero(body)
    bone_rows, bone_cols = np.nonzero(bone)
    assert bone_rows.size > 50
    centre = np.array([(cols.min() + cols.max()) / 2, (rows.min() + rows.max()) / 2])
    return centre, np.array([bone_cols.mean(), bone_rows.mean()])


def test_abdominal_ct_spine_is_posterior_in_axial_and_sagittal_views(layout):
    volume = _load("ct_abdomen_tcia_pancreas")
    layout.set_volume(volume)
    axial = layout.slice_view("axial")
    sagittal = layout.slice_view("sagittal")
    assert axial.slice_count() == 134 and sagittal.slice_count() == 512
    # axial is seen from the feet with anterior up: the vertebra is below the body centre
    centre, bone = _body_and_bone(layout, axial)
    assert bone[1] > centre[1] + 10
    # sagittal is seen from the patient's left with anterior on the left: spine to the right
    centre, bone = _body_and_bone(layout, sagittal)
    assert bone[0] > centre[0] + 10


def test_sagittal_mr_is_resliced_on_its_native_grid(layout):
    volume = _load("mr_sag_t1_hfp_dcmqa_decubitus")
    assert volume.orientation == "sagittal"
    layout.set_volume(volume)
    counts = {name: layout.slice_view(name).slice_count() for name in ("axial", "coronal")}
    assert layout.slice_view("sagittal").slice_count() == volume.shape[0] == 35
    assert counts == {"axial": 256, "coronal": 256}
    assert layout.slice_view("sagittal").orientation_labels()["left"] == "A"
    # the native sagittal slice shows the very voxels of the stored image (nearest index)
    sagittal = layout.slice_view("sagittal")
    sagittal.set_slice_index(17)
    point = sagittal.slice_position_lps()
    index = np.rint(np.linalg.solve(volume.affine, [*point, 1.0])[:3]).astype(int)
    assert sagittal.value_at(point) == float(volume.array[tuple(index)])
