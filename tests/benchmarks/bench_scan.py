"""Benchmark: scan a synthetic 400-file 512x512 CT series serially, with threads, processes.

Run: ``.venv/bin/python tests/benchmarks/bench_scan.py [--files 400] [--repeats 3]``.
Prints the best and median wall-clock time of each mode (warm file cache) and files per
second at the best time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.dicom_factory import write_series  # noqa: E402
from workstation.io.dicom.scan import default_workers, scan_path  # noqa: E402


def _write(folder: Path, count: int) -> None:
    stored = np.zeros((count, 512, 512), dtype=np.int16)
    write_series(folder, stored, pixel_spacing=(0.7, 0.7), slice_step=1.25, shuffle=True)


def _time(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> int:
    """Write the series, time each scan mode, print a small table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    workers = default_workers()
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
            f"processes ({workers})": lambda: scan_path(
                folder, workers=workers, executor_kind="process"
            ),
            "default": lambda: scan_path(folder),
        }
        # Modes are interleaved within each repeat so a change in machine load affects
        # them alike; best and median of the repeats are reported.
        times: dict[str, list[float]] = {name: [] for name in modes}
        for _ in range(args.repeats):
            for name, run in modes.items():
                times[name].append(_time(run))
        print(f"{'mode':<22}{'best s':>9}{'median s':>10}{'files/s':>10}")
        for name, values in times.items():
            best, median = min(values), float(np.median(values))
            print(f"{name:<22}{best:>9.3f}{median:>10.3f}{args.files / best:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
