"""The content-addressed file store: every blob is named by the SHA-256 of its bytes.

Blobs live at ``LOCATION/blobs/ab/cdef….dcm`` (``ab`` the first two hex digits), are
written whole to a temporary file in ``LOCATION/incoming``, fsynced and then renamed
into place (so a blob name only ever holds complete content), and are read-only
afterwards.  Identical content is stored once.  Files indexed in place are only read.
In an encrypted database (a ``DatabaseKey`` given) a blob holds the sealed content and
is named by the keyed ``DatabaseKey.blob_name`` of the plaintext's SHA-256.

``stage_location`` does the per-file work of an import (read once; hash, copy and parse
the header from the same bytes) and runs in worker processes or threads; each copy starts
its writeback as soon as it is written.  The caller makes staged copies durable and
visible with ``publish`` before it commits their index rows: for a batch, one
filesystem sync before the renames and one after (``durable.sync_filesystem``), else an
fsync per file and per folder.  Either way the guarantee of ``atomic_write`` (temporary
file, fsync, rename) holds: a blob name never points at content not yet on the disk,
and no index row points at a rename not yet on the disk.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import secrets
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from workstation.core.errors import DatabaseError, DicomReadError
from workstation.io.database import direct_write
from workstation.io.database.durable import start_writeback, sync_filesystem
from workstation.io.database.fields import instance_fields
from workstation.io.database.records import InstanceFields, SkippedInput, StagedFile
from workstation.io.database_encryption import DatabaseKey
from workstation.io.dicom.detect import looks_like_dicom, read_head
from workstation.io.dicom.headers import read_header, read_header_from
from workstation.io.sources import is_zip_location, open_binary

BLOBS = "blobs"
INCOMING = "incoming"
BLOB_SUFFIX = ".dcm"
#: The blob folders: the first two hex digits of the SHA-256.
FANOUT = tuple(f"{number:02x}" for number in range(256))
TEMP_SUFFIX = ".part"
#: Files up to this size are read into memory whole (one read); larger ones stream.
WHOLE_READ_MAX = 32 << 20
READ_CHUNK = 1 << 20
#: A temporary file whose owner cannot be checked is stale after this many seconds.
STALE_AFTER_S = 24 * 3600.0
#: Threads that fsync staged files (the disk merges concurrent flushes).
FSYNC_THREADS = 8
#: Publishing at least this many files syncs the whole filesystem (two ``syncfs``)
#: instead of fsyncing each file and folder.
BATCH_SYNC_MIN_FILES = 8


def blob_relative(sha256: str, key: DatabaseKey | None = None) -> str:
    """The path of a blob relative to the database folder (an encrypted database names
    it by the keyed ``DatabaseKey.blob_name`` of the plaintext's SHA-256)."""
    name = key.blob_name(sha256) if key is not None else sha256
    return f"{BLOBS}/{name[:2]}/{name[2:]}{BLOB_SUFFIX}"


def read_plaintext(path: str | Path, key: DatabaseKey) -> bytes:
    """The plaintext of a sealed blob (EncryptionError when it was altered)."""
    with open(path, "rb") as handle:
        sealed = handle.read()
    return key.open(sealed, Path(path).name)


def hash_plaintext(path: str | Path, key: DatabaseKey) -> tuple[str, int]:
    """SHA-256 (hex) and size of a sealed blob's plaintext."""
    data = read_plaintext(path, key)
    return hashlib.sha256(data).hexdigest(), len(data)


def resolve(root: str | Path, path: str) -> Path:
    """An index path as a file: blob paths are relative to ``root``, in-place ones absolute."""
    candidate = Path(path)
    return candidate if candidate.is_absolute() else Path(root) / candidate


def hash_file(path: str | Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of a file or zip member, read in chunks."""
    with open_binary(str(path)) as handle:
        return _hash_handle(handle)


def _temporary(root: Path, tag: str) -> Path:
    """A new temporary name: ``<pid>-<import tag>-<random>.part`` (the tag finds an
    import's leftovers after a cancel)."""
    return root / INCOMING / f"{os.getpid()}-{tag or 'x'}-{secrets.token_hex(6)}{TEMP_SUFFIX}"


def _create(path: Path) -> int:
    """A new read-only file (the descriptor still writes; the umask applies too), opened
    for direct I/O where the store's filesystem takes it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    direct = direct_write.open_for_direct(str(path.parent))
    if direct:
        try:
            return os.open(path, flags | direct, 0o444)
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            direct_write.refuse(str(path.parent))
    return os.open(path, flags, 0o444)


def _store_error(root: Path, error: OSError) -> DatabaseError:
    return DatabaseError(f"Cannot write to the database store {root}: {error.strerror or error}")


def write_temporary_bytes(root: Path, data: bytes, tag: str = "") -> Path:
    """Write ``data`` to a new temporary file in the store (not yet synced), directly to
    the disk where it can (``direct_write``).  A failure is a DatabaseError."""
    path = _temporary(root, tag)
    try:
        descriptor = _create(path)
    except OSError as error:
        raise _store_error(root, error) from error
    try:
        try:
            direct = direct_write.is_direct(descriptor)
            direct_write.write_new_file(descriptor, data, str(path.parent), direct)
        except OSError as error:
            raise _store_error(root, error) from error
        start_writeback(descriptor)  # what went through the page cache (the last block)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    finally:
        os.close(descriptor)
    return path


def write_temporary(root: Path, chunks: Iterable[bytes], tag: str = "") -> Path:
    """Write ``chunks`` to a new temporary file in the store (not yet fsynced).

    A failure to write (a full disk, no permission) is a DatabaseError; an OSError from
    producing the chunks (reading the source) passes through as it is.
    """
    path = _temporary(root, tag)
    try:
        descriptor = _create(path)
    except OSError as error:
        raise _store_error(root, error) from error
    try:
        direct_write.stop_direct(descriptor)  # streamed chunks are not aligned
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in chunks:
                try:
                    handle.write(chunk)
                except OSError as error:
                    raise _store_error(root, error) from error
            try:
                handle.flush()
            except OSError as error:
                raise _store_error(root, error) from error
            start_writeback(descriptor)
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return path


def prepare_folders(root: Path) -> None:
    """Create the store's folders (``blobs/00`` … ``blobs/ff``, ``incoming``) that are missing.

    Done when a database is opened: a new folder costs more than the file renamed into
    it, so an import into a new database would otherwise pay for 256 of them.
    """
    blobs = root / BLOBS
    root.mkdir(parents=True, exist_ok=True)
    blobs.mkdir(exist_ok=True)
    (root / INCOMING).mkdir(exist_ok=True)
    present = set(os.listdir(blobs))
    missing = [name for name in FANOUT if name not in present]
    for name in missing:
        (blobs / name).mkdir(exist_ok=True)
    if missing:
        _fsync_folder(str(blobs))
        _fsync_folder(str(root))


def _is_special(location: str) -> bool:
    if is_zip_location(location):
        return False
    try:
        return not stat.S_ISREG(os.stat(location).st_mode)
    except OSError:
        return False  # opening it says why


def _parse(header_from: str | bytes, location: str = "") -> InstanceFields | str:
    """Fields of the header at ``header_from`` (a path, or a file's bytes read from
    ``location``) or the skip reason (the scan's words)."""
    try:
        if isinstance(header_from, bytes):
            return instance_fields(read_header_from(io.BytesIO(header_from), location))
        return instance_fields(read_header(header_from))
    except DicomReadError as error:
        return error.details or error.message
    except Exception as error:  # never let one odd file stop an import
        return f"unreadable: {type(error).__name__}: {error}"


def stage_location(
    root: str, location: str, in_place: bool, tag: str = "", key: DatabaseKey | None = None
) -> StagedFile | SkippedInput:
    """Read one input file for import: hash it, copy it (unless in place), parse its header.

    A zip member is always copied (it has no path of its own).  Never raises for a bad
    file: it becomes a SkippedInput with the reason a scan would give.  With ``key``
    (an encrypted database) the copy is sealed and never kept in place.
    """
    store = Path(root)
    if _is_special(location):
        return SkippedInput(location, "not a regular file")
    staged: Path | None = None
    header_from: str | bytes
    try:
        with open_binary(location) as handle:
            head, size = read_head(handle)
            if not looks_like_dicom(head, size):
                return SkippedInput(location, "not a DICOM file")
            keep_in_place = in_place and not is_zip_location(location) and key is None
            if key is not None:
                data = handle.read()
                sha, length = hashlib.sha256(data).hexdigest(), len(data)
                path = blob_relative(sha, key)
                if not (store / path).is_file():
                    staged = write_temporary_bytes(store, key.seal(data), tag)
                header_from = data
            elif keep_in_place:
                sha, length = _hash_handle(handle)
                header_from, path = location, os.path.abspath(location)
            elif size is not None and size <= WHOLE_READ_MAX:
                data = handle.read()
                sha, length = hashlib.sha256(data).hexdigest(), len(data)
                path = blob_relative(sha)
                if not (store / path).is_file():
                    staged = write_temporary_bytes(store, data, tag)
                header_from = data  # the bytes just copied: no second read
            else:
                digest = hashlib.sha256()
                counted = [0]

                def chunks() -> Iterable[bytes]:
                    while chunk := handle.read(READ_CHUNK):
                        digest.update(chunk)
                        counted[0] += len(chunk)
                        yield chunk

                staged = write_temporary(store, chunks(), tag)
                sha, length = digest.hexdigest(), counted[0]
                header_from, path = str(staged), blob_relative(sha)
    except OSError as error:
        _discard(staged)
        return SkippedInput(location, f"cannot open: {error.strerror or error}")
    fields = _parse(header_from, location)
    if isinstance(fields, str):
        _discard(staged)
        return SkippedInput(location, fields)
    return StagedFile(
        location=location,
        fields=fields,
        sha256=sha,
        size=length,
        path=path,
        in_place=keep_in_place,
        staged=str(staged or ""),
    )


def stage_chunk(
    root: str,
    locations: list[str],
    in_place: bool,
    tag: str = "",
    key: DatabaseKey | None = None,
) -> list[StagedFile | SkippedInput]:
    """``stage_location`` for each of ``locations`` (one task for a worker)."""
    return [stage_location(root, location, in_place, tag, key) for location in locations]


def remove_temporaries_of(root: Path, tag: str) -> None:
    """Delete every temporary file one import (``tag``) left, e.g. after a cancel."""
    with contextlib.suppress(OSError):
        for entry in os.scandir(root / INCOMING):
            if f"-{tag}-" in entry.name and entry.name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _hash_handle(handle: BinaryIO) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def stage_bytes(
    root: Path, data: bytes, origin: str, key: DatabaseKey | None = None
) -> StagedFile | SkippedInput:
    """Stage one Part-10 file given as bytes (a retrieved instance; sealed with ``key``)."""
    if not looks_like_dicom(data[:1024], len(data)):
        return SkippedInput(origin, "not a DICOM file")
    sha = hashlib.sha256(data).hexdigest()
    path = blob_relative(sha, key)
    staged: Path | None = None
    if not (root / path).is_file():
        staged = write_temporary_bytes(root, data if key is None else key.seal(data))
    fields = _parse(data, origin)
    if isinstance(fields, str):
        _discard(staged)
        return SkippedInput(origin, fields)
    return StagedFile(origin, fields, sha, len(data), path, False, str(staged or ""))


def _discard(staged: Path | str | None) -> None:
    if staged:
        with contextlib.suppress(OSError):
            os.unlink(staged)


def discard(files: Iterable[StagedFile]) -> None:
    """Remove the temporary copies of staged files that will not be published."""
    for item in files:
        _discard(item.staged)


def _fsync(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):
        _fsync(folder)


def flush_to_disk(path: str) -> None:
    """fsync one staged file (any thread may do it; ``publish`` needs it done)."""
    _fsync(path)


def _fsync_each(paths: list[str], fsync: Callable[[str], None]) -> None:
    if len(paths) > 1:  # concurrent flushes share journal commits
        with ThreadPoolExecutor(min(FSYNC_THREADS, len(paths))) as pool:
            list(pool.map(fsync, paths))
    else:
        for path in paths:
            fsync(path)


def publish(root: Path, files: list[StagedFile], synced: bool = False) -> None:
    """Make staged (read-only) copies durable blobs: sync, rename into place, sync again.

    A batch of ``BATCH_SYNC_MIN_FILES`` or more syncs the filesystem before and after
    the renames; fewer files (or no ``syncfs``) are fsynced one by one, then their
    folders.  ``synced``: the caller already flushed every staged file
    (``flush_to_disk``).  The rename replaces an identical blob that appeared meanwhile
    (the same content from another import), which changes nothing.  Raises
    DatabaseError when the store cannot be written.
    """
    pending = [item for item in files if item.staged]
    if not pending:
        return
    batch = len(pending) >= BATCH_SYNC_MIN_FILES
    try:
        if not synced and not (batch and sync_filesystem(root)):
            _fsync_each([item.staged for item in pending], _fsync)
        folders: set[str] = set()
        for item in pending:
            target = root / item.path
            try:
                os.replace(item.staged, target)
            except FileNotFoundError:  # its folder went (``prepare_folders`` made it)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(item.staged, target)
                folders.add(str(target.parent.parent))
            folders.add(str(target.parent))
        if not (batch and sync_filesystem(root)):
            _fsync_each(sorted(folders), _fsync_folder)
    except OSError as error:
        discard(pending)
        raise _store_error(root, error) from error


def restage(root: Path, item: StagedFile, key: DatabaseKey | None = None) -> StagedFile:
    """Copy a file again whose blob vanished after staging (deleted by another process)."""
    with open_binary(item.location) as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != item.sha256:
        raise DatabaseError(f"{item.location} changed while it was being imported")
    staged = write_temporary_bytes(root, data if key is None else key.seal(data))
    return StagedFile(
        item.location, item.fields, item.sha256, item.size, item.path, False, str(staged)
    )


def remove_blob(root: Path, relative: str) -> int:
    """Delete one blob file; returns the bytes freed (0 when it was already gone)."""
    path = root / relative
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return 0
    except OSError as error:
        raise DatabaseError(f"Cannot delete {path}: {error.strerror or error}") from error
    return size


def blob_files(root: Path) -> list[str]:
    """Every blob file in the store, as paths relative to ``root``."""
    found: list[str] = []
    base = root / BLOBS
    if not base.is_dir():
        return found
    for folder in sorted(base.iterdir()):
        if folder.is_dir():
            found.extend(
                f"{BLOBS}/{folder.name}/{name}"
                for name in sorted(os.listdir(folder))
                if name.endswith(BLOB_SUFFIX)
            )
    return found


def _owner_gone(name: str) -> bool:
    pid_text = name.split("-", 1)[0]
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def remove_stale_temporaries(root: Path) -> int:
    """Delete temporary copies left by imports that were killed; returns how many."""
    folder = root / INCOMING
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.endswith(TEMP_SUFFIX):
            continue
        try:
            old = time.time() - entry.stat().st_mtime > STALE_AFTER_S
        except OSError:
            continue
        if _owner_gone(entry.name) or old:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed
