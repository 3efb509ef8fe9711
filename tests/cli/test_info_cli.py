"""`workstation info`: geometry, statistics and choice of stack, as text and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.dicom_factory import expected_affine, normal_of, write_series
from tests.support.shared_data import shared_data_path
from workstation.cli.main import main

REPO = Path(__file__).resolve().parents[2]
ROW, COL = (0.0, 1.0, 0.0), (0.0, 0.0, -1.0)  # sagittal
SPACING = (0.8, 0.6)
ORIGIN = (12.0, -30.0, 44.0)


def hu_volume(shape=(5, 8, 9)) -> np.ndarray:
    s, r, c = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    return (-1000 + 50 * s + 7 * r + 3 * c).astype(np.int16)


@pytest.fixture
def series(tmp_path) -> tuple[Path, np.ndarray]:
    hu = hu_volume()
    write_series(
        tmp_path / "study",
        (hu + 1024).astype(np.uint16),
        row_cosine=ROW,
        col_cosine=COL,
        pixel_spacing=SPACING,
        origin=ORIGIN,
        slice_step=2.0,
        rescale_intercept=-1024.0,
        series_description="Sagittal test",
        series_uid="1.2.826.0.1.3680043.8.498.1",
        shuffle=True,
    )
    return tmp_path / "study", hu


def run_json(capsys, *args: str) -> dict:
    assert main(["info", *args, "--json"]) == 0
    out = capsys.readouterr().out
    return json.loads(out)


def test_json_geometry_and_statistics(series, capsys):
    folder, hu = series
    record = run_json(capsys, str(folder))
    assert record["dims"] == [9, 8, 5]
    assert record["spacing_mm"] == pytest.approx([0.6, 0.8, 2.0])
    assert record["orientation"] == "sagittal"
    assert record["units"] == "HU"
    assert record["modality"] == "CT" and record["description"] == "Sagittal test"
    assert record["series_uid"] == "1.2.826.0.1.3680043.8.498.1"
    assert record["affine_index_order"] == "column,row,slice"
    step = 2.0 * normal_of(ROW, COL)
    expected = expected_affine(ROW, COL, SPACING, ORIGIN, step)[:, [2, 1, 0, 3]]
    np.testing.assert_allclose(np.array(record["affine"]), expected, atol=1e-6)
    # [column, row, slice] of the far corner maps through the printed affine.
    far = np.array(record["affine"]) @ [8, 7, 4, 1]
    independent = np.array(ORIGIN) + 8 * 0.6 * np.array(ROW) + 7 * 0.8 * np.array(COL) + 4 * step
    np.testing.assert_allclose(far[:3], independent, atol=1e-6)
    corners = np.array(
        [
            np.array(ORIGIN) + c * 0.6 * np.array(ROW) + r * 0.8 * np.array(COL) + s * step
            for s in (0, 4)
            for r in (0, 7)
            for c in (0, 8)
        ]
    )
    np.testing.assert_allclose(record["bounds_lps"]["min"], corners.min(axis=0), atol=1e-4)
    np.testing.assert_allclose(record["bounds_lps"]["max"], corners.max(axis=0), atol=1e-4)
    assert record["intensity"]["min"] == float(hu.min())
    assert record["intensity"]["max"] == float(hu.max())
    assert record["intensity"]["mean"] == pytest.approx(float(hu.mean()), abs=1e-3)
    assert record["warnings"] == []
    assert record["chosen_automatically"] is True
    assert record["reason"]


def test_text_output(series, capsys):
    folder, _ = series
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "9 x 8 x 5 (columns x rows x slices)" in out
    assert "sagittal" in out
    assert "Warnings:     none" in out


def test_choice_between_stacks_and_explicit_series(series, capsys):
    folder, _ = series
    write_series(
        folder / "single",
        hu_volume((1, 8, 9)),
        series_uid="1.2.826.0.1.3680043.8.498.2",
        series_number=2,
    )
    record = run_json(capsys, str(folder))
    assert record["series_uid"] == "1.2.826.0.1.3680043.8.498.1"
    assert record["chosen_automatically"] is True
    assert "single image" in record["reason"]
    single = run_json(capsys, str(folder), "--series", "1.2.826.0.1.3680043.8.498.2")
    assert single["dims"] == [9, 8, 1]
    assert single["chosen_automatically"] is False
    assert single["warnings"] == ["Single image: viewable in 2D, not usable for 3D models"]


def test_unknown_series_lists_available(series, capsys):
    folder, _ = series
    assert main(["info", str(folder), "--series", "9.9.9"]) == 5
    err = capsys.readouterr().err.strip()
    assert "9.9.9" in err and "1.2.826.0.1.3680043.8.498.1" in err
    assert len(err.splitlines()) == 1


def test_single_image_is_not_a_3d_volume(tmp_path, capsys):
    write_series(tmp_path, hu_volume((1, 8, 9)))
    assert main(["info", str(tmp_path)]) == 4
    err = capsys.readouterr().err
    assert "No 3D image stack in" in err and "1 single image" in err


def test_subprocess_json_is_the_only_stdout(series):
    folder, _ = series
    result = subprocess.run(
        [sys.executable, "-m", "workstation", "info", str(folder), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["dims"] == [9, 8, 5]


def test_real_small_head(capsys):
    folder = shared_data_path("ct_head_slicer_64px")
    record = run_json(capsys, str(folder))
    assert record["dims"] == [64, 64, 93]
    assert record["spacing_mm"] == pytest.approx([3.2, 3.2, 1.5], abs=1e-6)
    assert record["orientation"] == "axial"
    # The lowest ImagePositionPatient z in these files is 0.0 (CTHead1.dcm).
    np.testing.assert_allclose(record["affine"][2], [0, 0, 1.5, 0.0], atol=1e-6)


def test_text_says_which_stack_was_chosen(series, capsys):
    folder, _ = series
    write_series(folder / "single", hu_volume((1, 8, 9)), series_number=2)
    assert main(["info", str(folder)]) == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("Chosen automatically: ")]
    assert "most likely 3D volume of 2 stacks (5 images" in line
    assert "also found 1 single image" in line
    assert out.splitlines()[0] == "Stack:        CT 1: Sagittal test (9x8x5)"


def test_tilted_grid_reports_plane_distance_and_slice_step(tmp_path, capsys):
    angle = np.radians(20.0)
    row, col = (1.0, 0.0, 0.0), (0.0, np.cos(angle), -np.sin(angle))
    write_series(
        tmp_path,
        hu_volume(),
        row_cosine=row,
        col_cosine=col,
        positions=[(0.0, 0.0, 3.0 * k) for k in range(5)],  # table moves along z
    )
    record = run_json(capsys, str(tmp_path))
    normal = normal_of(row, col)
    assert record["spacing_mm"][2] == pytest.approx(3.0 * abs(normal[2]), abs=1e-6)
    assert record["slice_step_mm"] == pytest.approx(3.0, abs=1e-6)
    assert record["shear_degrees"] == pytest.approx(20.0, abs=1e-3)
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    distance = f"{3.0 * abs(normal[2]):.4f}"
    assert f"x {distance} mm (columns x rows x distance between slice planes)" in out
    assert "Slice step:   3.0000 mm along the stack axis, 20.0° from the plane normal" in out


BAD_INPUTS = {
    "missing": (2, "No such file or folder"),
    "empty": (3, "there are no files in it"),
    "junk": (3, "No DICOM images found"),
    "single": (4, "No 3D image stack"),
    "unknown-series": (5, "Series 9.9.9 is not in"),
    "vanished-file": (3, "since the scan"),
}


def _bad_input(kind: str, tmp_path: Path, name: str = "") -> list[str]:
    """Arguments of ``workstation info`` for one kind of bad input (in folder ``name``)."""
    folder = tmp_path / (name or kind)
    folder.mkdir()
    if kind == "missing":
        return [str(tmp_path / "absent")]
    if kind == "junk":
        (folder / "notes.txt").write_text("hello")
        (folder / "zero").write_bytes(b"")
    if kind == "single":
        write_series(folder, hu_volume((1, 4, 4)))
    if kind == "unknown-series":
        write_series(folder, hu_volume((3, 4, 4)))
        return [str(folder), "--series", "9.9.9"]
    return [str(folder)]


@pytest.mark.parametrize("kind", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_an_exit_code(kind, tmp_path, capsys, monkeypatch):
    code, text = BAD_INPUTS[kind]
    args = _bad_input(kind, tmp_path)
    if kind == "vanished-file":
        paths = write_series(tmp_path / kind, hu_volume((3, 4, 4)))
        import workstation.services.loading as loading

        real = loading.scan_path

        def scan_then_delete(*scan_args, **scan_kwargs):
            scan = real(*scan_args, **scan_kwargs)
            paths[1].unlink()  # gone between scan and load
            return scan

        monkeypatch.setattr(loading, "scan_path", scan_then_delete)
    assert main(["info", *args]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith("workstation: error: ") and text in line


def test_bad_inputs_in_a_subprocess_never_show_a_traceback(tmp_path):
    for kind in ("missing", "empty", "junk", "single", "unknown-series"):
        code, text = BAD_INPUTS[kind]
        for command in ("info", "scan"):
            if command == "scan" and kind in ("single", "unknown-series"):
                continue  # scanning these succeeds
            args = _bad_input(kind, tmp_path, f"{kind}-{command}")
            result = subprocess.run(
                [sys.executable, "-m", "workstation", command, *args],
                capture_output=True,
                text=True,
                cwd=REPO,
                timeout=120,
            )
            assert result.returncode == code, (command, kind, result.stderr)
            assert "Traceback" not in result.stderr
            [line] = result.stderr.splitlines()
            assert text in line, (command, kind, line)
