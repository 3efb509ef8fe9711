"""Benchmark `workstation info` and `workstation --help` as whole processes (not in pytest).

Writes a synthetic 512x512x400 uncompressed int16 CT once (``--keep DIR`` reuses it), then
runs, interleaved so all see the same machine load, each ``--repeat`` times in a fresh
process with a warm page cache and cached bytecode (``bytecode.py``):
1. ``workstation --help``;
2. ``workstation info DIR --json``;
3. a minimal SimpleITK script: ImageSeriesReader over GDCM's file names, then the size,
   spacing, origin, direction and min/max (what a user writes to get the same facts).
Prints the median and best wall time of each and the ratio of the medians of 2 to 3
(target: at most 0.6), and of 1 (target: within 0.1 s).

Run: .venv/bin/python tests/benchmarks/bench_info.py [--repeat 9] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_load import write_data as write_load_series  # noqa: E402
from bytecode import compile_bytecode  # noqa: E402

MARKER = "series-v1.done"

SIMPLEITK_SCRIPT = r"""
import sys
import SimpleITK as sitk
reader = sitk.ImageSeriesReader()
reader.SetFileNames(reader.GetGDCMSeriesFileNames(sys.argv[1]))
image = reader.Execute()
stats = sitk.MinimumMaximumImageFilter()
stats.Execute(image)
print(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection(),
      stats.GetMinimum(), stats.GetMaximum())
"""


def write_data(folder: Path, n_slices: int = 400) -> None:
    """The series of ``bench_load.py`` (skipped when already there)."""
    if (folder / MARKER).exists():
        return
    write_load_series(folder, n_slices)
    (folder / MARKER).write_text("done\n")


def _wall(command: list[str]) -> float:
    """Wall time of one whole process; its output is discarded, a failure stops the run."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - start


def main() -> int:
    """Write the data, time the three commands interleaved, print medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--keep", type=Path, help="folder to keep the series in between runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "ct"
        folder.mkdir(parents=True, exist_ok=True)
        write_data(folder)
        workstation = str(Path(sys.executable).with_name("workstation"))
        commands = {
            "workstation --help": [workstation, "--help"],
            "workstation info --json": [workstation, "info", str(folder), "--json"],
            "SimpleITK script": [sys.executable, "-c", SIMPLEITK_SCRIPT, str(folder)],
        }
        compile_bytecode()
        for command in commands.values():  # warm the page cache
            _wall(command)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(_wall(command))
    print(f"cores {os.cpu_count()}, {args.repeat} runs each, interleaved")
    print(f"{'command':<26}{'median s':>10}{'best s':>9}")
    for name, values in times.items():
        print(f"{name:<26}{np.median(values):>10.3f}{min(values):>9.3f}")
    ratio = np.median(times["workstation info --json"]) / np.median(times["SimpleITK script"])
    print(f"info / SimpleITK (medians): {ratio:.2f}  (target <= 0.6)")
    print(f"--help median: {np.median(times['workstation --help']):.3f} s  (target <= 0.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
