"""The Dask cluster a batch runs on: a LocalCluster sized to this machine, or a scheduler.

Each worker runs one case at a time (one thread per worker process), so a case never
shares its worker's memory with another.  A local cluster's workers get a memory limit
(the nanny restarts a worker that goes over it); every case also gets a per-load limit
(``WORKSTATION_MEMORY_LIMIT``, a share of its worker's limit, see ``run_case_task``), so an
oversized volume fails its own case with a clear message before the nanny has to act.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workstation import __version__
from workstation.core.errors import BatchError
from workstation.core.memory_budget import format_size, parse_size
from workstation.core.workers import available_cpus

if TYPE_CHECKING:
    from distributed import Client

#: Memory a worker should have at least before the default adds another one.
MIN_WORKER_BYTES = 2 << 30
#: Share of this machine's memory the local workers may take together.
MACHINE_SHARE = 0.85
#: Seconds to reach a scheduler and to see its first worker.
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: ``scheduler`` address (empty: a local cluster) and its size."""

    scheduler: str = ""
    workers: int | None = None
    memory_per_worker: str | None = None


@dataclass(frozen=True)
class ClusterInfo:
    """What a running cluster is: workers, the memory limit of each, its dashboard."""

    address: str
    workers: int
    memory_limit: int | None
    dashboard: str
    local: bool


def physical_memory() -> int:
    """This machine's memory in bytes (8 GB when it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 8 << 30


def local_size(workers: int | None, memory_per_worker: str | None) -> tuple[int, int]:
    """(workers, bytes per worker) for a local cluster: cores, as many as memory allows."""
    total = int(physical_memory() * MACHINE_SHARE)
    per_worker = None
    if memory_per_worker:
        try:
            per_worker = parse_size(memory_per_worker)
        except ValueError as error:
            raise BatchError(f"--memory-per-worker: {error}.") from None
        if per_worker < (64 << 20):
            raise BatchError("--memory-per-worker must be at least 64M.")
    if workers is not None and workers < 1:
        raise BatchError("--workers must be at least 1.")
    if workers is None:
        fit = total // (per_worker or MIN_WORKER_BYTES)
        workers = max(1, min(available_cpus(), fit))
    if per_worker is None:
        per_worker = total // workers
    return workers, per_worker


@contextlib.contextmanager
def cluster_client(spec: ClusterSpec) -> Iterator[tuple[Client, ClusterInfo]]:
    """A connected Client and what it runs on; the local cluster is closed afterwards."""
    _quiet_logs()
    if spec.scheduler:
        with _remote(spec.scheduler) as connected:
            yield connected
    else:
        with _local(spec) as connected:
            yield connected


def _quiet_logs() -> None:
    """Dask's own log lines would mix with the progress bar and --json."""
    for name in ("distributed", "dask", "tornado", "bokeh"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def _local(spec: ClusterSpec) -> Iterator[tuple[Client, ClusterInfo]]:
    import dask
    from distributed import Client, LocalCluster

    workers, per_worker = local_size(spec.workers, spec.memory_per_worker)
    # a worker may start process pools of its own (they are used where allowed)
    # a worker may start process pools of its own (they are used where allowed); a case
    # whose worker dies is not tried again on another worker (it would die there too)
    # (a worker is given one case at a time, so a death names the case that caused it)
    settings = {
        "distributed.worker.daemon": False,
        "distributed.scheduler.allowed-failures": 0,
        "distributed.scheduler.worker-saturation": 1.0,
    }
    with dask.config.set(settings):
        try:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                memory_limit=per_worker,
                dashboard_address="127.0.0.1:0",
                host="127.0.0.1",
                silence_logs=logging.CRITICAL,
                preload=[__name__],
            )
        except Exception as error:  # a cluster that cannot start is the batch's error
            raise BatchError(
                f"Cannot start the local Dask cluster: {type(error).__name__}: {error}."
            ) from None
    try:
        client = Client(cluster, timeout=CONNECT_TIMEOUT_S)
        try:
            # this process's scheduler serves the dashboard pages only with bokeh installed
            dashboard = _dashboard(client) if importlib.util.find_spec("bokeh") else ""
            info = ClusterInfo(cluster.scheduler_address, workers, per_worker, dashboard, True)
            yield client, info
        finally:
            with contextlib.suppress(Exception):
                client.close(timeout=5)
    finally:
        with contextlib.suppress(Exception):
            cluster.close(timeout=10)


@contextlib.contextmanager
def _remote(address: str) -> Iterator[tuple[Client, ClusterInfo]]:
    from distributed import Client

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as error:
        raise BatchError(
            f"Cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT_S:g} s "
            f"({type(error).__name__}); start it (dask scheduler) or check the address."
        ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as error:
            raise BatchError(
                f"No worker joined the Dask scheduler at {address} within "
                f"{CONNECT_TIMEOUT_S:g} s; start one with: dask worker {address} "
                f"--nthreads 1 ({type(error).__name__})."
            ) from None
        check_workers(client)
        limits = [worker.get("memory_limit") for worker in _workers(client).values()]
        known = [int(limit) for limit in limits if limit]
        info = ClusterInfo(
            address, len(limits), min(known) if known else None, _dashboard(client), False
        )
        yield client, info
    finally:
        with contextlib.suppress(Exception):
            client.close(timeout=5)


def dask_setup(worker: Any) -> None:
    """Preload of a local cluster's workers: deaf to Ctrl+C (the batch stops them itself).

    Ctrl+C reaches the whole process group; the batch cancels the running cases and
    closes the cluster, so a worker printing its own interruption would only add noise.
    """
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _workers(client: Client) -> dict[str, dict[str, Any]]:
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return workers if isinstance(workers, dict) else {}


def worker_version() -> str:
    """This workstation's version (run on each worker to compare with the client's)."""
    return __version__


def check_workers(client: Client) -> None:
    """BatchError when a worker lacks the workstation or runs another version of it."""
    try:
        versions = client.run(worker_version)
    except Exception as error:
        raise BatchError(
            "A Dask worker cannot run workstation code; install the workstation (version "
            f"{__version__}) on every worker ({type(error).__name__}: {error})."
        ) from None
    wrong = {address: version for address, version in versions.items() if version != __version__}
    if wrong:
        address, version = next(iter(wrong.items()))
        raise BatchError(
            f"The Dask worker {address} runs workstation {version}, this is {__version__}; "
            "install the same version on every worker."
        )


def _dashboard(client: Client) -> str:
    """The dashboard's address, or '' when the scheduler runs none (it needs bokeh)."""
    try:
        services = client.scheduler_info(n_workers=0).get("services", {})
    except Exception:
        return ""
    if "dashboard" not in services:
        return ""
    with contextlib.suppress(Exception):
        return str(client.dashboard_link)
    return ""


def describe(info: ClusterInfo) -> str:
    """One line: where the batch runs."""
    where = "a local Dask cluster" if info.local else f"the Dask scheduler {info.address}"
    memory = f", {format_size(info.memory_limit)} each" if info.memory_limit else ""
    dashboard = f"; dashboard {info.dashboard}" if info.dashboard else ""
    plural = "s" if info.workers != 1 else ""
    return f"{info.workers} worker{plural} on {where}{memory}{dashboard}"
