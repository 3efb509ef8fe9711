"""Staging parses the header from the bytes it hashed and copied, as a scan would from the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.io.database.cases import sha256_of, write_study
from workstation.core.errors import DatabaseError, DicomReadError
from workstation.io.database import store
from workstation.io.database.fields import instance_fields
from workstation.io.database.records import SkippedInput, StagedFile
from workstation.io.dicom.headers import read_header
from workstation.services.dicom_database import DicomDatabase


def _database(tmp_path: Path) -> Path:
    DicomDatabase.open(tmp_path / "db").close()
    return tmp_path / "db"


def test_fields_from_memory_equal_fields_from_the_file(tmp_path: Path) -> None:
    files = write_study(tmp_path / "series", slices=3)
    root = _database(tmp_path)
    for path in files:
        staged = store.stage_location(str(root), str(path), in_place=False)
        assert isinstance(staged, StagedFile)
        assert staged.fields == instance_fields(read_header(str(path)))
        assert staged.sha256 == sha256_of(path) and sha256_of(Path(staged.staged)) == staged.sha256
        store.discard([staged])


def test_a_truncated_header_is_skipped_with_the_reason_a_scan_gives(tmp_path: Path) -> None:
    [path] = write_study(tmp_path / "series", slices=1)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(path.read_bytes()[:400])  # inside the header
    with pytest.raises(DicomReadError) as scanned:
        read_header(str(cut))
    assert scanned.value.details.startswith("truncated header")
    root = _database(tmp_path)
    skipped = store.stage_location(str(root), str(cut), in_place=False)
    assert skipped == SkippedInput(str(cut), scanned.value.details)
    assert not list((root / "incoming").iterdir())  # the copy went with it
    with DicomDatabase.open(root) as database, pytest.raises(DatabaseError) as caught:
        database.import_bytes(cut.read_bytes(), "PACS")
    assert scanned.value.details in caught.value.message
    assert not list((root / "incoming").iterdir())
