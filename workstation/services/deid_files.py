"""De-identify one input file: read once, check burned-in text, apply the profile, write.

Runs in worker processes (everything here is picklable and top level).  The file is read
in one go, parsed once (pixels are never decoded unless burned-in text must be found),
de-identified by ``io.deid.profile`` and serialised into a complete temporary file
beside its final name; only the outcome (name, temporary file, reasons) goes back
to the caller, whose ``StagedOutputs`` makes a batch of them durable with one filesystem
sync and renames them into place (an output is never seen half written).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import secrets
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from workstation.core.errors import ExportError, WorkstationError
from workstation.io.atomic_write import TEMP_SUFFIX, shown_path, temporary_prefix
from workstation.io.database.durable import start_writeback, sync_filesystem
from workstation.io.deid.burned_in import OcrUnavailable, blank_regions, burned_in_reason, find_text
from workstation.io.deid.keys import DeidKey
from workstation.io.deid.options import DeidOption
from workstation.io.deid.profile import DeidSettings, deidentify_dataset
from workstation.io.dicom.detect import looks_like_dicom
from workstation.io.dicom.headers import MEDIA_STORAGE_DIRECTORY
from workstation.io.dicom.newer_transfer_syntaxes import register_newer_transfer_syntaxes
from workstation.io.sources import open_binary
from workstation.services.deid_output_names import output_name

#: Largest file read into memory at once (a bigger one is skipped with a reason).
MAX_FILE_BYTES = 4 << 30
register_newer_transfer_syntaxes()  # their files are written as read (pixels untouched)

#: (7FE0,0010) Pixel Data, as its tag is stored in Little Endian.
_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"


@dataclass(frozen=True)
class FileJob:
    """One file to de-identify with the key and the chosen options."""

    location: str
    key: DeidKey
    options: frozenset[DeidOption]
    output_root: str


@dataclass
class FileOutcome:
    """What became of one file: its output name ('' when skipped) and why."""

    location: str
    name: str = ""
    skip_reason: str = ""
    failed: bool = False
    actions: dict[str, int] = field(default_factory=dict)
    removed_private: int = 0
    reasons: list[str] = field(default_factory=list)
    ocr_seconds: float = 0.0
    pixels_cleaned: bool = False
    original_study: str = ""
    new_study: str = ""
    new_series: str = ""
    #: The complete output under a temporary name beside ``name`` ('' when none was written).
    temporary: str = ""


def _read(location: str) -> bytes:
    with open_binary(location) as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError("the file is larger than 4 GiB")
    return data


def _parse(data: bytes) -> pydicom.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data), force=True)


def _parse_header(data: bytes) -> tuple[pydicom.Dataset, memoryview] | None:
    """The header and the original Pixel Data element (to the end of the file), or None.

    Only for native pixels in Little Endian, when the Pixel Data element is the last
    one of the file and the output keeps the input's transfer syntax: then writing the
    header and appending these bytes gives exactly what writing the whole data set gives,
    without copying or re-encoding the pixels.  Anything else takes the full path.
    """
    buffer = io.BytesIO(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(buffer, force=True, stop_before_pixels=True)
    start = buffer.tell()
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    implicit, little = ds.original_encoding
    if syntax == ExplicitVRLittleEndian and implicit is False and little:
        size = 12
        if (
            data[start + 4 : start + 6] not in (b"OB", b"OW")
            or data[start + 6 : start + 8] != b"\0\0"
        ):
            return None
    elif syntax == ImplicitVRLittleEndian and implicit is True and little:
        size = 8
    else:
        return None
    if data[start : start + 4] != _PIXEL_DATA_TAG:
        return None
    length = int.from_bytes(data[start + size - 4 : start + size], "little")
    if length % 2 or start + size + length != len(data):
        return None  # undefined length (compressed), odd, truncated, or elements after it
    return ds, memoryview(data)[start:]


def _parse_for_output(data: bytes) -> tuple[pydicom.Dataset, memoryview | None]:
    """The data set and, where the pixels can be copied as they are, their element bytes."""
    try:
        fast = _parse_header(data)
    except Exception:  # the full parse reports the failure
        fast = None
    if fast is not None and burned_in_reason(fast[0]) is None:
        return fast
    return _parse(data), None


def _is_dicomdir(location: str, ds: pydicom.Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    media_class = str(meta.get("MediaStorageSOPClassUID", "")) if meta is not None else ""
    if media_class == MEDIA_STORAGE_DIRECTORY:
        return True
    name = os.path.basename(location.replace("::", "/")).upper()
    return name == "DICOMDIR" and "DirectoryRecordSequence" in ds


def _check_pixels(ds: pydicom.Dataset, clean: bool, outcome: FileOutcome) -> bool:
    """Look for burned-in text where the header calls for it; True when cleaning ran."""
    reason = burned_in_reason(ds)
    if reason is None or "PixelData" not in ds:
        return False
    try:
        findings = find_text(ds)
    except OcrUnavailable as error:
        outcome.reasons.append(f"{reason}; not checked for burned-in text: {error.message}")
        return False
    except WorkstationError as error:
        outcome.reasons.append(f"{reason}; burned-in text check failed: {error.message}")
        return False
    outcome.ocr_seconds = findings.seconds
    count = len(findings.regions)
    if clean:
        if findings.found:
            blank_regions(ds, findings)
        outcome.pixels_cleaned = findings.complete
        if not findings.complete:
            outcome.reasons.append(f"{reason}; {'; '.join(findings.needs_review)}")
        return findings.complete
    if findings.found:
        outcome.reasons.append(
            f"{reason}; {count} text region{'s' if count != 1 else ''} found in the pixels "
            "(not blanked: use the option clean-pixel-data or check by hand)"
        )
    elif not findings.complete:
        outcome.reasons.append(f"{reason}; {'; '.join(findings.needs_review)}")
    return False


def _ensure_meta(ds: pydicom.Dataset) -> None:
    """Give a bare data set the file meta a Part 10 file needs; clear the preamble."""
    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = FileMetaDataset()
        ds.file_meta = meta
    if "TransferSyntaxUID" not in meta:
        implicit, little = ds.original_encoding
        if not little:
            meta.TransferSyntaxUID = ExplicitVRBigEndian
        else:
            meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    if "SOPClassUID" in ds:
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
    if "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.preamble = b"\0" * 128


def _serialise(ds: pydicom.Dataset) -> bytes:
    _ensure_meta(ds)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds.save_as(buffer, enforce_file_format=True)
        except AttributeError:  # no SOP Class/Instance UID for the file meta: write as read
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def deidentify_file(job: FileJob) -> FileOutcome:
    """De-identify the file at ``job.location``; never raises for a bad file."""
    outcome = FileOutcome(job.location)
    try:
        data = _read(job.location)
    except OSError as error:
        outcome.skip_reason = f"cannot read: {error.strerror or error}"
        return outcome
    if not looks_like_dicom(data[:1024], len(data)):
        outcome.skip_reason = "not DICOM"
        return outcome
    try:
        ds, pixels = _parse_for_output(data)
    except Exception as error:  # any parse failure of one file is reported, not raised
        outcome.skip_reason = f"unreadable DICOM: {type(error).__name__}"
        outcome.failed = True
        return outcome
    del data  # kept alive by ``pixels`` only when they are copied as they are
    if _is_dicomdir(job.location, ds):
        outcome.skip_reason = "DICOMDIR index (not copied: it names the original files)"
        return outcome
    try:
        outcome.original_study = str(ds.get("StudyInstanceUID", "") or "")
        clean = DeidOption.CLEAN_PIXEL_DATA in job.options
        cleaned = _check_pixels(ds, clean, outcome)
        options = job.options if cleaned else job.options - {DeidOption.CLEAN_PIXEL_DATA}
        report = deidentify_dataset(ds, DeidSettings(job.key, frozenset(options)))
        outcome.actions = dict(report.actions)
        outcome.removed_private = report.removed_private
        outcome.reasons.extend(_review_reasons(report.needs_review, cleaned))
        outcome.name = output_name(ds)
        outcome.new_study = str(ds.get("StudyInstanceUID", "") or "")
        outcome.new_series = str(ds.get("SeriesInstanceUID", "") or "")
        parts: list[bytes | memoryview] = [_serialise(ds)]
        if pixels is not None:
            parts.append(pixels)
    except Exception as error:  # one file's failure never stops the run
        if isinstance(error, WorkstationError):
            message = error.message
        else:
            text = " ".join(str(error).split())[:160]
            message = f"{type(error).__name__}: {text}" if text else type(error).__name__
        outcome.skip_reason = f"could not be de-identified: {message}"
        outcome.failed = True
        outcome.name = ""
        return outcome
    outcome.temporary = stage_output(Path(job.output_root) / outcome.name, parts)
    return outcome


def deidentify_files(jobs: list[FileJob]) -> list[FileOutcome]:
    """``deidentify_file`` of each job, in order (one task of a worker process)."""
    return [deidentify_file(job) for job in jobs]


def _temporary_path(target: Path) -> Path:
    """A temporary name for ``target`` in the format ``io.atomic_write`` cleans up after."""
    host = hashlib.sha1(socket.gethostname().encode("utf-8", "replace"), usedforsecurity=False)
    owner = f"{host.hexdigest()[:4]}-{os.getpid()}-{secrets.token_hex(3)}"
    return target.parent / f"{temporary_prefix(target)}{owner}{TEMP_SUFFIX}"


def stage_output(path: Path, parts: list[bytes | memoryview]) -> str:
    """Write ``parts`` one after another into a new temporary file beside ``path``; its path.

    Returns '' when the file at ``path`` already holds them (earlier output of the same
    input with the same key).  ``StagedOutputs.commit`` makes it durable and renames it.
    """
    if _holds(path, parts):
        return ""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    temporary = _temporary_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            try:
                descriptor = os.open(temporary, flags, 0o666)  # the kernel applies the umask
                break
            except FileExistsError:
                temporary = _temporary_path(path)
        else:
            raise FileExistsError("could not choose a temporary file name")
        try:
            for part in parts:
                view = memoryview(part)
                while view:
                    view = view[os.write(descriptor, view) :]
            start_writeback(descriptor)
        finally:
            os.close(descriptor)
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        if isinstance(error, OSError):
            raise ExportError(
                f"Could not write {shown_path(path)}: {error.strerror or error}."
            ) from error
        raise
    return str(temporary)


def _holds(path: Path, parts: list[bytes | memoryview]) -> bool:
    """True when the file at ``path`` consists of exactly ``parts``."""
    try:
        if path.stat().st_size != sum(len(part) for part in parts):
            return False
        data = memoryview(path.read_bytes())
    except OSError:
        return False
    start = 0
    for part in parts:
        if data[start : start + len(part)] != part:
            return False
        start += len(part)
    return True


def same_content(first: Path, second: Path) -> bool:
    """True when two files hold the same bytes (False when either cannot be read)."""
    try:
        return first.stat().st_size == second.stat().st_size and (
            first.read_bytes() == second.read_bytes()
        )
    except OSError:
        return False


class StagedOutputs:
    """Complete temporary outputs waiting for their final names, made durable per batch.

    ``commit`` syncs the output filesystem once (``syncfs``), renames every file into
    place and syncs once more, where an fsync per file and per folder would cost one disk
    flush each; without ``syncfs`` every file and folder is fsynced.
    """

    def __init__(self, root: Path, batch: int = 128) -> None:
        self._root = root
        self._batch = batch
        self._pending: list[tuple[Path, Path]] = []

    def add(self, temporary: str, target: Path) -> None:
        """Queue ``temporary`` to become ``target``; commits when the batch is full."""
        if temporary:
            self._pending.append((Path(temporary), target))
        if len(self._pending) >= self._batch:
            self.commit()

    def current(self, target: Path) -> Path:
        """Where ``target``'s content is now: its queued temporary file, else ``target``."""
        for temporary, queued in self._pending:
            if queued == target:
                return temporary
        return target

    def commit(self) -> None:
        """Make the queued files durable under their final names (ExportError on failure)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            synced = sync_filesystem(self._root)
            if not synced:
                for temporary, _ in pending:
                    _fsync(temporary, os.O_RDONLY)
            for index, (temporary, target) in enumerate(pending):
                os.replace(temporary, target)
                pending[index] = (target, target)
            if not (synced and sync_filesystem(self._root)):
                for folder in sorted({target.parent for _, target in pending}):
                    with contextlib.suppress(OSError):  # best effort, as for atomic_write
                        _fsync(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as error:
            self._pending = [(temporary, target) for temporary, target in pending]
            self.discard()
            raise ExportError(
                f"Could not write the output in {shown_path(self._root)}: "
                f"{error.strerror or error}."
            ) from error

    def discard(self) -> None:
        """Delete the queued temporary files (their outputs are not written)."""
        pending, self._pending = self._pending, []
        for temporary, target in pending:
            if temporary != target:
                with contextlib.suppress(OSError):
                    temporary.unlink()


def discard_temporary(temporary: str) -> None:
    """Delete a temporary output that will not be renamed into place."""
    if temporary:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _review_reasons(reasons: list[str], cleaned: bool) -> list[str]:
    """The engine's review reasons; burned-in ones are settled when cleaning ran completely."""
    if not cleaned:
        return list(reasons)
    return [reason for reason in reasons if "burned in" not in reason.lower()]
