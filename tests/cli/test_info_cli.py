"""`workstation info`: geometry, statistics and choice of stack, as text and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.dicom_factory import expected_affine, normal_of, write_series
from workstation.cli.main import main

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
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
    folder = DATA / "ct_head_slicer_64px"
    if not folder.exists():
        pytest.skip("test data not available: ct_head_slicer_64px")
    record = run_json(capsys, str(folder))
    assert record["dims"] == [64, 64, 93]
    assert record["spacing_mm"] == pytest.approx([3.2, 3.2, 1.5], abs=1e-6)
    assert record["orientation"] == "axial"
    # The lowest ImagePositionPatient z in these files is 0.0 (CTHead1.dcm).
    np.testing.assert_allclose(record["affine"][2], [0, 0, 1.5, 0.0], atol=1e-6)
