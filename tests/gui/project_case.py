"""A small case made through the window (segments, a model, a measurement, a changed
view) and helpers to save and reopen it as a project, for the project window tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tests.gui.conftest import BIG_BALL, SMALL_BALL, TIMEOUT_MS, open_and_settle, settle
from workstation.core import geometry

#: Radius (mm) of the dab painted into the small ball; no voxel centre lies exactly there.
DAB_RADIUS = 3.3
BONE_COLOR = (0.9, 0.8, 0.5)
SMALL_COLOR = (0.2, 0.6, 0.9)


def voxel_centres(volume) -> np.ndarray:
    """LPS of every voxel centre, shaped (slices, rows, cols, 3)."""
    s, r, c = np.meshgrid(*(np.arange(n) for n in volume.shape), indexing="ij")
    index = np.stack([s, r, c], axis=-1).reshape(-1, 3)
    return geometry.index_to_lps(volume.affine, index).reshape(*volume.shape, 3)


def expected_masks(volume) -> dict[str, np.ndarray]:
    """What the case's segments hold, computed from the image and the geometry alone."""
    dab = np.linalg.norm(voxel_centres(volume) - np.asarray(SMALL_BALL[0]), axis=-1)
    return {"Bone": volume.array >= 200, "Small": dab <= DAB_RADIUS}


def copy_study(synthetic_ct: Path, folder: Path) -> Path:
    """A private copy of the synthetic CT (tests change or move it)."""
    shutil.copytree(synthetic_ct, folder)
    return folder


def edit(qtbot, window, *records: dict) -> None:
    """Submit operation records through the edit queue and wait until they landed."""
    for record in records:
        window.edits.submit(record)
    settle(qtbot, window)


def build_case(qtbot, window, study: Path):
    """Open ``study`` and make a case: two segments, a model, a measurement, a view."""
    volume = open_and_settle(qtbot, window, study)
    edit(
        qtbot,
        window,
        {"op": "add_segment", "name": "Bone", "color": list(BONE_COLOR)},
        {"op": "threshold", "segment": "Bone", "lower": 200, "upper": None},
        {"op": "add_segment", "name": "Small", "color": list(SMALL_COLOR)},
        {
            "op": "paint",
            "segment": "Small",
            "points_lps": [list(SMALL_BALL[0])],
            "radius_mm": DAB_RADIUS,
        },
        {"op": "set_segment", "segment": "Small", "visible": False, "opacity": 0.5},
    )
    assert not window.errors, [error.message for error in window.errors]
    from workstation.gui.model_jobs import start_segment_model

    bone = window.session.editor.segmentation.by_name("Bone")
    assert start_segment_model(window.context, bone.segment_id) is not None
    qtbot.waitUntil(lambda: len(window.session.models) == 1, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    (model_id,) = window.session.models
    window.session.update_model(model_id, name="Bone model", color=(0.3, 0.5, 0.7), opacity=0.8)
    start = np.asarray(BIG_BALL[0], float)
    end = start + np.array([12.0, 0.0, 0.0])
    window.session.measurements.add(
        "distance", [start, end], "axial", "12.0 mm", {"value": 12.0}, name="Radius"
    )
    window.viewer.set_window(60.0, 500.0)
    window.viewer.set_crosshair([2.0, -3.0, 4.0])
    window.viewer.select_segment(bone.segment_id)
    window.views.refresh()
    return volume


def save_and_wait(qtbot, window, path: Path) -> Path:
    """Save the case to ``path`` through the window's project actions and wait."""
    with qtbot.waitSignal(window.projects.saved, timeout=TIMEOUT_MS) as saved:
        assert window.projects.save_to(path)
    settle(qtbot, window)
    return Path(saved.args[0])


def open_project_and_wait(qtbot, window, path: Path, **kwargs):
    """Open a project in the window and wait until it is shown; returns the OpenedProject."""
    with qtbot.waitSignal(window.projects.opened, timeout=TIMEOUT_MS) as opened:
        window.projects.open_project(path, **kwargs)
    settle(qtbot, window)
    return opened.args[0]


def shown_title(window) -> str:
    """The title the window manager shows (Qt's ``[*]`` resolved)."""
    return window.windowHandle().title()


def segments_by_name(window) -> dict:
    """The window's segments by name."""
    return {segment.name: segment for segment in window.session.editor.segmentation}
