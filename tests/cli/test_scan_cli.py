"""``workstation scan``: table, JSON contract, skipped files and exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from tests.support.cli import run_workstation
from tests.support.dicom_factory import write_series
from tests.support.shared_data import shared_data_path
from workstation.cli.main import main

JSON_KEYS = {
    "stack_id", "series_uid", "study_uid", "patient_id", "patient_name", "study_date",
    "series_number", "modality", "description", "label", "kind", "confidence", "n_files",
    "n_frames", "dims", "spacing_mm", "orientation", "warnings",
}  # fmt: skip


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_workstation("scan", *args)


@pytest.fixture
def study(tmp_path: Path) -> Path:
    """A folder with a 5-slice CT (uid known), a 1-slice MR and two junk files."""
    folder = tmp_path / "study"
    write_series(
        folder / "ct",
        np.zeros((5, 6, 8), np.int16),
        pixel_spacing=(0.5, 0.625),
        slice_step=2.0,
        series_uid="1.2.3.4.5",
        series_number=3,
        series_description="ABDOMEN 3.0",
    )
    write_series(
        folder / "mr",
        np.zeros((1, 4, 4), np.int16),
        modality="MR",
        series_uid=generate_uid(),
        series_number=7,
    )
    (folder / "notes.txt").write_text("hello")
    (folder / "thumbs.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return folder


def test_json_subprocess_is_one_object(study: Path) -> None:
    result = _run(str(study), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)  # exactly one JSON document, nothing else
    assert set(record) == {"root", "series", "results", "skipped"}
    assert record["root"] == str(study)
    assert len(record["series"]) == 2
    ct, mr = sorted(record["series"], key=lambda stack: stack["modality"])
    assert set(ct) == JSON_KEYS
    assert ct["stack_id"] == ct["series_uid"] == "1.2.3.4.5"
    assert ct["dims"] == [8, 6, 5]
    assert ct["spacing_mm"] == [0.625, 0.5, 2.0]
    assert ct["orientation"] == "axial"
    assert ct["kind"] == "volume" and ct["warnings"] == []
    assert (ct["n_files"], ct["n_frames"]) == (5, 5)
    assert ct["label"] == "CT 3: ABDOMEN 3.0 (8x6x5)"
    assert ct["series_number"] == "3" and ct["modality"] == "CT"
    assert mr["kind"] == "single-slice" and mr["spacing_mm"][2] is None
    skipped = {Path(item["path"]).name: item["reason"] for item in record["skipped"]}
    assert skipped == {"notes.txt": "not a DICOM file", "thumbs.png": "not a DICOM file"}


def test_missing_path_subprocess_exit_code() -> None:
    result = _run("/definitely/not/here", "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "workstation: error: No such file or folder: /definitely/not/here"
    ]


def test_table_lists_stacks_and_skipped(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(study)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"{study}: 2 image stack(s)"
    assert lines[1].split()[:3] == ["PATIENT", "STUDY", "DATE"]
    ct_row = next(line for line in lines if "ABDOMEN 3.0" in line)
    for cell in ("2026-01-01", "CT", "volume", "8x6x5", "0.625 x 0.5 x 2", "axial"):
        assert cell in ct_row
    assert "! Single image" in out
    assert "2 files skipped (2 not a DICOM file)" in out
    assert "notes.txt" not in out  # listed only with -v


def test_verbose_lists_each_skipped_file(study: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", str(study), "-v"]) == 0
    out = capsys.readouterr().out
    assert f"{study / 'notes.txt'}: not a DICOM file" in out
    assert "id: 1.2.3.4.5" in out


def test_no_dicom_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.txt").write_text("x")
    assert main(["scan", str(tmp_path), "--json"]) == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "No DICOM images found" in captured.err and "1 files examined, 1 skipped" in captured.err


def test_json_warnings_for_split_series(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uids = {"series_uid": "9.8.7", "study_uid": generate_uid(), "frame_uid": generate_uid()}
    write_series(tmp_path / "ax", np.zeros((3, 4, 4), np.int16), **uids)
    write_series(
        tmp_path / "sag",
        np.zeros((3, 4, 4), np.int16),
        **uids,
        row_cosine=(0, 1, 0),
        col_cosine=(0, 0, -1),
    )
    assert main(["scan", str(tmp_path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [s["stack_id"] for s in record["series"]] == ["9.8.7.1", "9.8.7.2"]
    assert sorted(s["orientation"] for s in record["series"]) == ["axial", "sagittal"]
    assert all(any("orientations" in w for w in s["warnings"]) for s in record["series"])


def test_real_gantry_tilt_json(capsys: pytest.CaptureFixture[str]) -> None:
    folder = shared_data_path("ct_head_ge_gantry_tilt_dcmqa")
    assert main(["scan", str(folder), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    [stack] = record["series"]
    assert stack["dims"] == [512, 512, 28]
    assert stack["orientation"] == "oblique"  # tilted planes
    assert any("18.5°" in w for w in stack["warnings"])
    assert [Path(s["path"]).name for s in record["skipped"]] == ["_2.json"]
