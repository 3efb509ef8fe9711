"""`workstation segment -o CASE.wsproj`, `project info`, `project open` and `mesh CASE.wsproj`."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh

from tests.services.project_cases import write_ct
from tests.support.cli import run_workstation
from workstation.cli.main import main
from workstation.services.modeling import ModelOptions, make_segment_model
from workstation.services.project import SavedModel, open_project, read_project, save_project

FAST = ["--smooth", "5", "--decimate", "0", "--min-island", "0"]


@pytest.fixture()
def case(tmp_path):
    """A CT series and a project made from it by `workstation segment` (two segments)."""
    paths, array, affine = write_ct(tmp_path / "dicom")
    ops = tmp_path / "ops.json"
    ops.write_text(
        json.dumps(
            {
                "segments": [{"name": "Bone"}, {"name": "Dense"}],
                "operations": [
                    {"op": "threshold", "segment": "Bone", "lower": 0},
                    {"op": "threshold", "segment": "Dense", "lower": 500, "upper": 1500},
                    {"op": "islands", "segment": "Dense", "mode": "keep_largest"},
                ],
            }
        )
    )
    project = tmp_path / "CASE.wsproj"
    result = run_workstation(
        "segment", str(tmp_path / "dicom"), "--ops", str(ops), "-o", str(project)
    )
    assert result.returncode == 0, result.stderr
    return {"tmp": tmp_path, "paths": paths, "array": array, "affine": affine, "project": project}


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _mesh_of_project(capsys, case, segment: str, out, *extra: str) -> tuple[int, str, str]:
    """`workstation mesh CASE.wsproj --segment SEGMENT -o OUT EXTRA...`."""
    return _run(capsys, "mesh", str(case["project"]), "--segment", segment, "-o", str(out), *extra)


def test_segment_writes_a_project_of_the_replay(case):
    contents = read_project(case["project"])
    bone, dense = contents.segmentation.segments
    assert np.array_equal(bone.mask, case["array"] >= 0)
    assert bone.threshold_range == (0.0, None) and dense.threshold_range is None
    assert [record["op"] for record in contents.operations] == [
        "add_segment",
        "add_segment",
        "threshold",
        "threshold",
        "islands",
    ]
    assert contents.models == [] and contents.measurements == []
    (series,) = contents.sources
    assert sorted(item.name for item in series.files) == sorted(p.name for p in case["paths"])


def _with_model(case) -> Path:
    """The project with a model of Bone added (as the window would save it)."""
    contents = read_project(case["project"])
    volume = open_project(case["project"]).volume
    bone = contents.segmentation.segments[0]
    model = make_segment_model(volume, bone, ModelOptions(smooth_iterations=0, workers=0))
    contents.models.append(
        SavedModel(
            "model-1", "Bone model", (1, 1, 1), 1.0, True, bone.segment_id, {}, {}, model.mesh
        )
    )
    return save_project(case["project"], contents)


def test_project_info_json_counts_match_independent_counts(case, capsys):
    path = _with_model(case)
    code, out, err = _run(capsys, "project", "info", str(path), "--json")
    assert code == 0 and err == ""
    info = json.loads(out)
    voxel_mm3 = abs(np.linalg.det(case["affine"][:3, :3]))
    bone, dense = info["segments"]
    expected = int(np.count_nonzero(case["array"] >= 0))
    assert (bone["name"], bone["voxels"]) == ("Bone", expected)
    assert bone["volume_mm3"] == pytest.approx(expected * voxel_mm3, rel=1e-9)
    assert dense["voxels"] < expected
    with zipfile.ZipFile(path) as archive:
        ply = archive.read("models/model-1.ply")
    independent = trimesh.load(io.BytesIO(ply), file_type="ply", process=False)
    (model,) = info["models"]
    assert model["triangles"] == len(independent.faces)
    assert model["volume_mm3"] == pytest.approx(independent.volume, rel=1e-6)
    (source,) = info["sources"]
    assert source["found"] and source["matches"] and source["files"] == len(case["paths"])
    assert source["found_in"] == str(case["tmp"] / "dicom")
    assert info["planning"] == [] and info["measurements"] == [] and info["schema_version"] == 1


def test_project_info_reports_changed_and_missing_sources(case, capsys):
    changed = case["paths"][4]
    data = bytearray(changed.read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    code, out, _ = _run(capsys, "project", "info", str(case["project"]), "--json")
    (source,) = json.loads(out)["sources"]
    assert code == 0 and source["found"] and not source["matches"]
    assert source["changed"] == [changed.name]
    moved = case["tmp"] / "moved"
    (case["tmp"] / "dicom").rename(moved)
    code, out, _ = _run(capsys, "project", "info", str(case["project"]), "--json")
    (source,) = json.loads(out)["sources"]
    assert code == 0 and not source["found"] and len(source["missing"]) == len(case["paths"])
    code, out, _ = _run(capsys, "project", "info", str(case["project"]), "--source", str(moved))
    assert code == 0 and f"found in {moved}: CHANGED" in out and changed.name in out
    assert "Bone: " in out and "voxels" in out


def test_mesh_of_a_project_segment_is_the_mesh_of_the_same_operations(case, capsys):
    with zipfile.ZipFile(case["project"]) as archive:
        (case["tmp"] / "replay.json").write_bytes(archive.read("operations.json"))
    (case["tmp"] / "a").mkdir()
    (case["tmp"] / "b").mkdir()
    for segment in ("Bone", "Dense"):
        from_project = case["tmp"] / "a" / f"{segment}.stl"
        from_ops = case["tmp"] / "b" / f"{segment}.stl"
        code, _, err = _mesh_of_project(
            capsys,
            case,
            segment,
            from_project,
            *FAST,
        )
        assert code == 0, err
        code, _, err = _run(
            capsys,
            "mesh",
            str(case["tmp"] / "dicom"),
            "--ops",
            str(case["tmp"] / "replay.json"),
            "--segment",
            segment,
            "-o",
            str(from_ops),
            *FAST,
        )
        assert code == 0, err
        assert from_project.read_bytes() == from_ops.read_bytes()
    # the model's record names the project's verified sources (hashed once, on opening)
    code, out, err = _mesh_of_project(
        capsys,
        case,
        "Bone",
        from_project,
        "--json",
        *FAST,
    )
    assert code == 0, err
    assert json.loads(out)["provenance"]["hashing_s"] == 0
    record = json.loads((case["tmp"] / "a" / "Bone.provenance.json").read_text())
    (series,) = record["sources"]
    assert {item["name"]: item["sha256"] for item in series["files"]} == {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in case["paths"]
    }
    assert _run(capsys, "provenance", str(from_project))[0] == 0


def test_mesh_refuses_changed_sources_unless_allowed(case, capsys):
    changed = case["paths"][2]
    data = bytearray(changed.read_bytes())
    data[-1] ^= 1
    changed.write_bytes(bytes(data))
    out = case["tmp"] / "bone.stl"
    code, _, err = _mesh_of_project(capsys, case, "Bone", out)
    assert code == 10 and changed.name in err and "--allow-changed-sources" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    code, _, err = _mesh_of_project(
        capsys,
        case,
        "Bone",
        out,
        "--allow-changed-sources",
        *FAST,
    )
    assert code == 0 and out.exists()
    assert "warning" in err and changed.name in err


def test_mesh_finds_moved_sources_with_source_and_names_missing_files(case, capsys):
    moved = case["tmp"] / "moved"
    shutil.move(case["tmp"] / "dicom", moved)
    out = case["tmp"] / "bone.stl"
    code, _, err = _mesh_of_project(capsys, case, "Bone", out)
    assert code == 10 and "--source" in err and not out.exists()
    code, _, err = _mesh_of_project(
        capsys,
        case,
        "Bone",
        out,
        "--source",
        str(moved),
        *FAST,
    )
    assert code == 0, err
    gone = moved / case["paths"][7].name
    gone.unlink()
    code, _, err = _mesh_of_project(
        capsys,
        case,
        "Bone",
        out,
        "--source",
        str(moved),
    )
    assert code == 10 and gone.name in err and "missing" in err


def test_flags_that_do_not_go_with_a_project(case, capsys):
    project = str(case["project"])
    for extra in (["--threshold", "100"], ["--series", "1.2.3"], ["--largest"]):
        code, _, err = _run(capsys, "mesh", project, "-o", str(case["tmp"] / "x.stl"), *extra)
        assert code == 6 and err.count("\n") == 1, (extra, err)
    code, _, err = _run(
        capsys,
        "mesh",
        str(case["tmp"] / "dicom"),
        "-o",
        str(case["tmp"] / "x.stl"),
        "--source",
        ".",
    )
    assert code == 6 and "go with a project" in err
    code, _, err = _run(capsys, "view", str(case["tmp"] / "dicom"), "--source", str(case["tmp"]))
    assert code == 1 and "--source goes with a project" in err


def test_project_open_needs_a_display(case, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, _, err = _run(capsys, "project", "open", str(case["project"]))
    assert code == 1 and "No display" in err
    code, _, err = _run(capsys, "project", "info", str(case["tmp"] / "missing.wsproj"))
    assert code == 2 and "missing.wsproj" in err
