"""A fuzz session: sources with truth, a fork runner, a scratch folder; all cleaned up."""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

from tests.fuzz.cases import CaseResult, establish_truth, generate, run_cases
from tests.fuzz.runner import ForkRunner
from tests.fuzz.sources import Source, real_sources, synthetic_sources


@contextmanager
def fuzz_session(use_real: bool = True, timeout: float = 20.0):
    """Yield (sources, runner, scratch, problems); the scratch folder and server are removed."""
    with tempfile.TemporaryDirectory(prefix="workstation-fuzz-") as tmp:
        scratch = Path(tmp)
        with ForkRunner(scratch, timeout=timeout) as runner:
            sources = synthetic_sources() + (real_sources() if use_real else [])
            problems = [establish_truth(runner, source, scratch) for source in sources]
            usable = [s for s in sources if s.truth is not None or not s.synthetic]
            yield usable, runner, scratch, [p for p in problems if p]


def run_fuzz(
    seed: int, count: int, use_real: bool = True, keep: Path | None = None
) -> tuple[list[CaseResult], list[str]]:
    """Run ``count`` seeded cases; returns every result and problems with pristine sources."""
    with fuzz_session(use_real) as (sources, runner, scratch, problems):
        specs = generate(seed, count, sources)
        results = list(run_cases(specs, sources, runner, scratch, keep))
    return results, problems


def outcome_table(results: Sequence[CaseResult]) -> str:
    """Counts per outcome (columns) per command (rows), as a text table."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for result in results:
        counts[result.command][result.outcome] += 1
    outcomes = sorted({r.outcome for r in results})
    width = max([len(o) for o in outcomes] + [7])
    lines = ["command " + " ".join(f"{o:>{width}}" for o in outcomes)]
    for command in sorted(counts):
        lines.append(f"{command:<8}" + " ".join(f"{counts[command][o]:>{width}}" for o in outcomes))
    return "\n".join(lines)


def bad_report(results: Sequence[CaseResult], sources: Sequence[Source] | None = None) -> str:
    """Every bad result, one line each."""
    return "\n".join(result.line() for result in results if result.bad)
