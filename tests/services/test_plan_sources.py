"""Plans from plan files and from projects: a project's plan remakes its segments exactly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.services.case_cases import LEFT, RIGHT, cube_centre, cube_voxels, write_phantom
from tests.support.cli import run_workstation
from workstation.core.case_plan import parse_plan, write_plan_text
from workstation.core.errors import PlanError
from workstation.core.segmentation import Segmentation
from workstation.io.readers import reader_for
from workstation.services.case_run import CaseRequest, run_case
from workstation.services.plan_sources import load_plan, plan_from_project
from workstation.services.project import ProjectContents, read_project

OPERATIONS = {
    "segments": [{"name": "Left"}, {"name": "Right"}],
    "operations": [
        {"op": "threshold", "segment": "Left", "lower": 226},
        {"op": "islands", "segment": "Left", "mode": "keep_seed", "seed_lps": cube_centre(LEFT)},
        {"op": "threshold", "segment": "Right", "lower": 226},
        {"op": "islands", "segment": "Right", "mode": "keep_seed", "seed_lps": cube_centre(RIGHT)},
        {"op": "morphology", "segment": "Right", "operation": "erode", "radius_mm": 1.0},
    ],
}


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    return write_phantom(tmp_path_factory.mktemp("cubes") / "dicom")


def _labels(path: Path) -> dict[str, np.ndarray]:
    found = reader_for("segmentation", path).read(path)
    return {s.name: found.layers[s.layer] == s.label for s in found.structures}


def test_segment_project_replays_to_the_same_voxels(tmp_path, series):
    """``workstation segment --ops -o x.wsproj`` → its plan → the same segment voxels."""
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps(OPERATIONS))
    project = tmp_path / "x.wsproj"
    done = run_workstation("segment", str(series), "--ops", str(ops), "-o", str(project))
    assert done.returncode == 0, done.stderr
    plan = load_plan(project)
    assert [(m.name, m.segment, m.formats) for m in plan.models] == [
        ("Left", "Left", ("stl",)),
        ("Right", "Right", ("stl",)),
    ]
    plan = replace(
        plan, dose=False, segmentation=replace(plan.segmentation, formats=("seg.nrrd",))
    )
    folder = tmp_path / "case"
    folder.mkdir()
    result = run_case(plan, CaseRequest("p", str(series)), folder)
    saved = read_project(project).segmentation
    assert saved is not None
    remade = _labels(folder / "segmentation.seg.nrrd")
    for segment in saved:
        assert np.array_equal(remade[segment.name], segment.mask), segment.name
    voxels = {item["name"]: item["statistics"]["voxels"] for item in result.statistics["segments"]}
    assert voxels["Left"] == cube_voxels(LEFT)
    assert 0 < voxels["Right"] < cube_voxels(RIGHT)  # eroded
    assert {"Left.stl", "Right.stl"} <= set(result.outputs)


def test_project_with_models_gives_their_options(tmp_path, series):
    """A case's project → a plan with its models' names, segments and options."""
    document = {
        "segmentation": OPERATIONS,
        "models": [
            {"name": "Left cube", "segment": "Left", "options": {"smooth_iterations": 3}},
            {"name": "Right cube", "segment": "Right",
             "options": {"decimate_fraction": 0.0, "remove_table": False}},
        ],
        "project": True,
        "dose": {"check": False},
    }  # fmt: skip
    original = parse_plan(document)
    folder = tmp_path / "case"
    folder.mkdir()
    run_case(original, CaseRequest("m", str(series)), folder)
    plan = load_plan(folder / "case.wsproj")
    assert [(m.name, m.segment, m.options) for m in plan.models] == [
        (m.name, m.segment, m.options) for m in original.models
    ]
    # the project keeps its segments' add_segment records among the operations
    remade = plan.segmentation.operations
    assert [r for r in remade if r["op"] != "add_segment"] == list(
        original.segmentation.operations
    )
    added = [r["name"] for r in remade if r["op"] == "add_segment"]
    assert added == [r["name"] for r in original.segmentation.segments]


def test_plan_file(tmp_path):
    plan = parse_plan({"name": "Mine", "segmentation": {"preset": "teeth"}})
    path = tmp_path / "plan.json"
    path.write_text(write_plan_text(plan))
    assert load_plan(path) == plan
    assert load_plan(str(path)).digest() == plan.digest()


def test_projects_without_what_a_plan_needs():
    with pytest.raises(PlanError, match="records no segmentation operations"):
        plan_from_project(ProjectContents(), where="empty.wsproj")
    segmentation = Segmentation((2, 2, 2), np.eye(4), "1.2")
    segmentation.add("Nothing")
    contents = ProjectContents(
        segmentation=segmentation, operations=[{"op": "add_segment", "name": "Nothing"}]
    )
    with pytest.raises(PlanError, match="holds no segment with voxels"):
        plan_from_project(contents, where="blank.wsproj")
