"""Benchmark: a guide with two sleeves and one slot on a 500 k-triangle bone (not collected).

The bone is a bumpy ball of radius 60 mm (a skull's vault), a spherified cube of about
500,000 triangles written as a binary STL; the plan puts a 25 mm contact region on top,
two drill sleeves 9 mm apart and a saw slot beside them.  Printed (never asserted):

- load: ``load_plan`` + ``load_bone`` (the STL read, vertices merged);
- generate: ``generate_guide`` as a whole (wall clock, and CPU time of all threads: on
  a busy machine the two differ), and each step and boolean from the report's
  ``timings_s``;
- write: the guide STL, its provenance record (the bone file hashed) and the report;
- the guide's triangles, volume, minimum wall and clearance.  Target: generation within
  10 s.

Run: .venv/bin/python tests/benchmarks/bench_guide.py [--repeat 1] [--triangles 500000]
[--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from workstation.core.mesh import Mesh  # noqa: E402
from workstation.io.mesh_export import export_mesh  # noqa: E402
from workstation.services.guides import (  # noqa: E402
    generate_guide,
    load_bone,
    load_plan,
    write_guide,
)

RADIUS = 60.0
BUMP = 0.015  # relative height of the bumps


def surface_radius(directions: np.ndarray) -> np.ndarray:
    """The bumpy ball's radius (mm) along unit ``directions`` (N, 3)."""
    x, y, z = directions.T
    return RADIUS * (1.0 + BUMP * np.sin(5.0 * np.arctan2(y, x)) * np.sin(4.0 * np.arccos(z)))


def surface_point(direction: tuple[float, float, float]) -> list[float]:
    """The point of the bone's surface along ``direction`` from the centre (LPS mm)."""
    unit = np.asarray(direction, dtype=np.float64)
    unit /= np.linalg.norm(unit)
    return (unit * surface_radius(unit[None])[0]).tolist()


def bumpy_ball(triangles: int) -> Mesh:
    """A closed, outward-wound bumpy ball: a cube's faces gridded, pushed onto the surface."""
    n = max(2, round(math.sqrt(triangles / 12)))
    ticks = np.linspace(-1.0, 1.0, n + 1)
    u, v = np.meshgrid(ticks, ticks, indexing="ij")
    points, faces = [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            grid = np.empty((n + 1, n + 1, 3))
            grid[..., axis] = sign
            grid[..., (axis + 1) % 3] = u
            grid[..., (axis + 2) % 3] = v
            start = sum(len(p) for p in points)
            points.append(grid.reshape(-1, 3))
            i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
            a = (start + i * (n + 1) + j).ravel()
            b, c, d = a + (n + 1), a + (n + 1) + 1, a + 1
            faces.append(np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)]))
    cube = np.concatenate(points)
    keys = np.round(cube * 1e9).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    directions = cube[first] / np.linalg.norm(cube[first], axis=1, keepdims=True)
    faces_all = inverse.reshape(-1)[np.concatenate(faces)]
    corners = directions[faces_all]
    outward = np.einsum(
        "ij,ij->i", np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]),
        corners.sum(axis=1),
    )  # fmt: skip
    faces_all[outward < 0] = faces_all[outward < 0][:, ::-1]
    vertices = directions * surface_radius(directions)[:, None]
    return Mesh(vertices, faces_all, name="Bumpy skull")


def plan_record() -> dict:
    """Region on top, two sleeves into the bone, one slot (as in PLAN.json)."""
    top = surface_point((0.0, 0.0, 1.0))
    sleeves = []
    for number, dx in enumerate((-4.5, 4.5), start=1):
        entry = surface_point((dx / RADIUS, 0.0, 1.0))
        target = (np.asarray(entry) * (1.0 - 12.0 / RADIUS)).tolist()
        sleeves.append(
            {
                "entry_lps": entry,
                "target_lps": target,
                "inner_diameter_mm": 2.2,
                "outer_diameter_mm": 5.0,
                "height_mm": 8.0,
                "name": f"Screw {number}",
            }
        )
    return {
        "bone": "BONE.stl",
        "region": {"sphere": {"center_lps": top, "radius_mm": 25.0}},
        "thickness_mm": 3.0,
        "clearance_mm": 0.25,
        "insertion_direction_lps": [0.0, 0.0, -1.0],
        "sleeves": sleeves,
        "slots": [
            {
                "point_lps": surface_point((0.0, 10.0 / RADIUS, 1.0)),
                "normal_lps": [0.0, 1.0, 0.0],
                "width_mm": 1.2,
                "length_mm": 20.0,
                "depth_mm": 8.0,
                "name": "Osteotomy",
            }
        ],
    }


def run_once(folder: Path) -> dict:
    """One whole run: read plan and bone, generate, write; the figures."""
    began = time.perf_counter()
    plan = load_plan(folder / "PLAN.json")
    bone = load_bone(plan)
    load_s = time.perf_counter() - began
    began, cpu = time.perf_counter(), time.process_time()
    result = generate_guide(plan, bone)
    generate_s = time.perf_counter() - began
    cpu_s = time.process_time() - cpu
    began = time.perf_counter()
    write_guide(result, folder / "GUIDE.stl", folder / "REPORT.json", plan, bone)
    write_s = time.perf_counter() - began
    return {
        "bone_triangles": bone.n_faces,
        "load_s": load_s,
        "generate_s": generate_s,
        "generate_cpu_s": cpu_s,
        "write_s": write_s,
        "report": result.report,
    }


def _mm(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else str(value)


def main() -> int:
    """Build the case, run it ``--repeat`` times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--triangles", type=int, default=500_000)
    parser.add_argument("--keep", metavar="DIR", help="write the case here and keep it")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-guide-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        began = time.perf_counter()
        bone = bumpy_ball(args.triangles)
        export_mesh(bone, folder / "BONE.stl")
        (folder / "PLAN.json").write_text(json.dumps(plan_record(), indent=2))
        print(
            f"bone: {bone.n_faces:,} triangles, {bone.n_vertices:,} vertices "
            f"(made and written in {time.perf_counter() - began:.2f} s)"
        )
        for number in range(1, args.repeat + 1):
            figures = run_once(folder)
            report = figures["report"]
            verdict = "within" if figures["generate_s"] <= 10.0 else "OVER"
            print(
                f"run {number}: load {figures['load_s']:.2f} s, generate "
                f"{figures['generate_s']:.2f} s ({verdict} the 10 s target; CPU "
                f"{figures['generate_cpu_s']:.2f} s, all threads), write "
                f"{figures['write_s']:.2f} s"
            )
            steps = report.get("timings_s") or {}
            for step, seconds in steps.items():
                print(f"    {step:<28} {seconds:8.3f} s")
            booleans = sum(v for k, v in steps.items() if k.startswith("boolean"))
            print(f"    {'(all booleans)':<28} {booleans:8.3f} s")
            clearance = report.get("clearance_mm") or {}
            seat = "/".join(_mm(clearance.get(key)) for key in ("min", "median", "max"))
            print(
                f"  guide: {report.get('triangles'):,} triangles, "
                f"{report.get('volume_mm3', float('nan')):,.0f} mm^3, watertight "
                f"{report.get('watertight')}, pieces {report.get('components')}, min wall "
                f"{_mm(report.get('min_wall_mm'))} mm, clearance min/median/max {seat} mm"
            )
            for kind in ("sleeves", "slots"):
                for item in report.get(kind) or []:
                    print(f"  {kind[:-1]} {item.get('name')!r}: open {item.get('open')}")
            for text in report.get("warnings") or []:
                print(f"  warning: {text}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
