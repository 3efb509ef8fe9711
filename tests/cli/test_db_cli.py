"""``workstation db``: import, list, delete and verify from the shell; JSON and exit codes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.io.database.cases import blob_files, write_non_image, write_study
from tests.support.cli import run_workstation
from workstation.cli.main import main


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[Path, str, str]:
    folder = tmp_path / "in"
    first, second = generate_uid(), generate_uid()
    write_study(folder / "a", study_uid=first, patient_id="PA", description="Head CT")
    write_non_image(folder / "a" / "sr.dcm", first, patient_id="PA")
    write_study(folder / "b", study_uid=second, patient_id="PB", modality="MR", slices=3)
    (folder / "junk.bin").write_bytes(b"\x00junk")
    return folder, first, second


def test_import_list_delete_verify_json(tmp_path: Path, inputs) -> None:
    folder, first, second = inputs
    database = tmp_path / "db"
    result = run_workstation("db", "import", str(folder), "--database", str(database), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # quiet with --json
    record = json.loads(result.stdout)
    assert record["added"] == 8 and record["duplicates"] == 0
    assert record["skipped"] == [{"path": str(folder / "junk.bin"), "reason": "not a DICOM file"}]
    assert sorted(record["study_uids"]) == sorted([first, second])
    assert len(blob_files(database)) == 8

    listed = run_workstation(
        "db", "list", "--database", str(database), "--json", "--modality", "mr"
    )
    assert listed.returncode == 0, listed.stderr
    [match] = json.loads(listed.stdout)["matches"]
    assert match["study_uid"] == second and match["n_instances"] == 3
    assert match["source"] == "database" and match["modalities"] == ["MR"]

    series = run_workstation(
        "db", "list", "--level", "series", "--study", first, "--database", str(database), "--json"
    )
    rows = json.loads(series.stdout)["matches"]
    assert sorted(row["modality"] for row in rows) == ["CT", "SR"]

    deleted = run_workstation("db", "delete", first, "--database", str(database), "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["instances"] == 5
    assert len(blob_files(database)) == 3

    verified = run_workstation("db", "verify", "--database", str(database), "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"] is True


def test_text_output_in_process(tmp_path: Path, inputs, capsys) -> None:
    folder, first, second = inputs
    database = str(tmp_path / "db")
    assert main(["db", "import", str(folder), "--database", database]) == 0
    out = capsys.readouterr().out
    assert "8 added" in out and "1 skipped" in out and "2 studies" in out
    assert f"skipped {folder / 'junk.bin'}: not a DICOM file" in out
    assert main(["db", "import", str(folder), "--database", database]) == 0
    assert "0 added, 8 already there" in capsys.readouterr().out

    assert main(["db", "list", "--database", database, "--patient-name", "synth*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(": 2 studies")
    assert lines[1].split()[:3] == ["DATE", "PATIENT", "ID"]  # the study table
    assert any(first in line and "CT,SR" in line and "2026-01-01" in line for line in lines)
    assert main(["db", "list", "--database", database, "--date-from", "2027-01-01"]) == 0
    assert capsys.readouterr().out.strip().endswith(": 0 studies")
    assert main(["db", "list", "--database", database, "--level", "patient"]) == 0
    assert "PA" in capsys.readouterr().out

    assert main(["db", "delete", second, "--database", database]) == 0
    assert f"Deleted study {second}: 1 series, 3 instances, 3 stored files" in (
        capsys.readouterr().out
    )


def test_default_database_is_the_environment_variable(tmp_path: Path, inputs) -> None:
    folder, _first, _second = inputs
    result = run_workstation("db", "import", str(folder / "b"), "--json")
    assert result.returncode == 0, result.stderr
    default = Path(os.environ["WORKSTATION_DATABASE"])
    assert json.loads(result.stdout)["database"] == str(default)
    assert len(blob_files(default)) == 3


def test_verify_exits_15_naming_the_missing_file(tmp_path: Path, inputs, capsys) -> None:
    folder, first, _second = inputs
    database = str(tmp_path / "db")
    assert main(["db", "import", str(folder / "a"), "--database", database, "--json"]) == 0
    capsys.readouterr()
    victim = blob_files(tmp_path / "db")[0]
    victim.unlink()
    assert main(["db", "verify", "--database", database]) == 15
    captured = capsys.readouterr()
    assert f"missing: {victim}" in captured.out
    assert captured.err.strip() == (
        f"workstation: error: 1 files missing and 0 changed in the database "
        f"(first: missing {victim})"
    )
    assert main(["db", "verify", "--database", database, "--json"]) == 15
    record = json.loads(capsys.readouterr().out)
    assert record["ok"] is False and record["problems"][0]["path"] == str(victim)
    assert record["problems"][0]["study_uid"] == first


def test_errors_are_one_line_with_their_exit_codes(tmp_path: Path) -> None:
    database = str(tmp_path / "db")
    missing = run_workstation("db", "import", str(tmp_path / "nope"), "--database", database)
    assert missing.returncode == 2
    assert (
        missing.stderr.strip() == f"workstation: error: No such file or folder: {tmp_path / 'nope'}"
    )
    unknown = run_workstation("db", "delete", "1.2.3", "--database", database)
    assert unknown.returncode == 15
    assert (
        unknown.stderr.strip() == f"workstation: error: The database {database} has no study 1.2.3"
    )
    (tmp_path / "file").write_text("x")
    bad = run_workstation("db", "list", "--database", str(tmp_path / "file"))
    assert bad.returncode == 15 and "it is a file" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    date = run_workstation("db", "list", "--date-from", "yesterday", "--database", database)
    assert date.returncode == 2 and "is not a date" in date.stderr


def test_sigterm_mid_import_keeps_whole_chunks_and_no_temporaries(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    from tests.support.cli import REPO
    from tests.support.dicom_factory import write_series
    from workstation.services.dicom_database import DicomDatabase

    write_series(tmp_path / "big", np.zeros((600, 64, 64), np.int16))
    database = tmp_path / "db"
    DicomDatabase.open(database).close()
    child = subprocess.Popen(
        [sys.executable, "-m", "workstation", "db", "import", str(tmp_path / "big"),
         "--database", str(database), "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    with DicomDatabase.open(database) as watcher:
        deadline = time.monotonic() + 60
        while not watcher._index.all_files() and time.monotonic() < deadline:
            time.sleep(0.002)
    child.send_signal(signal.SIGTERM)
    _out, err = child.communicate(timeout=60)
    if child.returncode == 0:
        pytest.skip("the import finished before the signal arrived")
    assert child.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("workstation:")
    with DicomDatabase.open(database) as reopened:
        rows = reopened._index.all_files()
        assert 0 < len(rows) < 600
        assert len(blob_files(database)) == len(rows)
        assert reopened.verify().ok
        assert not list((database / "incoming").iterdir())
