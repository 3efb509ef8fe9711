"""Every failing case the fuzzer found, kept: each must now give a good outcome."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from tests.fuzz.cases import run_commands
from tests.fuzz.regressions import load_manifest, write_regression
from tests.fuzz.session import fuzz_session

CASES = load_manifest()


@pytest.fixture(scope="module")
def session():
    """Sources with their truth and a fork runner, shared by the regression cases."""
    with fuzz_session() as (sources, runner, scratch, _problems):
        yield {source.name: source for source in sources}, runner, scratch


@pytest.mark.parametrize("regression", CASES, ids=[case.name for case in CASES])
def test_regression_case(session, regression) -> None:
    """The kept case gives a clean error or a correct result for scan, info and mesh."""
    sources, runner, scratch = session
    source = sources.get(regression.spec.source)
    if source is None:
        pytest.skip(f"source {regression.spec.source} not available (shared data absent?)")
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        work = Path(tmp)
        case = write_regression(regression, source, work / "input")
        results = run_commands(runner, case, work, source, regression.spec)
    bad = [result.line() for result in results if result.bad]
    assert not bad, f"{regression.name} ({regression.checks}):\n" + "\n".join(bad)


def test_regression_files_are_small() -> None:
    """Kept files stay under 100 kB each and every one is listed in the manifest."""
    folder = Path(__file__).parent / "regressions"
    listed = {case.file for case in CASES if case.file}
    for path in folder.glob("*.dcm"):
        assert path.stat().st_size < 100_000, path
        assert path.name in listed, f"{path.name} is not in cases.json"
    assert all((folder / name).is_file() for name in listed)
