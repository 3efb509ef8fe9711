"""C-STORE of DICOM files: one association per batch of presentation contexts.

Files are grouped by (SOP class, transfer syntax).  An uncompressed file is offered in
its own syntax and in explicit/implicit little endian (pynetdicom re-encodes between
them); a compressed file only in its own syntax: nothing is decompressed.  A file the
server refuses is reported with the status in words and the rest carry on.  Many files
go over a few associations at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context
from pynetdicom.presentation import PresentationContext
from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS

from workstation.core.errors import Cancelled, PacsError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.pacs.client import DimseEndpoint, SendOutcome
from workstation.io.pacs.dimse_association import (
    MAX_CONTEXTS,
    no_answer_text,
    open_association,
    status_text,
)


@dataclass(frozen=True)
class _File:
    path: Path
    sop_class: str
    transfer_syntax: str
    size: int

    @property
    def key(self) -> tuple[str, str]:
        """The presentation context this file needs."""
        syntax = UID(self.transfer_syntax)
        return (self.sop_class, self.transfer_syntax if syntax.is_compressed else "")


#: Associations used at once to send many files, and the files that make one worth it.
SEND_ASSOCIATIONS = 4
_FILES_PER_ASSOCIATION = 8


def _header(path: Path) -> _File | str:
    """The SOP class and transfer syntax of a DICOM file, or why it cannot be sent."""
    try:
        ds = dcmread(path, stop_before_pixels=True)
        sop_class = str(ds.file_meta.get("MediaStorageSOPClassUID", "") or ds.SOPClassUID)
        syntax = str(ds.file_meta.TransferSyntaxUID)
        ds.SOPInstanceUID  # noqa: B018  (a file without one cannot be stored)
    except (InvalidDicomError, AttributeError, KeyError, ValueError):
        return "not a DICOM file with a SOP class, instance and transfer syntax"
    except OSError as exc:
        return f"cannot be read: {(exc.strerror or str(exc)).lower()}"
    return _File(path, sop_class, syntax, path.stat().st_size)


def _context(key: tuple[str, str], own: set[str]) -> PresentationContext:
    sop_class, compressed = key
    if compressed:
        return build_context(sop_class, [compressed])
    syntaxes = sorted(s for s in own if s not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian))
    return build_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian, *syntaxes])


def batches(files: Sequence[_File]) -> list[tuple[list[PresentationContext], list[_File]]]:
    """Files in batches whose contexts fit one association."""
    out: list[tuple[list[PresentationContext], list[_File]]] = []
    keys: dict[tuple[str, str], set[str]] = {}
    members: list[_File] = []
    for item in files:
        if item.key not in keys and len(keys) == MAX_CONTEXTS:
            out.append(([_context(k, s) for k, s in keys.items()], members))
            keys, members = {}, []
        keys.setdefault(item.key, set()).add(item.transfer_syntax)
        members.append(item)
    if members:
        out.append(([_context(k, s) for k, s in keys.items()], members))
    return out


class _Tally:
    """What the sending threads did so far (thread-safe), for the outcome and the progress."""

    def __init__(self, outcome: SendOutcome, total: int) -> None:
        self.outcome = outcome
        self.total = total
        self.done: set[Path] = set()
        self.lock = threading.Lock()

    def sent(self, item: _File) -> None:
        with self.lock:
            self.outcome.sent.append(str(item.path))
            self.outcome.bytes_sent += item.size
            self.done.add(item.path)

    def failed(self, item: _File, reason: str) -> None:
        with self.lock:
            self.outcome.failed.append((str(item.path), reason))
            self.done.add(item.path)

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.done)


def _send_chunk(
    endpoint: DimseEndpoint,
    calling_aet: str,
    timeout_s: float,
    retries: int,
    chunk: Sequence[_File],
    tally: _Tally,
    cancel: CancelToken | None,
) -> None:
    """C-STORE ``chunk`` over one association per batch of contexts."""
    name = str(endpoint)
    for contexts, members in batches(chunk):
        assoc = open_association(endpoint, calling_aet, contexts, timeout_s, retries, cancel)
        try:
            for index, item in enumerate(members):
                if cancel is not None and cancel.cancelled:
                    assoc.abort()
                    raise Cancelled()
                since = time.monotonic()
                try:
                    status = assoc.send_c_store(dcmread(item.path), msg_id=index % 65535 + 1)
                except ValueError:
                    sop, syntax = UID(item.sop_class).name, UID(item.transfer_syntax).name
                    tally.failed(item, f"{name} accepts no {sop} in {syntax}")
                    continue
                if not status or "Status" not in status:
                    waited = time.monotonic() - since
                    reason = no_answer_text(
                        name, calling_aet, waited, timeout_s, "send", first=index == 0
                    )
                    for rest in members[index:]:
                        tally.failed(rest, reason)
                    break
                code = int(status.Status)
                if code == 0 or 0xB000 <= code <= 0xBFFF:
                    tally.sent(item)
                else:
                    words = status_text(code, STORAGE_SERVICE_CLASS_STATUS)
                    tally.failed(item, f"refused: {words}")
        finally:
            if assoc.is_established:
                assoc.release()


def _run(
    chunks: list[list[_File]],
    send: Callable[[list[_File]], None],
    tally: _Tally,
    progress: ProgressCallback,
) -> list[BaseException]:
    """Send the chunks in parallel, reporting progress from this thread; their errors."""
    errors: list[BaseException] = []
    with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
        futures = [pool.submit(send, chunk) for chunk in chunks]
        reported = -1
        while True:
            finished = all(f.done() for f in futures)
            count = tally.count
            if count != reported:
                reported = count
                fraction = count / tally.total if tally.total else 1.0
                progress(fraction, f"Sent {count} of {tally.total} files")
            if finished:
                break
            wait(futures, timeout=0.1, return_when=FIRST_COMPLETED)
        for future in futures:
            error = future.exception()
            if error is not None:
                errors.append(error)
    return errors


def send_files(
    endpoint: DimseEndpoint,
    calling_aet: str,
    timeout_s: float,
    retries: int,
    files: Sequence[Path],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> SendOutcome:
    """C-STORE every file; refused and unreadable files are listed with the reason.

    Many files go over up to ``SEND_ASSOCIATIONS`` associations at once (a PACS stores
    each instance slowly but several in parallel); when the server will not take that
    many, what did not go is sent again over one.
    """
    started = time.monotonic()
    outcome = SendOutcome()
    readable: list[_File] = []
    for path in files:
        header = _header(Path(path))
        if isinstance(header, str):
            outcome.failed.append((str(path), header))
        else:
            readable.append(header)
    tally = _Tally(outcome, len(readable))

    def send(chunk: list[_File]) -> None:
        _send_chunk(endpoint, calling_aet, timeout_s, retries, chunk, tally, cancel)

    workers = max(1, min(SEND_ASSOCIATIONS, len(readable) // _FILES_PER_ASSOCIATION))
    chunks = [readable[i::workers] for i in range(workers)] if readable else []
    errors = _run(chunks, send, tally, progress) if chunks else []
    left = [item for item in readable if item.path not in tally.done]
    if left and workers > 1 and not any(isinstance(e, Cancelled) for e in errors):
        errors = _run([left], send, tally, progress)
        left = [item for item in readable if item.path not in tally.done]
    for error in errors:
        if isinstance(error, Cancelled):
            raise error
    if left:
        error = errors[0] if errors else PacsError(f"{endpoint} did not take every file")
        if not outcome.sent or not isinstance(error, PacsError):
            raise error
        for item in left:
            tally.failed(item, str(error))
    outcome.seconds = time.monotonic() - started
    return outcome
