"""The fuzz harness in CI: a fixed seed, a bounded number of cases, zero bad outcomes."""

from __future__ import annotations

import pytest

from tests.fuzz.cases import establish_truth
from tests.fuzz.session import bad_report, fuzz_session, outcome_table, run_fuzz

#: The CI run: seed and number of cases (about 2 minutes on a 2-core machine).
CI_SEED, CI_CASES = 14, 240
#: The larger run, marked slow (about 8 minutes).
SLOW_SEED, SLOW_CASES = 1414, 1000


def _assert_all_good(seed: int, count: int) -> None:
    results, problems = run_fuzz(seed, count)
    table = outcome_table(results)
    print(f"\nfuzz seed {seed}, {count} cases\n{table}")
    bad = [result for result in results if result.bad]
    assert not problems, "pristine sources misread:\n" + "\n".join(problems)
    assert not bad, (
        f"{len(bad)} bad outcomes in {len(results)} runs (seed {seed}, {count} cases)\n"
        f"{table}\n{bad_report(results)}"
    )


def test_pristine_sources_give_the_ground_truth() -> None:
    """Every unmutated source loads with exactly its known geometry and values."""
    with fuzz_session() as (sources, runner, scratch, problems):
        assert sources
        again = [establish_truth(runner, source, scratch) for source in sources if source.synthetic]
    assert not problems + [p for p in again if p]


def test_fuzz_fixed_seed() -> None:
    """CI: each mutated case gives a clean error or a correct result, bounded in time and memory."""
    _assert_all_good(CI_SEED, CI_CASES)


@pytest.mark.slow
def test_fuzz_larger_run() -> None:
    """The same with more cases and another seed."""
    _assert_all_good(SLOW_SEED, SLOW_CASES)
