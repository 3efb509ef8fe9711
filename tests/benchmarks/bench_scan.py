"""Benchmark: scan a synthetic 400-file 512x512 CT series serially, with threads, processes.

Run: ``.venv/bin/python tests/benchmarks/bench_scan.py [--files 400] [--repeats 3]``.
Prints the best and median wall-clock time of each mode (warm file cache) and files per
second at the best time.  From the main thread worker processes are forked; from another
thread (as in the GUI) they come from a fork server and cost more to start (see
workstation/core/workers.py), so the default reads small inputs in-process there.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.dicom_factory import write_series  # noqa: E402
from workstation.core import workers as worker_processes  # noqa: E402
from workstation.io.dicom import scan as scan_module  # noqa: E402
from workstation.io.dicom.scan import scan_path  # noqa: E402


def _write(folder: Path, count: int) -> None:
    stored = np.zeros((count, 512, 512), dtype=np.int16)
    write_series(folder, stored, pixel_spacing=(0.7, 0.7), slice_step=1.25, shuffle=True)


def _time(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _spawned_processes(folder: Path, workers: int) -> None:
    """Scan from a thread with worker processes whatever the input size."""
    saved = scan_module.PARALLEL_MIN_FILES_SPAWNED
    scan_module.PARALLEL_MIN_FILES_SPAWNED = 0
    try:
        _in_thread(lambda: scan_path(folder, workers=workers))
    finally:
        scan_module.PARALLEL_MIN_FILES_SPAWNED = saved


def _in_thread(run) -> None:
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()


def main() -> int:
    """Write the series, time each scan mode, print a small table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workers = worker_processes.available_cpus()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "series"
        start = time.perf_counter()
        _write(folder, args.files)
        print(f"wrote {args.files} files of 512x512 in {time.perf_counter() - start:.1f} s")
        scan = scan_path(folder, workers=1)
        assert len(scan.stacks) == 1 and len(scan.stacks[0].frames) == args.files
        modes = {
            "serial (1 worker)": lambda: scan_path(folder, workers=1),
            f"threads ({workers})": lambda: scan_path(
                folder, workers=workers, executor_kind="thread"
            ),
            f"processes, forked ({workers})": lambda: scan_path(
                folder, workers=workers, executor_kind="process"
            ),
            f"processes, {worker_processes.START_METHOD} ({workers})": lambda: _spawned_processes(
                folder, workers
            ),
            "default": lambda: scan_path(folder),
            "default in a thread": lambda: _in_thread(lambda: scan_path(folder)),
        }
        # Modes are interleaved within each repeat so a change in machine load affects
        # them alike; best and median of the repeats are reported.
        times: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.repeats):
            for name, run in modes.items():
                times[name].append(_time(run))
        print(f"{'mode':<30}{'best s':>9}{'median s':>10}{'files/s':>10}")
        for name, values in times.items():
            best, median = min(values), float(np.median(values))
            print(f"{name:<30}{best:>9.3f}{median:>10.3f}{args.files / best:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
