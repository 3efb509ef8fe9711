"""The local DICOM database: import, search, open, delete and verify stored studies.

Files are kept by the SHA-256 of their content under ``LOCATION/blobs`` (importing the
same file twice stores it once) and indexed in ``LOCATION/index.sqlite`` (SQLite, WAL),
so the window and command-line imports can use one database at once.  Files may also
be indexed in place (never copied, never deleted by the database).

An encrypted database (``DicomDatabase.create`` with a key) seals every blob with its
data key (``io/database_encryption``) and keeps its index sealed as a whole
(``io/database/encrypted_index``); opening it needs the passphrase or keyring entry, and
a study's files are decrypted into a private folder only while it is open
(``io/database/plaintext``).
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.dicom_query import QueryMatch, StudyQuery
from workstation.core.errors import DatabaseError, EncryptionError, InputPathError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.user_dirs import database_dir
from workstation.io.database import plaintext, store
from workstation.io.database.encrypted_index import EncryptedIndex
from workstation.io.database.importer import commit_staged, import_locations
from workstation.io.database.index import INDEX_NAME, DatabaseIndex, IndexedFile
from workstation.io.database.records import (
    DeleteReport,
    FileProblem,
    ImportReport,
    SkippedInput,
    VerifyReport,
)
from workstation.io.database.search import search as search_index
from workstation.io.database_encryption import (
    DatabaseKey,
    create_database_key,
    is_encrypted_database,
    unlock_database_key,
)
from workstation.io.dicom.model import ScanResult
from workstation.io.dicom.scan import DICOMDIR_NAME
from workstation.io.encryption import KeySource, current_opening_key
from workstation.io.sources import check_input_path, iter_locations
from workstation.services.access import guarded
from workstation.services.keys import key_source

__all__ = ["DeleteReport", "DicomDatabase", "ImportReport", "VerifyReport"]

#: Threads that re-hash files during verify (hashing releases the GIL).
VERIFY_THREADS = 4


class DicomDatabase:
    """One database folder: its blob store and its index (see the module docstring)."""

    def __init__(
        self, location: Path, index: DatabaseIndex, key: DatabaseKey | None = None
    ) -> None:
        self.location = location
        self._index = index
        self._key = key

    @property
    def encrypted(self) -> bool:
        """True for an encrypted database."""
        return self._key is not None

    @classmethod
    def open(
        cls, location: str | Path | None = None, key: KeySource | None = None
    ) -> DicomDatabase:
        """Open (creating when new) the database at ``location``, default ``database_dir()``.

        An encrypted database needs ``key`` (else the one of an ``opening_key`` block,
        else the passphrase file ``WORKSTATION_PASSPHRASE_FILE`` names): EncryptionError
        without one or with a wrong one, and nothing is changed.
        """
        folder = Path(location).expanduser() if location is not None else database_dir()
        data_key = None
        if is_encrypted_database(folder):
            given = key or current_opening_key() or key_source()
            data_key = unlock_database_key(folder, given)
        try:
            if folder.exists() and not folder.is_dir():
                raise DatabaseError(f"Cannot open the database {folder}: it is a file")
            store.prepare_folders(folder)
        except OSError as error:
            raise DatabaseError(
                f"Cannot open the database {folder}: {error.strerror or error}"
            ) from error
        store.remove_stale_temporaries(folder)
        if data_key is not None:
            return cls(folder, EncryptedIndex(folder, data_key), data_key)
        return cls(folder, DatabaseIndex(folder / INDEX_NAME))

    @classmethod
    def create(
        cls, location: str | Path | None = None, key: KeySource | None = None
    ) -> DicomDatabase:
        """Make a new database at ``location``: encrypted with ``key`` when given.

        An existing database is only opened when it is of the kind asked for; a folder
        holding a plain database is not encrypted afterwards (its files are plaintext).
        Making an encrypted database is audited (KEY_CHANGE).
        """
        folder = Path(location).expanduser() if location is not None else database_dir()
        if key is None:
            if is_encrypted_database(folder):
                raise DatabaseError(f"The database {folder} already exists and is encrypted.")
            return cls.open(folder)
        if is_encrypted_database(folder):
            raise DatabaseError(f"The database {folder} already exists (encrypted).")
        if (folder / INDEX_NAME).exists() or store.blob_files(folder):
            raise DatabaseError(
                f"The folder {folder} already holds an unencrypted database; make the "
                "encrypted one in a new folder and import the studies into it."
            )
        with guarded(None, AuditAction.KEY_CHANGE, detail=f"new encrypted database {folder}"):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DatabaseError(
                    f"Cannot create the database {folder}: {error.strerror or error}"
                ) from error
            create_database_key(folder, key)
        return cls.open(folder, key)

    def close(self) -> None:
        """Close the index connection."""
        self._index.close()

    def __enter__(self) -> DicomDatabase:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ import

    def import_path(
        self,
        path: str | os.PathLike[str],
        copy: bool = True,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
        workers: int | None = None,
    ) -> ImportReport:
        """Import a folder (recursively), file, zip or DICOMDIR tree (or the DICOMDIR file).

        ``copy=False`` indexes plain files in place (zip members are always copied).
        Non-DICOM files and DICOMDIR itself are skipped with a reason.  Audited IMPORT
        with the imported studies.
        """
        with guarded(None, AuditAction.IMPORT, detail=f"from {path}") as scope:
            report = self._import_path(path, copy, progress, cancel, workers)
            for study_uid in report.study_uids:
                scope.add(AuditObject("study", study_uid))
        return report

    def _import_path(
        self,
        path: str | os.PathLike[str],
        copy: bool,
        progress: ProgressCallback,
        cancel: CancelToken | None,
        workers: int | None,
    ) -> ImportReport:
        """``import_path`` once allowed."""
        root = check_input_path(path)
        if root.is_file() and root.name.upper() == DICOMDIR_NAME:
            root = root.parent  # a DICOMDIR given directly means its medium
        resolved = root.resolve()
        if resolved.is_relative_to(self.location.resolve()):
            raise DatabaseError(f"Cannot import {root}: it is inside the database {self.location}")
        if self.encrypted and not copy:
            raise DatabaseError(
                f"The database {self.location} is encrypted: files cannot be indexed in place "
                "(they would stay readable); import copies instead."
            )
        progress(0.0, "Listing files")
        try:
            locations = list(iter_locations(root))
        except OSError as error:
            raise InputPathError(f"Cannot list {root}: {error.strerror or error}") from error
        if cancel is not None:
            cancel.raise_if_cancelled()
        return import_locations(
            self.location,
            self._index,
            locations,
            in_place=not copy,
            progress=sub_progress(progress, 0.01, 1.0),
            cancel=cancel,
            workers=workers,
            key=self._key,
        )

    def import_bytes(self, data: bytes, origin: str = "") -> str:
        """Store and index one Part-10 file given as bytes; returns its SOP Instance UID.

        Safe to call from several threads.  Raises DatabaseError for data that is not a
        DICOM instance.
        """
        staged = store.stage_bytes(self.location, data, origin or "received instance", self._key)
        if isinstance(staged, SkippedInput):
            raise DatabaseError(f"Cannot store {staged.location}: {staged.reason}")
        report = ImportReport()
        commit_staged(self.location, self._index, [staged], origin, report, key=self._key)
        return staged.fields.sop_instance_uid

    # ------------------------------------------------------------------ read

    def search(self, query: StudyQuery) -> list[QueryMatch]:
        """The studies, series or patients matching ``query`` (``source="database"``)."""
        with self._index.read() as connection:
            return search_index(connection, query)

    def study_files(self, study_uid: str, series_uid: str | None = None) -> list[Path]:
        """The files of a study (or one series), in series and instance order.

        Raises DatabaseError when the study (or series) is not in the database.  For an
        encrypted database these are decrypted copies in a private folder
        (``io/database/plaintext``) that lives until the next study is opened.
        """
        rows = self._index.files(study_uid, series_uid)
        if not rows:
            what = (
                f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
            )
            raise DatabaseError(f"The database {self.location} has no {what}")
        paths = [store.resolve(self.location, row.path) for row in rows]
        if self._key is None:
            return paths
        return self._decrypt_study(study_uid, rows, paths, self._key)

    def _decrypt_study(
        self, study_uid: str, rows: list[IndexedFile], paths: list[Path], key: DatabaseKey
    ) -> list[Path]:
        """Decrypt a study's blobs into a new private folder, checking each SHA-256."""
        missing = [path for path in paths if not path.is_file()]
        if missing:
            raise DatabaseError(
                f"{len(missing)} of the {len(paths)} files of study {study_uid} are missing "
                f"(first: {missing[0]}); run 'workstation db verify'"
            )
        folder = plaintext.new_study_folder()
        written: list[Path] = []
        for number, (row, path) in enumerate(zip(rows, paths, strict=True)):
            try:
                data = store.read_plaintext(path, key)
            except (OSError, EncryptionError) as error:
                raise DatabaseError(
                    f"Cannot read {path.name} of study {study_uid}: {error}; run "
                    "'workstation db verify'"
                ) from None
            if hashlib.sha256(data).hexdigest() != row.sha256:
                raise DatabaseError(
                    f"{path.name} of study {study_uid} changed; run 'workstation db verify'"
                )
            try:
                written.append(plaintext.write_private(folder, f"{number:06d}.dcm", data))
            except OSError as error:
                raise DatabaseError(
                    f"Cannot decrypt study {study_uid} into {folder}: {error.strerror or error}"
                ) from None
        return written

    def scan_study(
        self,
        study_uid: str,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> ScanResult:
        """Scan a stored study's files into stacks, as a folder scan does."""
        from workstation.io.dicom.scan import scan_locations

        files = self.study_files(study_uid)
        missing = [path for path in files if not path.is_file()]
        if missing:
            raise DatabaseError(
                f"{len(missing)} of the {len(files)} files of study {study_uid} are missing "
                f"(first: {missing[0]}); run 'workstation db verify'"
            )
        return scan_locations(
            [str(path) for path in files],
            str(self.location),
            progress,
            cancel,
            named=f"study {study_uid} of the database",
        )

    # ------------------------------------------------------------------ delete

    def delete_study(self, study_uid: str) -> DeleteReport:
        """Remove a study's rows and every blob no other row uses (in-place files stay).

        Audited DELETE.
        """
        with guarded(None, AuditAction.DELETE, [AuditObject("study", study_uid)]):
            return self._delete_study(study_uid)

    def _delete_study(self, study_uid: str) -> DeleteReport:
        """``delete_study`` once allowed."""
        report = DeleteReport(study_uid)
        with self._index.write() as connection:
            series, rows = self._index.delete_study_rows(connection, study_uid)
            if not rows and not series:
                raise DatabaseError(f"The database {self.location} has no study {study_uid}")
            report.series, report.instances = series, len(rows)
            for row in rows:
                if row.in_place:
                    report.in_place_kept += 1
                elif not self._index.path_referenced(connection, row.path):
                    freed = store.remove_blob(self.location, row.path)
                    report.blobs_removed += int(freed > 0 or row.size == 0)
                    report.bytes_freed += freed
        return report

    # ------------------------------------------------------------------ verify

    def verify(
        self, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
    ) -> VerifyReport:
        """Re-hash every indexed file; name the missing and changed ones."""
        began = time.perf_counter()
        report = VerifyReport(index_problem=self._index.integrity_problem())
        rows = self._index.all_files()
        total = len(rows)
        progress(0.0, f"Verifying: 0/{total} files")
        pool = ThreadPoolExecutor(VERIFY_THREADS)
        try:
            for done, problem in enumerate(pool.map(self._check, rows), start=1):
                if problem is not None:
                    report.problems.append(problem)
                if cancel is not None:
                    cancel.raise_if_cancelled()
                progress(done / total if total else 1.0, f"Verifying: {done}/{total} files")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        report.checked = total
        referenced = {row.path for row in rows if not row.in_place}
        report.unindexed = [
            path for path in store.blob_files(self.location) if path not in referenced
        ]
        report.seconds = time.perf_counter() - began
        return report

    def _check(self, row: IndexedFile) -> FileProblem | None:
        path = store.resolve(self.location, row.path)
        try:
            if self._key is not None:
                sha, _size = store.hash_plaintext(path, self._key)
            else:
                sha, _size = store.hash_file(path)
        except EncryptionError:
            return FileProblem(row.sop_instance_uid, row.study_uid, str(path), "changed")
        except FileNotFoundError:
            return FileProblem(row.sop_instance_uid, row.study_uid, str(path), "missing")
        except OSError as error:
            return FileProblem(
                row.sop_instance_uid,
                row.study_uid,
                str(path),
                f"unreadable: {error.strerror or error}",
            )
        if sha != row.sha256:
            return FileProblem(row.sop_instance_uid, row.study_uid, str(path), "changed")
        return None
