"""`workstation mesh`: synthetic DICOM balls at known LPS positions, real CTs, and bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import trimesh

from tests.processing.spheres import ORIENTATIONS, assert_bodies_match, ball_volume, grid_affine
from tests.support.dicom_factory import write_enhanced_ct, write_series
from tests.support.shared_data import shared_data_path
from workstation.cli.main import main
from workstation.io.mesh_export import SUPPORTED_EXTENSIONS, read_mesh

pytest.importorskip("workstation.services.loading", reason="the DICOM loader is not available")

SHAPE = (40, 52, 52)
FAST = ["--smooth", "10", "--decimate", "0.5", "--threshold", "0", "--min-island", "0"]


def write_balls(folder: Path, orientation: str = "axial", tilt: float = 0.0, **kwargs):
    """Write the ball phantom as a DICOM series; returns the (centre, radius) truths."""
    affine = grid_affine(orientation, SHAPE, tilt_degrees=tilt)
    volume, truths = ball_volume(affine, SHAPE)
    row, col = ORIENTATIONS[orientation]
    positions = [affine[:3, 3] + i * affine[:3, 0] for i in range(SHAPE[0])]
    write_series(
        folder,
        volume.array,
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.9, 0.8),
        positions=positions,
        shuffle=True,
        **kwargs,
    )
    return truths


def run_json(capsys, *argv: str) -> dict:
    code = main(["mesh", *argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    return json.loads(captured.out)  # one JSON object and nothing else


def check_output(path: Path, summary: dict, truths) -> None:
    loaded = trimesh.load(path, force="mesh")
    stats = summary["statistics"]
    assert len(loaded.faces) == stats["triangles"]
    assert loaded.volume == pytest.approx(stats["volume_mm3"], rel=1e-4)
    assert loaded.is_watertight and stats["watertight"] and stats["volume_mm3"] > 0
    assert_bodies_match(read_mesh(path), truths)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
def test_orientations(tmp_path, capsys, orientation):
    truths = write_balls(tmp_path / "dicom", orientation)
    output = tmp_path / "model.stl"
    summary = run_json(capsys, str(tmp_path / "dicom"), "-o", str(output), *FAST)
    check_output(output, summary, truths)
    assert summary["coords"] == "lps" and summary["units"] == "mm"
    assert {"load", "threshold", "surface", "smooth", "decimate", "export"} <= set(
        summary["timings_s"]
    )


def test_gantry_tilt(tmp_path, capsys):
    truths = write_balls(tmp_path / "dicom", "axial", tilt=18.5, gantry_tilt=18.5)
    output = tmp_path / "model.ply"
    summary = run_json(capsys, str(tmp_path / "dicom"), "-o", str(output), *FAST)
    check_output(output, summary, truths)
    assert any("tilt" in warning.lower() for warning in summary["warnings"])


def test_uneven_spacing_and_missing_slice(tmp_path, capsys):
    affine = grid_affine("coronal", SHAPE)
    steps = np.where(np.arange(SHAPE[0]) % 2, 1.4, 1.0)  # uneven steps along the normal
    normal = affine[:3, 0] / np.linalg.norm(affine[:3, 0])
    offsets = np.concatenate([[0.0], np.cumsum(steps[:-1])])
    offsets -= offsets.mean()
    centre = affine[:3, :3] @ ((np.asarray(SHAPE) - 1) / 2) + affine[:3, 3]
    in_plane = affine[:3, 3] - (affine[:3, 3] - centre) @ normal * normal
    positions = [in_plane + offset * normal for offset in offsets]
    row, col = ORIENTATIONS["coronal"]
    # sample the balls at the real (uneven) positions
    volume, truths = ball_volume(affine, SHAPE)
    from tests.support.dicom_factory import sphere_array

    def to_lps(s, r, c):
        points = [
            np.asarray(positions)[s, i] + affine[i, 1] * r + affine[i, 2] * c for i in range(3)
        ]
        return tuple(points)

    centres = [c for c, _ in truths]
    radii = [r for _, r in truths]
    array = sphere_array(SHAPE, to_lps, centres, radii)
    write_series(
        tmp_path / "uneven",
        array,
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.9, 0.8),
        positions=positions,
    )
    output = tmp_path / "uneven.obj"
    summary = run_json(capsys, str(tmp_path / "uneven"), "-o", str(output), *FAST)
    check_output(output, summary, truths)
    assert summary["warnings"]

    keep = [i for i in range(SHAPE[0]) if i != 21]
    write_series(
        tmp_path / "gap",
        volume.array[keep],
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.9, 0.8),
        positions=[affine[:3, 3] + i * affine[:3, 0] for i in keep],
    )
    output = tmp_path / "gap.3mf"
    summary = run_json(capsys, str(tmp_path / "gap"), "-o", str(output), *FAST)
    check_output(output, summary, truths)
    assert any("missing" in warning.lower() for warning in summary["warnings"])


def test_enhanced_multiframe(tmp_path, capsys):
    affine = grid_affine("sagittal", SHAPE)
    volume, truths = ball_volume(affine, SHAPE)
    row, col = ORIENTATIONS["sagittal"]
    order = list(range(SHAPE[0]))[::-1]
    write_enhanced_ct(
        tmp_path / "enhanced.dcm",
        (volume.array + 1024).astype(np.int16),
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.9, 0.8),
        positions=[affine[:3, 3] + i * affine[:3, 0] for i in range(SHAPE[0])],
        rescale_intercept=-1024.0,
        frame_order=order,
    )
    output = tmp_path / "model.stl"
    summary = run_json(capsys, str(tmp_path / "enhanced.dcm"), "-o", str(output), *FAST)
    check_output(output, summary, truths)


@pytest.mark.parametrize("extension", SUPPORTED_EXTENSIONS)
def test_every_format_in_ras(tmp_path, capsys, extension):
    truths = write_balls(tmp_path / "dicom", "double-oblique")
    output = tmp_path / f"model{extension}"
    summary = run_json(capsys, str(tmp_path / "dicom"), "-o", str(output), "--coords", "ras", *FAST)
    loaded = trimesh.load(output, force="mesh")
    ras_truths = [((-c[0], -c[1], c[2]), r) for c, r in truths]
    from workstation.core.mesh import Mesh

    assert_bodies_match(Mesh(loaded.vertices, loaded.faces), ras_truths)
    check_output(output, summary, truths)  # read_mesh converts the declared RAS back to LPS


def test_default_bone_options_and_text_output(tmp_path, capsys):
    affine = grid_affine("axial", SHAPE)
    volume, truths = ball_volume(affine, SHAPE, inside=1000, outside=-549)  # edge at 225.5
    row, col = ORIENTATIONS["axial"]
    write_series(
        tmp_path / "dicom",
        volume.array,
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.9, 0.8),
        positions=[affine[:3, 3] + i * affine[:3, 0] for i in range(SHAPE[0])],
    )
    output = tmp_path / "bone.stl"
    code = main(["mesh", str(tmp_path / "dicom"), "-o", str(output)])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""  # no progress bar when stderr is not a terminal
    assert captured.out.startswith(f"Wrote {output}")
    assert "watertight yes" in captured.out and "226..3071 HU" in captured.out
    assert_bodies_match(read_mesh(output), truths)
    assert output.read_bytes()[:9] == b"SPACE=LPS"


def test_seed_and_largest(tmp_path, capsys):
    truths = write_balls(tmp_path / "dicom", "coronal")
    seed = ",".join(f"{v:.2f}" for v in truths[1][0])
    output = tmp_path / "seed.stl"
    summary = run_json(capsys, str(tmp_path / "dicom"), "-o", str(output), "--seed", seed, *FAST)
    assert_bodies_match(read_mesh(output), [truths[1]])
    assert summary["statistics"]["components"] == 1
    output = tmp_path / "largest.stl"
    run_json(capsys, str(tmp_path / "dicom"), "-o", str(output), "--largest", *FAST)
    assert_bodies_match(read_mesh(output), [truths[0]])


def test_keep_table_option(tmp_path, capsys):
    truths = write_balls(tmp_path / "dicom", "axial")
    output = tmp_path / "kept.stl"
    summary = run_json(capsys, str(tmp_path / "dicom"), "-o", str(output), "--keep-table", *FAST)
    assert_bodies_match(read_mesh(output), truths)
    assert not any("outside" in line for line in summary["report"])
    from workstation.cli.main import build_parser
    from workstation.cli.mesh_cmd import options_from_args

    parse = build_parser().parse_args
    assert options_from_args(parse(["mesh", "in", "-o", "x.stl"])).remove_table
    assert not options_from_args(parse(["mesh", "in", "-o", "x.stl", "--keep-table"])).remove_table


def bad_run(capsys, tmp_path: Path, argv: list[str], code: int, text: str) -> None:
    before = set(tmp_path.rglob("*"))
    result = main(["mesh", *argv])
    captured = capsys.readouterr()
    assert result == code, captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workstation: error:")
    assert text in lines[0]
    assert captured.out == ""
    assert set(tmp_path.rglob("*")) == before  # no output file, no temporary file


def test_bad_input(tmp_path, capsys):
    write_balls(tmp_path / "dicom", "axial")
    dicom = str(tmp_path / "dicom")
    out = str(tmp_path / "out.stl")
    bad_run(capsys, tmp_path, [dicom, "-o", out, "--threshold", "5000"], 6, "selects no voxels")
    bad_run(capsys, tmp_path, [dicom, "-o", out, "--preset", "femur"], 6, "valid presets: bone")
    bad_run(capsys, tmp_path, [dicom, "-o", str(tmp_path / "no" / "out.stl")], 8, "does not exist")
    bad_run(capsys, tmp_path, [dicom, "-o", str(tmp_path / "out.vtk")], 8, "unknown mesh format")
    a_file = str(tmp_path / "dicom" / next(iter(sorted(os.listdir(tmp_path / "dicom")))))
    bad_run(capsys, tmp_path, [dicom, "-o", f"{a_file}/out.stl"], 8, "is a file, not a folder")
    bad_run(capsys, tmp_path, [dicom, "-o", out, "--seed", "1,2"], 6, "three numbers")
    bad_run(capsys, tmp_path, [dicom, "-o", out, "--seed", "900,0,0"], 6, "outside the image")
    single = tmp_path / "single"
    write_series(single, np.zeros((1, 16, 16), np.int16))
    bad_run(capsys, tmp_path, [str(single), "-o", out], 4, "")
    (tmp_path / "notdicom").mkdir()
    (tmp_path / "notdicom" / "readme.txt").write_text("hello")
    before = set(tmp_path.rglob("*"))
    assert main(["mesh", str(tmp_path / "notdicom"), "-o", out]) != 0
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert set(tmp_path.rglob("*")) == before


@pytest.mark.skipif(os.name != "posix", reason="/proc is Linux-only")
def test_unwritable_output(tmp_path, capsys):
    write_balls(tmp_path / "dicom", "axial")
    code = main(["mesh", str(tmp_path / "dicom"), "-o", "/proc/model.stl", *FAST])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 8 and len(lines) == 1 and "/proc/model.stl" in lines[0]
    assert not Path("/proc/model.stl").exists()


def real(name: str) -> Path:
    return shared_data_path(name)


def closed_real_model(capsys, tmp_path: Path, name: str, *options: str) -> dict:
    """Mesh the real series ``name``; check the file and statistics say watertight, manifold."""
    output = tmp_path / f"{name}.stl"
    summary = run_json(capsys, str(real(name)), "-o", str(output), *options)
    stats = summary["statistics"]
    assert stats["watertight"] and stats["manifold"] and stats["volume_mm3"] > 0
    loaded = trimesh.load(output)
    assert loaded.is_watertight and len(loaded.faces) == stats["triangles"]
    return summary


def test_real_head_ct_bone_model(tmp_path, capsys):
    # stored values are HU + 1024 without a rescale intercept: bone starts near 1250
    summary = closed_real_model(capsys, tmp_path, "ct_head_slicer_64px", "--threshold", "1250")
    stats = summary["statistics"]
    low, high = np.array(stats["bounds_min"]), np.array(stats["bounds_max"])
    assert np.all(low >= [-2.0, -2.0, -2.0]) and np.all(high <= [204.0, 204.0, 140.0])
    assert 100_000 < stats["volume_mm3"] < 2_000_000  # a skull, not the whole head


def test_real_tilted_head_ct_bone_model(tmp_path, capsys):
    # gantry tilt 18.5 degrees and slice steps of 1.08..7 mm (resampled): still a closed skull
    summary = closed_real_model(
        capsys, tmp_path, "ct_head_ge_gantry_tilt_dcmqa", "--decimate", "0.9"
    )
    stats = summary["statistics"]
    assert any("tilt" in warning.lower() for warning in summary["warnings"])
    assert 300_000 < stats["volume_mm3"] < 1_500_000  # a skull's bone, not the whole head
    width = np.array(stats["bounds_max"]) - np.array(stats["bounds_min"])
    assert np.all(width[:2] > 140.0) and np.all(width[:2] < 210.0)  # skull, not the FOV


@pytest.mark.slow
def test_real_abdomen_ct_bone_model(tmp_path, capsys):
    summary = closed_real_model(capsys, tmp_path, "ct_abdomen_tcia_pancreas", "--preset", "bone")
    assert summary["threshold"] == {"lower": 226.0, "upper": 3071.0, "units": "HU"}
    # the scanner table (rails and top, 258..364 mm behind the spine's front) is dropped:
    # the skeleton ends at the patient's back, about y = 237 mm
    assert summary["statistics"]["bounds_max"][1] < 245.0
    assert any("outside the patient's body" in line for line in summary["report"])


def packages_loaded_by(modules: str, prefixes: tuple[str, ...]) -> list[str]:
    """Which of the module name ``prefixes`` importing ``modules`` loads (in a new process)."""
    import ast
    import subprocess
    import sys

    code = (
        f"import sys, {modules}\n"
        f"print(sorted({{p for m in sys.modules for p in {prefixes!r} if m.startswith(p)}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        check=True,
    )
    return ast.literal_eval(result.stdout.strip())


def test_mesh_layers_never_import_qt_or_vtk_rendering():
    modules = (
        "workstation.cli.mesh_cmd, workstation.services.modeling, "
        "workstation.processing.morphology, workstation.processing.islands, "
        "workstation.processing.label_ops, workstation.processing.mesh_edit, "
        "workstation.processing.mesh_smoothing, workstation.processing.mesh_cleaning, "
        "workstation.processing.mesh_topology, workstation.processing.mesh_components, "
        "workstation.processing.mesh_repair, workstation.processing.mesh_statistics, "
        "workstation.processing.surface, workstation.processing.decimation, "
        "workstation.processing.body, workstation.io.mesh_export"
    )
    assert packages_loaded_by(modules, ("PySide6", "vtkmodules.vtkRendering")) == []


def test_mesh_command_imports_heavy_libraries_only_when_run():
    """Every `workstation` command imports the mesh command to list it: keep that cheap."""
    heavy = ("vtkmodules", "scipy", "trimesh", "skimage", "fast_simplification")
    assert packages_loaded_by("workstation.cli.mesh_cmd", heavy) == []
    assert "vtkmodules" in packages_loaded_by("workstation.processing.surface", heavy)
