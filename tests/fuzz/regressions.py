"""Regression cases the fuzzer found: a manifest of specs, with tiny mutated files where kept."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.cases import CaseInput, CaseSpec, write_case
from tests.fuzz.sources import Source

REGRESSIONS = Path(__file__).resolve().parent / "regressions"
MANIFEST = REGRESSIONS / "cases.json"


@dataclass(frozen=True)
class Regression:
    """One kept failing case: how to rebuild it and what it checks."""

    name: str
    spec: CaseSpec
    file: str | None
    touches: frozenset[str]
    checks: str


def load_manifest(path: Path = MANIFEST) -> list[Regression]:
    """Every regression case listed in the manifest."""
    entries = json.loads(path.read_text())
    return [
        Regression(
            entry["name"],
            CaseSpec(-1, entry["source"], entry["mutator"], entry["target"], entry["seed"]),
            entry.get("file"),
            frozenset(entry.get("touches", [])),
            entry["checks"],
        )
        for entry in entries
    ]


def write_regression(regression: Regression, source: Source, folder: Path) -> CaseInput:
    """The case's input: the pristine source with the kept file in place, or rebuilt by spec."""
    if regression.file is None:
        return write_case(regression.spec, source, folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in source.files.items():
        (folder / name).write_bytes(data)
    kept = (REGRESSIONS / regression.file).read_bytes()
    (folder / regression.spec.target).write_bytes(kept)
    path = folder / regression.spec.target if source.single else folder
    return CaseInput(path, regression.touches, f"kept file {regression.file}")
