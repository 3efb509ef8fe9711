"""Scan a folder, file or zip for DICOM images: headers only, in parallel, past any junk.

``scan_path`` lists every file (``sources.iter_locations``), reads each header
(``headers.read_file_header``) in worker processes, and groups the frames into stacks
(``stacks.build_stacks``).  Every file that is not DICOM, cannot be read or holds no
image becomes a ``SkippedFile`` with a reason; nothing stops the scan except
cancellation.

Parallelism: pydicom header parsing is pure Python, so threads barely help (the GIL);
a process pool was measured faster (see tests/benchmarks/bench_scan.py).  Small inputs
are read in-process because starting workers costs more than it saves.
"""

from __future__ import annotations

import multiprocessing
import os
import stat
import sys
import threading
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

from workstation.core.errors import DicomReadError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.io.dicom.headers import FileHeader, read_file_header
from workstation.io.dicom.model import ScanResult, SkippedFile
from workstation.io.dicom.stacks import build_stacks
from workstation.io.sources import check_input_path, is_zip_location, iter_locations

#: Below this many files, reading in-process beats starting worker processes.
PARALLEL_MIN_FILES = 48
#: Files sent to a worker at a time: few enough for smooth progress, enough to amortise IPC.
MAX_CHUNK = 16
#: Start method for worker processes.  "fork" starts in milliseconds and, unlike "spawn"
#: and "forkserver", never re-imports the caller's __main__ module (which would re-run an
#: unguarded script).  Forking a multi-threaded process is unsafe, so processes are only
#: used from the main thread of a single-threaded process (see ``_fork_is_safe``).
START_METHOD = "fork"

DICOMDIR_NAME = "DICOMDIR"


def _is_special_file(location: str) -> bool:
    """True for a FIFO, socket or device: never opened, reading could block."""
    if is_zip_location(location):
        return False
    try:
        return not stat.S_ISREG(os.stat(location).st_mode)
    except OSError:
        return False  # opening it will report why


def examine_file(location: str) -> FileHeader | SkippedFile:
    """Read one file's header; any failure becomes a SkippedFile with a short reason."""
    if _is_special_file(location):
        return SkippedFile(location, "not a regular file")  # a FIFO would block a read
    try:
        header = read_file_header(location)
    except DicomReadError as error:
        return SkippedFile(location, error.details or error.message)
    except Exception as error:  # never let one odd file stop a scan
        return SkippedFile(location, f"unreadable: {type(error).__name__}: {error}")
    if header.skip_reason:
        return SkippedFile(location, header.skip_reason)
    return header


def _examine_chunk(locations: list[str]) -> list[FileHeader | SkippedFile]:
    return [examine_file(location) for location in locations]


def _quiet_worker() -> None:
    """Worker-process initializer: pydicom's warnings about tolerated oddities stay silent."""
    warnings.simplefilter("ignore")


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def default_workers() -> int:
    """Worker processes to use by default: one per available CPU."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


def _fork_is_safe() -> bool:
    """True when forking cannot copy a lock held by another thread.

    That needs the main thread of a process with one Python thread and no Qt event
    machinery (whose native threads Python cannot see).
    """
    return (
        START_METHOD in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
        and "PySide6.QtCore" not in sys.modules
    )


def _make_executor(kind: str, workers: int) -> Executor:
    if kind == "thread":
        return ThreadPoolExecutor(max_workers=workers)
    context = multiprocessing.get_context(START_METHOD)
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_quiet_worker)


def read_headers(
    locations: list[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    executor_kind: str = "process",
) -> list[FileHeader | SkippedFile]:
    """Examine every location (in order); parallel unless ``workers`` is 1 or input is small.

    ``executor_kind`` is "process" (default) or "thread"; benchmarks compare both.
    Threads were measured slower than one process here (the GIL), so when processes
    cannot be used safely (called from a worker thread, e.g. by the GUI) the files are
    read in-process.
    """
    total = len(locations)
    count = workers if workers is not None else default_workers()
    results: list[FileHeader | SkippedFile] = []

    def report(done: int) -> None:
        progress(done / total if total else 1.0, f"Reading DICOM headers: {done}/{total} files")

    def check() -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()

    # pydicom warns about every oddity it tolerates; the scan reports its own reasons.
    # (Warning filters are process-wide: this also quiets worker threads.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = count <= 1 or total < PARALLEL_MIN_FILES
        if executor_kind == "process" and not _fork_is_safe():
            serial = True
        if serial:
            for index, location in enumerate(locations, start=1):
                check()
                results.append(examine_file(location))
                report(index)
            return results
        size = max(1, min(MAX_CHUNK, total // (count * 4)))
        executor = _make_executor(executor_kind, count)
        try:
            chunk_results: Iterable[list[FileHeader | SkippedFile]] = executor.map(
                _examine_chunk, _chunks(locations, size)
            )
            for chunk in chunk_results:
                check()
                results.extend(chunk)
                report(len(results))
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        executor.shutdown(wait=True)
    return results


def _scan_root(path: str | os.PathLike[str]) -> Path:
    """The folder to scan: a DICOMDIR given directly means its folder."""
    root = check_input_path(path)
    if root.is_file() and root.name.upper() == DICOMDIR_NAME:
        return root.parent
    if root.is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = examine_file(str(root))
        if isinstance(result, SkippedFile) and result.reason == "DICOMDIR index":
            return root.parent
    return root


def scan_path(
    path: str | os.PathLike[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    *,
    executor_kind: str = "process",
) -> ScanResult:
    """Find every DICOM image stack under ``path`` (folder, file, zip or DICOMDIR).

    Raises InputPathError for a missing path, DicomReadError when no image is found and
    Cancelled when ``cancel`` is set.
    """
    root = _scan_root(path)
    progress(0.0, "Listing files")
    locations = list(iter_locations(root))
    if cancel is not None:
        cancel.raise_if_cancelled()
    results = read_headers(
        locations,
        sub_progress(progress, 0.0, 0.95),
        cancel,
        workers,
        executor_kind,
    )
    headers = [result for result in results if isinstance(result, FileHeader)]
    skipped = [result for result in results if isinstance(result, SkippedFile)]
    progress(0.96, "Grouping series")
    stacks = build_stacks(headers)
    scan = ScanResult(
        root=str(root), stacks=stacks, skipped=skipped, n_files_examined=len(locations)
    )
    if not stacks:
        reasons = "; ".join(f"{count} {reason}" for reason, count in summarize_skipped(skipped))
        raise DicomReadError(
            f"No DICOM images found in {path} "
            f"({len(locations)} files examined, {len(skipped)} skipped)",
            f"Skipped: {reasons}" if reasons else "",
        )
    progress(1.0, f"Found {len(stacks)} image stack{'s' if len(stacks) != 1 else ''}")
    return scan


def summarize_skipped(skipped: Iterable[SkippedFile]) -> list[tuple[str, int]]:
    """Skip reasons grouped by their kind (text before ':'), most frequent first."""
    counts: dict[str, int] = {}
    for item in skipped:
        kind = item.reason.split(":", 1)[0].strip()
        counts[kind] = counts.get(kind, 0) + 1
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))
