"""``workstation db`` on an encrypted database: init, key options, exit 19, two importers."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tests.support.cli import REPO, run_workstation
from tests.support.dicom_factory import write_series
from workstation.core.dicom_query import StudyQuery
from workstation.io.encryption import KeySource
from workstation.services.dicom_database import DicomDatabase

N = 2**10


def _series(folder: Path, patient_id: str, slices: int = 6, size: int = 12) -> None:
    data = np.zeros((slices, size, size), dtype=np.int16)
    data[1:-1, 3:9, 3:9] = 400
    write_series(folder, data, patient_id=patient_id)


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


def _passphrase(tmp_path: Path, text: str = "a long passphrase", name: str = "pass") -> Path:
    path = tmp_path / name
    path.write_text(text + "\n")
    return path


def test_init_import_list_verify_delete_with_the_passphrase_file(tmp_path: Path) -> None:
    db, secret = str(tmp_path / "db"), str(_passphrase(tmp_path))
    _series(tmp_path / "s", "CLI0815")
    made = run_workstation("db", "init", "--database", db, "--encrypt", "--passphrase-file", secret)
    assert made.returncode == 0, made.stderr
    assert "encrypted database" in made.stdout
    assert (tmp_path / "db" / "encryption.json").is_file()

    imported = run_workstation(
        "db", "import", str(tmp_path / "s"), "--database", db, "--passphrase-file", secret, "--json"
    )
    assert imported.returncode == 0, imported.stderr
    [study_uid] = json.loads(imported.stdout)["study_uids"]

    env_list = subprocess.run(
        [sys.executable, "-m", "workstation", "db", "list", "--database", db, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
        env={**os.environ, "WORKSTATION_PASSPHRASE_FILE": secret},
    )
    assert env_list.returncode == 0, env_list.stderr
    [match] = json.loads(env_list.stdout)["matches"]
    assert match["patient_id"] == "CLI0815" and match["study_uid"] == study_uid

    verified = run_workstation("db", "verify", "--database", db, "--passphrase-file", secret)
    assert verified.returncode == 0, verified.stderr
    assert "6 files checked, 0 missing, 0 changed" in verified.stdout

    deleted = run_workstation(
        "db", "delete", study_uid, "--database", db, "--passphrase-file", secret
    )
    assert deleted.returncode == 0, deleted.stderr
    assert "6 stored files" in deleted.stdout


def test_no_key_and_wrong_key_exit_19_with_one_line_and_change_nothing(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _series(tmp_path / "s", "P1")
    with DicomDatabase.create(db, KeySource.passphrase("right one", N)) as database:
        database.import_path(tmp_path / "s")
    before = _hashes(db)
    for command in (["list"], ["import", str(tmp_path / "s")], ["verify"]):
        missing = run_workstation("db", *command, "--database", str(db))
        assert missing.returncode == 19, missing.stderr
        lines = missing.stderr.strip().splitlines()
        assert len(lines) == 1 and "This database is encrypted; give its passphrase" in lines[0]
        wrong = run_workstation(
            "db",
            *command,
            "--database",
            str(db),
            "--passphrase-file",
            str(_passphrase(tmp_path, "wrong one", "wrong")),
        )
        assert wrong.returncode == 19, wrong.stderr
        lines = wrong.stderr.strip().splitlines()
        assert len(lines) == 1 and "Wrong passphrase" in lines[0]
    assert _hashes(db) == before


def test_in_place_import_is_refused_with_exit_15(tmp_path: Path) -> None:
    db, secret = str(tmp_path / "db"), str(_passphrase(tmp_path))
    _series(tmp_path / "s", "P1")
    assert (
        run_workstation(
            "db", "init", "--database", db, "--encrypt", "--passphrase-file", secret
        ).returncode
        == 0
    )
    refused = run_workstation(
        "db",
        "import",
        str(tmp_path / "s"),
        "--in-place",
        "--database",
        db,
        "--passphrase-file",
        secret,
    )
    assert refused.returncode == 15
    assert "cannot be indexed in place" in refused.stderr


def test_init_without_a_key_and_plain_init(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WORKSTATION_PASSPHRASE_FILE"}
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "workstation",
            "db",
            "init",
            "--database",
            str(tmp_path / "db"),
            "--encrypt",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
        env=env,
    )
    assert refused.returncode == 19 and "--encrypt needs a key" in refused.stderr
    assert not (tmp_path / "db" / "encryption.json").exists()
    plain = run_workstation("db", "init", "--database", str(tmp_path / "plain"), "--json")
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["encrypted"] is False
    assert (tmp_path / "plain" / "index.sqlite").is_file()


def test_a_second_process_importing_at_the_same_time_loses_no_study(tmp_path: Path) -> None:
    """This process commits one small study after another for as long as a CLI import of
    many files runs: every study of both must be in the index afterwards."""
    db = tmp_path / "db"
    secret = _passphrase(tmp_path)
    key = KeySource.passphrase("a long passphrase", N)
    for number in range(10):
        _series(tmp_path / "theirs" / f"s{number}", f"THEIRS{number}", slices=60, size=64)
    mine = []
    for number in range(60):
        _series(tmp_path / "mine" / f"s{number}", f"MINE{number}", slices=2)
        mine.append(f"MINE{number}")
    DicomDatabase.create(db, key).close()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workstation",
            "db",
            "import",
            str(tmp_path / "theirs"),
            "--database",
            str(db),
            "--passphrase-file",
            str(secret),
            "--json",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    imported, overlapped = [], 0
    try:
        with DicomDatabase.open(db, key) as database:
            while child.poll() is None and len(imported) < len(mine):
                database.import_path(tmp_path / "mine" / f"s{len(imported)}")
                imported.append(mine[len(imported)])
                overlapped += child.poll() is None
        out, err = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert json.loads(out)["added"] == 600
    assert overlapped >= 2, "the two imports did not run at the same time"
    with DicomDatabase.open(db, key) as database:
        found = sorted(m.patient_id for m in database.search(StudyQuery()))
        assert found == sorted(imported + [f"THEIRS{n}" for n in range(10)])
        report = database.verify()
        assert report.ok and report.checked == 2 * len(imported) + 600 and not report.unindexed
