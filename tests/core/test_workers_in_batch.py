"""Process pools inside batch workers: allowed only in a declared, non-daemonic worker."""

from __future__ import annotations

import multiprocessing

from workstation.core import workers


def _report(queue, declare: bool, nested: bool) -> None:
    if declare:
        workers.allow_pools_in_this_worker()
    allowed = workers.processes_allowed()
    if nested:  # a process this worker starts inherits the variable but not the permission
        child = multiprocessing.get_context("fork").Process(
            target=_report, args=(queue, False, False)
        )
        child.start()
        child.join(30)
    queue.put(("worker", allowed))


def _run(declare: bool, daemon: bool, nested: bool = False) -> list:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_report, args=(queue, declare, nested), daemon=daemon)
    process.start()
    process.join(60)
    answers = [queue.get(timeout=30) for _ in range(2 if nested else 1)]
    return [allowed for _, allowed in answers]


def test_a_worker_process_starts_no_pool_unless_it_is_a_declared_batch_worker():
    assert workers.processes_allowed()  # the main process
    assert _run(declare=False, daemon=False) == [False]
    assert _run(declare=True, daemon=False) == [True]
    assert _run(declare=True, daemon=True) == [False]  # a daemonic process may not have children


def test_pools_still_never_nest_below_a_batch_worker():
    child, worker = _run(declare=True, daemon=False, nested=True)
    assert (worker, child) == (True, False)
