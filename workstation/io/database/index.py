"""The SQLite index of the database: one row per patient, study, series and instance.

WAL mode with a busy time-out lets the window and a command-line import use one
database at once; every change runs in a ``BEGIN IMMEDIATE`` transaction, so writers
queue instead of failing.  One connection per index object, guarded by a lock, so the
object may be shared by threads (PACS retrieves store instances from pynetdicom's).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workstation.core.errors import DatabaseError
from workstation.io.database.records import InstanceFields, StagedFile
from workstation.io.database.schema import SCHEMA_VERSION, TABLES

INDEX_NAME = "index.sqlite"
#: Seconds a writer waits for another one (a long import commits in short chunks).
BUSY_TIMEOUT_S = 60.0

_SPACES = re.compile(r"\s+")


def fold_name(name: str) -> str:
    """A patient name for matching: case-folded, ``^`` as a space, runs of spaces as one."""
    return _SPACES.sub(" ", name.replace("^", " ")).strip().casefold()


def fold_text(text: str) -> str:
    """A description for matching: case-folded."""
    return text.casefold()


@dataclass(frozen=True)
class IndexedFile:
    """One instance row: where its file is and the hash it must have."""

    sop_instance_uid: str
    study_uid: str
    series_uid: str
    path: str
    sha256: str
    size: int
    in_place: bool


class DatabaseIndex:
    """The index file of one database folder (created with its schema on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection = self._connect()
        self._lock = threading.RLock()
        try:
            self._create_schema()
        except BaseException:
            self._connection.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        """The connection to the index file (WAL, busy time-out, foreign keys)."""
        path = self.path
        try:
            connection = sqlite3.connect(
                str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            connection.execute("PRAGMA journal_mode = WAL")
            # WAL + NORMAL never corrupts the index; a power cut may lose the last
            # commits, which leaves their (complete, fsynced) blobs unindexed: verify
            # lists them and importing the files again indexes them.
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise DatabaseError(f"Cannot open the database index {path}: {error}") from error
        return connection

    def _create_schema(self) -> None:
        with self.write() as connection:
            # one statement at a time: executescript would commit the open transaction
            for statement in TABLES.split(";"):
                if statement.strip():
                    connection.execute(statement)
            rows = connection.execute("SELECT version FROM schema_version").fetchall()
            if not rows:
                connection.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif rows[0][0] > SCHEMA_VERSION:
                raise DatabaseError(
                    f"The database index {self.path} was made by a newer version of the "
                    f"workstation (schema {rows[0][0]}, this one reads up to {SCHEMA_VERSION})"
                )

    def close(self) -> None:
        """Close the connection (the index file stays)."""
        with self._lock:
            self._connection.close()

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE … COMMIT; rolled back on any error)."""
        with self._lock:
            connection = self._connection
            try:
                connection.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise DatabaseError(f"The database index {self.path} is busy: {error}") from error
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException as error:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise DatabaseError(
                        f"The database index {self.path} could not be changed: {error}"
                    ) from error
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several queries."""
        with self._lock:
            connection = self._connection
            try:
                connection.execute("BEGIN DEFERRED")
                yield connection
            except sqlite3.Error as error:
                raise DatabaseError(
                    f"The database index {self.path} could not be read: {error}"
                ) from error
            finally:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("COMMIT")

    # ------------------------------------------------------------------ adding

    @staticmethod
    def existing(connection: sqlite3.Connection, uids: list[str]) -> dict[str, sqlite3.Row]:
        """The instance rows already indexed among ``uids``, by SOP Instance UID."""
        found: dict[str, sqlite3.Row] = {}
        for start in range(0, len(uids), 500):
            part = uids[start : start + 500]
            marks = ",".join("?" * len(part))
            for row in connection.execute(
                f"SELECT sop_instance_uid, sha256, path, in_place FROM instances "
                f"WHERE sop_instance_uid IN ({marks})",
                part,
            ):
                found[row["sop_instance_uid"]] = row
        return found

    @staticmethod
    def _patient_key(connection: sqlite3.Connection, fields: InstanceFields) -> int:
        row = connection.execute(
            "INSERT INTO patients (patient_id, patient_name, birth_date, sex, name_folded) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (patient_id, patient_name, birth_date) "
            "DO UPDATE SET sex = CASE WHEN sex = '' THEN excluded.sex ELSE sex END "
            "RETURNING patient_key",
            (
                fields.patient_id,
                fields.patient_name,
                fields.patient_birth_date,
                fields.patient_sex,
                fold_name(fields.patient_name),
            ),
        ).fetchone()
        return int(row[0])

    def add_study_and_series(
        self, connection: sqlite3.Connection, fields: InstanceFields, now: float
    ) -> None:
        """Make sure the patient, study and series rows of ``fields`` exist."""
        known = connection.execute(
            "SELECT 1 FROM series WHERE series_uid = ?", (fields.series_uid,)
        ).fetchone()
        if known is not None:
            return
        study = connection.execute(
            "SELECT 1 FROM studies WHERE study_uid = ?", (fields.study_uid,)
        ).fetchone()
        if study is None:
            connection.execute(
                "INSERT INTO studies (study_uid, patient_key, study_date, study_time, "
                "description, description_folded, accession_number, study_id, inserted_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fields.study_uid,
                    self._patient_key(connection, fields),
                    fields.study_date,
                    fields.study_time,
                    fields.study_description,
                    fold_text(fields.study_description),
                    fields.accession_number,
                    fields.study_id,
                    now,
                ),
            )
        connection.execute(
            "INSERT INTO series (series_uid, study_uid, modality, series_number, description, "
            "description_folded, body_part, frame_of_reference_uid, inserted_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fields.series_uid,
                fields.study_uid,
                fields.modality,
                fields.series_number,
                fields.series_description,
                fold_text(fields.series_description),
                fields.body_part,
                fields.frame_of_reference_uid,
                now,
            ),
        )

    def add_instance(
        self, connection: sqlite3.Connection, item: StagedFile, origin: str, now: float
    ) -> None:
        """Insert one instance row (and its patient, study and series when new)."""
        fields = item.fields
        self.add_study_and_series(connection, fields, now)
        connection.execute(
            "INSERT INTO instances (sop_instance_uid, series_uid, sop_class_uid, "
            "instance_number, rows, columns, number_of_frames, transfer_syntax_uid, sha256, "
            "size, path, in_place, imported_at, origin) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                fields.sop_instance_uid,
                fields.series_uid,
                fields.sop_class_uid,
                fields.instance_number,
                fields.rows,
                fields.columns,
                fields.number_of_frames,
                fields.transfer_syntax_uid,
                item.sha256,
                item.size,
                item.path,
                int(item.in_place),
                now,
                origin,
            ),
        )

    @staticmethod
    def move_into_store(connection: sqlite3.Connection, item: StagedFile) -> None:
        """Point an in-place row at its new copy in the store."""
        connection.execute(
            "UPDATE instances SET path = ?, in_place = 0 WHERE sop_instance_uid = ?",
            (item.path, item.fields.sop_instance_uid),
        )

    # ------------------------------------------------------------------ reading

    @staticmethod
    def path_referenced(connection: sqlite3.Connection, path: str) -> bool:
        """True when some instance row still points at ``path``."""
        row = connection.execute("SELECT 1 FROM instances WHERE path = ? LIMIT 1", (path,))
        return row.fetchone() is not None

    def files(self, study_uid: str, series_uid: str | None = None) -> list[IndexedFile]:
        """The instance rows of a study (or one of its series), in series and instance order."""
        sql = (
            "SELECT i.sop_instance_uid, s.study_uid, s.series_uid, i.path, i.sha256, i.size, "
            "i.in_place FROM instances i JOIN series s ON s.series_uid = i.series_uid "
            "WHERE s.study_uid = ?"
        )
        parameters: list[str] = [study_uid]
        if series_uid:
            sql += " AND s.series_uid = ?"
            parameters.append(series_uid)
        sql += " ORDER BY s.series_number, s.series_uid, i.instance_number, i.sop_instance_uid"
        with self.read() as connection:
            return [_indexed(row) for row in connection.execute(sql, parameters)]

    def all_files(self) -> list[IndexedFile]:
        """Every instance row."""
        with self.read() as connection:
            return [
                _indexed(row)
                for row in connection.execute(
                    "SELECT i.sop_instance_uid, s.study_uid, s.series_uid, i.path, i.sha256, "
                    "i.size, i.in_place FROM instances i "
                    "JOIN series s ON s.series_uid = i.series_uid ORDER BY i.path"
                )
            ]

    def has_study(self, study_uid: str) -> bool:
        """True when the study is in the index."""
        with self.read() as connection:
            row = connection.execute("SELECT 1 FROM studies WHERE study_uid = ?", (study_uid,))
            return row.fetchone() is not None

    def integrity_problem(self) -> str:
        """'' when SQLite's quick check finds the index file sound, else what it found."""
        with self.read() as connection:
            rows = [str(row[0]) for row in connection.execute("PRAGMA quick_check")]
            broken = connection.execute("PRAGMA foreign_key_check").fetchall()
        if rows != ["ok"]:
            return "; ".join(rows[:5])
        if broken:
            return f"{len(broken)} rows refer to missing parents"
        return ""

    # ------------------------------------------------------------------ deleting

    @staticmethod
    def delete_study_rows(
        connection: sqlite3.Connection, study_uid: str
    ) -> tuple[int, list[IndexedFile]]:
        """Delete a study's rows (series and instances cascade, an emptied patient too).

        Returns the number of series and the instance rows that went.
        """
        rows = [
            _indexed(row)
            for row in connection.execute(
                "SELECT i.sop_instance_uid, s.study_uid, s.series_uid, i.path, i.sha256, "
                "i.size, i.in_place FROM instances i "
                "JOIN series s ON s.series_uid = i.series_uid WHERE s.study_uid = ?",
                (study_uid,),
            )
        ]
        series = connection.execute(
            "SELECT COUNT(*) FROM series WHERE study_uid = ?", (study_uid,)
        ).fetchone()[0]
        patient = connection.execute(
            "SELECT patient_key FROM studies WHERE study_uid = ?", (study_uid,)
        ).fetchone()
        connection.execute("DELETE FROM studies WHERE study_uid = ?", (study_uid,))
        if patient is not None:
            connection.execute(
                "DELETE FROM patients WHERE patient_key = ? AND NOT EXISTS "
                "(SELECT 1 FROM studies WHERE patient_key = ?)",
                (patient[0], patient[0]),
            )
        return int(series), rows


def _indexed(row: sqlite3.Row) -> IndexedFile:
    return IndexedFile(
        sop_instance_uid=row[0],
        study_uid=row[1],
        series_uid=row[2],
        path=row[3],
        sha256=row[4],
        size=int(row[5]),
        in_place=bool(row[6]),
    )


def now() -> float:
    """The time stamp stored with new rows (seconds since the epoch)."""
    return time.time()
