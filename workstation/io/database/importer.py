"""Import many files into the database: read, hash and copy in parallel, index in chunks.

Workers (forked processes when that is safe, else threads: hashing and writing release
the GIL) stage each file (``store.stage_location``); the calling thread publishes the
staged copies and inserts their rows in one transaction per chunk, so a concurrent
reader sees whole chunks and a killed import leaves only complete, indexed chunks (plus
temporary files the next open removes).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from workstation.core.errors import Cancelled, DatabaseError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.workers import available_cpus, fork_is_safe, start_process_pool
from workstation.io.database import store
from workstation.io.database.durable import can_sync_filesystem
from workstation.io.database.index import DatabaseIndex, now
from workstation.io.database.records import ImportReport, SkippedInput, StagedFile
from workstation.io.database_encryption import DatabaseKey

#: Below this many files the work is done in the calling thread.
PARALLEL_MIN_FILES = 24
#: Files one worker task stages.
TASK_FILES = 16
#: Files whose rows are committed in one transaction.
COMMIT_FILES = 128
#: Threads per CPU when processes cannot be forked (I/O waits overlap).
THREADS_PER_CPU = 2
#: Worker processes beyond one per CPU: a process waiting for its direct write to
#: reach the disk leaves its CPU to another (measured: 3 processes on 2 CPUs beat 2).
EXTRA_PROCESSES = 1


def conflict_reason(uid: str) -> str:
    """Why a file with a known SOP Instance UID but other content is not imported."""
    return f"SOP Instance UID {uid} is already in the database with different content"


def _decide(
    root: Path, item: StagedFile, row: sqlite3.Row | None, earlier: StagedFile | None
) -> str:
    """What to do with a staged file: add, move, repair, duplicate or conflict.

    ``row`` is its SOP Instance UID's index row, ``earlier`` a file of this chunk with
    the same UID.  An in-place row is moved to a new copy; a copied row whose blob is
    gone is repaired by the same content.
    """
    if earlier is not None:
        return "duplicate" if earlier.sha256 == item.sha256 else "conflict"
    if row is None:
        return "add"
    if row["sha256"] != item.sha256:
        return "conflict"
    if item.in_place:
        return "duplicate"
    if row["in_place"]:
        return "move"
    return "duplicate" if (root / row["path"]).is_file() else "repair"


def commit_staged(
    root: Path,
    index: DatabaseIndex,
    staged: list[StagedFile],
    origin: str,
    report: ImportReport,
    synced: bool = False,
    key: DatabaseKey | None = None,
) -> None:
    """Publish and index one chunk of staged files in one write transaction.

    New instances are published (fsync + rename) and inserted; known ones count as
    duplicates (see ``_decide`` for moves and repairs); other content under a known SOP
    Instance UID is skipped with the reason.
    """
    unused: list[StagedFile] = []
    with index.write() as connection:
        known = index.existing(connection, [item.fields.sop_instance_uid for item in staged])
        taken: dict[str, tuple[str, StagedFile]] = {}
        for item in staged:
            uid = item.fields.sop_instance_uid
            earlier = taken.get(uid)
            action = _decide(root, item, known.get(uid), earlier[1] if earlier else None)
            if action == "conflict":
                report.skipped.append((item.location, conflict_reason(uid)))
            if action in ("conflict", "duplicate"):
                report.duplicates += action == "duplicate"
                unused.append(item)
            else:
                taken[uid] = (action, item)
        publishing: list[tuple[str, StagedFile]] = []
        restaged = False
        for action, item in taken.values():
            if not item.staged and not item.in_place and not (root / item.path).is_file():
                item = store.restage(root, item, key)  # its blob was deleted meanwhile
                restaged = True
            publishing.append((action, item))
        store.publish(root, [item for _, item in publishing], synced=synced and not restaged)
        stamp = now()
        for action, item in publishing:
            if action == "add":
                index.add_instance(connection, item, origin or item.location, stamp)
                report.added += 1
                report.in_place += int(item.in_place)
            else:
                if action == "move":
                    index.move_into_store(connection, item)
                report.duplicates += 1
            if item.staged:
                report.bytes_stored += item.size
    store.discard(unused)
    for item in staged:
        if item.fields.study_uid not in report.study_uids:
            report.study_uids.append(item.fields.study_uid)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _executor(total: int, workers: int | None) -> Executor | None:
    count = workers if workers is not None else available_cpus()
    if count <= 1 or total < PARALLEL_MIN_FILES:
        return None
    if fork_is_safe():
        pool = start_process_pool(count + (EXTRA_PROCESSES if workers is None else 0))
        if pool is not None:
            return pool
    return ThreadPoolExecutor(max_workers=count * THREADS_PER_CPU)


def import_locations(
    root: Path,
    index: DatabaseIndex,
    locations: list[str],
    in_place: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    workers: int | None = None,
    key: DatabaseKey | None = None,
) -> ImportReport:
    """Import every location (files and zip members); non-DICOM files are skipped with a reason.

    A cancelled import raises Cancelled; the chunks committed before it stay imported.
    ``key``: the data key of an encrypted database (copies are sealed).
    """
    began = time.perf_counter()
    report = ImportReport()
    total = len(locations)
    tag = secrets.token_hex(4)
    pending: list[StagedFile] = []
    # Without a filesystem sync, each copy is fsynced while staging goes on.
    batch_sync = can_sync_filesystem() and COMMIT_FILES >= store.BATCH_SYNC_MIN_FILES
    flushing: list[Future[None]] = []
    syncer = ThreadPoolExecutor(store.FSYNC_THREADS)
    done = 0

    def take(results: list[StagedFile | SkippedInput]) -> None:
        nonlocal done
        for result in results:
            if isinstance(result, SkippedInput):
                report.skipped.append((result.location, result.reason))
            else:
                pending.append(result)
                if result.staged and not batch_sync:
                    flushing.append(syncer.submit(store.flush_to_disk, result.staged))
        done += len(results)
        if len(pending) >= COMMIT_FILES:
            flush()
        progress(0.99 * done / total if total else 0.99, f"Importing: {done}/{total} files")
        if cancel is not None and cancel.cancelled:
            raise Cancelled(
                f"Import cancelled: {report.added} of {total} files were imported before the stop."
            )

    def flush() -> None:
        if pending:
            try:
                for future in flushing:
                    future.result()
            except OSError as error:
                raise DatabaseError(
                    f"Cannot write to the database store {root}: {error.strerror or error}"
                ) from error
            commit_staged(root, index, list(pending), "", report, not batch_sync, key)
            pending.clear()
            flushing.clear()

    progress(0.0, f"Importing: 0/{total} files")
    executor = _executor(total, workers)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if executor is not None:
                tasks = list(_chunks(locations, TASK_FILES))
                staged = executor.map(
                    store.stage_chunk,
                    [str(root)] * len(tasks),
                    tasks,
                    [in_place] * len(tasks),
                    [tag] * len(tasks),
                    [key] * len(tasks),
                )
                while True:
                    try:
                        results = next(staged)
                    except StopIteration:
                        break
                    except (OSError, BrokenProcessPool):
                        break  # the pool could not start or broke: the rest is read here
                    take(results)
            for location in locations[done:]:
                take([store.stage_location(str(root), location, in_place, tag, key)])
            flush()
    except BaseException:
        syncer.shutdown(wait=True, cancel_futures=True)
        store.discard(pending)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
            executor = None
        store.remove_temporaries_of(root, tag)
        raise
    finally:
        syncer.shutdown(wait=True)
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    report.seconds = time.perf_counter() - began
    progress(1.0, f"Imported {report.added} new, {report.duplicates} already there")
    return report
