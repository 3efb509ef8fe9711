"""Benchmark the segment editor on a 512x512x400 CT: what a user feels while editing.

Prints: one 5 mm brush dab (editor.dab, voxels only), a 100-dab stroke and its undo and
redo with the history memory it holds, scissors through the whole volume, fill between
slices over 100 slices, and growing two segments from seeds — each through the same
``SegmentEditor`` the window and ``workstation segment`` use.  Medians of repeated runs.
Run: ``.venv/bin/python tests/benchmarks/bench_segment_editor.py [--slices 400]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workstation.core.geometry import index_to_lps
from workstation.core.volume import Volume
from workstation.services.segment_editor import SegmentEditor


def synthetic_ct(slices: int, size: int = 512) -> Volume:
    """A body with two touching bone cylinders (0.5 x 0.5 x 0.6 mm voxels)."""
    rows, cols = np.mgrid[0:size, 0:size]
    body = ((rows - size / 2) / (0.42 * size)) ** 2 + ((cols - size / 2) / (0.47 * size)) ** 2 < 1
    left = (rows - size / 2) ** 2 + (cols - 0.42 * size) ** 2 < (0.09 * size) ** 2
    right = (rows - size / 2) ** 2 + (cols - 0.58 * size) ** 2 < (0.09 * size) ** 2
    plane = np.where(body, 40, -1000).astype(np.int16)
    plane[left | right] = 700
    plane[(rows - size / 2) ** 2 + (cols - size / 2) ** 2 < 12**2] = 400  # the contact
    array = np.broadcast_to(plane, (slices, size, size)).copy()
    affine = np.eye(4)
    affine[:3, 0] = (0, 0, 0.6)
    affine[:3, 1] = (0, 0.5, 0)
    affine[:3, 2] = (0.5, 0, 0)
    return Volume(array, affine, units="HU")


def _median_ms(function, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


def _lps(volume: Volume, index) -> list[float]:
    return index_to_lps(volume.affine, np.asarray([index], float))[0].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=400)
    args = parser.parse_args()
    volume = synthetic_ct(args.slices)
    editor = SegmentEditor(volume)
    for name in ("Left", "Right", "Bone"):
        editor.apply({"op": "add_segment", "name": name})
    editor.apply({"op": "threshold", "segment": "Bone", "lower": 300})
    middle = args.slices // 2
    paint = {"op": "paint", "segment": "Left", "radius_mm": 5.0}

    def one_dab() -> None:
        editor.begin_stroke(paint)
        editor.dab(_lps(volume, (middle, 256, 200)))
        editor.end_stroke()
        editor.undo()

    print(f"volume {volume.shape}, {volume.array.nbytes / 1e6:.0f} MB")
    print(f"one 5 mm dab (begin, dab, end, undo): {_median_ms(one_dab):.2f} ms")

    began_bytes = editor.history_bytes()
    editor.begin_stroke(paint)
    dab_times = []
    for step in range(100):
        began = time.perf_counter()
        editor.dab(_lps(volume, (middle, 150 + step * 2, 150 + step * 2)))
        dab_times.append((time.perf_counter() - began) * 1000)
    editor.end_stroke()
    stroke_bytes = editor.history_bytes() - began_bytes
    painted = editor.segmentation.by_name("Left").mask.copy()
    print(
        f"  dab within a stroke: median {statistics.median(dab_times):.2f} ms, "
        f"max {max(dab_times):.2f} ms"
    )
    undo_ms = _median_ms(lambda: (editor.undo(), editor.redo()), repeats=7)
    began = time.perf_counter()
    editor.undo()
    undo_only = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    editor.redo()
    redo_only = (time.perf_counter() - began) * 1000
    assert np.array_equal(editor.segmentation.by_name("Left").mask, painted)
    print(
        f"100-dab stroke: undo {undo_only:.1f} ms, redo {redo_only:.1f} ms "
        f"(undo+redo median {undo_ms:.1f} ms), history {stroke_bytes / 1e6:.3f} MB"
    )

    square = [
        _lps(volume, (middle, r, c)) for r, c in ((100, 100), (100, 400), (400, 400), (400, 100))
    ]
    scissors = {
        "op": "scissors",
        "segment": "Bone",
        "polygon_lps": square,
        "direction_lps": [0, 0, 1],
        "mode": "erase_outside",
    }

    def cut() -> None:
        editor.apply(scissors)
        editor.undo()

    print(
        f"scissors through the whole volume (compute + commit + undo): {_median_ms(cut, 3):.0f} ms"
    )
    began = time.perf_counter()
    pending = editor.compute(scissors)
    print(f"  scissors compute only: {(time.perf_counter() - began) * 1000:.0f} ms")
    del pending

    editor.apply({"op": "add_segment", "name": "Slices"})
    for index in (middle - 50, middle + 50):
        editor.apply(
            {
                "op": "paint",
                "segment": "Slices",
                "shape": "disc",
                "plane_normal_lps": [0, 0, 1],
                "radius_mm": 30 if index < middle else 15,
                "points_lps": [_lps(volume, (index, 256, 256))],
            }
        )
    began = time.perf_counter()
    editor.apply({"op": "interpolate", "segment": "Slices"})
    print(f"fill between slices over 100 slices: {(time.perf_counter() - began) * 1000:.0f} ms")

    grow = {
        "op": "grow_from_seeds",
        "intensity_range": [300, 3000],
        "seeds": {
            "Left": [_lps(volume, (middle, 256, 215))],
            "Right": [_lps(volume, (middle, 256, 297))],
        },
    }
    began = time.perf_counter()
    editor.apply(grow)
    seconds = time.perf_counter() - began
    left = editor.segmentation.by_name("Left").voxel_count
    right = editor.segmentation.by_name("Right").voxel_count
    print(f"grow two segments from seeds: {seconds:.2f} s (Left {left:,}, Right {right:,} voxels)")


if __name__ == "__main__":
    main()
