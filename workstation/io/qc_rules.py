"""The protocol QC rule file (TOML): which series a rule applies to, and what it expects.

::

    [[rules]]
    name = "Chest CT"
    severity = "fail"                 # optional: "fail" (default) or "warn"
    [rules.match]                     # every key given must match (globs, case-insensitive)
    series_description = "*CHEST*"
    body_part_examined = "CHEST"
    [rules.expect]
    kvp_min = 100
    kvp_max = 140
    slice_thickness_max_mm = 2.0

Reading validates everything: each problem is a one-line ``PlanError`` naming the file,
the rule (number and name) and the key, so that whoever keeps the rules can fix them.
The rules come back in file order: the first rule whose match keys all match applies.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from workstation.core.errors import PlanError

#: What a rule can match on (SeriesFacts field names, the DICOM attributes they come from).
MATCH_KEYS = ("series_description", "protocol_name", "body_part_examined", "modality")
#: The orientations ``expect.orientation`` may name (as the volume's plane normal gives).
ORIENTATIONS = ("axial", "coronal", "sagittal", "oblique")
SEVERITIES = ("fail", "warn")
RULE_KEYS = ("name", "severity", "match", "expect")
TOP_KEYS = ("rules",)
_NUMBER_KEYS = ("kvp_min", "kvp_max", "slice_thickness_max_mm", "ctdivol_max_mgy")


class _Invalid(ValueError):
    """One problem in the rule file (the message names the key)."""


@dataclass(frozen=True)
class Expectations:
    """What a matching series must show; None (or empty) means the check is not made."""

    kvp_min: float | None = None
    kvp_max: float | None = None
    slice_thickness_max_mm: float | None = None
    reconstruction_kernel: tuple[str, ...] = ()  # any of these globs
    contrast: bool | None = None
    orientation: str | None = None
    ctdivol_max_mgy: float | None = None
    min_slices: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The expectations given, as the rule file states them."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value == ():
                continue
            out[item.name] = list(value) if isinstance(value, tuple) else value
        return out


EXPECT_KEYS = tuple(item.name for item in fields(Expectations))


@dataclass(frozen=True)
class Rule:
    """One protocol: its name, the series it applies to and what it expects of them."""

    name: str
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key -> any of globs
    expect: Expectations = field(default_factory=Expectations)
    severity: str = "fail"

    def matches(self, values: dict[str, str]) -> bool:
        """True when every match key's value (missing: "") fits one of its globs."""
        return all(
            any(glob_matches(pattern, values.get(key, "")) for pattern in patterns)
            for key, patterns in self.match.items()
        )

    def to_json(self) -> dict[str, Any]:
        """The rule as the file states it (for result records)."""
        return {
            "name": self.name,
            "severity": self.severity,
            "match": {key: list(patterns) for key, patterns in self.match.items()},
            "expect": self.expect.to_json(),
        }


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file, in file order; ``source`` is the file they came from."""

    rules: tuple[Rule, ...]
    source: str = ""

    def first_match(self, values: dict[str, str]) -> Rule | None:
        """The first rule whose match keys all fit ``values``, or None."""
        return next((rule for rule in self.rules if rule.matches(values)), None)

    @property
    def needs_ctdivol(self) -> bool:
        """Whether any rule checks CTDIvol (so the dose records must be read)."""
        return any(rule.expect.ctdivol_max_mgy is not None for rule in self.rules)


def glob_matches(pattern: str, value: str) -> bool:
    """Case-insensitive shell-style match of the whole value (``*``, ``?``, ``[...]``)."""
    return fnmatchcase(value.strip().casefold(), pattern.casefold())


def read_rules(path: str | os.PathLike[str]) -> RuleSet:
    """Read and validate a rule file; PlanError (one line) for every problem."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        reason = getattr(problem, "strerror", None) or problem
        raise PlanError(f"Cannot read the QC rule file {source}: {reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as problem:
        raise PlanError(
            f"The QC rule file {source.name} is not valid TOML: {problem}; fix it and retry."
        ) from None
    return parse_rules(data, where=source.name, source=str(source.resolve()))


def parse_rules(data: dict[str, Any], where: str = "the QC rules", source: str = "") -> RuleSet:
    """A validated RuleSet from parsed TOML; PlanError names ``where``, rule and key."""
    try:
        _known(data, TOP_KEYS, "the file")
        items = data.get("rules")
        if not isinstance(items, list) or not items:
            raise _Invalid("has no rules: add at least one [[rules]] table")
        rules: list[Rule] = []
        for index, item in enumerate(items, start=1):
            rules.append(_rule(item, index, {rule.name.casefold() for rule in rules}))
    except _Invalid as problem:
        raise PlanError(f"{where}: {problem}") from None
    return RuleSet(tuple(rules), source)


def _rule(item: Any, index: int, taken: set[str]) -> Rule:
    label = f"rule {index}"
    if not isinstance(item, dict):
        raise _Invalid(f"{label} must be a table ([[rules]])")
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _Invalid(f"{label}: name must be a non-empty text")
    label = f"rule {index} ({name.strip()!r})"
    try:
        _known(item, RULE_KEYS, "the rule")
        if name.strip().casefold() in taken:
            raise _Invalid("name is used by an earlier rule; give each rule its own name")
        severity = item.get("severity", "fail")
        if severity not in SEVERITIES:
            raise _Invalid(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        return Rule(
            name.strip(),
            _match(_table(item.get("match", {}), "match")),
            _expect(_table(item.get("expect", {}), "expect")),
            severity,
        )
    except _Invalid as problem:
        raise _Invalid(f"{label}: {problem}") from None


def _table(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(f"{name} must be a table ([rules.{name}])")
    return value


def _known(mapping: dict[str, Any], known: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(mapping) - set(known))
    if unknown:
        raise _Invalid(f"{what} has unknown key(s) {', '.join(unknown)}; known: {', '.join(known)}")


def _globs(value: Any, key: str) -> tuple[str, ...]:
    """One glob or a list of globs, each checked."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _Invalid(f"{key} must not be an empty list")
    for pattern in items:
        if not isinstance(pattern, str):
            raise _Invalid(f"{key} must be a text or a list of texts, got {pattern!r}")
        _check_glob(pattern, key)
    return tuple(items)


def _check_glob(pattern: str, key: str) -> None:
    if not pattern:
        raise _Invalid(f'{key} has an empty pattern; use "*" to match anything')
    if any(ord(char) < 32 for char in pattern):
        raise _Invalid(f"{key} pattern {pattern!r} holds a control character")
    position = 0
    while position < len(pattern):
        if pattern[position] != "[":
            position += 1
            continue
        start = position + 1
        if start < len(pattern) and pattern[start] == "!":
            start += 1
        closing = pattern.find("]", start + 1)
        if closing < 0:
            raise _Invalid(
                f"{key} pattern {pattern!r} has a '[' without its ']' "
                "(write [[] to match a bracket)"
            )
        position = closing + 1


def _match(table: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    _known(table, MATCH_KEYS, "match")
    return {key: _globs(value, f"match.{key}") for key, value in table.items()}


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(f"{key} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise _Invalid(f"{key} must be a number of at least 0, got {value!r}")
    return float(value)


def _expect(table: dict[str, Any]) -> Expectations:
    _known(table, EXPECT_KEYS, "expect")
    numbers = {key: _number(table[key], f"expect.{key}") for key in _NUMBER_KEYS if key in table}
    low, high = numbers.get("kvp_min"), numbers.get("kvp_max")
    if low is not None and high is not None and low > high:
        raise _Invalid(f"expect.kvp_min {low:g} is above expect.kvp_max {high:g}")
    for key in ("slice_thickness_max_mm", "ctdivol_max_mgy"):
        if numbers.get(key) == 0:
            raise _Invalid(f"expect.{key} must be above 0")
    contrast = table.get("contrast")
    if contrast is not None and not isinstance(contrast, bool):
        raise _Invalid(f"expect.contrast must be true or false, got {contrast!r}")
    orientation = table.get("orientation")
    if orientation is not None and orientation not in ORIENTATIONS:
        raise _Invalid(
            f"expect.orientation must be one of {', '.join(ORIENTATIONS)}, got {orientation!r}"
        )
    min_slices = table.get("min_slices")
    if min_slices is not None and (
        isinstance(min_slices, bool) or not isinstance(min_slices, int) or min_slices < 1
    ):
        raise _Invalid(
            f"expect.min_slices must be a whole number of at least 1, got {min_slices!r}"
        )
    kernels = table.get("reconstruction_kernel")
    return Expectations(
        kvp_min=low,
        kvp_max=high,
        slice_thickness_max_mm=numbers.get("slice_thickness_max_mm"),
        reconstruction_kernel=()
        if kernels is None
        else _globs(kernels, "expect.reconstruction_kernel"),
        contrast=contrast,
        orientation=orientation,
        ctdivol_max_mgy=numbers.get("ctdivol_max_mgy"),
        min_slices=min_slices,
    )
