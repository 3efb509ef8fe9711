"""Benchmark the segment editor's array tools on a synthetic 512x512x400 int16 CT.

Not collected by pytest.  Times (first run, then the best of ``--repeat``), in this
process with numpy's huge pages off as the workstation runs: one 5 mm brush dab (sphere
and disc), scissors through the whole volume along the slice axis and along an oblique
direction (without and with a 20 mm slab, and applying erase_outside), fill between
slices over 100 empty slices, and growing two segments from seeds in a bone range.
Targets: dab < 5 ms, axial scissors < 0.3 s, interpolation < 2 s.

Run: .venv/bin/python tests/benchmarks/bench_editing_processing.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from workstation.core.runtime import disable_numpy_hugepages  # noqa: E402
from workstation.processing.editing.brush import brush_block  # noqa: E402
from workstation.processing.editing.grow import grow_from_seeds  # noqa: E402
from workstation.processing.editing.interpolate import interpolate_slices  # noqa: E402
from workstation.processing.editing.scissors import (  # noqa: E402
    apply_scissors,
    scissors_regions,
)

SHAPE = (400, 512, 512)

#: Axial grid, 0.5 x 0.5 mm pixels, 0.6 mm slices: slices along +z, rows +y, columns +x.
AFFINE = np.array(
    [
        [0.0, 0.0, 0.5, -128.0],
        [0.0, 0.5, 0.0, -128.0],
        [0.6, 0.0, 0.0, -120.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)

#: Two bone balls (LPS centre mm, radius mm) that touch through a narrow neck.
BALLS = (((-28.0, 0.0, 0.0), 25.0), ((22.0, 0.0, 0.0), 20.0))


def synthetic_ct() -> np.ndarray:
    """int16 HU: a soft-tissue body in air, two 700 HU balls joined by a neck, noise."""
    rng = np.random.default_rng(0)
    x = AFFINE[0, 2] * np.arange(SHAPE[2]) + AFFINE[0, 3]
    y = AFFINE[1, 1] * np.arange(SHAPE[1]) + AFFINE[1, 3]
    z = AFFINE[2, 0] * np.arange(SHAPE[0]) + AFFINE[2, 3]
    body = (x[None, :] / 110.0) ** 2 + (y[:, None] / 95.0) ** 2 <= 1
    array = np.empty(SHAPE, dtype=np.int16)
    noise = rng.integers(-25, 25, size=(8, *SHAPE[1:]), dtype=np.int16)
    for index in range(SHAPE[0]):
        array[index] = np.where(body, 40, -1000) + noise[index % 8]
    zz, yy, xx = z[:, None, None], y[None, :, None], x[None, None, :]
    for (cx, cy, cz), radius in BALLS:
        box = np.abs(z - cz) <= radius
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 + (zz[box] - cz) ** 2 <= radius**2
        array[box] = np.where(inside, 700 + noise[0], array[box])
    neck_box = np.abs(z) <= 3.0
    neck = (np.abs(xx) <= 8) & ((yy**2 + zz[neck_box] ** 2) <= 3.0**2)
    array[neck_box] = np.where(neck, 700 + noise[1], array[neck_box])
    return array


def seeds_at(point_lps, half: int = 2) -> list[tuple[int, int, int]]:
    """A small cube of seed voxels (a brush stroke) around an LPS point."""
    centre = np.rint(np.linalg.solve(AFFINE[:3, :3], np.asarray(point_lps) - AFFINE[:3, 3]))
    s, r, c = (int(v) for v in centre)
    span = range(-half, half + 1)
    return [(s + i, r + j, c + k) for i in span for j in span for k in span]


def timed(name: str, step: Callable[[], object], repeat: int) -> object:
    """Run ``step`` 1 + repeat times; print the first wall time and the best of the others."""
    started = time.perf_counter()
    result = step()
    first = time.perf_counter() - started
    later = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        later.append(time.perf_counter() - started)
    best = min(later, default=first)
    print(f"  {name:52s} first {first * 1e3:9.1f} ms   best {best * 1e3:9.1f} ms")
    return result


def bench_brush(repeat: int) -> None:
    """One 5 mm dab, sphere and disc."""
    print("\nBrush (5 mm radius):")
    centre = np.array([10.3, -20.1, 5.2])
    many = max(repeat, 1) * 30
    timed("sphere dab", lambda: brush_block(SHAPE, AFFINE, centre, 5.0), many)
    timed("disc dab", lambda: brush_block(SHAPE, AFFINE, centre, 5.0, kind="disc"), many)


def bench_scissors(image: np.ndarray, repeat: int) -> None:
    """Scissors along the slice axis and obliquely, without and with a slab; one apply."""
    print("\nScissors through the whole volume (60-point polygon, about 60 x 45 mm):")
    angles = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    radii = 1 + 0.15 * np.sin(5 * angles)
    outline = np.stack([30 * radii * np.cos(angles), 22 * radii * np.sin(angles)], axis=1)
    oblique = np.array([0.3, -0.25, 0.92]) / np.linalg.norm([0.3, -0.25, 0.92])
    across = np.cross(oblique, [0.0, 0.0, 1.0])
    across /= np.linalg.norm(across)
    cuts = {
        "axial": (np.column_stack([outline, np.full(60, 10.0)]), np.array([0.0, 0.0, 1.0])),
        "oblique": (
            np.outer(outline[:, 0], across)
            + np.outer(outline[:, 1], np.cross(oblique, across))
            + 10.0,
            oblique,
        ),
    }
    for name, (polygon, direction) in cuts.items():
        timed(
            f"{name} direction, no depth",
            lambda p=polygon, d=direction: scissors_regions(SHAPE, AFFINE, p, d),
            repeat,
        )
        timed(
            f"{name} direction, 20 mm slab",
            lambda p=polygon, d=direction: scissors_regions(SHAPE, AFFINE, p, d, 20.0),
            repeat,
        )
    inside, slab = scissors_regions(SHAPE, AFFINE, *cuts["oblique"], 20.0)
    segment = image >= 300
    timed(
        "apply erase_outside with the oblique slab",
        lambda: apply_scissors(segment, inside, "erase_outside", slab),
        repeat,
    )


def bench_interpolation(repeat: int) -> None:
    """Fill the 100 empty slices between two painted ones."""
    print("\nFill between slices (key slices 100 and 201, 100 empty slices between):")
    rows, cols = np.mgrid[0 : SHAPE[1], 0 : SHAPE[2]]
    radial = np.hypot((rows - 255.5) * 0.5, (cols - 250.2) * 0.5)
    painted = np.zeros(SHAPE, dtype=bool)
    painted[100] = radial <= 90.0
    painted[201] = (radial <= 40.0) | ((np.abs(rows - 256) < 20) & (cols > 300))
    filled = timed("interpolate_slices", lambda: interpolate_slices(painted, AFFINE), repeat)
    print(f"    {int(filled[101:201].sum()):,} voxels filled")


def bench_grow(image: np.ndarray, repeat: int) -> None:
    """Grow two segments from seed strokes in the two balls, within a bone range."""
    print("\nGrow from seeds (two segments, bone range 200..3000 HU):")
    seeds = {f"ball {n + 1}": seeds_at(c) for n, (c, _) in enumerate(BALLS)}
    grown = timed(
        "grow_from_seeds", lambda: grow_from_seeds(image, AFFINE, seeds, (200.0, 3000.0)), repeat
    )
    voxel_mm3 = float(abs(np.linalg.det(AFFINE[:3, :3])))
    for (name, mask), (_, radius) in zip(grown.items(), BALLS, strict=True):
        expected = 4 / 3 * np.pi * radius**3
        print(f"    {name}: {mask.sum() * voxel_mm3 / 1e3:7.1f} cm^3 (ball {expected / 1e3:.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after the first")
    args = parser.parse_args()
    disable_numpy_hugepages()
    started = time.perf_counter()
    image = synthetic_ct()
    print(
        f"Synthetic CT {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} int16, 0.5x0.5x0.6 mm "
        f"(made in {time.perf_counter() - started:.1f} s)"
    )
    repeat = max(args.repeat, 0)
    bench_brush(repeat)
    bench_scissors(image, repeat)
    bench_interpolation(repeat)
    bench_grow(image, repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
