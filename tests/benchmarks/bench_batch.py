"""Benchmark `workstation batch` against `workstation mesh` run once per case, in a row.

Not collected by pytest.  Run:
    .venv/bin/python tests/benchmarks/bench_batch.py [--cases 20] [--slices 200] [--keep DIR]

Writes ``--cases`` synthetic CT studies of 512 x 512 x ``--slices`` (body, spine, ribs,
femur-like tubes; each study its own UIDs and noise), then measures, each as a fresh
process with the default plan (a bone-preset STL model per case):

1. ``workstation mesh CASE -o bone.stl --json`` once per case, one after the other;
2. ``workstation batch ALL -o OUT --workers 1 --json``;
3. ``workstation batch ALL -o OUT --workers 2 --json``.

Prints cases per minute of each, the batch's fixed cost (cluster start, first imports in
each worker) and its overhead per case: wall time x workers minus the time the cases
themselves took on the workers, per case.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

ROWS = COLS = 512
SPACING = (0.7, 0.7, 1.0)  # row, column, slice mm
MARKER = "cases.done"
#: The plan: the default bone model, without the dose check (synthetic images carry none).
PLAN = {"name": "Benchmark bone model", "dose": {"check": False}}


def phantom_slice(index: int, rng: np.random.Generator, shift: float) -> np.ndarray:
    """One axial slice (HU): body, spine, ribs and two femur-like tubes."""
    z = index * SPACING[2]
    y, x = np.mgrid[:ROWS, :COLS].astype(np.float32)
    y = (y - ROWS / 2) * SPACING[0] - shift
    x = (x - COLS / 2) * SPACING[1] + shift
    hu = np.full((ROWS, COLS), -1000.0, dtype=np.float32)
    body = (x / 165.0) ** 2 + (y / 120.0) ** 2 <= 1.0
    hu[body] = 40.0
    if (z % 30.0) > 5.0:
        r = np.hypot(x, y - 55.0)
        hu[r <= 22.0] = 180.0 + rng.normal(0.0, 50.0, size=int((r <= 22.0).sum()))
        hu[(r > 19.5) & (r <= 22.0)] = 800.0
    if (z % 25.0) < 9.0:
        ring = (x / 150.0) ** 2 + (y / 106.0) ** 2
        hu[(ring <= 1.0) & (ring >= 0.88) & (y > -60.0)] = 650.0
    for centre in (-80.0, 80.0):
        r = np.hypot(x - centre, y + 10.0)
        hu[(r <= 16.0) & (r >= 10.0)] = 1200.0
    hu[body] += rng.normal(0.0, 20.0, size=int(body.sum()))
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def write_cases(root: Path, cases: int, slices: int) -> list[Path]:
    """``cases`` studies under ``root`` (reused when already written with these sizes)."""
    from tests.support.dicom_factory import write_series

    marker = root / MARKER
    folders = [root / f"case{number:02d}" for number in range(cases)]
    if marker.exists() and marker.read_text() == f"{cases} {slices}":
        return folders
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    for number, folder in enumerate(folders):
        rng = np.random.default_rng(number)
        volume = np.stack([phantom_slice(i, rng, number * 0.5) for i in range(slices)])
        write_series(
            folder,
            volume,
            pixel_spacing=(SPACING[0], SPACING[1]),
            slice_step=SPACING[2],
            origin=(-179.2, -179.2, -100.0),
            patient_id=f"BENCH{number:03d}",
            series_description="Bone 1.0",
        )
    marker.write_text(f"{cases} {slices}")
    print(
        f"wrote {cases} studies of {ROWS}x{COLS}x{slices} in {time.perf_counter() - started:.0f} s"
    )
    return folders


def run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall time and stdout of a command that must succeed."""
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}")
    return seconds, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--keep", metavar="DIR", help="keep (and reuse) the studies here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    data = Path(args.keep) if args.keep else work / "studies"
    env = dict(os.environ)
    env.setdefault("WORKSTATION_AUDIT_LOG", str(work / "audit" / "audit.log"))
    try:
        folders = write_cases(data, args.cases, args.slices)
        plan = work / "plan.json"
        plan.write_text(json.dumps(PLAN))
        workstation = [sys.executable, "-m", "workstation"]
        mesh_total = 0.0
        for folder in folders:
            seconds, _ = run(
                [*workstation, "mesh", str(folder), "-o", str(work / "mesh.stl"), "--json"], env
            )
            mesh_total += seconds
        n = len(folders)
        print(f"\n{n} cases of {ROWS}x{COLS}x{args.slices}, bone model each")
        print(f"workstation mesh x{n} in a row: {mesh_total:7.1f} s  {60 * n / mesh_total:5.1f} "
              f"cases/min  ({mesh_total / n:.2f} s per case)")  # fmt: skip
        for workers in (1, 2):
            out = work / f"out{workers}"
            command = [*workstation, "batch", str(data), "-o", str(out), "--plan", str(plan)]
            seconds, stdout = run([*command, "--workers", str(workers), "--json"], env)
            summary = json.loads(stdout)
            assert summary["totals"]["done"] == n, summary["totals"]
            records = [
                json.loads((out / "cases" / row["case_id"] / "result.json").read_text())
                for row in summary["cases"]
            ]
            on_workers = sum(record["seconds_on_worker"] for record in records)
            engine = sum(record["timings_s"].get("total", 0.0) for record in records)
            first = sorted(record["seconds_on_worker"] for record in records)
            overhead = (seconds * workers - on_workers) / n
            print(
                f"workstation batch --workers {workers}: {seconds:7.1f} s  "
                f"{60 * n / seconds:5.1f} cases/min  (case on a worker {on_workers / n:.2f} s, "
                f"of it the case engine {engine / n:.2f} s; slowest {first[-1]:.2f} s, "
                f"fastest {first[0]:.2f} s)"
            )
            print(
                f"    overhead per case (wall x workers - time on workers) / cases: "
                f"{overhead:.2f} s; per case beyond the engine: {(on_workers - engine) / n:.2f} s"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
