"""Importing into the database: content addressing, duplicates, zips, in place, skips."""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from tests.io.database.cases import blob_files, sha256_of, write_non_image, write_study
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import Cancelled, DatabaseError
from workstation.core.progress import CancelToken
from workstation.services.dicom_database import DicomDatabase


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, list[Path], str]:
    """A folder with a 4-slice CT, a non-image instance, junk and a DICOMDIR-less layout."""
    folder = tmp_path / "input"
    uid = generate_uid()
    files = write_study(folder / "ct", study_uid=uid)
    write_non_image(folder / "sr" / "report.dcm", uid)
    (folder / "notes.txt").write_text("not dicom")
    (folder / "empty").write_bytes(b"")
    return folder, files, uid


def test_import_copies_each_file_once_under_its_sha256(tmp_path: Path, study) -> None:
    folder, files, uid = study
    with DicomDatabase.open(tmp_path / "db") as database:
        report = database.import_path(folder)
        assert report.added == 5 and report.duplicates == 0 and report.in_place == 0
        assert report.study_uids == [uid]
        reasons = dict(report.skipped)
        assert reasons[str(folder / "notes.txt")] == "not a DICOM file"
        assert str(folder / "empty") in reasons
        blobs = blob_files(tmp_path / "db")
        assert len(blobs) == 5
        for source in files:
            digest = sha256_of(source)
            blob = tmp_path / "db" / "blobs" / digest[:2] / f"{digest[2:]}.dcm"
            assert blob.read_bytes() == source.read_bytes()
            assert not stat.S_IMODE(blob.stat().st_mode) & 0o222  # read-only
        stored = database.study_files(uid)
        assert sorted(path.name for path in stored) == sorted(path.name for path in blobs)
        assert not list((tmp_path / "db" / "incoming").iterdir())

        again = database.import_path(folder)
        assert again.added == 0 and again.duplicates == 5
        assert len(blob_files(tmp_path / "db")) == 5
        assert not list((tmp_path / "db" / "incoming").iterdir())
        [match] = database.search(StudyQuery())
        assert match.n_instances == 5 and match.n_series == 2
        assert match.modalities == ("CT", "SR")
        assert match.source == "database"


def test_import_many_files_in_parallel_indexes_every_instance(tmp_path: Path) -> None:
    files = write_study(tmp_path / "big", slices=60)
    expected = {str(dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in files}
    with DicomDatabase.open(tmp_path / "db") as database:
        report = database.import_path(tmp_path / "big", workers=2)
        assert report.added == 60
        rows = database._index.all_files()
        assert {row.sop_instance_uid for row in rows} == expected
        assert {row.sha256 for row in rows} == {sha256_of(path) for path in files}
        assert database.verify().ok


def test_zip_members_are_copied_and_dicomdir_is_skipped(tmp_path: Path, study) -> None:
    folder, files, uid = study
    archive = tmp_path / "cd.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(folder).as_posix())
    with DicomDatabase.open(tmp_path / "db") as database:
        report = database.import_path(archive, copy=False)  # zip members cannot stay in place
        assert report.added == 5 and report.in_place == 0
        stored = database.study_files(uid)
        assert all(path.is_relative_to(tmp_path / "db" / "blobs") for path in stored)
        assert {sha256_of(path) for path in stored} >= {sha256_of(path) for path in files}


def test_a_dicomdir_imports_its_medium_and_is_skipped_itself(tmp_path: Path) -> None:
    from tests.support.shared_data import shared_data_path

    medium = shared_data_path("pydicom_test_files/dicomdirtests/TINY_ALPHA")
    images = [path for path in medium.rglob("IM*") if path.is_file()]
    with DicomDatabase.open(tmp_path / "db") as database:
        report = database.import_path(medium / "DICOMDIR")
        assert report.skipped == [(str(medium / "DICOMDIR"), "DICOMDIR index")]
        assert report.added == len(images) > 0
        stored = [path for uid in report.study_uids for path in database.study_files(uid)]
        assert sorted(sha256_of(path) for path in stored) == sorted(map(sha256_of, images))


def test_hostile_and_odd_files_are_imported_or_skipped_never_fatal(tmp_path: Path) -> None:
    from tests.support.shared_data import shared_data_path
    from workstation.io.sources import iter_locations

    folder = shared_data_path("pydicom_test_files")
    locations = list(iter_locations(folder))
    with DicomDatabase.open(tmp_path / "db") as database:
        report = database.import_path(folder)
        assert report.added + report.duplicates + len(report.skipped) == len(locations)
        assert report.added > 50
        reasons = {reason.split(":")[0] for _, reason in report.skipped}
        assert "not a DICOM file" in reasons and "DICOMDIR index" in reasons
        assert database.verify().ok


def test_in_place_files_are_indexed_where_they_are_and_never_deleted(tmp_path: Path, study) -> None:
    folder, files, uid = study
    with DicomDatabase.open(tmp_path / "db") as database:
        report = database.import_path(folder, copy=False)
        assert report.added == 5 and report.in_place == 5
        assert blob_files(tmp_path / "db") == []
        assert set(database.study_files(uid)) >= {path.resolve() for path in files}
        assert database.verify().ok
        deleted = database.delete_study(uid)
        assert deleted.instances == 5 and deleted.in_place_kept == 5
        assert deleted.blobs_removed == 0
        assert all(path.is_file() for path in files)


def test_importing_a_copy_moves_an_in_place_study_into_the_store(tmp_path: Path, study) -> None:
    folder, files, uid = study
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(folder, copy=False)
        report = database.import_path(folder, copy=True)
        assert report.added == 0 and report.duplicates == 5
        stored = database.study_files(uid)
        assert all(path.is_relative_to(tmp_path / "db" / "blobs") for path in stored)
        assert len(blob_files(tmp_path / "db")) == 5
        for path in files:
            path.unlink()  # the originals may go now
        assert database.verify().ok


def test_other_content_under_a_known_sop_instance_uid_is_skipped(tmp_path: Path) -> None:
    [first] = write_study(tmp_path / "a", slices=1)
    changed = tmp_path / "b" / "changed.dcm"
    changed.parent.mkdir()
    ds = dcmread(first)
    ds.SeriesDescription = "edited elsewhere"
    ds.save_as(changed)
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(first)
        report = database.import_path(changed)
        assert report.added == 0
        [(path, reason)] = report.skipped
        assert path == str(changed) and "different content" in reason
        assert len(blob_files(tmp_path / "db")) == 1
        assert not list((tmp_path / "db" / "incoming").iterdir())


def test_cancel_keeps_whole_chunks_and_leaves_no_temporaries(tmp_path: Path) -> None:
    from workstation.io.database import importer

    write_study(tmp_path / "series", slices=40)
    cancel = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, text: str) -> None:
        seen.append(fraction)
        if fraction > 0.3:
            cancel.cancel()

    saved = importer.COMMIT_FILES
    importer.COMMIT_FILES = 8
    try:
        with DicomDatabase.open(tmp_path / "db") as database:
            with pytest.raises(Cancelled, match="Import cancelled"):
                database.import_path(tmp_path / "series", progress=progress, cancel=cancel)
            rows = database._index.all_files()
            assert 0 < len(rows) < 40
            assert len(blob_files(tmp_path / "db")) == len(rows)
            assert not list((tmp_path / "db" / "incoming").iterdir())
            assert database.verify().ok
            finished = database.import_path(tmp_path / "series")
            assert finished.added == 40 - len(rows) and finished.duplicates == len(rows)
    finally:
        importer.COMMIT_FILES = saved


def test_import_bytes_from_many_threads_indexes_each_instance_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    files = write_study(tmp_path / "series", slices=24)
    payloads = [path.read_bytes() for path in files] * 2  # every instance arrives twice
    with DicomDatabase.open(tmp_path / "db") as database:
        with ThreadPoolExecutor(8) as pool:
            uids = list(pool.map(lambda data: database.import_bytes(data, "PACS"), payloads))
        expected = [str(dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in files]
        assert uids == expected * 2
        rows = database._index.all_files()
        assert sorted(row.sop_instance_uid for row in rows) == sorted(expected)
        assert len(blob_files(tmp_path / "db")) == 24
        assert database.verify().ok
        with pytest.raises(DatabaseError, match="not a DICOM file"):
            database.import_bytes(b"hello", "junk")


def test_stale_temporaries_of_killed_imports_are_removed_on_open(tmp_path: Path) -> None:
    DicomDatabase.open(tmp_path / "db").close()
    stale = tmp_path / "db" / "incoming" / "999999999-abcd-0123.part"
    stale.write_bytes(b"half a file")
    mine = tmp_path / "db" / "incoming" / f"{os.getpid()}-abcd-0123.part"
    mine.write_bytes(b"in progress")
    DicomDatabase.open(tmp_path / "db").close()
    assert not stale.exists() and mine.exists()


def test_a_database_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatabaseError, match="it is a file"):
        DicomDatabase.open(tmp_path / "file")


def test_default_location_is_the_environment_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WORKSTATION_DATABASE", str(tmp_path / "elsewhere"))
    with DicomDatabase.open() as database:
        assert database.location == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere" / "index.sqlite").is_file()


def test_large_files_stream_through_the_store(tmp_path: Path, monkeypatch) -> None:
    from workstation.io.database import store

    monkeypatch.setattr(store, "WHOLE_READ_MAX", 100)  # every file takes the streaming path
    monkeypatch.setattr(store, "READ_CHUNK", 64)
    files = write_study(tmp_path / "series", slices=3)
    with DicomDatabase.open(tmp_path / "db") as database:
        report = database.import_path(tmp_path / "series", workers=1)
        assert report.added == 3
        stored = sorted(map(sha256_of, blob_files(tmp_path / "db")))
        assert stored == sorted(map(sha256_of, files))
        assert database.verify().ok


def test_import_from_a_worker_thread_uses_threads_and_indexes_all(tmp_path: Path) -> None:
    import threading

    files = write_study(tmp_path / "series", slices=40)
    reports = []

    def run() -> None:
        with DicomDatabase.open(tmp_path / "db") as database:
            reports.append(database.import_path(tmp_path / "series", workers=2))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    [report] = reports
    assert report.added == 40
    assert sorted(map(sha256_of, blob_files(tmp_path / "db"))) == sorted(map(sha256_of, files))


def test_an_index_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    import sqlite3

    DicomDatabase.open(tmp_path / "db").close()
    with sqlite3.connect(tmp_path / "db" / "index.sqlite") as connection:
        connection.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(DatabaseError, match="newer version"):
        DicomDatabase.open(tmp_path / "db")


def test_a_full_disk_stops_the_import_with_one_database_error(tmp_path: Path, monkeypatch) -> None:
    import errno

    from workstation.io.database import store

    write_study(tmp_path / "series", slices=3)

    def full(path: Path) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with DicomDatabase.open(tmp_path / "db") as database:
        monkeypatch.setattr(store, "_create", full)
        with pytest.raises(DatabaseError, match="No space left on device") as caught:
            database.import_path(tmp_path / "series", workers=1)
        assert caught.value.exit_code == 15
        assert database._index.all_files() == []


def test_the_database_cannot_import_itself(tmp_path: Path, study) -> None:
    folder, _files, _uid = study
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(folder)
        with pytest.raises(DatabaseError, match="inside the database"):
            database.import_path(tmp_path / "db" / "blobs")
