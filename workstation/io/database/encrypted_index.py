"""The index of an encrypted database: SQLite in memory, kept sealed as ``index.sqlite.enc``.

Opening decrypts the file and loads it into an in-memory SQLite database (searches stay
as fast as with the plain index).  Every write transaction holds an exclusive ``flock``
on ``index.lock``, reloads the index first when another process replaced the sealed
file since it was loaded, and after the commit serialises the whole database, seals it
with the data key and replaces the file atomically (temporary file, fsync, rename).
Reads pick up another process's commits the same way (the file is only ever replaced
whole, so a reader sees the old or the new index, never a mixture).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from workstation.core.errors import DatabaseError, EncryptionError
from workstation.io.atomic_write import atomic_write
from workstation.io.database.index import DatabaseIndex
from workstation.io.database_encryption import DatabaseKey

ENCRYPTED_INDEX_NAME = "index.sqlite.enc"
LOCK_NAME = "index.lock"

#: Leading bytes of the sealed file compared to notice a new version: its header holds
#: a random salt and nonce prefix, new with every write.
STAMP_BYTES = 4096

_Stamp = tuple[int, int, int, bytes]


def _stamp(path: Path) -> _Stamp | None:
    """(inode, size, mtime ns, leading bytes) of the sealed file; None when it is absent.

    The leading bytes tell two versions apart even when a reused inode, the same size
    and a coarse clock make the rest equal.
    """
    try:
        with open(path, "rb") as handle:
            info = os.fstat(handle.fileno())
            head = handle.read(STAMP_BYTES)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise DatabaseError(
            f"Cannot read the database index {path}: {error.strerror or error}"
        ) from None
    return (info.st_ino, info.st_size, info.st_mtime_ns, head)


class EncryptedIndex(DatabaseIndex):
    """The index of an encrypted database folder (see the module docstring)."""

    def __init__(self, folder: Path, key: DatabaseKey) -> None:
        self._key = key
        self._lock_path = folder / LOCK_NAME
        self._loaded: _Stamp | None = None
        super().__init__(folder / ENCRYPTED_INDEX_NAME)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys = ON")
        self._connection = connection
        self._reload_if_changed(force=True)
        return connection

    def _reload_if_changed(self, force: bool = False) -> None:
        """Load the sealed file into memory when it changed since it was last loaded."""
        stamp = _stamp(self.path)
        if stamp is None or (stamp == self._loaded and not force):
            return
        try:
            with open(self.path, "rb") as handle:  # the stamp and bytes of one version
                info = os.fstat(handle.fileno())
                sealed = handle.read()
        except OSError as error:
            raise DatabaseError(
                f"Cannot read the database index {self.path}: {error.strerror or error}"
            ) from None
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns, sealed[:STAMP_BYTES])
        try:
            plain = self._key.open(sealed, ENCRYPTED_INDEX_NAME)
        except EncryptionError as error:
            raise DatabaseError(f"The database index {self.path} is damaged: {error}") from None
        try:
            self._connection.deserialize(plain)
            self._connection.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as error:
            raise DatabaseError(f"The database index {self.path} is damaged: {error}") from None
        self._loaded = stamp

    def _save(self) -> None:
        """Seal the whole in-memory index and replace the file atomically."""
        try:
            sealed = self._key.seal(self._connection.serialize())
            with atomic_write(self.path) as handle:
                handle.write(sealed)
        except Exception as error:
            self._loaded = None  # the next transaction starts again from the file
            raise DatabaseError(f"Cannot write the database index {self.path}: {error}") from None
        self._loaded = _stamp(self.path)

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """An exclusive lock on ``index.lock`` shared by every process using the folder."""
        try:
            descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise DatabaseError(
                f"Cannot lock the database index {self._lock_path}: {error.strerror or error}"
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # releases the lock

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction under the file lock; saved sealed when it changed anything."""
        with self._lock, self._exclusive():
            self._reload_if_changed()
            before = self._connection.total_changes
            with super().write() as connection:
                yield connection
            if self._connection.total_changes != before or self._loaded is None:
                self._save()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on the newest committed index."""
        with self._lock:
            self._reload_if_changed()
            with super().read() as connection:
                yield connection
