"""Classify one command's run: clean error, correct result, or one of the bad outcomes."""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass

import numpy as np

from tests.fuzz.mutation import GEOMETRY_ASPECTS, ORIENTATION, POSITION, SPACING, THICKNESS, VALUES
from tests.fuzz.runner import RunResult
from tests.fuzz.sources import Truth

GOOD = ("ok", "ok-subset", "ok-warned", "clean-error")
BAD = (
    "internal-error",
    "traceback",
    "stderr-noise",
    "timeout",
    "memory",
    "crash",
    "unexpected-exit",
    "wrong-geometry",
    "wrong-values",
    "bad-output",
)
GEOMETRY_TOLERANCE_MM = 1e-3
#: Peak resident memory above this is a failure even when the run succeeded.
RSS_LIMIT_KB = 1536 * 1024
MEMORY_TEXT = (
    "MemoryError",
    "Unable to allocate",
    "bad_alloc",
    "Cannot allocate memory",
    "out of memory",
    "ArrayMemoryError",
)
#: Words a warning must contain to count as saying what was corrected, per aspect.
ASPECT_WORDS = {
    ORIENTATION: (
        "orientation",
        "imageorientationpatient",
        "direction",
        "cosine",
        "orthogon",
        "unit length",
        "normalis",
        "normaliz",
    ),
    POSITION: ("position", "imagepositionpatient", "gap", "spacing varies", "tilt", "slice"),
    SPACING: ("pixel spacing", "pixelspacing", "spacing"),
    THICKNESS: ("thickness", "slice spacing", "spacing between"),
}
VALUE_WORDS = (
    "pixel",
    "decod",
    "corrupt",
    "truncat",
    "rescale",
    "value",
    "gap",
    "resampl",
    "missing",
    "frame",
)


@dataclass(frozen=True)
class Verdict:
    """An outcome class and the evidence for it."""

    outcome: str
    detail: str = ""

    @property
    def bad(self) -> bool:
        """True for outcomes the reader must never produce."""
        return self.outcome in BAD


def first_line(text: str) -> str:
    """The first non-empty line of ``text`` (for reports)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def classify_process(run: RunResult) -> Verdict | None:
    """The verdict from how the process ended; None when it exited 0 cleanly."""
    err = run.stderr
    memory_text = any(text in err for text in MEMORY_TEXT)
    if run.timed_out:
        return Verdict("timeout", f"over {run.seconds:.1f} s")
    if run.signal is not None:
        name = signal.Signals(run.signal).name
        if memory_text or run.signal == signal.SIGKILL:
            return Verdict("memory", f"killed by {name}")
        return Verdict("crash", f"killed by {name}")
    if run.maxrss_kb > RSS_LIMIT_KB:
        return Verdict("memory", f"peak RSS {run.maxrss_kb // 1024} MiB")
    if memory_text:
        return Verdict("memory", first_line(err))
    if "Traceback" in err:
        return Verdict("traceback", first_line(err))
    if run.exit_code == 70:
        return Verdict("internal-error", first_line(err))
    lines = [line for line in err.splitlines() if line.strip()]
    if run.exit_code is not None and 2 <= run.exit_code <= 9:  # 9: over the memory limit
        if len(lines) == 1 and lines[0].startswith("workstation: error:"):
            return Verdict("clean-error", lines[0])
        return Verdict("traceback", f"{len(lines)} stderr lines: {first_line(err)}")
    if run.exit_code != 0:
        return Verdict("unexpected-exit", f"exit {run.exit_code}: {first_line(err)}")
    if lines:
        return Verdict("stderr-noise", first_line(err))
    return None


def _warned(warnings: list[str], words: tuple[str, ...]) -> str | None:
    for warning in warnings:
        low = warning.lower()
        if any(word in low for word in words):
            return warning
    return None


def _corners(dims: list[int]) -> np.ndarray:
    c, r, s = (max(int(d) - 1, 0) for d in dims)
    return np.array([[i, j, k, 1.0] for i in (0, c) for j in (0, r) for k in (0, s)])


def lattice_offset(affine: np.ndarray, dims: list[int], truth: Truth) -> tuple[float, int, int]:
    """(largest corner error in mm, truth slice of result slice 0, truth slices per result slice).

    A correct result's slices are truth slices (a subset, possibly every m-th one when a
    file was dropped from a short series) or interpolated between them at the truth step.
    """
    t = truth.affine
    step = t[:3, 2]
    norm2 = max(float(step @ step), 1e-30)
    k = float((affine[:3, 3] - t[:3, 3]) @ step / norm2)
    m = float(affine[:3, 2] @ step / norm2)
    k = round(k) if np.isfinite(k) else 0
    m = round(m) if np.isfinite(m) and round(m) != 0 else 1
    corners = _corners(dims)
    mapped = corners.copy()
    mapped[:, 2] = k + m * corners[:, 2]
    error = float(np.max(np.linalg.norm((corners @ affine.T - mapped @ t.T)[:, :3], axis=1)))
    return error, k, m


def check_info(record: dict, truth: Truth | None, touches: frozenset[str]) -> Verdict:
    """Compare an ``info --json`` record with the truth, allowing for what the mutation touched."""
    if truth is None:
        return Verdict("ok", "no ground truth")
    warnings = [str(w) for w in record.get("warnings", [])]
    affine = np.array(record["affine"], dtype=float)
    dims = [int(d) for d in record["dims"]]
    n_truth = truth.dims[2]
    if not np.all(np.isfinite(affine)):
        return Verdict("wrong-geometry", f"non-finite affine {affine[:3].tolist()}")
    error, first, stride = lattice_offset(affine, dims, truth)
    last = first + stride * (dims[2] - 1)
    inside = min(first, last) >= 0 and max(first, last) <= n_truth - 1
    if error > GEOMETRY_TOLERANCE_MM or not inside:
        what = (
            f"corner error {error:.4g} mm"
            if error > GEOMETRY_TOLERANCE_MM
            else (f"slices {first}..{last} outside truth 0..{n_truth - 1}")
        )
        words = tuple(w for aspect in touches & GEOMETRY_ASPECTS for w in ASPECT_WORDS[aspect])
        said = _warned(warnings, words) if words else None
        if said:
            return Verdict("ok-warned", f"{what}; warned: {said}")
        return Verdict("wrong-geometry", f"{what}, dims {dims}, warnings {warnings}")
    strided = abs(stride) != 1
    verdict = (
        None
        if strided
        else _check_values(record, truth, touches, warnings, min(first, last), dims[2])
    )
    if verdict is not None:
        return verdict
    if dims[2] < n_truth:
        return Verdict("ok-subset", f"{dims[2]} of {n_truth} slices, every {abs(stride)}")
    return Verdict("ok")


def _check_values(
    record: dict, truth: Truth, touches: frozenset[str], warnings: list[str], first: int, n: int
) -> Verdict | None:
    if VALUES in touches or (touches & GEOMETRY_ASPECTS and warnings):
        return None
    intensity = record["intensity"]
    if truth.slice_stats is not None:
        stats = truth.slice_stats[first : first + n]
        expected = {
            "min": float(stats[:, 0].min()),
            "max": float(stats[:, 1].max()),
            "mean": float(stats[:, 2].sum() / stats[:, 3].sum()),
        }
    elif truth.intensity and n == truth.dims[2] and record["dims"][:2] == list(truth.dims[:2]):
        expected = truth.intensity
    else:
        return None
    for key, value in expected.items():
        got = float(intensity[key])
        if not abs(got - value) <= 1e-3 + 1e-6 * abs(value):
            if _warned(warnings, VALUE_WORDS):
                return None
            return Verdict("wrong-values", f"{key} {got:g} != {value:g}; warnings {warnings}")
    return None


def classify(
    command: str,
    run: RunResult,
    truth: Truth | None,
    touches: frozenset[str],
    output_exists: bool = True,
) -> Verdict:
    """The verdict for one run of ``command`` (scan, info or mesh)."""
    verdict = classify_process(run)
    if verdict is not None:
        return verdict
    if command == "mesh":
        return Verdict("ok") if output_exists else Verdict("bad-output", "no output file")
    try:
        record = json.loads(run.stdout)
    except json.JSONDecodeError as error:
        return Verdict("bad-output", f"stdout is not JSON: {error}")
    if command == "info":
        return check_info(record, truth, touches)
    return Verdict("ok")
