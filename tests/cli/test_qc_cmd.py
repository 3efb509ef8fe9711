"""``workstation qc PATH --rules RULES.toml``: the table, --json and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.support.cli import run_workstation
from tests.support.dicom_factory import write_series

RULES = """
[[rules]]
name = "CT bone"
[rules.match]
modality = "CT"
series_description = "*BONE*"
[rules.expect]
kvp_min = 100
kvp_max = 140
slice_thickness_max_mm = 1.0
min_slices = 5

[[rules]]
name = "Chest"
severity = "warn"
[rules.match]
series_description = "*CHEST*"
[rules.expect]
kvp_max = 100
"""


def _series(folder: Path, description: str, kvp: str, number: int) -> None:
    paths = write_series(
        folder,
        np.zeros((6, 8, 8), dtype=np.int16),
        series_description=description,
        series_number=number,
    )
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.KVP = kvp
        ds.save_as(path)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bone series at 80 kVp (fails), a chest series at 120 kVp (warns), an MR (no rule)."""
    root = tmp_path_factory.mktemp("qc-study")
    _series(root / "bone", "CT BONE 1.0", "80", 1)
    _series(root / "chest", "CT CHEST", "120", 2)
    write_series(root / "mr", np.zeros((6, 8, 8), np.int16), modality="MR", series_number=3)
    return root


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "rules.toml"
    path.write_text(RULES, encoding="utf-8")
    return path


def test_json_lists_each_series_with_its_rule_and_reasons(study: Path, rules: Path) -> None:
    result = run_workstation("qc", str(study), "--rules", str(rules), "--json")
    assert result.returncode == 23, result.stderr
    assert result.stderr == ""
    record = json.loads(result.stdout)
    assert record["status"] == "fail"
    assert record["counts"] == {"pass": 0, "warn": 2, "fail": 1}
    assert record["rules"] == str(rules.resolve())
    by_description = {item["description"]: item for item in record["series"]}
    bone = by_description["CT BONE 1.0"]
    assert (bone["status"], bone["rule"]) == ("fail", "CT bone")
    assert bone["reasons"] == ["kVp 80, expected 100 to 140"]
    assert bone["facts"]["kvp"] == 80.0 and bone["facts"]["n_slices"] == 6
    chest = by_description["CT CHEST"]
    assert (chest["status"], chest["reasons"]) == ("warn", ["kVp 120, expected at most 100"])
    other = by_description["Synthetic series"]
    assert (other["status"], other["rule"], other["reasons"]) == (
        "warn",
        None,
        ["no protocol rule matches"],
    )


def test_the_table_shows_status_rule_and_why_and_a_failure_exits_23(
    study: Path, rules: Path
) -> None:
    result = run_workstation("qc", str(study), "--rules", str(rules))
    assert result.returncode == 23
    lines = result.stdout.splitlines()
    assert lines[0] == f"{study}: 3 series checked against {rules}"
    assert lines[1].split() == ["STATUS", "SERIES", "DESCRIPTION", "RULE", "WHY"]
    rows = {line.split()[0] + " " + line.split()[1]: line for line in lines[2:5]}
    assert rows["FAIL 1"].endswith("CT bone  kVp 80, expected 100 to 140")
    assert rows["WARN 2"].endswith("Chest    kVp 120, expected at most 100")
    assert rows["WARN 3"].endswith("-        no protocol rule matches")
    assert lines[-1] == "0 pass, 2 warn, 1 fail."
    assert result.stderr.splitlines() == [
        "workstation: error: 1 of 3 series fail their protocol QC rule: CT BONE 1.0 (CT bone): "
        "kVp 80, expected 100 to 140."
    ]


def test_warnings_alone_exit_0(study: Path, tmp_path: Path) -> None:
    rules = tmp_path / "lenient.toml"
    rules.write_text(RULES.replace("kvp_min = 100", "kvp_min = 80"), encoding="utf-8")
    result = run_workstation("qc", str(study), "--rules", str(rules), "--json")
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert (record["status"], record["counts"]) == ("warn", {"pass": 1, "warn": 2, "fail": 0})


def test_a_bad_rule_file_is_one_line_and_exit_20(study: Path, tmp_path: Path) -> None:
    rules = tmp_path / "bad.toml"
    rules.write_text(RULES.replace("kvp_max = 100", "kvp_max = '100'"), encoding="utf-8")
    result = run_workstation("qc", str(study), "--rules", str(rules))
    assert result.returncode == 20
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "workstation: error: bad.toml: rule 2 ('Chest'): expect.kvp_max must be a number, got '100'"
    ]


def test_a_missing_path_exits_2(rules: Path, tmp_path: Path) -> None:
    result = run_workstation("qc", str(tmp_path / "nowhere"), "--rules", str(rules), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1


def test_the_command_line_statuses_are_the_services():
    from workstation.cli import qc_cmd
    from workstation.services import qc

    assert qc_cmd.STATUSES == qc.STATUSES
