"""Getting imported files onto the disk: the order of syncs, renames and index commits."""

from __future__ import annotations

import ctypes
import errno
import os
import sqlite3
from pathlib import Path

import pytest

from tests.io.database.cases import blob_files, sha256_of, write_study
from workstation.core.errors import DatabaseError
from workstation.io.database import durable, store
from workstation.services.dicom_database import DicomDatabase

needs_syncfs = pytest.mark.skipif(
    not durable.can_sync_filesystem(), reason="syncfs(2) is a Linux call"
)


def _rows(database: Path) -> int:
    """Instance rows a second connection sees (committed ones only)."""
    with sqlite3.connect(database / "index.sqlite") as connection:
        return int(connection.execute("SELECT COUNT(*) FROM instances").fetchone()[0])


def _failing_syncfs(code: int):
    def syncfs(descriptor: int) -> int:
        ctypes.set_errno(code)
        return -1

    return syncfs


@needs_syncfs
def test_a_batch_is_synced_before_and_after_its_renames_and_indexed_after(
    tmp_path: Path, monkeypatch
) -> None:
    files = write_study(tmp_path / "series", slices=20)
    database_dir = tmp_path / "db"
    events: list[tuple[str, int, int]] = []
    real_sync, real_replace = store.sync_filesystem, os.replace

    def sync(folder: Path) -> bool:
        events.append(("sync", _rows(database_dir), len(blob_files(database_dir))))
        return real_sync(folder)

    def replace(source, target) -> None:
        events.append(("rename", _rows(database_dir), len(blob_files(database_dir))))
        real_replace(source, target)

    fsynced: list[str] = []
    with DicomDatabase.open(database_dir) as database:
        monkeypatch.setattr(store, "sync_filesystem", sync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(store, "_fsync", fsynced.append)
        report = database.import_path(tmp_path / "series", workers=1)
        assert report.added == 20
        assert _rows(database_dir) == 20
        assert sorted(map(sha256_of, blob_files(database_dir))) == sorted(map(sha256_of, files))
        assert database.verify().ok
    kinds = [kind for kind, _rows_seen, _blobs in events]
    assert kinds == ["sync"] + ["rename"] * 20 + ["sync"]
    assert events[0][1:] == (0, 0)  # data synced before any blob name exists
    assert events[-1][1:] == (0, 20)  # renames synced before any row is committed
    assert fsynced == []  # no fsync per file or folder


@pytest.mark.parametrize(
    "syncfs", [None, _failing_syncfs(errno.ENOSYS)], ids=["missing", "not-implemented"]
)
def test_without_syncfs_each_file_is_fsynced_before_its_rename(
    tmp_path: Path, monkeypatch, syncfs
) -> None:
    files = write_study(tmp_path / "series", slices=12)
    monkeypatch.setitem(durable._calls, "syncfs", syncfs)
    fsynced: list[str] = []
    renamed: list[tuple[str, bool]] = []
    real_fsync, real_replace = store._fsync, os.replace

    def fsync(path: str) -> None:
        fsynced.append(str(path))
        real_fsync(path)

    def replace(source, target) -> None:
        renamed.append((str(target), str(source) in fsynced))
        real_replace(source, target)

    with DicomDatabase.open(tmp_path / "db") as database:
        monkeypatch.setattr(store, "_fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        report = database.import_path(tmp_path / "series", workers=1)
        assert report.added == 12 and database.verify().ok
    assert len(renamed) == 12 and all(synced for _target, synced in renamed)
    folders = {str(Path(target).parent) for target, _synced in renamed}
    assert folders <= set(fsynced)  # and every blob folder afterwards
    assert sorted(map(sha256_of, blob_files(tmp_path / "db"))) == sorted(map(sha256_of, files))


@needs_syncfs
def test_a_write_failure_reported_by_syncfs_stops_the_import(tmp_path: Path, monkeypatch) -> None:
    write_study(tmp_path / "series", slices=10)
    with DicomDatabase.open(tmp_path / "db") as database:
        monkeypatch.setitem(durable._calls, "syncfs", _failing_syncfs(errno.EIO))
        with pytest.raises(DatabaseError, match="Input/output error") as caught:
            database.import_path(tmp_path / "series", workers=1)
        assert caught.value.exit_code == 15
        assert database._index.all_files() == []
    assert blob_files(tmp_path / "db") == []
    assert not list((tmp_path / "db" / "incoming").iterdir())


def test_one_file_is_fsynced_rather_than_the_whole_filesystem(tmp_path: Path, monkeypatch) -> None:
    [path] = write_study(tmp_path / "one", slices=1)
    calls: list[str] = []
    real_fsync = store._fsync

    def fsync(target: str) -> None:
        calls.append(str(target))
        real_fsync(target)

    def no_syncfs(folder: Path) -> bool:
        raise AssertionError("a single file must not sync the whole filesystem")

    with DicomDatabase.open(tmp_path / "db") as database:
        monkeypatch.setattr(store, "_fsync", fsync)
        monkeypatch.setattr(store, "sync_filesystem", no_syncfs)
        database.import_bytes(path.read_bytes(), "PACS")
        [blob] = blob_files(tmp_path / "db")
    assert len(calls) == 2
    assert Path(calls[0]).parent == tmp_path / "db" / "incoming"  # the copy, then
    assert Path(calls[1]) == blob.parent  # the folder it was renamed into
    assert sha256_of(blob) == sha256_of(path)


def test_writeback_starts_once_every_byte_reached_the_file(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "incoming").mkdir()
    hinted: list[tuple[int, int]] = []

    def hint(descriptor: int) -> None:
        hinted.append((descriptor, os.fstat(descriptor).st_size))

    monkeypatch.setattr(store, "start_writeback", hint)
    chunks = [b"a" * 70_000, b"b" * 5, b"c" * 123_456]
    staged = store.write_temporary(tmp_path, chunks, "tag")
    assert staged.read_bytes() == b"".join(chunks)
    assert [size for _descriptor, size in hinted] == [70_000 + 5 + 123_456]


def test_sync_filesystem_answers_false_or_raises_by_the_error(tmp_path: Path, monkeypatch) -> None:
    if durable.can_sync_filesystem():
        assert durable.sync_filesystem(tmp_path) is True
    monkeypatch.setitem(durable._calls, "syncfs", None)
    assert durable.sync_filesystem(tmp_path) is False
    assert not durable.can_sync_filesystem()
    monkeypatch.setitem(durable._calls, "syncfs", _failing_syncfs(errno.EOPNOTSUPP))
    assert durable.sync_filesystem(tmp_path) is False
    monkeypatch.setitem(durable._calls, "syncfs", _failing_syncfs(errno.EIO))
    with pytest.raises(OSError) as caught:
        durable.sync_filesystem(tmp_path)
    assert caught.value.errno == errno.EIO


def test_start_writeback_is_harmless_without_the_call(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"x" * 10_000)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        durable.start_writeback(descriptor)  # the real call, where there is one
        monkeypatch.setitem(durable._calls, "sync_file_range", None)
        durable.start_writeback(descriptor)
    finally:
        os.close(descriptor)
    assert path.read_bytes() == b"x" * 10_000


def test_a_new_database_has_every_blob_folder_and_an_import_makes_none(
    tmp_path: Path, monkeypatch
) -> None:
    files = write_study(tmp_path / "series", slices=30)
    with DicomDatabase.open(tmp_path / "db") as database:
        folders = sorted(path.name for path in (tmp_path / "db" / "blobs").iterdir())
        assert folders == [f"{number:02x}" for number in range(256)]
        made: list[str] = []
        real_mkdir = os.mkdir

        def mkdir(path, *args, **kwargs) -> None:
            made.append(str(path))
            real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)
        assert database.import_path(tmp_path / "series", workers=1).added == 30
        # The import's audit record may make the audit log's folder; the store makes none.
        assert [path for path in made if path.startswith(str(tmp_path / "db"))] == []
        monkeypatch.setattr(os, "mkdir", real_mkdir)
        victim = tmp_path / "db" / "blobs" / sha256_of(files[0])[:2]
        for blob in victim.iterdir():
            blob.chmod(0o644)
            blob.unlink()
        victim.rmdir()  # a folder someone removed is made again
        report = database.import_path(tmp_path / "series", workers=1)
        assert report.duplicates == 30 and database.verify().ok
        assert sha256_of(files[0]) in {sha256_of(path) for path in victim.iterdir()}
