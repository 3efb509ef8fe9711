"""Files of PACS transfers: where a retrieved instance goes, and which inputs can be sent.

Retrieved instances are named by their UIDs (``<study>/<series>/<sop>.dcm``, each UID made
a safe path component); a send takes DICOM Part 10 files only (zip members are copied
to a private temporary folder first) and says why every other input was skipped.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from workstation.core.errors import PacsError
from workstation.io.dicom.headers import MEDIA_STORAGE_DIRECTORY
from workstation.io.sources import iter_locations, open_binary

_UID_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")


def uid_part(value: object, fallback: str) -> str:
    """A UID as one safe path component (anything odd is replaced, never '.' or '..')."""
    text = str(value or "").strip().rstrip("\0").strip()
    if _UID_NAME.match(text) and text not in (".", ".."):
        return text
    cleaned = re.sub(r"[^0-9A-Za-z._-]", "_", text)[:64].strip(".")
    return cleaned or fallback


def instance_uids(data: bytes) -> tuple[str, str, str]:
    """(Study, Series, SOP Instance UID) of one Part 10 file's bytes (headers only)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        dataset = dcmread(
            io.BytesIO(data),
            stop_before_pixels=True,
            specific_tags=["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
        )
    except (InvalidDicomError, ValueError, EOFError, OSError) as error:
        raise PacsError(f"A retrieved instance is not a readable DICOM file: {error}") from None
    sop = dataset.get("SOPInstanceUID") or dataset.file_meta.get("MediaStorageSOPInstanceUID")
    if not sop:
        raise PacsError("A retrieved instance has no SOP Instance UID")
    return (
        str(dataset.get("StudyInstanceUID", "")),
        str(dataset.get("SeriesInstanceUID", "")),
        str(sop),
    )


def dicom_reason(path: Path) -> str:
    """'' when ``path`` is a DICOM Part 10 file we can send, else why it is skipped."""
    from pydicom.filereader import read_file_meta_info

    try:
        with path.open("rb") as handle:
            head = handle.read(132)
    except OSError as error:
        return f"cannot be read: {error.strerror or error}"
    if len(head) < 132 or head[128:132] != b"DICM":
        return "not a DICOM Part 10 file"
    try:
        meta = read_file_meta_info(path)
    except Exception as error:  # pydicom raises several kinds on damaged headers
        return f"damaged DICOM header: {error}"
    if str(meta.get("MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY:
        return "a DICOMDIR index, not an image"
    return ""


@contextlib.contextmanager
def sendable_files(
    paths: Sequence[str | Path], skipped: list[tuple[str, str]]
) -> Iterator[list[Path]]:
    """The DICOM files under ``paths`` (zip members copied to a private temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="workstation-send-") as scratch:
        files: list[Path] = []
        for path in paths:
            for location in iter_locations(path):
                candidate = Path(location)
                if not candidate.is_file():
                    candidate = Path(scratch) / f"{len(files):06d}.dcm"
                    try:
                        with open_binary(location) as source, candidate.open("wb") as copy:
                            shutil.copyfileobj(source, copy)
                    except OSError as error:
                        skipped.append((location, f"cannot be read: {error}"))
                        continue
                reason = dicom_reason(candidate)
                if reason:
                    skipped.append((location, reason))
                else:
                    files.append(candidate)
        yield files
