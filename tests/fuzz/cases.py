"""Fuzz cases: draw them from a seed, write their inputs, run the commands, judge them."""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tests.fuzz.mutation import Mutation
from tests.fuzz.mutators import DUPLICATE_FILE, MUTATORS
from tests.fuzz.oracle import Verdict, classify, first_line
from tests.fuzz.runner import ForkRunner
from tests.fuzz.sources import Source, Truth

COMMANDS = ("scan", "info", "mesh")


@dataclass(frozen=True)
class CaseSpec:
    """One case: which source, which mutator, which file ('*' = all), and its own seed."""

    index: int
    source: str
    mutator: str
    target: str
    seed: int


@dataclass(frozen=True)
class CaseInput:
    """A written case: the path to give the CLI and what the mutation did."""

    path: Path
    touches: frozenset[str]
    detail: str


@dataclass(frozen=True)
class CaseResult:
    """The verdict of one command on one case."""

    spec: CaseSpec
    command: str
    outcome: str
    detail: str
    stderr: str
    seconds: float
    maxrss_kb: int
    mutation: str

    @property
    def bad(self) -> bool:
        """True when the outcome is a failure of the reader."""
        return Verdict(self.outcome).bad

    def line(self) -> str:
        """One report line: mutator, source/file, command, outcome, evidence."""
        return (
            f"#{self.spec.index} {self.spec.mutator} on {self.spec.source}/{self.spec.target} "
            f"[{self.mutation}] {self.command}: {self.outcome}: {self.detail or self.stderr}"
        )


def applicable(source: Source, mutator_name: str) -> list[str]:
    """File names of ``source`` the mutator can act on."""
    mutator = MUTATORS[mutator_name]
    if mutator.scope == "duplicate" and source.single:
        return []
    return [name for name, info in source.infos.items() if mutator.applies(info)]


def generate(seed: int, count: int, sources: Sequence[Source]) -> list[CaseSpec]:
    """``count`` cases cycling through every mutator in a seeded order, sources drawn at random."""
    rng = random.Random(seed)
    names = sorted(MUTATORS)
    specs: list[CaseSpec] = []
    order: list[str] = []
    while len(specs) < count:
        if not order:
            order = names[:]
            rng.shuffle(order)
        mutator = order.pop()
        choices = [(s, applicable(s, mutator)) for s in sources]
        choices = [(s, files) for s, files in choices if files]
        if not choices:
            continue
        source, files = rng.choice(choices)
        target = "*" if MUTATORS[mutator].scope == "all" else rng.choice(files)
        specs.append(CaseSpec(len(specs), source.name, mutator, target, rng.getrandbits(32)))
    return specs


def _mutate(source: Source, name: str, spec: CaseSpec) -> Mutation:
    mutator = MUTATORS[spec.mutator]
    return mutator.fn(source.files[name], random.Random(spec.seed), source.infos[name])


def write_case(spec: CaseSpec, source: Source, folder: Path) -> CaseInput:
    """Write the case's input under ``folder``: the source with the mutation applied."""
    folder.mkdir(parents=True, exist_ok=True)
    touches: set[str] = set()
    details = []
    for name, data in source.files.items():
        if spec.target in ("*", name) and spec.mutator != DUPLICATE_FILE:
            mutation = _mutate(source, name, spec)
            data = mutation.data
            touches |= mutation.touches
            details.append(mutation.detail)
        (folder / name).write_bytes(data)
    if spec.mutator == DUPLICATE_FILE:
        shutil.copyfile(folder / spec.target, folder / f"{spec.target}.copy")
        details.append(f"copy of {spec.target}")
    path = folder / spec.target if source.single else folder
    detail = details[0] if len(set(details)) == 1 else "; ".join(details[:2])
    return CaseInput(path, frozenset(touches), detail)


def command_argv(command: str, path: Path, work: Path, source: Source) -> list[str]:
    """The CLI arguments of ``command`` on ``path``."""
    if command == "mesh":
        return ["mesh", str(path), "-o", str(work / "model.stl"), *source.mesh_args]
    return [command, str(path), "--json"]


def run_commands(
    runner: ForkRunner,
    case: CaseInput,
    work: Path,
    source: Source,
    spec: CaseSpec,
    commands: Sequence[str] = COMMANDS,
) -> list[CaseResult]:
    """Run each command on a written case and judge it."""
    results = []
    for command in commands:
        output = work / "model.stl"
        output.unlink(missing_ok=True)
        run = runner.run(command_argv(command, case.path, work, source), work)
        exists = output.is_file() and output.stat().st_size > 0
        verdict = classify(command, run, source.truth, case.touches, exists)
        results.append(
            CaseResult(
                spec,
                command,
                verdict.outcome,
                verdict.detail,
                first_line(run.stderr),
                run.seconds,
                run.maxrss_kb,
                case.detail,
            )
        )
    return results


def truth_from_record(record: dict) -> Truth:
    """Ground truth of a real source: its pristine ``info --json`` record."""
    return Truth(np.array(record["affine"], float), tuple(record["dims"]), record["intensity"])


def establish_truth(runner: ForkRunner, source: Source, scratch: Path) -> str:
    """Fill in a real source's truth from its pristine run; returns a problem or ''."""
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        work = Path(tmp)
        spec = CaseSpec(-1, source.name, DUPLICATE_FILE, next(iter(source.files)), 0)
        folder = work / "input"
        folder.mkdir()
        for name, data in source.files.items():
            (folder / name).write_bytes(data)
        path = folder / spec.target if source.single else folder
        run = runner.run(command_argv("info", path, work, source), work)
        scan = runner.run(command_argv("scan", path, work, source), work)
    if run.exit_code != 0:
        return f"{source.name}: pristine info failed: {first_line(run.stderr)}"
    record = json.loads(run.stdout)
    if source.truth is None:
        source.truth = truth_from_record(record)
        if scan.exit_code != 0 or len(json.loads(scan.stdout)["series"]) != 1:
            source.truth.intensity = None
        return ""
    verdict = classify("info", run, source.truth, frozenset())
    return "" if verdict.outcome == "ok" else f"{source.name}: pristine {verdict}"


def run_cases(
    specs: Sequence[CaseSpec],
    sources: Sequence[Source],
    runner: ForkRunner,
    scratch: Path,
    keep: Path | None = None,
) -> Iterator[CaseResult]:
    """Write, run and judge each case in its own temporary folder (kept under ``keep`` if bad)."""
    by_name = {source.name: source for source in sources}
    for spec in specs:
        source = by_name[spec.source]
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            work = Path(tmp)
            case = write_case(spec, source, work / "input")
            results = run_commands(runner, case, work, source, spec)
            if keep is not None and any(result.bad for result in results):
                save_case(keep, work / "input", spec, results)
        yield from results


def save_case(keep: Path, folder: Path, spec: CaseSpec, results: Sequence[CaseResult]) -> Path:
    """Copy a failing case's input and verdicts to ``keep/case-N-mutator``."""
    target = keep / f"case-{spec.index:04d}-{spec.mutator}"
    shutil.copytree(folder, target / "input", dirs_exist_ok=True)
    summary = {
        "spec": asdict(spec),
        "results": [
            {
                "command": r.command,
                "outcome": r.outcome,
                "detail": r.detail,
                "stderr": r.stderr,
                "mutation": r.mutation,
            }
            for r in results
        ],
    }
    (target / "case.json").write_text(json.dumps(summary, indent=2) + "\n")
    return target
