"""The guide service: plans from files, bones from files/projects/the open case, writing.

Bones are analytic (a ball); a RAS-space STL must come back in LPS, relative paths resolve
against the plan's folder, and a failed write leaves no guide, record or report behind.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from tests.services.guide_cases import (
    CENTER,
    RADIUS,
    REPORT_KEYS,
    ball,
    plan_record,
    write_case,
)
from workstation.core.errors import ExportError, GuidePlanError, InputPathError
from workstation.core.guide_plan import parse_plan
from workstation.services import guides
from workstation.services.guides import (
    generate_guide,
    load_bone,
    load_plan,
    mesh_sha256,
    write_guide,
)
from workstation.services.project import ProjectContents, SavedModel, write_project
from workstation.services.provenance import check_provenance, read_provenance
from workstation.services.session import ModelEntry, Session


def _files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


# -- plans --------------------------------------------------------------------------------
def test_load_plan_sets_the_plan_folder(tmp_path):
    plan_path = write_case(tmp_path / "case")
    plan = load_plan(plan_path)
    assert plan == parse_plan(plan_record())
    assert plan.base_dir == str((tmp_path / "case").absolute())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"bone": "BONE.stl", "region": ', "Guide plan PLAN.json is not valid JSON: Expecting"),
        ("", "not valid JSON"),
        ('{"bone": "a.stl", "bone": "b.stl"}', "the key 'bone' is given twice"),
        ('{"bone": "a.stl", "region": {"sphere": {}}}', "PLAN.json: region.sphere misses"),
        ('{"bone": "a.stl", "regoin": {}}', "Guide plan PLAN.json: the plan has unknown key"),
        (
            '{"bone": "a.stl", "region": {"sphere": {"center_lps": [0,0,0], "radius_mm": NaN}}}',
            "region.sphere.radius_mm must be a finite number",
        ),
    ],
)
def test_bad_plan_files_give_one_line(tmp_path, text, expected):
    plan_path = write_case(tmp_path, text)
    with pytest.raises(GuidePlanError) as caught:
        load_plan(plan_path)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_json_error_names_its_line(tmp_path):
    plan_path = write_case(tmp_path, '{\n  "bone": "BONE.stl",\n  "region": [,]\n}')
    with pytest.raises(GuidePlanError, match=r"line 3, column 14"):
        load_plan(plan_path)


def test_a_missing_plan_is_an_input_path_error(tmp_path):
    with pytest.raises(InputPathError, match="No such guide plan") as caught:
        load_plan(tmp_path / "nothing.json")
    assert caught.value.exit_code == 2


# -- bones --------------------------------------------------------------------------------
def test_relative_bone_path_resolves_against_the_plan_folder(tmp_path, monkeypatch):
    plan_path = write_case(tmp_path / "case")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    bone = load_bone(load_plan(plan_path))
    assert bone.n_faces == ball().n_faces
    low, high = bone.bounds()
    np.testing.assert_allclose(low, np.subtract(CENTER, RADIUS), atol=1e-4)
    np.testing.assert_allclose(high, np.add(CENTER, RADIUS), atol=1e-4)


def test_absolute_bone_path(tmp_path):
    write_case(tmp_path)
    plan = parse_plan(plan_record(bone=str(tmp_path / "BONE.stl")), base_dir="/nowhere")
    assert load_bone(plan).n_faces == ball().n_faces


def test_a_ras_bone_file_is_converted_to_lps(tmp_path):
    plan_path = write_case(tmp_path, coords="ras")
    raw = trimesh.load(tmp_path / "BONE.stl", force="mesh")
    # the file really holds RAS: x and y of the centre negated
    np.testing.assert_allclose(
        raw.bounds.mean(axis=0), [-CENTER[0], -CENTER[1], CENTER[2]], atol=1e-3
    )
    assert b"SPACE=RAS" in (tmp_path / "BONE.stl").read_bytes()[:80]
    bone = load_bone(load_plan(plan_path))
    np.testing.assert_allclose(np.mean(bone.bounds(), axis=0), CENTER, atol=1e-3)
    # the surface is where the LPS ball is: every vertex RADIUS from CENTER
    distances = np.linalg.norm(bone.vertices - CENTER, axis=1)
    assert np.abs(distances - RADIUS).max() < 1e-3 + RADIUS * 0.01
    # winding kept: positive volume near the ball's
    assert bone.signed_volume() == pytest.approx(ball().signed_volume(), rel=1e-5)


def test_a_missing_bone_file_names_it(tmp_path):
    plan = parse_plan(plan_record(bone="gone.stl"), base_dir=str(tmp_path))
    with pytest.raises(InputPathError, match=r"no such mesh file: .*gone\.stl"):
        load_bone(plan)


def test_an_unreadable_bone_file(tmp_path):
    (tmp_path / "bad.stl").write_bytes(b"not a mesh at all")
    plan = parse_plan(plan_record(bone="bad.stl"), base_dir=str(tmp_path))
    with pytest.raises(InputPathError, match="bone"):
        load_bone(plan)


def _project(path: Path, *names: str) -> None:
    models = [
        SavedModel(f"model-{n}", name, (1.0, 1.0, 1.0), 1.0, True, None, {}, {}, ball(radius=r))
        for n, (name, r) in enumerate(zip(names, (30.0, 20.0, 10.0), strict=False))
    ]
    write_project(path, ProjectContents(models=models))


def test_a_project_model_bone(tmp_path):
    _project(tmp_path / "CASE.wsproj", "Mandible", "Skull")
    plan = parse_plan(
        plan_record(bone={"project": "CASE.wsproj", "model": "Skull"}), base_dir=str(tmp_path)
    )
    bone = load_bone(plan)
    assert bone.name == "Skull"
    np.testing.assert_allclose(np.ptp(bone.vertices, axis=0), 40.0, atol=1e-6)  # radius 20


def test_a_missing_project_model_lists_the_names(tmp_path):
    _project(tmp_path / "CASE.wsproj", "Mandible", "Skull")
    plan = parse_plan(
        plan_record(bone={"project": "CASE.wsproj", "model": "Femur"}), base_dir=str(tmp_path)
    )
    with pytest.raises(GuidePlanError) as caught:
        load_bone(plan)
    assert str(caught.value) == (
        "Guide plan: bone: CASE.wsproj has no model named 'Femur' (models: 'Mandible', 'Skull')."
    )


def test_a_missing_project(tmp_path):
    plan = parse_plan(
        plan_record(bone={"project": "CASE.wsproj", "model": "Skull"}), base_dir=str(tmp_path)
    )
    with pytest.raises(InputPathError, match="no such project"):
        load_bone(plan)


def test_a_session_model_bone():
    session = Session()
    mesh = ball(radius=25.0)
    session.models["model-1"] = ModelEntry("model-1", mesh, "Mandible", (1.0, 1.0, 1.0))
    plan = parse_plan(plan_record(bone={"model": "Mandible"}))
    bone = load_bone(plan, session)
    np.testing.assert_array_equal(bone.vertices, mesh.vertices)
    with pytest.raises(GuidePlanError, match="open in the window"):
        load_bone(plan)
    with pytest.raises(GuidePlanError, match="no model named 'Skull'"):
        load_bone(parse_plan(plan_record(bone={"model": "Skull"})), session)


def test_mesh_sha256_is_of_the_geometry():
    mesh = ball()
    expected = hashlib.sha256(
        mesh.vertices.astype("<f8").tobytes() + mesh.faces.astype("<i8").tobytes()
    ).hexdigest()
    assert mesh_sha256(mesh) == expected
    moved = ball(center=(0.0, 0.0, 0.0))
    assert mesh_sha256(moved) != expected


# -- building and writing -----------------------------------------------------------------
@pytest.fixture
def built(tmp_path):
    """A plan, its bone and the guide built on it (built once per test)."""
    plan_path = write_case(tmp_path / "case")
    plan = load_plan(plan_path)
    bone = load_bone(plan)
    return plan, bone, generate_guide(plan, bone)


def test_write_guide_writes_guide_record_and_report(built, tmp_path):
    plan, bone, result = built
    out = tmp_path / "out"
    out.mkdir()
    written = write_guide(result, out / "Guide.stl", out / "report.json", plan, bone)
    assert written == {
        "guide": out / "Guide.stl",
        "provenance": out / "Guide.provenance.json",
        "report": out / "report.json",
    }
    assert _files(out) == {"Guide.stl", "Guide.provenance.json", "report.json"}
    report = json.loads((out / "report.json").read_text())
    assert set(report) >= REPORT_KEYS
    assert set(report["clearance_mm"]) >= {"min", "median", "max"}
    assert [item["open"] for item in report["sleeves"]] == [True]
    assert len(report["slots"]) == 1 and "open" in report["slots"][0]
    assert {"found"} <= set(report["undercut"])
    # the guide written is the one built (STL stores float32 corners)
    saved = trimesh.load(out / "Guide.stl", force="mesh", process=False)
    assert len(saved.faces) == result.guide.n_faces
    record = read_provenance(out / "Guide.provenance.json")
    assert record["mesh_parameters"]["plan"] == plan.to_dict()
    facts = record["mesh_parameters"]["bone"]
    bone_file = tmp_path / "case" / "BONE.stl"
    assert facts["path"] == str(bone_file.absolute())
    assert facts["sha256"] == hashlib.sha256(bone_file.read_bytes()).hexdigest()
    assert facts["mesh_sha256"] == mesh_sha256(bone)
    assert record["inputs"] == [facts]
    assert record["software"]["version"]
    check = check_provenance(out / "Guide.stl")
    assert check.ok and check.file_ok, check.differences


def test_a_3mf_guide_holds_its_record(built, tmp_path):
    plan, bone, result = built
    write_guide(result, tmp_path / "Guide.3mf", None, plan, bone)
    (tmp_path / "Guide.provenance.json").unlink()
    check = check_provenance(tmp_path / "Guide.3mf")
    assert check.ok and check.record["mesh_parameters"]["plan"] == plan.to_dict()


def test_a_ras_guide_file(built, tmp_path):
    plan, bone, result = built
    write_guide(result, tmp_path / "Guide.stl", None, plan, bone, coords="ras")
    saved = trimesh.load(tmp_path / "Guide.stl", force="mesh")
    low, high = result.guide.bounds()
    np.testing.assert_allclose(saved.bounds[0], [-high[0], -high[1], low[2]], atol=1e-3)


def test_no_report_path_writes_no_report(built, tmp_path):
    plan, bone, result = built
    out = tmp_path / "out"
    out.mkdir()
    write_guide(result, out / "Guide.stl", None, plan, bone)
    assert _files(out) == {"Guide.stl", "Guide.provenance.json"}


@pytest.mark.parametrize(
    ("output", "report", "expected"),
    [
        ("Guide.step", "report.json", "unknown mesh format"),
        ("Guide.stl", "missing/report.json", "does not exist"),
        ("Guide.stl", "Guide.stl", "would overwrite the guide"),
        ("Guide.stl", "Guide.provenance.json", "would overwrite the guide"),
    ],
)
def test_bad_output_paths_write_nothing(built, tmp_path, output, report, expected):
    plan, bone, result = built
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ExportError, match=expected):
        write_guide(result, out / output, out / report, plan, bone)
    assert _files(out) == set()


def test_a_failing_report_write_removes_the_guide(built, tmp_path, monkeypatch):
    plan, bone, result = built
    out = tmp_path / "out"
    out.mkdir()

    def failing(path):
        raise ExportError(f"Could not write {path}: disk full.")

    monkeypatch.setattr(guides, "atomic_write", failing)
    with pytest.raises(ExportError, match="disk full"):
        write_guide(result, out / "Guide.stl", out / "report.json", plan, bone)
    assert _files(out) == set()


def test_a_failing_record_write_removes_the_guide(built, tmp_path, monkeypatch):
    plan, bone, result = built
    out = tmp_path / "out"
    out.mkdir()

    def failing(path, record):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(guides, "write_provenance", failing)
    with pytest.raises(ExportError, match="No space left"):
        write_guide(result, out / "Guide.stl", out / "report.json", plan, bone)
    assert _files(out) == set()


def test_an_existing_guide_is_replaced_whole(built, tmp_path):
    plan, bone, result = built
    (tmp_path / "Guide.stl").write_bytes(b"old")
    write_guide(result, tmp_path / "Guide.stl", tmp_path / "r.json", plan, bone)
    assert check_provenance(tmp_path / "Guide.stl").ok


def test_report_json_has_no_nan(built):
    _, _, result = built
    text = guides.report_json({**result.report, "extra": float("nan"), "a": np.float32(1.5)})
    assert json.loads(text)["extra"] is None and json.loads(text)["a"] == 1.5


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"region": {"sphere": {"center_lps": [500.0, 0.0, 0.0], "radius_mm": 10.0}}},
            "region",
        ),
        ("sleeve_outside", "entry of Pilot lies outside the region"),
    ],
)
def test_plans_that_cannot_be_built(tmp_path, changes, expected):
    record = plan_record()
    if changes == "sleeve_outside":
        sleeve = record["sleeves"][0]
        sleeve["entry_lps"] = [CENTER[0] + 40.0, CENTER[1], CENTER[2]]
        sleeve["target_lps"] = [CENTER[0] + 20.0, CENTER[1], CENTER[2]]
    else:
        record.update(changes)
    plan = load_plan(write_case(tmp_path, record))
    with pytest.raises(GuidePlanError) as caught:
        generate_guide(plan, load_bone(plan))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 12
