"""Zip archives parsed once per process: which files are zips, their members, member readers.

Parsing a zip's central directory takes time in proportion to its members, so opening
each member through a new ``zipfile.ZipFile`` made scanning a zip quadratic (3,000
members: 17 s).  Parsed directories are kept in a small LRU keyed by the file's
identity (device, inode, size, modification time): a changed archive is parsed again.
The cache holds no open file: each member reader opens the archive itself and reads
with ``pread``, so threads and forked workers never share a file position, and an
evicted entry needs no closing.  Forked workers inherit the parent's parsed directories.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import threading
import zipfile
from collections import OrderedDict

from workstation.io.zip_member import ArchiveError, MemberReader

#: Parsed central directories kept per process (one per archive version).
DIRECTORY_CACHE_SIZE = 8
#: Remembered answers to "is this file a zip?" (one per file version).
ZIP_CHECK_CACHE_SIZE = 1024

Identity = tuple[int, int, int, int]

_lock = threading.Lock()
_directories: OrderedDict[Identity, dict[str, zipfile.ZipInfo]] = OrderedDict()
_zip_checks: OrderedDict[Identity, bool] = OrderedDict()


def _reset_lock_in_child() -> None:
    """A fork may happen while another thread holds the lock: the child gets a fresh one."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_in_child)


def _identity(status: os.stat_result) -> Identity:
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _remember(cache: OrderedDict, key: Identity, value: object, size: int) -> None:
    with _lock:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)


def _recall(cache: OrderedDict, key: Identity) -> object | None:
    with _lock:
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
        return value


def is_zip_archive(path: str) -> bool:
    """True when ``path`` is a regular file holding a zip archive (never opens a FIFO)."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return False
    if not stat.S_ISREG(status.st_mode):
        return False
    key = _identity(status)
    known = _recall(_zip_checks, key)
    if known is None:
        known = zipfile.is_zipfile(path)
        _remember(_zip_checks, key, known, ZIP_CHECK_CACHE_SIZE)
    return bool(known)


#: Open for reading without blocking on a FIFO (and in binary mode on Windows).
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def open_regular(path: str) -> tuple[int, os.stat_result]:
    """Open ``path`` read-only as a descriptor; OSError for anything but a regular file."""
    descriptor = os.open(path, READ_FLAGS)
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise OSError(
                errno.EINVAL, "not a regular file (a folder, pipe, device or socket)", path
            )
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, status


def _directory(path: str, descriptor: int, status: os.stat_result) -> dict[str, zipfile.ZipInfo]:
    """The archive's members by name, parsed from the open file once per version."""
    key = _identity(status)
    members = _recall(_directories, key)
    if members is not None:
        return members  # type: ignore[return-value]
    try:
        with open(os.dup(descriptor), "rb") as handle, zipfile.ZipFile(handle) as archive:
            parsed = {info.filename: info for info in archive.infolist()}
    except OSError:
        raise
    except Exception as error:  # zipfile raises many types on a hostile directory
        reason = str(error) or type(error).__name__
        raise ArchiveError(f"damaged zip archive ({reason})", path) from error
    _remember(_directories, key, parsed, DIRECTORY_CACHE_SIZE)
    return parsed


def list_members(path: str) -> list[str]:
    """Sorted names of the files (not folders) in a zip; ArchiveError when it is damaged."""
    descriptor, status = open_regular(path)
    try:
        members = _directory(path, descriptor, status)
    finally:
        os.close(descriptor)
    return sorted(name for name in members if not _is_folder(name))


def _is_folder(name: str) -> bool:
    """True for a folder entry (``ZipInfo.is_dir`` fails on an empty name)."""
    return name.endswith("/")


def open_member(path: str, member: str) -> io.BufferedReader:
    """A bounded, lazily inflating reader of one member; every failure is an OSError.

    Buffered, so the many small reads of header parsing stay in C (measured 15% faster).
    """
    descriptor, status = open_regular(path)
    try:
        info = _directory(path, descriptor, status).get(member)
        if info is None:
            raise FileNotFoundError(errno.ENOENT, f"no member {member} in the archive", path)
        if _is_folder(member):
            raise IsADirectoryError(errno.EISDIR, f"member {member} is a folder", path)
    except BaseException:
        os.close(descriptor)
        raise
    return io.BufferedReader(MemberReader(descriptor, info, path, status.st_size))


def clear_cache() -> None:
    """Forget every parsed directory and zip check (tests; freeing memory after a scan)."""
    with _lock:
        _directories.clear()
        _zip_checks.clear()
