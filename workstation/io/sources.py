"""Enumerate and open input files: a folder (recursively), a single file, or a .zip.

Files inside a zip archive are addressed as ``archive.zip::member/name``; everything
that reads input goes through ``open_binary`` so both kinds work alike.  Inputs are
only ever opened for reading.
"""

from __future__ import annotations

import errno
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from workstation.core.errors import InputPathError

ZIP_SEPARATOR = "::"

#: Names that are never image data; skipped without opening them.
IGNORED_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}


def is_zip_location(location: str) -> bool:
    """True when ``location`` names a member inside a zip archive."""
    return ZIP_SEPARATOR in location


def split_zip_location(location: str) -> tuple[str, str]:
    """Split ``archive.zip::member`` into (archive path, member name)."""
    archive, member = location.split(ZIP_SEPARATOR, 1)
    return archive, member


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
    use odd names); a .zip yields its members; a single file yields itself.
    """
    root = check_input_path(path)
    if root.is_file():
        if zipfile.is_zipfile(root):
            yield from _zip_members(root)
        else:
            yield str(root)
        return
    if not root.is_dir():  # a FIFO, socket or device: the scan skips it with its reason
        yield str(root)
        return
    for directory, subdirs, files in os.walk(root, followlinks=False):
        subdirs.sort()
        for name in sorted(files):
            if name.lower() in IGNORED_NAMES:
                continue
            full = Path(directory) / name
            if name.lower().endswith(".zip") and zipfile.is_zipfile(full):
                yield from _zip_members(full)
            else:
                yield str(full)


def _zip_members(archive: Path) -> Iterator[str]:
    """Member locations of a zip; a zip that cannot be listed yields itself (to be skipped)."""
    try:
        with zipfile.ZipFile(archive) as handle:
            names = sorted(info.filename for info in handle.infolist() if not info.is_dir())
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        yield str(archive)
        return
    for name in names:
        if Path(name).name.lower() in IGNORED_NAMES or name.startswith("__MACOSX/"):
            continue
        yield f"{archive}{ZIP_SEPARATOR}{name}"


def open_binary(location: str) -> BinaryIO:
    """Open a location for reading bytes (a real file, or a zip member read into memory).

    Every failure is an OSError, also for a zip member that is missing or damaged.
    """
    if is_zip_location(location):
        archive, member = split_zip_location(location)
        try:
            with zipfile.ZipFile(archive) as handle:
                return io.BytesIO(handle.read(member))
        except KeyError as error:
            raise FileNotFoundError(
                errno.ENOENT, f"no member {member} in the archive", archive
            ) from error
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
            raise OSError(errno.EIO, f"damaged zip archive ({error})", archive) from error
        except (RuntimeError, NotImplementedError) as error:  # encrypted, odd compression
            raise OSError(errno.EIO, f"cannot extract {member} ({error})", archive) from error
    return open(location, "rb")


def display_name(location: str) -> str:
    """A short human name for a location: the file name, or archive/member."""
    if is_zip_location(location):
        archive, member = split_zip_location(location)
        return f"{Path(archive).name}/{member}"
    return Path(location).name
