"""Scan a folder, file or zip for DICOM images: headers only, in parallel, past any junk.

``scan_path`` lists every file (``sources.iter_locations``), reads each header
(``headers.read_file_header``) in worker processes, and groups the frames into stacks
(``stacks.build_stacks``).  Every file that is not DICOM, cannot be read or holds no
image becomes a ``SkippedFile`` with a reason; nothing stops the scan except
cancellation.

Parallelism: pydicom header parsing is pure Python, so threads barely help (the GIL);
a process pool was measured faster (see tests/benchmarks/bench_scan.py).  Its workers
start safely from any thread (``workers``), so a GUI worker thread scans in parallel
too.  Small inputs are read in-process because starting workers costs more than it saves.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from workstation.core.errors import DicomReadError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.workers import available_cpus, fork_is_safe, start_process_pool
from workstation.io.dicom.derived import describe_derived, distinct_objects
from workstation.io.dicom.duplicates import drop_identical_copies
from workstation.io.dicom.headers import FileHeader, read_file_header
from workstation.io.dicom.model import DerivedObject, ScanResult, SkippedFile
from workstation.io.dicom.stacks import build_stacks
from workstation.io.sources import (
    check_input_path,
    display_name,
    is_zip_location,
    iter_locations,
)

#: Below this many files, reading in-process beats starting worker processes: forked
#: workers start in milliseconds, spawned ones (from a thread, see ``workers``) take
#: about 0.3 s (measured in tests/benchmarks/bench_scan.py).
PARALLEL_MIN_FILES = 48
PARALLEL_MIN_FILES_SPAWNED = 800
#: Files sent to a worker at a time: few enough for smooth progress, enough to amortise IPC.
MAX_CHUNK = 16

DICOMDIR_NAME = "DICOMDIR"


def _is_special_file(location: str) -> bool:
    """True for a FIFO, socket or device: never opened, reading could block."""
    if is_zip_location(location):
        return False
    try:
        return not stat.S_ISREG(os.stat(location).st_mode)
    except OSError:
        return False  # opening it will report why


def examine_file(location: str) -> FileHeader | SkippedFile | DerivedObject:
    """Read one file's header; any failure becomes a SkippedFile with a short reason.

    A DICOM SEG or Encapsulated STL gives its DerivedObject (listed, not loaded).
    """
    if _is_special_file(location):
        if os.path.isdir(location):
            return SkippedFile(location, "cannot open: the folder could not be listed")
        return SkippedFile(location, "not a regular file")  # a FIFO would block a read
    try:
        header = read_file_header(location)
    except DicomReadError as error:
        return SkippedFile(location, error.details or error.message)
    except Exception as error:  # never let one odd file stop a scan
        return SkippedFile(location, f"unreadable: {type(error).__name__}: {error}")
    if header.derived is not None:
        return header.derived
    if header.skip_reason:
        return SkippedFile(location, header.skip_reason)
    return header


def _examine_chunk(locations: list[str]) -> list[FileHeader | SkippedFile | DerivedObject]:
    return [examine_file(location) for location in locations]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def read_headers(
    locations: list[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    executor_kind: str = "process",
) -> list[FileHeader | SkippedFile | DerivedObject]:
    """Examine every location (in order); parallel unless ``workers`` is 1 or input is small.

    ``executor_kind`` is "process" (default) or "thread"; benchmarks compare both.
    Threads were measured slower than one process here (the GIL).  When a process pool
    cannot start, the files are read in-process.
    """
    total = len(locations)
    count = workers if workers is not None else available_cpus()
    results: list[FileHeader | SkippedFile | DerivedObject] = []

    def report(done: int) -> None:
        progress(done / total if total else 1.0, f"Reading DICOM headers: {done}/{total} files")

    def check() -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()

    # pydicom warns about every oddity it tolerates; the scan reports its own reasons.
    # (Warning filters are process-wide: this also quiets worker threads.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        executor: Executor | None = None
        if count > 1 and total >= PARALLEL_MIN_FILES:
            if executor_kind == "thread":
                executor = ThreadPoolExecutor(max_workers=count)
            elif fork_is_safe() or total >= PARALLEL_MIN_FILES_SPAWNED:
                executor = start_process_pool(count)
        if executor is not None:
            size = max(1, min(MAX_CHUNK, total // (count * 4)))
            try:
                for chunk in executor.map(_examine_chunk, _chunks(locations, size)):
                    check()
                    results.extend(chunk)
                    report(len(results))
            except (OSError, BrokenProcessPool):
                pass  # the pool could not start or broke: the rest is read in-process
            finally:
                executor.shutdown(wait=True, cancel_futures=True)
        for index in range(len(results), total):
            check()
            results.append(examine_file(locations[index]))
            report(index + 1)
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
    return scan_locations(
        locations, str(root), progress, cancel, workers, executor_kind=executor_kind, named=path
    )


def scan_locations(
    locations: list[str],
    root: str,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    *,
    executor_kind: str = "process",
    named: str | os.PathLike[str] | None = None,
) -> ScanResult:
    """Group the DICOM files at ``locations`` into stacks, as ``scan_path`` does for a folder.

    ``root`` is what the result says was scanned; ``named`` how messages name it (the
    root when not given).  For a list of files that is no folder: a study in the local
    database.  Raises DicomReadError when no image is found.
    """
    path = root if named is None else named
    results = read_headers(
        locations,
        sub_progress(progress, 0.0, 0.95),
        cancel,
        workers,
        executor_kind,
    )
    copies = drop_identical_copies([result for result in results if isinstance(result, FileHeader)])
    skipped = [result for result in results if isinstance(result, SkippedFile)] + [
        SkippedFile(copy, f"byte-identical copy of {display_name(original)}")
        for copy, original in copies.copy_of.items()
    ]
    progress(0.96, "Grouping series")
    stacks = build_stacks(copies.headers, copies)
    derived, repeats = distinct_objects(r for r in results if isinstance(r, DerivedObject))
    skipped += [
        SkippedFile(repeat.location, f"another copy of {display_name(kept.location)}")
        for repeat, kept in repeats
    ]
    scan = ScanResult(
        root=root,
        stacks=stacks,
        skipped=skipped,
        n_files_examined=len(locations),
        derived=derived,
    )
    if not locations:
        raise DicomReadError(f"No DICOM images found in {path}: there are no files in it")
    if not stacks:
        reasons = "; ".join(f"{count} {reason}" for reason, count in summarize_skipped(skipped))
        results_text = (
            f"; it holds results made on other images: {describe_derived(derived)}, which "
            "open on their source series"
            if derived
            else ""
        )
        raise DicomReadError(
            f"No DICOM images found in {path} "
            f"({len(locations)} files examined, {len(skipped)} skipped{results_text})",
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
