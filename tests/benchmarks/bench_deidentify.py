"""Benchmark: de-identify 400 CT files of 512×512 (about 200 MB) vs a plain copy of them.

Run: ``.venv/bin/python tests/benchmarks/bench_deidentify.py [--files 400] [--repeats 5]``.
Prints the best and median time of ``shutil.copy`` of every file and of
``deidentify_path`` (no OCR: CT images need none) into a new folder, and their ratios
(target: at most 2×), and, for reference, of a copy that also fsyncs every file (the
de-identified output is made durable too, with one filesystem sync per batch of files).
Dirty pages are flushed before each timing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.dicom_factory import write_series  # noqa: E402
from workstation.io.deid.options import DEFAULT_OPTIONS  # noqa: E402
from workstation.services.deidentify import deidentify_path  # noqa: E402


def _best(times: list[float]) -> str:
    return f"best {min(times):.3f} s, median {statistics.median(times):.3f} s"


def _copy(source: Path, target: Path, durable: bool = False) -> None:
    target.mkdir()
    for path in sorted(source.iterdir()):
        shutil.copy(path, target / path.name)
        if durable:  # what every atomic write also does: the data reaches the disk
            with open(target / path.name, "rb+") as handle:
                os.fsync(handle.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-deid-", dir=os.environ.get("TMPDIR")) as tmp:
        work = Path(tmp)
        os.environ.setdefault("WORKSTATION_AUDIT_LOG", str(work / "audit" / "audit.log"))
        os.environ.setdefault("WORKSTATION_POLICY", str(work / "no-policy.toml"))
        rng = np.random.default_rng(0)
        stored = rng.integers(0, 2000, size=(args.files, 512, 512), dtype=np.int16)
        folder = work / "input"
        write_series(folder, stored, slice_step=1.0)
        size = sum(path.stat().st_size for path in folder.iterdir())
        print(f"{args.files} files, {size / 1e6:.0f} MB")
        copies, durable, deids = [], [], []
        for attempt in range(args.repeats):
            os.sync()
            start = time.perf_counter()
            _copy(folder, work / f"copy{attempt}")
            copies.append(time.perf_counter() - start)
            os.sync()
            start = time.perf_counter()
            _copy(folder, work / f"fsync{attempt}", durable=True)
            durable.append(time.perf_counter() - start)
            os.sync()
            start = time.perf_counter()
            report = deidentify_path(
                folder, work / f"deid{attempt}", key_file=None, options=DEFAULT_OPTIONS
            )
            deids.append(time.perf_counter() - start)
            assert report.count("done") == args.files, report.totals()
        print(f"plain copy:     {_best(copies)}")
        print(f"copy + fsync:   {_best(durable)}")
        print(f"de-identify:    {_best(deids)}")
        median = statistics.median
        print(f"ratio (best):   {min(deids) / min(copies):.2f}x of the plain copy (target <= 2x)")
        print(f"ratio (median): {median(deids) / median(copies):.2f}x of the plain copy")
        print(f"                {min(deids) / min(durable):.2f}x of the copy with fsync (best)")


if __name__ == "__main__":
    main()
