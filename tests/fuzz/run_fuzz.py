"""Command line: ``python -m tests.fuzz.run_fuzz --cases N --seed S [--keep DIR]``.

Prints counts per outcome per command (and per mutator with --by-mutator), lists every
bad case, and with --keep saves each failing case's input and verdicts for triage.
Exit status 1 when any case was bad.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from tests.fuzz.cases import CaseResult
from tests.fuzz.session import bad_report, outcome_table, run_fuzz


def mutator_table(results: Sequence[CaseResult]) -> str:
    """Counts per outcome for each mutator (all commands together)."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for result in results:
        counts[result.spec.mutator][result.outcome] += 1
    width = max(len(name) for name in counts)
    return "\n".join(
        f"{name:<{width}}  " + ", ".join(f"{o} {n}" for o, n in sorted(counts[name].items()))
        for name in sorted(counts)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fuzz cases and print the report; returns 1 when any outcome was bad."""
    parser = argparse.ArgumentParser(prog="run_fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="number of cases (default 200)")
    parser.add_argument("--seed", type=int, default=14, help="random seed (default 14)")
    parser.add_argument("--keep", type=Path, default=None, help="save failing cases here")
    parser.add_argument("--synthetic-only", action="store_true", help="skip the shared data")
    parser.add_argument("--by-mutator", action="store_true", help="also count per mutator")
    args = parser.parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    results, problems = run_fuzz(args.seed, args.cases, not args.synthetic_only, args.keep)
    elapsed = time.monotonic() - start
    for problem in problems:
        print(f"source note: {problem}")
    print(outcome_table(results))
    if args.by_mutator:
        print()
        print(mutator_table(results))
    bad = [result for result in results if result.bad]
    print(f"\n{args.cases} cases, {len(results)} runs, {len(bad)} bad, {elapsed:.1f} s")
    if bad:
        print(bad_report(results))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
