"""Run one plan over many cases on Dask: skip what is done, record every case, summarise.

``run_batch`` checks every case's hash against ``OUTDIR`` (a case done with the same plan
and inputs is skipped; failed ones run again), runs the rest on the cluster, each case
in its own partial folder moved into place when complete, and writes ``summary.json`` and
``summary.csv`` at the end, also after Ctrl+C (then nothing half-written stays: running
cases are cancelled, the cluster is closed and the partial folders removed).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation import __version__
from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.case_plan import Plan
from workstation.core.errors import BatchError, Cancelled, WorkstationError
from workstation.core.memory_budget import ENVIRONMENT_VARIABLE, format_size, parse_size
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.workers import allow_pools_in_this_worker
from workstation.io.atomic_write import shown_path
from workstation.services.batch_cluster import ClusterInfo, ClusterSpec, cluster_client
from workstation.services.batch_inputs import BatchCase
from workstation.services.batch_store import BatchStore, case_hash
from workstation.services.batch_summary import summary_document, summary_row

#: Share of a worker's memory limit one load of a case may take (the rest: its pipeline).
LOAD_SHARE = 0.25
#: Seconds between looks at the cluster (and at Ctrl+C) while cases run.
POLL_S = 0.25

#: The case engine a worker runs: (plan, request, folder, progress, cancel) -> CaseResult.
CaseTask = Callable[..., Any]


@dataclass
class BatchProgress:
    """How far a batch is: what the progress bar shows."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    running: int = 0
    text: str = ""
    dashboard: str = ""
    cluster: str = ""

    @property
    def remaining(self) -> int:
        """Cases neither done, failed nor skipped."""
        return self.total - self.done - self.failed - self.skipped

    @property
    def fraction(self) -> float:
        """Share of the cases finished (done, failed or skipped)."""
        return 1.0 if not self.total else 1.0 - self.remaining / self.total


BatchEvents = Callable[[BatchProgress], None]


def no_events(state: BatchProgress) -> None:
    """Ignore progress."""


@dataclass
class _Running:
    case: BatchCase
    partial: Path
    started: float
    inputs: Path | None = None


@dataclass
class _Batch:
    plan: Plan
    digest: str
    store: BatchStore
    state: BatchProgress
    events: BatchEvents
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    memory_limit: int | None = None


def run_batch(
    plan: Plan,
    cases: Sequence[BatchCase],
    outdir: str | os.PathLike[str],
    *,
    cluster: ClusterSpec | None = None,
    task: CaseTask | None = None,
    events: BatchEvents = no_events,
    cancel: CancelToken | None = None,
    inputs: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``plan`` on ``cases`` into ``outdir``; returns the summary (as summary.json).

    ``task`` is the case engine (default ``services.case_run.run_case``).  Audited as
    one export of the batch (each case's outputs are audited where they are written).
    """
    from workstation.services.audit import audited

    if task is None:
        from workstation.services.case_run import check_plan

        check_plan(plan)  # a plan no case could run fails once, before any case
    spec = cluster or ClusterSpec()
    root = Path(outdir).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise BatchError(f"The output folder {shown_path(root)} is a file.")
    store = BatchStore(root)
    state = BatchProgress(total=len(cases))
    batch = _Batch(plan, plan.digest(), store, state, events)
    began = time.time()
    studies = [
        AuditObject("study", uid) for uid in dict.fromkeys(c.study_uid for c in cases) if uid
    ]
    info: ClusterInfo | None = None
    interrupted = False
    audit = audited(AuditAction.EXPORT, studies, f"batch into {root}")
    with audit as scope, store.opened():
        try:
            todo = _skip_done(batch, cases)
            if todo:
                with cluster_client(spec) as (client, info):
                    state.dashboard, state.cluster = info.dashboard, _where(info)
                    batch.memory_limit = info.memory_limit
                    _run_cases(batch, client, info, todo, task, cancel)
        except BaseException:
            interrupted = True
            raise
        finally:
            summary = summary_document(
                plan,
                batch.digest,
                root,
                cases,
                batch.records,
                info,
                began,
                interrupted,
                inputs,
            )
            rows = [summary_row(batch.records.get(c.case_id), c) for c in cases]
            store.write_summary(summary, rows)
            totals = summary["totals"]
            scope.detail = (
                f"batch into {root}: {totals['done']} done, {totals['failed']} failed, "
                f"{totals['skipped']} skipped"
            )
    return summary


def _where(info: ClusterInfo) -> str:
    from workstation.services.batch_cluster import describe

    return describe(info)


def _skip_done(batch: _Batch, cases: Sequence[BatchCase]) -> list[BatchCase]:
    """Cases to run: not done before with the same hash; cases that cannot run recorded."""
    todo = []
    for case in cases:
        hashed = case_hash(batch.digest, case.identity)
        old = batch.store.read_record(case.case_id)
        if old and old.get("status") == "done" and old.get("case_hash") == hashed:
            batch.records[case.case_id] = {**old, "skipped": True}
            batch.state.skipped += 1
            continue
        if case.reason:
            _record_failed(batch, case, case.reason, 0.0, "")
            continue
        todo.append(case)
    batch.events(batch.state)
    return todo


def _run_cases(
    batch: _Batch,
    client: Any,
    info: ClusterInfo,
    todo: list[BatchCase],
    task: CaseTask | None,
    cancel: CancelToken | None,
) -> None:
    """Submit cases (a few ahead of the workers), record each as it ends."""
    from distributed import Event, wait

    stop_name = f"workstation-batch-stop-{os.getpid()}-{time.monotonic_ns()}"
    stop = Event(stop_name, client=client)
    waiting = deque(todo)
    running: dict[Any, _Running] = {}
    try:
        while waiting or running:
            if cancel is not None:
                cancel.raise_if_cancelled()
            # one case per worker thread: a worker that dies then names the case it ran
            ahead = _threads(client, info)
            while waiting and len(running) < ahead:
                case = waiting.popleft()
                submitted = _submit(batch, client, case, task, stop_name)
                if submitted is not None:
                    running[submitted[0]] = submitted[1]
            batch.state.running = len(running)
            batch.events(batch.state)
            if not running:
                continue
            try:
                finished = wait(list(running), timeout=POLL_S, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                continue
            for future in finished:
                _collect(batch, future, running.pop(future))
            batch.state.running = len(running)
            batch.events(batch.state)
    except BaseException:
        with contextlib.suppress(Exception):
            stop.set()
        with contextlib.suppress(Exception):
            client.cancel(list(running), force=True)
        raise


def _threads(client: Any, info: ClusterInfo) -> int:
    """Worker threads the cluster has now (workers may join or leave a scheduler)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:
        return max(1, info.workers)


def _submit(
    batch: _Batch, client: Any, case: BatchCase, task: CaseTask | None, stop_name: str
) -> tuple[Any, _Running] | None:
    """Prepare a case's source (PACS, database) and send it to the cluster."""
    started = time.time()
    inputs = None
    if case.prepare is not None:
        batch.state.text = f"Getting {case.label}"
        batch.events(batch.state)
        inputs = batch.store.inputs_folder(case.case_id)
        try:
            case.source, case.series_uid = case.prepare(inputs)
        except WorkstationError as error:
            _record_failed(batch, case, error.message, time.time() - started, "")
            return None
        except Exception as error:  # e.g. a link that cannot be made: this case only
            reason = f"internal error: {type(error).__name__}: {error}"
            _record_failed(batch, case, reason, time.time() - started, "")
            return None
    partial = batch.store.new_partial(case.case_id)
    fields = {
        "case_id": case.case_id,
        "source": case.source,
        "series_uid": case.series_uid,
        "label": case.label,
    }
    future = client.submit(
        run_case_task,
        batch.plan,
        fields,
        str(partial),
        stop_name,
        task,
        key=f"case-{case.case_id}-{os.urandom(4).hex()}",
        pure=False,
        retries=0,
    )
    batch.state.text = f"Running {case.label}"
    return future, _Running(case, partial, started, inputs)


def _collect(batch: _Batch, future: Any, running: _Running) -> None:
    """Record a finished task: its result moved into place, or its failure."""
    from distributed.scheduler import KilledWorker

    case, seconds = running.case, time.time() - running.started
    if future.status == "finished":
        result = future.result()
    else:
        error = future.exception()
        if isinstance(error, KilledWorker):
            limit = format_size(batch.memory_limit) if batch.memory_limit else "unknown"
            reason = f"the worker running it stopped, probably out of memory: limit {limit}"
        elif isinstance(error, WorkstationError):
            reason = error.message
        else:
            reason = f"internal error: {type(error).__name__}: {error}"
        result = {"status": "failed", "reason": reason}
    if running.inputs is not None:
        _remove_tree(running.inputs)
    record = _record(batch, case, result, seconds)
    if record["status"] == "done":
        batch.store.finish(running.partial, record)
        batch.state.done += 1
    else:
        _remove_tree(running.partial)
        batch.store.write_failed(record)
        batch.state.failed += 1
    batch.records[case.case_id] = record
    batch.state.text = f"{'Done' if record['status'] == 'done' else 'Failed'}: {case.label}"


def _record(batch: _Batch, case: BatchCase, result: dict[str, Any], seconds: float) -> dict:
    """The result record of a case (result.json)."""
    record = {
        "case_id": case.case_id,
        "label": case.label,
        "input": case.input,
        "source": case.source,
        "study_uid": case.study_uid,
        "series_uid": case.series_uid,
        "status": "failed",
        "reason": "",
        "seconds": round(seconds, 3),
        "timings_s": {},
        "statistics": {},
        "warnings": [],
        "outputs": [],
        "qc": None,
        "dose": None,
        "worker": "",
        **{k: v for k, v in result.items() if k != "case_id"},
        "plan_digest": batch.digest,
        "case_hash": case_hash(batch.digest, case.identity),
        "version": __version__,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if record["status"] != "done" and not record["reason"]:
        record["reason"] = "the case did not finish"
    record["series_uid"] = record["series_uid"] or case.series_uid
    return record


def _record_failed(
    batch: _Batch, case: BatchCase, reason: str, seconds: float, worker: str
) -> None:
    record = _record(batch, case, {"status": "failed", "reason": reason, "worker": worker}, seconds)
    batch.store.write_failed(record)
    batch.records[case.case_id] = record
    batch.state.failed += 1
    batch.events(batch.state)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


# -- on the worker ----------------------------------------------------------------------------
def run_case_task(
    plan: Plan,
    fields: dict[str, str],
    folder: str,
    stop_name: str,
    task: CaseTask | None = None,
) -> dict[str, Any]:
    """Run one case on a Dask worker; its result as JSON (a failure as its one-line reason)."""
    from workstation.services.case_run import CaseRequest
    from workstation.services.case_run import run_case as default_task

    worker_address, limit = _this_worker()
    began = time.perf_counter()
    if not Path(folder).is_dir():
        return {
            "status": "failed",
            "worker": worker_address,
            "reason": f"the worker cannot see {folder}: workers need the output folder and the "
            "inputs at the same path (a shared file system)",
        }
    token = CancelToken()
    watching = threading.Event()
    watcher = threading.Thread(target=_watch_stop, args=(stop_name, token, watching), daemon=True)
    watcher.start()
    request = CaseRequest(**fields)
    allow_pools_in_this_worker()  # load and decimate on every core, as `workstation mesh`
    try:
        with _load_limit(limit):
            result = (task or default_task)(plan, request, folder, no_progress, token)
        record = dict(result.to_json())
    except Cancelled:
        record = {"status": "failed", "reason": "stopped before it finished"}
    except WorkstationError as error:
        record = {"status": "failed", "reason": error.message}
    except MemoryError:
        record = {"status": "failed", "reason": _memory_reason(limit)}
    except Exception as error:
        record = {"status": "failed", "reason": f"internal error: {type(error).__name__}: {error}"}
    finally:
        watching.set()
    record["worker"] = worker_address
    record.setdefault("timings_s", {})
    record["seconds_on_worker"] = round(time.perf_counter() - began, 3)
    return record


def _this_worker() -> tuple[str, int | None]:
    """The worker's address and memory limit (host:pid outside a worker)."""
    import socket

    try:
        from distributed import get_worker

        worker = get_worker()
        limit = getattr(getattr(worker, "memory_manager", None), "memory_limit", None)
        return str(worker.address), int(limit) if limit else None
    except (ValueError, ImportError):
        return f"{socket.gethostname()}:{os.getpid()}", None


@contextlib.contextmanager
def _load_limit(worker_limit: int | None) -> Any:
    """WORKSTATION_MEMORY_LIMIT for this case: a share of the worker's memory limit."""
    name = ENVIRONMENT_VARIABLE
    previous = os.environ.get(name)
    if worker_limit:
        share = int(worker_limit * LOAD_SHARE)
        with contextlib.suppress(ValueError):
            if previous:
                share = min(share, parse_size(previous))
        os.environ[name] = str(share)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _memory_reason(limit: int | None) -> str:
    shown = format_size(limit) if limit else "unknown"
    return f"out of memory on its worker (worker limit {shown}); give more --memory-per-worker"


def _watch_stop(stop_name: str, token: CancelToken, done: threading.Event) -> None:
    """Cancel the case when the batch is stopped (Ctrl+C on the machine that runs it)."""
    try:
        from distributed import Event

        stop = Event(stop_name)
        while not done.is_set():
            if stop.wait(timeout=0.5):
                token.cancel()
                return
    except Exception:  # no scheduler to ask (a test calling the task directly)
        return


def progress_text(state: BatchProgress) -> str:
    """The progress line: done, failed, skipped and remaining, and the dashboard's address."""
    parts = [f"{state.done} done", f"{state.failed} failed"]
    if state.skipped:
        parts.append(f"{state.skipped} skipped")
    parts.append(f"{state.remaining} to go")
    text = ", ".join(parts)
    return f"{text} · {state.dashboard}" if state.dashboard else text


__all__ = ["BatchProgress", "ProgressCallback", "no_events", "progress_text", "run_batch"]
