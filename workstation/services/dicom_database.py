"""The local DICOM database: import, search, open, delete and verify stored studies.

Files are kept by the SHA-256 of their content under ``LOCATION/blobs`` (importing the
same file twice stores it once) and indexed in ``LOCATION/index.sqlite`` (SQLite, WAL),
so the window and command-line imports can use one database at once.  Files may also
be indexed in place (never copied, never deleted by the database).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from workstation.core.dicom_query import QueryMatch, StudyQuery
from workstation.core.errors import DatabaseError, InputPathError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.user_dirs import database_dir
from workstation.io.database import store
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
from workstation.io.dicom.model import ScanResult
from workstation.io.dicom.scan import DICOMDIR_NAME
from workstation.io.sources import check_input_path, iter_locations

__all__ = ["DeleteReport", "DicomDatabase", "ImportReport", "VerifyReport"]

#: Threads that re-hash files during verify (hashing releases the GIL).
VERIFY_THREADS = 4


class DicomDatabase:
    """One database folder: its blob store and its index (see the module docstring)."""

    def __init__(self, location: Path, index: DatabaseIndex) -> None:
        self.location = location
        self._index = index

    @classmethod
    def open(cls, location: str | Path | None = None) -> DicomDatabase:
        """Open (creating when new) the database at ``location``, default ``database_dir()``."""
        folder = Path(location).expanduser() if location is not None else database_dir()
        try:
            if folder.exists() and not folder.is_dir():
                raise DatabaseError(f"Cannot open the database {folder}: it is a file")
            store.prepare_folders(folder)
        except OSError as error:
            raise DatabaseError(
                f"Cannot open the database {folder}: {error.strerror or error}"
            ) from error
        store.remove_stale_temporaries(folder)
        return cls(folder, DatabaseIndex(folder / INDEX_NAME))

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
        Non-DICOM files and DICOMDIR itself are skipped with a reason.
        """
        root = check_input_path(path)
        if root.is_file() and root.name.upper() == DICOMDIR_NAME:
            root = root.parent  # a DICOMDIR given directly means its medium
        resolved = root.resolve()
        if resolved.is_relative_to(self.location.resolve()):
            raise DatabaseError(f"Cannot import {root}: it is inside the database {self.location}")
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
        )

    def import_bytes(self, data: bytes, origin: str = "") -> str:
        """Store and index one Part-10 file given as bytes; returns its SOP Instance UID.

        Safe to call from several threads.  Raises DatabaseError for data that is not a
        DICOM instance.
        """
        staged = store.stage_bytes(self.location, data, origin or "received instance")
        if isinstance(staged, SkippedInput):
            raise DatabaseError(f"Cannot store {staged.location}: {staged.reason}")
        report = ImportReport()
        commit_staged(self.location, self._index, [staged], origin, report)
        return staged.fields.sop_instance_uid

    # ------------------------------------------------------------------ read

    def search(self, query: StudyQuery) -> list[QueryMatch]:
        """The studies, series or patients matching ``query`` (``source="database"``)."""
        with self._index.read() as connection:
            return search_index(connection, query)

    def study_files(self, study_uid: str, series_uid: str | None = None) -> list[Path]:
        """The files of a study (or one series), in series and instance order.

        Raises DatabaseError when the study (or series) is not in the database.
        """
        rows = self._index.files(study_uid, series_uid)
        if not rows:
            what = (
                f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
            )
            raise DatabaseError(f"The database {self.location} has no {what}")
        return [store.resolve(self.location, row.path) for row in rows]

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
        """Remove a study's rows and every blob no other row uses (in-place files stay)."""
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
            sha, _size = store.hash_file(path)
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
