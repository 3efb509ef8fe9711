"""The source DICOM files of a volume: which files, their SHA-256, and whether they still match.

Projects and provenance records name the images a case was made of: the series UIDs,
the folder (or zip, or single file) they were read from, and every file by its name
relative to that place with its SHA-256 and size.  ``check_sources`` finds each file
again (at the recorded place or another folder the user names) and reports the missing
and changed ones by file name, so a changed file never feeds a case silently.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.volume import Volume
from workstation.io.dicom.model import Stack
from workstation.io.sources import ZIP_SEPARATOR, is_zip_location, open_binary, split_zip_location

#: Bytes read at a time while hashing (large reads let hashlib release the GIL).
HASH_CHUNK = 1 << 20

#: Threads hashing files at once (I/O and SHA-256 both run outside the GIL).
HASH_THREADS = max(1, min(4, os.cpu_count() or 1))

#: File names a message lists before it says "and N more".
NAMES_SHOWN = 5


@dataclass(frozen=True)
class SourceFile:
    """One source file: its name relative to the source place, SHA-256, size, SOP UIDs."""

    name: str
    sha256: str
    size: int
    sop_instance_uids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "size": self.size,
            "sop_instance_uids": list(self.sop_instance_uids),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> SourceFile:
        """The file a ``to_dict`` record describes."""
        return cls(
            str(record["name"]),
            str(record["sha256"]),
            int(record.get("size", -1)),
            tuple(str(uid) for uid in record.get("sop_instance_uids", ())),
        )


@dataclass(frozen=True)
class SourceSeries:
    """The series (one loadable stack of it) a volume was read from, file by file.

    ``folder`` is the path that was opened (a folder, a zip or a single file);
    ``sop_instance_uids`` lists the volume's source images in slice order.
    """

    study_uid: str
    series_uid: str
    stack_id: str
    frame_of_reference_uid: str
    folder: str
    sop_instance_uids: tuple[str, ...]
    files: tuple[SourceFile, ...]
    modality: str = ""
    series_description: str = ""
    study_date: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (the manifest of a project, a provenance record)."""
        return {
            "study_instance_uid": self.study_uid,
            "series_instance_uid": self.series_uid,
            "stack_id": self.stack_id,
            "frame_of_reference_uid": self.frame_of_reference_uid,
            "modality": self.modality,
            "series_description": self.series_description,
            "study_date": self.study_date,
            "folder": self.folder,
            "sop_instance_uids": list(self.sop_instance_uids),
            "files": [item.to_dict() for item in self.files],
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> SourceSeries:
        """The series a ``to_dict`` record describes; ValueError when it is malformed."""
        try:
            return cls(
                study_uid=str(record.get("study_instance_uid", "")),
                series_uid=str(record["series_instance_uid"]),
                stack_id=str(record.get("stack_id", "")),
                frame_of_reference_uid=str(record.get("frame_of_reference_uid", "")),
                folder=str(record.get("folder", "")),
                sop_instance_uids=tuple(str(uid) for uid in record.get("sop_instance_uids", ())),
                files=tuple(SourceFile.from_dict(item) for item in record.get("files", ())),
                modality=str(record.get("modality", "")),
                series_description=str(record.get("series_description", "")),
                study_date=str(record.get("study_date", "")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed source series record: {error}") from None

    @property
    def total_bytes(self) -> int:
        """Bytes of all source files together."""
        return sum(max(item.size, 0) for item in self.files)


@dataclass
class SourceCheck:
    """What checking a series' files against their record found."""

    root: str
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file is there with its recorded SHA-256."""
        return not self.missing and not self.changed

    def message(self) -> str:
        """One line naming the missing and changed files ('' when all match)."""
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} source file(s) missing: {listed(self.missing)}")
        if self.changed:
            parts.append(f"{len(self.changed)} source file(s) changed: {listed(self.changed)}")
        return "; ".join(parts)


def listed(names: list[str]) -> str:
    """File names for a one-line message: the first few, then "and N more"."""
    shown = ", ".join(names[:NAMES_SHOWN])
    more = len(names) - NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


# -- names and places --------------------------------------------------------------------
def relative_name(location: str, root: str) -> str:
    """A file's name relative to the opened place: a zip member, or a path under the folder."""
    if is_zip_location(location):
        return split_zip_location(location)[1]
    base = Path(root)
    if base.is_file() or Path(location) == base:  # a single opened file
        base = base.parent
    try:
        return Path(os.path.relpath(location, base)).as_posix()
    except ValueError:  # another drive (Windows)
        return Path(location).name


def location_in(root: str, name: str) -> str:
    """Where a file called ``name`` lies in the place ``root`` (folder, zip or file)."""
    if root.lower().endswith(".zip") and Path(root).is_file():
        return f"{root}{ZIP_SEPARATOR}{name}"
    base = Path(root)
    if base.is_file():
        base = base.parent
    return str(base / Path(name))


# -- hashing -----------------------------------------------------------------------------
def file_sha256(location: str) -> tuple[str, int]:
    """(SHA-256 hex digest, size in bytes) of a file or zip member; OSError when unreadable."""
    digest = hashlib.sha256()
    size = 0
    with open_binary(location) as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def hash_locations(
    locations: Iterable[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict[str, tuple[str, int] | None]:
    """SHA-256 and size of each location (None for one that cannot be read), in threads."""
    token = cancel or CancelToken()
    ordered = list(dict.fromkeys(locations))
    results: dict[str, tuple[str, int] | None] = {}

    def one(location: str) -> tuple[str, int] | None:
        token.raise_if_cancelled()
        try:
            return file_sha256(location)
        except OSError:
            return None

    with ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="hash") as pool:
        for done, (location, result) in enumerate(
            zip(ordered, pool.map(one, ordered), strict=True)
        ):
            results[location] = result
            progress((done + 1) / max(len(ordered), 1), "Hashing the source files")
    return results


# -- records and checks ------------------------------------------------------------------
def describe_sources(
    stack: Stack,
    volume: Volume,
    root: str,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> SourceSeries:
    """The record of ``stack``'s files (hashed now) as read from ``root`` for ``volume``."""
    uids_by_location: dict[str, list[str]] = {}
    for frame in stack.frames:
        uids = uids_by_location.setdefault(frame.location, [])
        if frame.sop_instance_uid not in uids:
            uids.append(frame.sop_instance_uid)
    hashes = hash_locations(uids_by_location, progress, cancel)
    files = []
    for location, uids in uids_by_location.items():
        result = hashes[location]
        if result is None:
            raise OSError(f"cannot read source file {relative_name(location, root)}")
        files.append(SourceFile(relative_name(location, root), result[0], result[1], tuple(uids)))
    identity = volume.source.identity
    return SourceSeries(
        study_uid=identity.study_uid or stack.identity.study_uid,
        series_uid=identity.series_uid or stack.identity.series_uid,
        stack_id=stack.stack_id,
        frame_of_reference_uid=volume.source.frame_of_reference_uid,
        folder=str(Path(root).absolute()),
        sop_instance_uids=volume.source.sop_instance_uids,
        files=tuple(sorted(files, key=lambda item: item.name)),
        modality=identity.modality,
        series_description=identity.series_description,
        study_date=identity.study_date,
    )


def check_sources(
    series: SourceSeries,
    root: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    locations: dict[str, str] | None = None,
) -> SourceCheck:
    """Hash every recorded file at ``root`` (default: the recorded folder) and compare.

    ``locations`` maps a recorded name to where the file was found instead (files found
    again by SOP Instance UID under another name); other names are looked up under root.
    """
    place = str(root or series.folder)
    where = {
        item.name: (locations or {}).get(item.name) or location_in(place, item.name)
        for item in series.files
    }
    hashes = hash_locations(where.values(), progress, cancel)
    check = SourceCheck(place, checked=len(series.files))
    for item in series.files:
        result = hashes.get(where[item.name])
        if result is None:
            check.missing.append(item.name)
        elif result[0] != item.sha256:
            check.changed.append(item.name)
    return check
