"""The open case as a plan and a plan on the open series: same voxels, same models as batch."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from tests.services.case_cases import LEFT, RIGHT, available, cube_centre, cube_voxels, phantom
from tests.support.dicom_factory import write_series
from workstation.core.case_plan import (
    MODEL_OPTION_DEFAULTS,
    default_plan,
    parse_plan,
    read_plan,
    write_plan_text,
)
from workstation.core.errors import Cancelled, PlanError, SegmentationError
from workstation.core.progress import CancelToken
from workstation.io.mesh_export import read_mesh
from workstation.processing.mesh_statistics import mesh_statistics
from workstation.services.case_run import CaseRequest, run_case
from workstation.services.loading import load_volume
from workstation.services.modeling import (
    ModelOptions,
    make_model_from_volume,
    make_segment_model,
    segment_model_options,
)
from workstation.services.plan_session import apply_plan, plan_from_session, plan_records
from workstation.services.segmenting import replay
from workstation.services.session import Session

#: a quick model (the Models panel's smoothing and decimation, changed)
OPTIONS = ModelOptions(smooth_iterations=4, decimate_fraction=0.0, workers=0)
EDITS = [
    {"op": "add_segment", "name": "Left"},
    {"op": "threshold", "segment": "Left", "lower": 226.0, "upper": None},
    {"op": "islands", "segment": "Left", "mode": "keep_seed", "seed_lps": cube_centre(LEFT)},
]


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cubes") / "dicom"
    write_series(folder, phantom(), series_description="Bone cubes")
    return folder


def open_session(series: Path) -> Session:
    """A session with the series loaded, as the window holds it."""
    loaded = load_volume(series)
    session = Session()
    session.set_scan(loaded.scan, str(series))
    session.set_volume(loaded.volume, loaded.stack)
    return session


def edited_session(series: Path) -> Session:
    """Threshold + keep-the-island-at-the-seed edits and the Left segment's model."""
    session = open_session(series)
    editor = session.editor
    for record in EDITS:
        editor.apply(record)
    segment = editor.segmentation.by_name("Left")
    result = make_segment_model(session.volume, segment, OPTIONS)
    session.add_model(
        result.mesh,
        result.statistics.as_dict(),
        name="Left bone",
        color=segment.color,
        segment_id=segment.segment_id,
        parameters=asdict(segment_model_options(segment, OPTIONS)),
        operations=list(editor.operations),
    )
    return session


def masks(session: Session) -> dict[str, np.ndarray]:
    return {s.name: s.mask.copy() for s in session.editor.segmentation}


def test_plan_from_session_holds_the_edits_and_the_model_options(series, tmp_path):
    session = edited_session(series)
    plan = plan_from_session(session, "Left cube")
    assert plan.name == "Left cube"
    assert [dict(r) for r in plan.segmentation.operations] == session.editor.operations
    assert plan.segmentation.segments == ()
    assert plan.series.modality == "CT"
    (model,) = plan.models
    assert (model.name, model.segment, model.formats) == ("Left bone", "Left", ("stl",))
    assert set(model.options) == set(MODEL_OPTION_DEFAULTS)
    assert model.options["smooth_iterations"] == 4
    assert model.options["decimate_fraction"] == 0.0
    assert model.options["min_island_mm3"] == OPTIONS.min_island_mm3
    # the plan file reads back to the same plan
    path = tmp_path / "plan.json"
    path.write_text(write_plan_text(plan))
    assert read_plan(path).digest() == plan.digest()


def test_saved_plan_run_by_the_case_engine_gives_the_same_voxels_and_model(series, tmp_path):
    session = edited_session(series)
    plan = available(plan_from_session(session))
    replayed = replay(session.volume, [], [dict(r) for r in plan.segmentation.operations])
    left = replayed.segmentation.by_name("Left").mask
    assert np.array_equal(left, session.editor.segmentation.by_name("Left").mask)
    assert int(left.sum()) == cube_voxels(LEFT)  # the island at the seed: one cube
    folder = tmp_path / "case"
    folder.mkdir()
    result = run_case(plan, CaseRequest("c", str(series)), folder)
    (entry,) = session.models.values()
    theirs = result.statistics["models"]["Left bone"]
    assert theirs["volume_mm3"] == pytest.approx(entry.statistics["volume_mm3"], rel=1e-9)
    assert theirs["triangles"] == entry.statistics["triangles"]
    written = mesh_statistics(read_mesh(folder / "Left_bone.stl"))
    assert written.volume_mm3 == pytest.approx(entry.statistics["volume_mm3"], rel=1e-4)


def test_apply_plan_replays_as_undoable_edits_and_builds_the_models(series):
    source = edited_session(series)
    plan = plan_from_session(source)
    session = open_session(series)
    entries = apply_plan(session, plan)
    assert {name: mask.sum() for name, mask in masks(session).items()} == {
        "Left": cube_voxels(LEFT)
    }
    for name, mask in masks(source).items():
        assert np.array_equal(mask, masks(session)[name])
    assert session.editor.operations == source.editor.operations
    (entry,) = entries
    (original,) = source.models.values()
    assert (
        entry.name == "Left bone"
        and entry.segment_id == session.editor.segmentation.by_name("Left").segment_id
    )
    assert entry.statistics == original.statistics
    assert {k: entry.parameters[k] for k in MODEL_OPTION_DEFAULTS} == {
        k: original.parameters[k] for k in MODEL_OPTION_DEFAULTS
    }
    # one undo step per edit, back to the empty case
    undone = 0
    while session.editor.undo():
        undone += 1
    assert undone == len(EDITS)
    assert session.editor.operations == [] and len(session.editor.segmentation) == 0


def test_the_saved_plan_file_applies_to_the_same_models(series, tmp_path):
    """Saved, read back, applied: the plan file alone remakes the model."""
    source = edited_session(series)
    path = tmp_path / "plan.json"
    path.write_text(write_plan_text(plan_from_session(source)))
    session = open_session(series)
    (entry,) = apply_plan(session, read_plan(path))
    (original,) = source.models.values()
    assert entry.statistics == original.statistics
    assert np.array_equal(entry.mesh.vertices, original.mesh.vertices)


def test_a_preset_plan_applies_as_the_case_engine_builds_it(series, tmp_path):
    """The default plan: the bone threshold as edits, the model straight from the image."""
    plan = replace(default_plan(), dose=False)
    session = open_session(series)
    records = plan_records(plan, session.volume)
    assert [r["op"] for r in records] == ["add_segment", "threshold"]
    (entry,) = apply_plan(session, plan)
    bone = session.editor.segmentation.by_name("Bone (CT)")
    assert entry.segment_id == bone.segment_id and entry.name == "bone"
    assert int(bone.mask.sum()) == cube_voxels(LEFT) + cube_voxels(RIGHT)
    folder = tmp_path / "case"
    folder.mkdir()
    result = run_case(plan, CaseRequest("c", str(series)), folder)
    assert result.statistics["models"]["bone"] == entry.statistics
    expected = make_model_from_volume(session.volume, ModelOptions(name="bone"))
    assert np.array_equal(expected.mesh.faces, entry.mesh.faces)


def test_a_failing_plan_leaves_the_case_as_it_was(series):
    source = edited_session(series)
    document = plan_from_session(source).to_json()
    session = open_session(series)
    # a model of a segment the operations never make: refused before any edit
    missing = parse_plan({**document, "models": [{**document["models"][0], "segment": "Gone"}]})
    with pytest.raises(PlanError, match="Gone"):
        apply_plan(session, missing)
    assert session.editor.operations == [] and not session.editor.can_undo
    # an edit that fails after the first ones landed: those are undone again
    document["segmentation"]["operations"].append(
        {"op": "morphology", "segment": "Nowhere", "operation": "erode", "radius_mm": 1.0}
    )
    with pytest.raises(SegmentationError, match="Nowhere"):
        apply_plan(session, parse_plan(document))
    assert session.editor.operations == [] and len(session.editor.segmentation) == 0
    assert not session.models and not session.editor.can_undo


def test_a_cancelled_plan_changes_nothing(series):
    plan = plan_from_session(edited_session(series))
    session = open_session(series)
    token = CancelToken()
    steps = []

    def progress(fraction, text):
        steps.append(text)
        if len(steps) == 3:  # during the edits
            token.cancel()

    with pytest.raises(Cancelled):
        apply_plan(session, plan, progress, token)
    assert session.editor.operations == [] and len(session.editor.segmentation) == 0
    assert not session.models and not session.editor.can_undo


def test_a_plan_that_adds_a_segment_the_case_has_is_refused_before_any_edit(series):
    session = edited_session(series)
    plan = plan_from_session(session)
    before = list(session.editor.operations)
    with pytest.raises(PlanError, match="already has a segment called 'Left'"):
        apply_plan(session, plan)
    assert session.editor.operations == before and len(session.models) == 1


def test_what_cannot_become_a_plan(series):
    with pytest.raises(PlanError, match="Load a series"):
        plan_from_session(Session())
    session = open_session(series)
    with pytest.raises(PlanError, match="no segmentation edits"):
        plan_from_session(session)
    session.editor.apply({"op": "add_segment", "name": "Empty"})
    with pytest.raises(PlanError, match="holds voxels"):
        plan_from_session(session)


def test_without_models_each_filled_segment_gets_one(series):
    session = open_session(series)
    for record in EDITS:
        session.editor.apply(record)
    session.editor.apply({"op": "add_segment", "name": "Right"})
    session.editor.apply({"op": "threshold", "segment": "Right", "lower": 226.0})
    session.editor.apply(
        {"op": "islands", "segment": "Right", "mode": "keep_seed", "seed_lps": cube_centre(RIGHT)}
    )
    session.editor.apply({"op": "add_segment", "name": "Nothing"})
    plan = plan_from_session(session)
    assert [(m.name, m.segment) for m in plan.models] == [("Left", "Left"), ("Right", "Right")]
    assert plan.models[0].options == MODEL_OPTION_DEFAULTS
