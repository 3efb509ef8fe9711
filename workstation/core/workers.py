"""Worker processes that are safe to start from any thread, including a GUI worker thread.

Used where Python code or a decoder holds the GIL (DICOM header parsing, JPEG 2000
decoding, mesh decimation), so only processes use more than one core.

* From the main thread of a process running no other Python thread and no Qt, workers
  are forked: they start in milliseconds and never re-import the main module.
* Otherwise (a GUI worker thread, any multi-threaded program) forking could copy a lock
  another thread holds, so workers start with "forkserver" (forked from a clean
  single-threaded server) or "spawn".  Those take about 0.3 s to import numpy and
  pydicom, and, as with any non-fork start method, each imports the program's main
  module as ``__mp_main__``: a script that scans or loads from a thread must keep its
  top-level work under ``if __name__ == "__main__":`` (the ``workstation`` command does).

No pool is started inside a worker process (a batch worker that declares itself with
``allow_pools_in_this_worker`` excepted), and a pool that cannot start gives ``None``
so the caller works in-process instead.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

#: Start method for worker processes: never "fork" (see the module docstring).
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def start_worker_server(preload: tuple[str, ...] = ()) -> None:
    """Start the fork server now, with ``preload`` imported, if workers will use it.

    A program whose pools start from threads (the window) calls this at start-up: the
    server's interpreter then starts and imports the workers' modules while the program
    builds its window, and the first pool forks ready workers from it instead of waiting
    for a fresh interpreter.  Does nothing where workers start otherwise.
    """
    if START_METHOD != "forkserver" or not processes_allowed():
        return
    from multiprocessing import forkserver

    try:
        multiprocessing.set_forkserver_preload(["__main__", *preload])
        forkserver.ensure_running()
    except (OSError, ValueError, RuntimeError):
        pass  # pools start their server themselves, as without this call


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


def quiet_worker() -> None:
    """Worker initializer: silent about tolerated oddities, and deaf to Ctrl+C.

    Ctrl+C reaches the whole process group; only the parent acts on it (it stops the
    pool), so a worker interrupted mid-task cannot leave the pool hanging.
    """
    warnings.simplefilter("ignore")
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def fork_is_safe() -> bool:
    """True when forking cannot copy a lock held by another thread.

    That needs the main thread of a process with one Python thread and no Qt event
    machinery (whose native threads Python cannot see).
    """
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and threading.active_count() == 1
        and "PySide6.QtCore" not in sys.modules
    )


def start_method() -> str:
    """The start method to use now: "fork" when safe, else ``START_METHOD``."""
    return "fork" if fork_is_safe() else START_METHOD


#: Holds the process id of a batch worker that may start pools of its own (its children
#: inherit the variable but have other ids, so their pools still never nest).
POOLS_ALLOWED_VARIABLE = "WORKSTATION_POOLS_IN_WORKER"


def allow_pools_in_this_worker() -> None:
    """Let this (non-daemonic) batch worker process start loading and decimation pools."""
    os.environ[POOLS_ALLOWED_VARIABLE] = str(os.getpid())


def processes_allowed() -> bool:
    """False inside a worker process (pools never nest), except in a declared batch worker."""
    if multiprocessing.parent_process() is None:
        return True
    declared = os.environ.get(POOLS_ALLOWED_VARIABLE) == str(os.getpid())
    return declared and not multiprocessing.current_process().daemon


def start_process_pool(
    workers: int,
    initializer: Callable[[], None] | None = quiet_worker,
    method: str | None = None,
) -> ProcessPoolExecutor | None:
    """A pool of ``workers`` processes started with ``method`` (default ``start_method()``).

    Returns None when processes cannot be used.  Processes start lazily at the first
    ``submit``; callers must also treat an OSError or ``BrokenProcessPool`` from ``submit``
    or a result as "no pool" and work in-process.
    """
    if workers < 1 or not processes_allowed():
        return None
    try:
        context = multiprocessing.get_context(method or start_method())
        return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=initializer)
    except (OSError, ValueError, RuntimeError, ImportError):
        return None
