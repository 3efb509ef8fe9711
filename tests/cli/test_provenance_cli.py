"""``workstation mesh`` writes each model's provenance record and ``workstation provenance``
checks a model against it: exit 0 when all matches, 11 naming what differs, 2 without a
record."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import trimesh

from tests.support.dicom_factory import sphere_array, write_series
from workstation.cli.main import main
from workstation.io.mesh_export import MODEL_PART, read_3mf_metadata

SHAPE = (14, 28, 28)
FAST = ["--threshold", "0", "--smooth", "3", "--decimate", "0", "--min-island", "0"]


def _voxel_to_lps(s, r, c):
    return (-14.0 + c, -14.0 + r, -13.0 + 2.0 * s)


@pytest.fixture
def study(tmp_path) -> Path:
    """A CT series of one ball in ``tmp_path/dicom``."""
    folder = tmp_path / "dicom"
    array = sphere_array(SHAPE, _voxel_to_lps, [(0.0, 0.0, 0.0)], [8.0], inside=400)
    write_series(folder, array, origin=(-14.0, -14.0, -13.0), slice_step=2.0, shuffle=True)
    return folder


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def mesh(capsys, study: Path, output: Path, *extra: str) -> dict:
    code, out, err = run(capsys, "mesh", str(study), "-o", str(output), *FAST, *extra, "--json")
    assert code == 0 and err == "", err
    return json.loads(out)


def _flip(path: Path, offset: int) -> bytes:
    original = path.read_bytes()
    data = bytearray(original)
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    return original


def test_mesh_writes_the_record_and_provenance_checks_it(study, tmp_path, capsys):
    output = tmp_path / "Ball.stl"
    summary = mesh(capsys, study, output)
    record_path = tmp_path / "Ball.provenance.json"
    assert summary["provenance"]["record"] == str(record_path)
    assert summary["provenance"]["source_files"] == SHAPE[0]
    assert summary["provenance"]["source_bytes"] == sum(p.stat().st_size for p in study.iterdir())
    record = json.loads(record_path.read_text())
    (entry,) = record["files"]
    assert entry["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    assert record["mesh_parameters"]["lower"] == 0.0
    assert record["mesh_parameters"]["smooth_iterations"] == 3
    assert record["operations"] == [] and record["segment"] == {"id": None, "name": None}
    assert record["model"]["statistics"] == summary["statistics"]

    code, out, err = run(capsys, "provenance", str(output))
    assert code == 0 and err == ""
    assert f"all {SHAPE[0]} files match" in out and out.rstrip().endswith("Provenance matches.")

    # one byte of the model changed: exit 11, the one error line names the file hash
    original = _flip(output, 200)
    code, out, err = run(capsys, "provenance", str(output))
    assert code == 11
    (line,) = err.splitlines()
    assert line.startswith("workstation: error: Ball.stl differs from its provenance record")
    assert "the SHA-256 of Ball.stl differs" in line
    assert "file: DIFFERS" in out
    output.write_bytes(original)

    # one byte of one source image changed: exit 11 naming that file
    victim = sorted(study.iterdir())[6]
    original = _flip(victim, victim.stat().st_size - 20)
    code, out, err = run(capsys, "provenance", str(output))
    assert code == 11
    (line,) = err.splitlines()
    assert f"1 of {SHAPE[0]} source file(s) changed in {study}: {victim.name}" in line
    victim.write_bytes(original)
    assert run(capsys, "provenance", str(output))[0] == 0


def test_moved_sources_are_reported_and_checked_again_with_source(study, tmp_path, capsys):
    output = tmp_path / "Ball.obj"
    mesh(capsys, study, output)
    moved = tmp_path / "moved"
    shutil.move(study, moved)
    code, out, err = run(capsys, "provenance", str(output))
    assert code == 0 and err == ""
    assert "not found: cannot check" in out and "--source DIR" in out
    assert "Provenance matches (sources not checked)." in out

    code, out, err = run(capsys, "provenance", str(output), "--source", str(moved))
    assert code == 0 and err == ""
    assert f"in {moved}: all {SHAPE[0]} files match" in out

    victim = sorted(moved.iterdir())[0]
    _flip(victim, victim.stat().st_size - 2)
    code, out, _ = run(capsys, "provenance", str(output), "--source", str(moved), "--json")
    assert code == 11
    report = json.loads(out)  # one JSON object on stdout
    assert report["ok"] is False and report["file_ok"] is True
    assert report["sources"][0]["changed"] == [victim.name]
    assert report["sources"][0]["folder"] == str(moved)


def test_a_missing_model_or_record_exits_2(study, tmp_path, capsys):
    code, out, err = run(capsys, "provenance", str(tmp_path / "none.stl"))
    assert code == 2 and out == "" and "No such model file" in err
    output = tmp_path / "Ball.stl"
    mesh(capsys, study, output)
    (tmp_path / "Ball.provenance.json").unlink()
    code, out, err = run(capsys, "provenance", str(output))
    assert code == 2 and out == ""
    assert err == (
        "workstation: error: no provenance record beside Ball.stl (Ball.provenance.json)\n"
    )


def test_a_3mf_model_of_replayed_operations_holds_its_record(study, tmp_path, capsys):
    ops = tmp_path / "ops.json"
    document = {
        "segments": [{"name": "Ball", "color": [0.9, 0.8, 0.6]}],
        "operations": [
            {"op": "threshold", "segment": "Ball", "lower": 100, "upper": None},
            {"op": "islands", "segment": "Ball", "mode": "keep_largest"},
        ],
    }
    ops.write_text(json.dumps(document))
    output = tmp_path / "Ball.3mf"
    code, out, err = run(
        capsys, "mesh", str(study), "-o", str(output), "--ops", str(ops), "--smooth", "0", "--json"
    )
    assert code == 0, err
    summary = json.loads(out)
    inside = json.loads(read_3mf_metadata(output)["sp:provenance"])
    assert inside["segment"]["name"] == "Ball" and inside["segment"]["id"]
    assert [record["op"] for record in inside["operations"]] == [
        "add_segment",
        "threshold",
        "islands",
    ]
    assert inside["operations"][1]["lower"] == 100
    assert inside["model"]["statistics"] == summary["statistics"]
    loaded = trimesh.load(output, force="mesh")
    assert len(loaded.faces) == summary["statistics"]["triangles"]

    (tmp_path / "Ball.provenance.json").unlink()
    code, out, err = run(capsys, "provenance", str(output))
    assert code == 0 and err == "", err
    assert "the record inside the file" in out and "3MF model content: matches" in out

    # the model part changed (a triangle dropped), the record inside left alone: exit 11
    with zipfile.ZipFile(output) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    lines = parts[MODEL_PART].splitlines(keepends=True)
    lines.remove(next(line for line in lines if line.startswith(b"<triangle ")))
    parts[MODEL_PART] = b"".join(lines)
    with zipfile.ZipFile(output, "w") as package:
        for name, data in parts.items():
            package.writestr(name, data)
    code, _, err = run(capsys, "provenance", str(output))
    assert code == 11 and "the model inside Ball.3mf differs from the record" in err
