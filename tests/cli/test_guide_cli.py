"""``workstation guide PLAN.json -o GUIDE.stl``: a guide, its record and report, or one error
line, a non-zero exit and no file at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trimesh

from tests.services.guide_cases import CENTER, REPORT_KEYS, plan_record, write_case
from workstation.cli.main import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _files(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_a_good_plan_writes_guide_record_and_report(tmp_path, capsys):
    plan = write_case(tmp_path / "case")
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, stderr = run(
        capsys, "guide", str(plan), "-o", str(out / "G.stl"), "--report", str(out / "R.json"),
        "--json",
    )  # fmt: skip
    assert code == 0, stderr
    assert stderr == ""
    printed = json.loads(stdout)
    assert set(printed) >= REPORT_KEYS
    assert printed == json.loads((out / "R.json").read_text())
    assert _files(out) == {"G.stl", "G.provenance.json", "R.json"}
    guide = trimesh.load(out / "G.stl", force="mesh")
    assert len(guide.faces) == printed["triangles"]
    assert printed["watertight"] is True and printed["components"] == 1
    code, stdout, stderr = run(capsys, "provenance", str(out / "G.stl"))
    assert code == 0, stderr
    assert "Provenance matches" in stdout


def test_text_output_summarises_the_report(tmp_path, capsys):
    plan = write_case(tmp_path)
    code, stdout, stderr = run(capsys, "guide", str(plan), "-o", str(tmp_path / "G.stl"))
    assert code == 0, stderr
    assert stdout.startswith(f"Wrote {tmp_path / 'G.stl'}")
    assert "watertight yes" in stdout
    assert "sleeve 'Pilot': open" in stdout
    assert "seating clearance min" in stdout
    assert not (tmp_path / "R.json").exists()


def test_relative_paths_from_another_folder(tmp_path, capsys, monkeypatch):
    write_case(tmp_path / "case")
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run(capsys, "guide", "case/PLAN.json", "-o", "G.stl", "--json")
    assert code == 0, stderr
    assert (tmp_path / "G.stl").is_file()


def _sleeve_outside() -> dict:
    record = plan_record()
    record["sleeves"][0]["entry_lps"] = [CENTER[0] + 40.0, CENTER[1], CENTER[2]]
    record["sleeves"][0]["target_lps"] = [CENTER[0] + 20.0, CENTER[1], CENTER[2]]
    return record


def _sleeve(**changes) -> dict:
    record = plan_record()
    record["sleeves"][0].update(changes)
    return record


def _slot_outside() -> dict:
    record = plan_record()
    record["slots"][0]["point_lps"] = [CENTER[0] + 30.0, CENTER[1], CENTER[2]]
    return record


BAD_PLANS = {
    "region missing the bone": (
        plan_record(region={"sphere": {"center_lps": [500.0, 0.0, 0.0], "radius_mm": 10.0}}),
        12,
        "region",
    ),
    "sleeve outside the region": (_sleeve_outside(), 12, "entry of Pilot lies outside the region"),
    "slot outside the region": (_slot_outside(), 12, "point of Cut lies outside the region"),
    "negative thickness": (plan_record(thickness_mm=-3.0), 12, "thickness_mm must be a size"),
    "zero clearance": (plan_record(clearance_mm=0), 12, "clearance_mm must be a size"),
    "negative inner diameter": (
        _sleeve(inner_diameter_mm=-1.0),
        12,
        "sleeves[0].inner_diameter_mm must be a size",
    ),
    "outer not larger than inner": (
        _sleeve(outer_diameter_mm=2.2),
        12,
        "outer_diameter_mm (2.2) must be larger than inner_diameter_mm (2.2)",
    ),
    "malformed JSON": ('{"bone": "BONE.stl", "region": {', 12, "not valid JSON"),
    "unknown keys": (plan_record(wall_mm=3.0), 12, "unknown key 'wall_mm'"),
    "missing bone file": (plan_record(bone="nothing.stl"), 2, "no such mesh file"),
    "missing project model": (
        plan_record(bone={"project": "CASE.wsproj", "model": "Skull"}),
        2,
        "no such project",
    ),
    "open-case model": (plan_record(bone={"model": "Skull"}), 12, "open in the window"),
}


@pytest.mark.parametrize("case", list(BAD_PLANS))
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_bad_plans_one_line_exit_and_no_file(tmp_path, capsys, case, json_flag):
    record, exit_code, expected = BAD_PLANS[case]
    plan = write_case(tmp_path / "case", record)
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, stderr = run(
        capsys,
        "guide", str(plan), "-o", str(out / "G.stl"), "--report", str(out / "R.json"), *json_flag,
    )  # fmt: skip
    assert code == exit_code, stderr
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("workstation: error: ")
    assert expected in lines[0]
    assert _files(out) == set()
    assert _files(tmp_path / "case") == {"PLAN.json", "BONE.stl"}


def test_a_missing_plan_file(tmp_path, capsys):
    code, _, stderr = run(
        capsys, "guide", str(tmp_path / "none.json"), "-o", str(tmp_path / "G.stl")
    )
    assert code == 2
    assert stderr.strip() == f"workstation: error: No such guide plan: {tmp_path / 'none.json'}"
    assert _files(tmp_path) == set()


def test_a_bad_output_fails_before_the_work(tmp_path, capsys):
    plan = write_case(tmp_path)
    code, _, stderr = run(capsys, "guide", str(plan), "-o", str(tmp_path / "G.step"))
    assert code == 8
    assert "unknown mesh format '.step'" in stderr
    code, _, stderr = run(
        capsys,
        "guide",
        str(plan),
        "-o",
        str(tmp_path / "G.stl"),
        "--report",
        str(tmp_path / "G.stl"),
    )
    assert code == 8
    assert "would overwrite the guide" in stderr
    assert _files(tmp_path) == {"PLAN.json", "BONE.stl"}


def test_help_names_the_exit_code(capsys):
    with pytest.raises(SystemExit):
        main(["guide", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit 12" in text and "--report REPORT.json" in text


def test_a_project_model_bone_and_a_3mf_guide(tmp_path, capsys):
    from tests.services.guide_cases import ball
    from workstation.services.project import ProjectContents, SavedModel, write_project

    case = tmp_path / "case"
    write_case(case, plan_record(bone={"project": "CASE.wsproj", "model": "Skull"}))
    model = SavedModel("model-1", "Skull", (1.0, 1.0, 1.0), 1.0, True, None, {}, {}, ball())
    write_project(case / "CASE.wsproj", ProjectContents(models=[model]))
    code, _, stderr = run(capsys, "guide", str(case / "PLAN.json"), "-o", str(case / "G.3mf"))
    assert code == 0, stderr
    record = json.loads((case / "G.provenance.json").read_text())
    bone = record["mesh_parameters"]["bone"]
    assert bone["reference"] == {"project": "CASE.wsproj", "model": "Skull"}
    assert bone["path"] == str((case / "CASE.wsproj").absolute())
    assert record["mesh_parameters"]["plan"]["bone"] == bone["reference"]
    (case / "G.provenance.json").unlink()  # the record inside the 3MF file is enough
    code, stdout, stderr = run(capsys, "provenance", str(case / "G.3mf"))
    assert "checked against the record inside it" in stdout
    assert code == 0, stderr


def test_the_summary_says_what_to_look_at():
    from workstation.cli.guide_cmd import summary_lines

    report = {
        "watertight": False,
        "manifold": True,
        "components": 2,
        "triangles": 1234,
        "volume_mm3": 10.5,
        "bounds_lps": [[0, 0, 0], [1, 2, 3]],
        "min_wall_mm": 0.8,
        "clearance_mm": {"min": None, "median": None, "max": None},
        "sleeves": [{"name": "A", "open": False}],
        "slots": [{"name": "", "open": True}],
        "undercut": {"found": True, "direction_lps": [0, 0, -1], "assumed": True,
                     "where_lps": [[1.0, 2.0, 3.0]]},
        "warnings": ["the guide has 2 separate pieces"],
    }  # fmt: skip
    written = {"guide": "G.stl", "provenance": "G.provenance.json", "report": None}
    lines = summary_lines(report, written, {"load": 0.5})
    text = "\n".join(lines)
    assert lines[0] == "Wrote G.stl"
    assert "report:" not in text
    assert "watertight NO, manifold yes, pieces 2, triangles 1,234" in text
    assert "bounds LPS min (0.0, 0.0, 0.0) max (1.0, 2.0, 3.0) mm" in text
    assert "seating clearance min ? median ? max ?" in text
    assert "sleeve 'A': BLOCKED" in text and "slot 'slot 1': open" in text
    assert "UNDERCUT along the assumed insertion direction (none planned): 1 place(s)" in text
    assert "near LPS (1.0, 2.0, 3.0)" in text
    assert "warning: the guide has 2 separate pieces" in text
    assert lines[-1] == "  time: load 0.50s"


def test_a_ras_bone_file_seats_the_guide_where_the_plan_says(tmp_path, capsys):
    # the plan is in LPS; read without conversion the bone would lie at (-x, -y, z),
    # away from the region, and the plan could not be built
    plan = write_case(tmp_path, coords="ras")
    code, stdout, stderr = run(capsys, "guide", str(plan), "-o", str(tmp_path / "G.stl"), "--json")
    assert code == 0, stderr
    low, high = json.loads(stdout)["bounds_lps"]
    top = plan_record()["region"]["sphere"]["center_lps"]
    assert all(lo - 0.5 <= t <= hi + 0.5 for lo, t, hi in zip(low, top, high, strict=True))
    guide = trimesh.load(tmp_path / "G.stl", force="mesh")
    assert guide.bounds[0] == pytest.approx(low, abs=1e-3)


@pytest.mark.parametrize(
    "argv",
    [
        ["-o", "G.stl", "--report", "PLAN.json"],
        ["-o", "BONE.stl"],
        ["-o", "G.stl", "--report", "link.json"],  # a link to the plan
    ],
)
def test_inputs_are_never_overwritten(tmp_path, capsys, monkeypatch, argv):
    plan = write_case(tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in _files(tmp_path)}
    (tmp_path / "link.json").symlink_to(plan)
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = run(capsys, "guide", str(plan), *argv)
    assert code == 8, stderr
    assert "would overwrite the input" in stderr and stdout == ""
    assert _files(tmp_path) == {*before, "link.json"}
    assert {name: (tmp_path / name).read_bytes() for name in before} == before


def test_a_base_only_plan_with_a_brush_region(tmp_path, capsys):
    top = plan_record()["region"]["sphere"]["center_lps"]
    dabs = [[top[0] + dx, top[1], top[2] - 0.5] for dx in (-6.0, 0.0, 6.0)]
    record = plan_record(
        region={"brush": {"radius_mm": 8.0, "points_lps": dabs}},
        sleeves=None,
        slots=None,
        insertion_direction_lps=None,
        thickness_mm=None,
        clearance_mm=None,
    )
    plan = write_case(tmp_path, record)
    code, stdout, stderr = run(capsys, "guide", str(plan), "-o", str(tmp_path / "G.stl"), "--json")
    assert code == 0, stderr
    report = json.loads(stdout)
    assert report["sleeves"] == [] and report["slots"] == []
    assert report["undercut"]["assumed"] is True
    # the defaults: 0.25 mm clearance (SLA) is where the guide seats
    assert report["clearance_mm"]["median"] == pytest.approx(0.25, abs=0.05)
    # the base spans the brush: wider along x (the strokes) than along y
    (x0, y0, _), (x1, y1, _) = report["bounds_lps"]
    assert x1 - x0 > y1 - y0 + 8.0


def test_dicom_to_bone_to_guide_keeps_the_source_images_in_the_record(tmp_path, capsys):
    from tests.support.dicom_factory import sphere_array, write_series

    def voxel_to_lps(s, r, c):
        return (-14.0 + c, -14.0 + r, -13.0 + 2.0 * s)

    dicom = tmp_path / "dicom"
    array = sphere_array((14, 28, 28), voxel_to_lps, [(0.0, 0.0, 0.0)], [8.0], inside=400)
    write_series(dicom, array, origin=(-14.0, -14.0, -13.0), slice_step=2.0)
    case = tmp_path / "case"
    case.mkdir()
    fast = ["--threshold", "0", "--smooth", "3", "--decimate", "0", "--min-island", "0"]
    code, _, stderr = run(capsys, "mesh", str(dicom), "-o", str(case / "BONE.stl"), *fast)
    assert code == 0, stderr
    record = {
        "bone": "BONE.stl",
        "region": {"sphere": {"center_lps": [0.0, 0.0, 8.0], "radius_mm": 6.0}},
    }
    (case / "PLAN.json").write_text(json.dumps(record))
    code, _, stderr = run(capsys, "guide", str(case / "PLAN.json"), "-o", str(case / "G.stl"))
    assert code == 0, stderr
    bone_record = json.loads((case / "BONE.provenance.json").read_text())
    guide_record = json.loads((case / "G.provenance.json").read_text())
    assert guide_record["sources"] == bone_record["sources"]
    assert len(guide_record["sources"][0]["files"]) == 14
    code, stdout, stderr = run(capsys, "provenance", str(case / "G.stl"))
    assert code == 0, stderr
    assert "all 14 files match" in stdout
    changed = sorted(dicom.iterdir())[3]
    changed.write_bytes(changed.read_bytes()[:-2] + b"\x01\x02")
    code, _, stderr = run(capsys, "provenance", str(case / "G.stl"))
    assert code == 11
    assert "1 of 14 source file(s) changed" in stderr
