"""`workstation mesh-tool`: files written with provenance, exit codes, and no file on error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.processing.guides.tool_shapes import box, cap_volume, sphere
from tests.support.cli import run_workstation
from workstation.cli.main import main
from workstation.core.mesh import Mesh
from workstation.io.mesh_export import export_mesh, read_mesh
from workstation.processing.guides.manifold_bridge import check_solid


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["mesh-tool", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _json(capsys, *argv: str) -> dict:
    code, out, err = _run(capsys, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


@pytest.fixture
def ball_file(tmp_path) -> Path:
    path = tmp_path / "ball.ply"
    export_mesh(sphere(10.0, subdivisions=4), path)
    return path


def test_cut_writes_numbered_closed_pieces_with_records(tmp_path, capsys, ball_file) -> None:
    out = tmp_path / "out" / "piece.ply"
    out.parent.mkdir()
    summary = _json(capsys, "cut", str(ball_file), "-o", str(out), "--plane", "0,0,4,0,0,1")
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == [
        "piece_1.ply", "piece_1.provenance.json", "piece_2.ply", "piece_2.provenance.json"
    ]  # fmt: skip
    whole = read_mesh(ball_file).signed_volume()
    pieces = [read_mesh(out.parent / f"piece_{n}.ply") for n in (1, 2)]
    assert sum(p.signed_volume() for p in pieces) == pytest.approx(whole, rel=1e-6)
    assert pieces[1].signed_volume() == pytest.approx(cap_volume(10.0, 6.0), rel=5e-3)
    assert all(check_solid(p).ok for p in pieces)
    assert [o["sides"] for o in summary["outputs"]] == [["-"], ["+"]]
    record = json.loads((out.parent / "piece_2.provenance.json").read_text())
    assert record["mesh_parameters"]["tool"] == "cut"
    assert record["mesh_parameters"]["parameters"]["planes"] == [
        {"point_lps": [0.0, 0.0, 4.0], "normal_lps": [0.0, 0.0, 1.0]}
    ]
    assert record["inputs"][0]["sha256"] == _sha(ball_file)
    assert record["files"][0]["sha256"] == _sha(out.parent / "piece_2.ply")


def test_boolean_subtract_of_boxes_is_exact(tmp_path, capsys) -> None:
    export_mesh(box((0, 0, 0), (10, 10, 10)), tmp_path / "a.ply")
    export_mesh(box((6, -1, -1), (11, 11, 11)), tmp_path / "b.ply")
    out = tmp_path / "a-b.stl"
    summary = _json(
        capsys, "boolean", str(tmp_path / "a.ply"), str(tmp_path / "b.ply"), "-o", str(out),
        "--operation", "subtract",
    )  # fmt: skip
    assert read_mesh(out).signed_volume() == pytest.approx(600.0, rel=1e-6)
    (result,) = summary["outputs"]
    assert result["watertight"] and result["manifold"] and result["components"] == 1
    assert [i["name"] for i in summary["operation"]["inputs"]] == ["a", "b"]


def test_mid_sagittal_mirror_of_a_ras_file(tmp_path, capsys) -> None:
    lps = box((10, -3, 2), (20, 5, 9))
    source = tmp_path / "left.ply"
    export_mesh(lps, source, coords="ras")  # the file holds RAS; read back as LPS
    out = tmp_path / "right.ply"
    code, text, err = _run(capsys, "mirror", str(source), "-o", str(out), "--mid-sagittal", "1,0,0")
    assert code == 0, err
    assert "closed solid" in text
    mirrored = read_mesh(out)
    low, high = mirrored.bounds()
    assert low == pytest.approx([-18.0, -3.0, 2.0]) and high == pytest.approx([-8.0, 5.0, 9.0])
    assert mirrored.signed_volume() == pytest.approx(lps.signed_volume(), rel=1e-12)


def test_transform_applies_and_records_the_matrix(tmp_path, capsys, ball_file) -> None:
    out = tmp_path / "moved.ply"
    summary = _json(
        capsys, "transform", str(ball_file), "-o", str(out), "--rotate", "S,90",
        "--about", "5,0,0", "--translate", "0,0,2",
    )  # fmt: skip
    matrix = np.array(summary["operation"]["parameters"]["matrix"])
    expected = np.array([[0, -1, 0, 5], [1, 0, 0, -5], [0, 0, 1, 2], [0, 0, 0, 1]], float)
    assert matrix == pytest.approx(expected, abs=1e-12)
    before, after = read_mesh(ball_file), read_mesh(out)
    moved = before.vertices @ expected[:3, :3].T + expected[:3, 3]
    assert np.sort(after.vertices, axis=0) == pytest.approx(np.sort(moved, axis=0), abs=1e-9)
    record = json.loads((tmp_path / "moved.provenance.json").read_text())
    assert record["mesh_parameters"]["parameters"]["matrix"] == matrix.tolist()


def test_hollow_reports_each_drain_hole(tmp_path, capsys, ball_file) -> None:
    out = tmp_path / "shell.stl"
    summary = _json(
        capsys, "hollow", str(ball_file), "-o", str(out), "--wall", "2", "--spacing", "0.5",
        "--drain", "0,0,10,0,0,-1,3", "--drain", "30,0,0,0,0,1,3",
    )  # fmt: skip
    assert [h["opens"] for h in summary["drain_holes"]] == [True, False]
    assert summary["warnings"] == [
        "drain hole 2 does not open the cavity: its line does not meet the model"
    ]
    shell = read_mesh(out)
    assert check_solid(shell).ok
    ball = read_mesh(ball_file)
    radius = (3 * ball.signed_volume() / (4 * np.pi)) ** (1 / 3)
    plug = np.pi * 1.5**2 * 2.0  # the open drain hole through the 2 mm wall
    expected = ball.signed_volume() - 4 / 3 * np.pi * (radius - 2.0) ** 3 - plug
    assert shell.signed_volume() == pytest.approx(expected, rel=0.02)


def test_offset_outwards(tmp_path, capsys, ball_file) -> None:
    out = tmp_path / "grown.ply"
    _json(capsys, "offset", str(ball_file), "-o", str(out), "--distance", "2", "--spacing", "0.5")
    grown = read_mesh(out)
    radius = (3 * grown.signed_volume() / (4 * np.pi)) ** (1 / 3)
    assert radius == pytest.approx(12.0, abs=0.1)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["transform", "{ball}", "-o", "{out}", "--matrix", "2,0,0,0,0,1,0,0,0,0,1,0,0,0,0,1"],
            13,
            "not rigid",
        ),
        (["offset", "{open}", "-o", "{out}", "--distance", "1"], 13, "open edges"),
        (["boolean", "{ball}", "-o", "{out}", "--operation", "union"], 13, "at least two"),
        (["offset", "{missing}", "-o", "{out}", "--distance", "1"], 2, "No such mesh file"),
        (["offset", "{ball}", "-o", "{bad}", "--distance", "1"], 8, "unknown mesh format"),
        (["hollow", "{ball}", "-o", "{out}", "--wall", "-1"], 13, "must be positive"),
        (["transform", "{ball}", "-o", "{out}"], 13, "needs --matrix, --rotate or --translate"),
    ],
)
def test_errors_exit_non_zero_and_write_nothing(tmp_path, capsys, ball_file, argv, code, message):
    closed = box((0, 0, 0), (1, 1, 1))
    export_mesh(Mesh(closed.vertices, closed.faces[:-1]), tmp_path / "open.ply")
    places = {
        "ball": str(ball_file),
        "open": str(tmp_path / "open.ply"),
        "missing": str(tmp_path / "missing.stl"),
        "out": str(tmp_path / "result.stl"),
        "bad": str(tmp_path / "result.xyz"),
    }
    before = set(tmp_path.iterdir())
    got, out, err = _run(capsys, *(a.format(**places) for a in argv))
    assert got == code
    assert err.count("\n") == 1 and message in err and err.startswith("workstation: error:")
    assert out == ""
    assert set(tmp_path.iterdir()) == before  # no output, no record


def test_usage_error_and_help_in_a_real_process(tmp_path, ball_file) -> None:
    bad = run_workstation("mesh-tool", "cut", str(ball_file), "-o", str(tmp_path / "x.stl"),
                          "--plane", "1,2,3")  # fmt: skip
    assert bad.returncode == 2 and "X,Y,Z,NX,NY,NZ" in bad.stderr
    assert not list(tmp_path.glob("x*"))
    listed = run_workstation("mesh-tool", "--help")
    assert listed.returncode == 0
    for tool in ("cut", "boolean", "offset", "hollow", "mirror", "transform"):
        assert tool in listed.stdout
    done = run_workstation("mesh-tool", "mirror", str(ball_file), "-o", str(tmp_path / "m.stl"),
                           "--plane", "0,0,0,0,0,1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "m.stl").is_file() and (tmp_path / "m.provenance.json").is_file()
