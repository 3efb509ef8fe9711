"""File → Save case plan… / Apply case plan… in the real window: the plan a user saves
after a threshold + islands edit and a model remakes the same voxels and the same model,
in batch's case engine and applied in the window (one undo step per edit)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from tests.gui.conftest import TIMEOUT_MS, open_and_settle, settle
from tests.services.case_cases import LEFT, available, cube_centre, cube_voxels, write_phantom
from workstation.core.case_plan import read_plan, write_plan_text
from workstation.core.errors import Cancelled
from workstation.services.case_run import CaseRequest, run_case
from workstation.services.segmenting import replay

pytestmark = pytest.mark.gui

EDITS = [
    {"op": "add_segment", "name": "Left"},
    {"op": "threshold", "segment": "Left", "lower": 226.0},
    {"op": "islands", "segment": "Left", "mode": "keep_seed", "seed_lps": cube_centre(LEFT)},
]


@pytest.fixture(scope="module")
def cubes(tmp_path_factory) -> Path:
    return write_phantom(tmp_path_factory.mktemp("cubes") / "dicom")


def _edited(make_main_window, qtbot, cubes):
    """A window with the cubes open, the Left segment edited and its model built."""
    window = make_main_window(headless=True)
    open_and_settle(qtbot, window, cubes)
    for record in EDITS:
        window.edits.submit(record)
    settle(qtbot, window)
    segment = window.session.editor.segmentation.by_name("Left")
    window.viewer.select_segment(segment.segment_id)
    panel = window.models_panel
    panel.smooth_spin.setValue(4)
    panel.decimate_spin.setValue(0.0)
    panel.create_model()
    qtbot.waitUntil(lambda: len(window.session.models) == 1, timeout=TIMEOUT_MS)
    settle(qtbot, window)
    return window


def _save_through_menu(window, monkeypatch, path: Path) -> Path:
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", staticmethod(lambda *a: (str(path.with_suffix("")), ""))
    )
    window.plan_actions.save_action.trigger()
    return path


def _apply_through_menu(window, qtbot, monkeypatch, path: Path, models: int = 1) -> None:
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(path), "Case plans (*.json)"))
    )
    window.plan_actions.apply_action.trigger()
    qtbot.waitUntil(
        lambda: not window.plan_actions.busy() and len(window.session.models) == models,
        timeout=TIMEOUT_MS,
    )
    settle(qtbot, window)


def test_the_menu_entries_need_a_series(make_main_window, qtbot, cubes):
    window = make_main_window(headless=True)
    actions = window.plan_actions
    file_menu = window.menuBar().actions()[0].menu()
    texts = [action.text() for action in file_menu.actions()]
    assert "Save case pla&n…" in texts and "Appl&y case plan…" in texts
    assert not actions.save_action.isEnabled() and not actions.apply_action.isEnabled()
    open_and_settle(qtbot, window, cubes)
    assert actions.save_action.isEnabled() and actions.apply_action.isEnabled()


@pytest.mark.slow
def test_saved_plan_gives_the_same_voxels_and_model_in_batch_and_in_the_window(
    make_main_window, qtbot, monkeypatch, cubes, tmp_path
):
    window = _edited(make_main_window, qtbot, cubes)
    path = _save_through_menu(window, monkeypatch, tmp_path / "left.json")
    assert not window.errors, [e.message for e in window.errors]
    assert window.plan_actions.last_plan == path
    plan = read_plan(path)
    assert path.read_text() == write_plan_text(plan)
    assert plan.name == "left"
    assert [dict(r) for r in plan.segmentation.operations] == window.session.editor.operations
    (entry,) = window.session.models.values()
    (model,) = plan.models
    assert (model.name, model.segment) == (entry.name, "Left")
    assert model.options["smooth_iterations"] == 4 and model.options["decimate_fraction"] == 0.0
    left = window.session.editor.segmentation.by_name("Left").mask.copy()
    assert int(left.sum()) == cube_voxels(LEFT)

    # batch's case engine: the same voxels and a model of the same volume
    replayed = replay(window.session.volume, [], [dict(r) for r in plan.segmentation.operations])
    assert np.array_equal(replayed.segmentation.by_name("Left").mask, left)
    folder = tmp_path / "case"
    folder.mkdir()
    result = run_case(available(plan), CaseRequest("c", str(cubes)), folder)
    theirs = result.statistics["models"][entry.name]
    assert theirs["volume_mm3"] == pytest.approx(entry.statistics["volume_mm3"], rel=1e-9)
    assert theirs["triangles"] == entry.statistics["triangles"]

    # applied in a second window on the same series: same voxels, same model
    other = make_main_window(headless=True)
    open_and_settle(qtbot, other, cubes)
    _apply_through_menu(other, qtbot, monkeypatch, path)
    assert not other.errors, [e.message for e in other.errors]
    applied = other.session.editor.segmentation.by_name("Left")
    assert np.array_equal(applied.mask, left)
    (made,) = other.session.models.values()
    assert made.name == entry.name and made.segment_id == applied.segment_id
    assert made.statistics == entry.statistics
    assert other.session.editor.operations == window.session.editor.operations
    # each edit is one undo step the user can take back
    assert other.undo_action.isEnabled()
    for _ in EDITS:
        other.undo()
    assert other.session.editor.operations == [] and len(other.session.editor.segmentation) == 0
    assert not other.undo_action.isEnabled()


@pytest.mark.slow
def test_a_project_applies_as_its_plan(make_main_window, qtbot, monkeypatch, cubes, tmp_path):
    """A saved project (.wsproj) is a plan too: its edits and its model's options."""
    window = _edited(make_main_window, qtbot, cubes)
    project = tmp_path / "case.wsproj"
    assert window.projects.save_to(str(project))
    qtbot.waitUntil(lambda: not window.session.modified and project.exists(), timeout=TIMEOUT_MS)
    settle(qtbot, window)
    (entry,) = window.session.models.values()
    other = make_main_window(headless=True)
    open_and_settle(qtbot, other, cubes)
    _apply_through_menu(other, qtbot, monkeypatch, project)
    assert not other.errors, [e.message for e in other.errors]
    (made,) = other.session.models.values()
    assert made.statistics == entry.statistics
    assert int(other.session.editor.segmentation.by_name("Left").mask.sum()) == cube_voxels(LEFT)


@pytest.mark.slow
def test_cancelling_the_models_undoes_the_plans_edits(
    make_main_window, qtbot, monkeypatch, cubes, tmp_path
):
    window = _edited(make_main_window, qtbot, cubes)
    path = _save_through_menu(window, monkeypatch, tmp_path / "left.json")
    from workstation.services import plan_session

    started = threading.Event()

    def slow_models(volume, jobs, progress, cancel):
        started.set()
        for step in range(12000):  # a minute at most
            progress(step / 12000, "building")
            time.sleep(0.005)
        raise AssertionError("the models should have been cancelled")

    monkeypatch.setattr(plan_session, "build_plan_models", slow_models)
    other = make_main_window(headless=True)
    open_and_settle(qtbot, other, cubes)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(path), "")))
    other.plan_actions.apply_action.trigger()
    qtbot.waitUntil(started.is_set, timeout=TIMEOUT_MS)
    assert not other.plan_actions.apply_action.isEnabled(), "one plan at a time"
    assert len(other.session.editor.segmentation) == 1  # the edits landed
    other.progress_panel.cancel()
    qtbot.waitUntil(lambda: not other.plan_actions.busy(), timeout=TIMEOUT_MS)
    settle(qtbot, other)
    assert isinstance(other.errors[-1].exception, Cancelled)
    assert other.session.editor.operations == [] and len(other.session.editor.segmentation) == 0
    assert not other.session.models
    assert other.plan_actions.apply_action.isEnabled()


@pytest.mark.slow
def test_a_failing_plan_is_reported_and_leaves_the_case_as_it_was(
    make_main_window, qtbot, monkeypatch, cubes, tmp_path
):
    import json

    window = _edited(make_main_window, qtbot, cubes)
    path = _save_through_menu(window, monkeypatch, tmp_path / "left.json")
    document = json.loads(path.read_text())
    document["segmentation"]["operations"].append(
        {"op": "morphology", "segment": "Nowhere", "operation": "erode", "radius_mm": 1.0}
    )
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(document))
    other = make_main_window(headless=True)
    open_and_settle(qtbot, other, cubes)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a: (str(broken), "")))
    other.plan_actions.apply_action.trigger()
    qtbot.waitUntil(lambda: bool(other.errors), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not other.plan_actions.busy(), timeout=TIMEOUT_MS)
    settle(qtbot, other)
    assert "Nowhere" in other.errors[-1].message
    assert other.session.editor.operations == [] and len(other.session.editor.segmentation) == 0
    assert not other.session.models

    # the same plan again on the case that has its segment: refused before any edit
    good = make_main_window(headless=True)
    open_and_settle(qtbot, good, cubes)
    _apply_through_menu(good, qtbot, monkeypatch, path)
    before = list(good.session.editor.operations)
    good.plan_actions.apply_action.trigger()
    qtbot.waitUntil(lambda: bool(good.errors), timeout=TIMEOUT_MS)
    settle(qtbot, good)
    assert "already has a segment called 'Left'" in good.errors[-1].message
    assert good.session.editor.operations == before and len(good.session.models) == 1


def test_saving_a_plan_of_an_unedited_case_says_what_to_do(
    make_main_window, qtbot, monkeypatch, cubes, tmp_path
):
    window = make_main_window(headless=True)
    open_and_settle(qtbot, window, cubes)
    path = _save_through_menu(window, monkeypatch, tmp_path / "nothing.json")
    assert not path.exists()
    assert "no segmentation edits" in window.errors[-1].message
