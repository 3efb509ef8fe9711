"""Deleting studies (shared blobs kept until unused) and verifying every stored file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from tests.io.database.cases import blob_files, sha256_of, write_study
from workstation.core.errors import DatabaseError
from workstation.io.database.importer import commit_staged
from workstation.io.database.records import ImportReport, StagedFile
from workstation.services.dicom_database import DicomDatabase


def _two_studies(tmp_path: Path) -> tuple[str, str, list[Path], list[Path]]:
    first, second = generate_uid(), generate_uid()
    a = write_study(tmp_path / "a", study_uid=first, patient_id="A")
    b = write_study(tmp_path / "b", study_uid=second, patient_id="B", slices=3)
    return first, second, a, b


def test_delete_removes_rows_and_unused_blobs_only(tmp_path: Path) -> None:
    first, second, a, b = _two_studies(tmp_path)
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(tmp_path / "a")
        database.import_path(tmp_path / "b")
        report = database.delete_study(first)
        assert (report.series, report.instances, report.blobs_removed) == (1, 4, 4)
        assert report.bytes_freed == sum(path.stat().st_size for path in a)
        remaining = {path.name.removesuffix(".dcm") for path in blob_files(tmp_path / "db")}
        assert remaining == {sha256_of(path)[2:] for path in b}
        assert [m.study_uid for m in database.search(_query())] == [second]
        assert [m.patient_id for m in database.search(_query("patient"))] == ["B"]
        with pytest.raises(DatabaseError, match="has no study"):
            database.delete_study(first)
        with pytest.raises(DatabaseError, match="has no study"):
            database.study_files(first)
        assert database.verify().ok


def _query(level: str = "study"):
    from workstation.core.dicom_query import StudyQuery

    return StudyQuery(level=level)  # type: ignore[arg-type]


def test_a_blob_two_rows_share_goes_only_with_the_last_row(tmp_path: Path) -> None:
    first, second, _a, _b = _two_studies(tmp_path)
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(tmp_path / "a")
        database.import_path(tmp_path / "b")
        row = next(r for r in database._index.all_files() if r.study_uid == first)
        other = next(r for r in database._index.all_files() if r.study_uid == second)
        # a second index row (in the other study) pointing at the same stored content
        template = database._index.files(second)[0]
        from workstation.io.database.records import InstanceFields

        fields = InstanceFields(
            sop_instance_uid=generate_uid(),
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            study_uid=second,
            series_uid=template.series_uid,
            transfer_syntax_uid="1.2.840.10008.1.2.1",
        )
        shared = StagedFile("shared", fields, row.sha256, row.size, row.path, False)
        commit_staged(database.location, database._index, [shared], "test", ImportReport())
        blob = database.location / row.path
        assert blob.is_file() and other.path != row.path

        report = database.delete_study(first)
        assert report.instances == 4 and report.blobs_removed == 3
        assert blob.is_file()  # still used by the row in the second study
        assert database.verify().ok
        report = database.delete_study(second)
        assert report.instances == 4 and report.blobs_removed == 4
        assert not blob.exists()
        assert blob_files(tmp_path / "db") == []


def test_reimporting_a_deleted_study_stores_it_again(tmp_path: Path) -> None:
    first, _second, a, _b = _two_studies(tmp_path)
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(tmp_path / "a")
        database.delete_study(first)
        again = database.import_path(tmp_path / "a")
        assert again.added == 4 and again.duplicates == 0
        assert sorted(map(sha256_of, database.study_files(first))) == sorted(map(sha256_of, a))


def test_verify_names_missing_and_changed_files(tmp_path: Path) -> None:
    first, second, _a, b = _two_studies(tmp_path)
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(tmp_path / "a")
        database.import_path(tmp_path / "b", copy=False)
        assert database.verify().ok
        stored = database.study_files(first)
        stored[0].unlink()
        os.chmod(stored[1], 0o644)
        with open(stored[1], "r+b") as handle:
            handle.seek(-1, os.SEEK_END)
            handle.write(b"\x7f")
        with open(b[0], "ab") as handle:  # an in-place file the user changed
            handle.write(b"\0\0")
        (database.location / "blobs" / "ff").mkdir(exist_ok=True)
        (database.location / "blobs" / "ff" / ("f" * 62 + ".dcm")).write_bytes(b"stray")
        report = database.verify()
        assert not report.ok and report.checked == 7
        assert [p.path for p in report.missing] == [str(stored[0])]
        assert sorted(p.path for p in report.changed) == sorted([str(stored[1]), str(b[0])])
        assert {p.study_uid for p in report.changed} == {first, second}
        assert report.unindexed == ["blobs/ff/" + "f" * 62 + ".dcm"]
        with pytest.raises(DatabaseError, match="are missing"):
            database.scan_study(first)


def test_importing_again_repairs_a_missing_blob(tmp_path: Path) -> None:
    first, _second, a, _b = _two_studies(tmp_path)
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(tmp_path / "a")
        lost = database.study_files(first)[2]
        lost.unlink()
        assert [p.path for p in database.verify().missing] == [str(lost)]
        report = database.import_path(tmp_path / "a")
        assert report.added == 0 and report.duplicates == 4
        assert lost.is_file() and database.verify().ok
        assert sorted(map(sha256_of, database.study_files(first))) == sorted(map(sha256_of, a))
