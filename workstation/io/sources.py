"""Enumerate and open input files: a folder (recursively), a single file, or a .zip.

Files inside a zip archive are addressed as ``archive.zip::member/name``; everything
that reads input goes through ``open_binary`` so both kinds work alike.  Inputs are
only ever opened for reading, and nothing is ever extracted to disk.

``::`` may also occur in ordinary file and folder names, so a location is a zip member
only when it really points into one: a location that exists on disk is a plain file;
otherwise it splits at the first ``::`` whose left part is a regular file holding a zip
(``zip_archive.is_zip_archive``, cached per file version).  Zip members are read with
bounded memory (``zip_member``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from workstation.core.errors import InputPathError
from workstation.io.zip_archive import is_zip_archive, list_members, open_member, open_regular

ZIP_SEPARATOR = "::"

#: Names that are never image data; skipped without opening them.
IGNORED_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


def _zip_parts(location: str) -> tuple[str, str] | None:
    """(archive, member) when ``location`` points into a zip archive, else None."""
    if ZIP_SEPARATOR not in location or os.path.lexists(location):
        return None
    index = location.find(ZIP_SEPARATOR)
    while index > 0:
        archive = location[:index]
        if is_zip_archive(archive):
            return archive, location[index + len(ZIP_SEPARATOR) :]
        index = location.find(ZIP_SEPARATOR, index + 1)
    return None


def is_zip_location(location: str) -> bool:
    """True when ``location`` names a member inside an existing zip archive."""
    return _zip_parts(location) is not None


def split_zip_location(location: str) -> tuple[str, str]:
    """Split ``archive.zip::member`` into (archive path, member name).

    Raises ValueError when ``location`` does not point into a zip archive.
    """
    parts = _zip_parts(location)
    if parts is None:
        raise ValueError(f"{location} is not a member of a zip archive")
    return parts


def check_input_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path, or raise InputPathError with a clear reason."""
    candidate = Path(path).expanduser()
    if not candidate.exists():
        raise InputPathError(f"No such file or folder: {candidate}")
    if not os.access(candidate, os.R_OK):
        raise InputPathError(f"Cannot read {candidate}: permission denied")
    return candidate


def iter_locations(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield every candidate file location under ``path`` in a stable (sorted) order.

    A folder is walked recursively (hidden files and folders included, since DICOM CDs
    use odd names); a .zip yields its members; a single file yields itself.  A folder
    that cannot be listed is yielded itself, so the scan reports it as skipped.
    """
    root = check_input_path(path)
    if root.is_file():
        if is_zip_archive(str(root)):
            yield from _zip_members(root)
        else:
            yield str(root)
        return
    if not root.is_dir():  # a FIFO, socket or device: the scan skips it with its reason
        yield str(root)
        return
    unlisted: list[str] = []
    walk = os.walk(root, followlinks=False, onerror=lambda error: unlisted.append(error.filename))
    for directory, subdirs, files in walk:
        subdirs.sort()
        yield from (str(folder) for folder in unlisted if folder is not None)
        unlisted.clear()
        for name in sorted(files):
            if name.lower() in IGNORED_NAMES:
                continue
            full = Path(directory) / name
            if name.lower().endswith(".zip") and is_zip_archive(str(full)):
                yield from _zip_members(full)
            else:
                yield str(full)
    yield from (str(folder) for folder in unlisted if folder is not None)


def _zip_members(archive: Path) -> Iterator[str]:
    """Member locations of a zip; a zip that cannot be listed yields itself (to be skipped)."""
    try:
        names = list_members(str(archive))
    except OSError:
        yield str(archive)
        return
    for name in names:
        if Path(name).name.lower() in IGNORED_NAMES or name.startswith("__MACOSX/"):
            continue
        yield f"{archive}{ZIP_SEPARATOR}{name}"


def open_binary(location: str) -> BinaryIO:
    """Open a location for reading bytes: a regular file, or a zip member read lazily.

    Every failure is an OSError: a missing, damaged or oversized zip member, and a pipe,
    device or socket (reading one could block or never end).
    """
    parts = _zip_parts(location)
    if parts is not None:
        return open_member(*parts)
    descriptor, _ = open_regular(location)
    handle = os.fdopen(descriptor, "rb")
    handle.raw.name = location  # type: ignore[attr-defined]  # a path, as open() gives
    return handle


def display_name(location: str) -> str:
    """A short, printable, one-line name for a location: the file name, or archive/member."""
    parts = _zip_parts(location)
    if parts is not None:
        archive, member = parts
        name = f"{Path(archive).name}/{member}"
    else:
        name = Path(location).name
    return printable(name)


def printable(text: str) -> str:
    """``text`` with control characters and undecodable bytes escaped (e.g. a newline)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)
