"""``workstation deidentify``: one JSON document with --json, the text report, exit codes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pydicom

from tests.services.deid_cases import write_case
from tests.support.cli import run_workstation


def test_json_report_and_key_beside_output(tmp_path: Path) -> None:
    case = write_case(tmp_path / "in", size=16, slices=3)
    out = tmp_path / "out"
    result = run_workstation(
        "deidentify", str(case.root), "-o", str(out), "--option", "retain-uids", "--json"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # the whole stdout is one document
    assert report["totals"]["done"] == len(case.files)
    assert report["totals"]["skipped"] == 1
    assert report["key_created"] is True
    assert Path(report["key_path"]) == tmp_path / "out.key"
    assert (tmp_path / "out.key").exists() and not list(out.rglob("*.key"))
    assert report["options"] == ["retain-longitudinal-modified-dates", "retain-uids"]
    first = next(item for item in report["files"] if item["status"] == "done")
    ds = pydicom.dcmread(out / first["output"])
    assert str(ds.StudyInstanceUID) in case.uids  # retain-uids kept them


def test_text_report_and_refusal_exit_16(tmp_path: Path) -> None:
    case = write_case(tmp_path / "in", size=16, slices=3)
    result = run_workstation("deidentify", str(case.root), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "De-identified 9 of 10 files" in result.stdout
    assert "Skipped (1):" in result.stdout and "notes.txt" in result.stdout
    inside = run_workstation("deidentify", str(case.root), "-o", str(case.root / "x"))
    assert inside.returncode == 16
    assert inside.stderr.count("\n") == 1 and "inside the input" in inside.stderr
    assert not (case.root / "x").exists()
    unknown = run_workstation(
        "deidentify", str(case.root), "-o", str(tmp_path / "o2"), "--option", "nope"
    )
    assert unknown.returncode == 16 and "retain-uids" in unknown.stderr


def test_undeidentifiable_dicom_file_exits_16(tmp_path: Path) -> None:
    case = write_case(tmp_path / "in", size=16, slices=3)
    broken = case.files[0]
    data = broken.read_bytes()
    # a sequence whose first item has no item tag: pydicom cannot parse the file
    bad = struct.pack("<HH2sHI", 0x0008, 0x1140, b"SQ", 0, 0xFFFFFFFF)
    broken.write_bytes(data + bad + struct.pack("<HHI", 0x1234, 0x5678, 8) + b"12345678")
    result = run_workstation("deidentify", str(case.root), "-o", str(tmp_path / "out"), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 16, result.stderr
    failed = [item for item in report["files"] if item["failed"]]
    assert [item["source"] for item in failed] == [str(broken.relative_to(case.root))]
