"""Benchmark: scan zips of many tiny DICOM files against the same files as a folder.

Run: ``.venv/bin/python tests/benchmarks/bench_zip_scan.py [--members 1000 3000 20000]
[--workers 1] [--timeout 300]``.  For each count it writes one series of 4x4 slices,
stores it both as a folder and as a deflated zip, and prints the wall-clock time of
``scan_path`` on each (warm file cache).  Before archives were kept open per process,
every member re-parsed the zip's central directory, so a zip scan grew quadratically.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.dicom_factory import write_series  # noqa: E402
from workstation.io.dicom.scan import scan_path  # noqa: E402


def _write(folder: Path, count: int) -> Path:
    """Write ``count`` 4x4 slices into ``folder`` and the same files into a zip; return it."""
    template = folder.parent / "template"
    write_series(template, np.zeros((2, 4, 4), dtype=np.int16))
    first = sorted(template.iterdir())[0].read_bytes()
    folder.mkdir(parents=True)
    archive = folder.parent / f"{folder.name}.zip"
    # One series of ``count`` slices is too slow to write with pydicom at 20,000 files;
    # copies of one file are identical frames, which is fine for timing the scan.
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as handle:
        for index in range(count):
            name = f"DICOM/{index // 1000:03d}/IM{index:05d}"
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(first)
            handle.writestr(name, first)
    shutil.rmtree(template)
    return archive


def _time(path: Path, workers: int | None) -> tuple[float, int]:
    start = time.perf_counter()
    scan = scan_path(path, workers=workers)
    return time.perf_counter() - start, scan.n_files_examined


def main() -> int:
    """Write each input, time the folder and the zip scan, print a small table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, nargs="+", default=[1000, 3000, 20000])
    parser.add_argument("--workers", type=int, default=None, help="default: all CPUs")
    args = parser.parse_args()
    print(f"{'members':>8} {'folder s':>9} {'zip s':>8} {'zip/folder':>10}")
    for count in args.members:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / f"study{count}"
            archive = _write(folder, count)
            folder_time, folder_files = _time(folder, args.workers)
            zip_time, zip_files = _time(archive, args.workers)
            assert folder_files == zip_files == count, (folder_files, zip_files)
            ratio = zip_time / folder_time if folder_time else float("nan")
            print(f"{count:>8} {folder_time:>9.2f} {zip_time:>8.2f} {ratio:>10.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
