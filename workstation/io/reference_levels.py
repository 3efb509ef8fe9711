"""Load a table of diagnostic reference levels (TOML) that dose reports are compared with.

The shape (see resources/dose/README.md)::

    [table]
    name = "UK national DRLs, adult CT"
    source = "publisher, title, year, address"

    [[exams]]
    name = "Head"
    indication = "Acute stroke"   # optional, shown with the name
    ctdivol_mgy = 47              # per sequence (each irradiation event / series)
    dlp_mgycm = 790               # per complete examination (accumulated DLP)
    [exams.match]                 # every key given must match; a list means any of
    study_description = ["*HEAD*", "*BRAIN*"]   # glob patterns, case-insensitive
    protocol = "*HEAD*"           # an event's acquisition protocol or a series' protocol
    body_part_examined = "HEAD"
    target_region = "*HEAD*"      # an event's target region

An exam without a level or without a match key is refused; the first exam that matches a
study is the one compared with, so put the more specific exams first.
"""

from __future__ import annotations

import fnmatch
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import PlanError

MATCH_KEYS = ("study_description", "protocol", "body_part_examined", "target_region")
LEVEL_KEYS = ("ctdivol_mgy", "dlp_mgycm")


@dataclass(frozen=True)
class ReferenceLevel:
    """The levels of one examination and the patterns that recognise it."""

    name: str
    indication: str = ""
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    match: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """'Head (acute stroke)': the name, with the indication when there is one."""
        return f"{self.name} ({self.indication})" if self.indication else self.name

    def matches(self, facts: dict[str, list[str]]) -> bool:
        """True when every match key has a pattern matching one of the study's values."""
        for key, patterns in self.match.items():
            values = [value.upper() for value in facts.get(key, []) if value]
            if not any(
                fnmatch.fnmatchcase(value, pattern.upper())
                for value in values
                for pattern in patterns
            ):
                return False
        return True


@dataclass(frozen=True)
class ReferenceTable:
    """A named table of reference levels, where it came from, and its exams in order."""

    path: str
    name: str
    source: str
    exams: tuple[ReferenceLevel, ...]

    def exam_for(self, facts: dict[str, list[str]]) -> ReferenceLevel | None:
        """The first exam whose patterns match the study's facts, or None."""
        return next((exam for exam in self.exams if exam.matches(facts)), None)


def _fail(path: Path, text: str) -> PlanError:
    return PlanError(f"Reference level table {path}: {text}; fix the file or pick another table")


def _patterns(path: Path, where: str, key: str, value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if (
        not isinstance(items, list)
        or not items
        or not all(isinstance(item, str) and item.strip() for item in items)
    ):
        raise _fail(path, f"{where} match.{key} must be a pattern or a list of patterns")
    return tuple(item.strip() for item in items)


def _level(path: Path, where: str, data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, f"{where} {key} must be a number")
    if value <= 0:
        raise _fail(path, f"{where} {key} must be above 0")
    return float(value)


def _exam(path: Path, number: int, data: Any) -> ReferenceLevel:
    where = f"exam {number}"
    if not isinstance(data, dict):
        raise _fail(path, f"{where} is not a table")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(path, f"{where} has no name")
    where = f"exam {number} ({name.strip()})"
    unknown = set(data) - {"name", "indication", "match", *LEVEL_KEYS}
    if unknown:
        raise _fail(path, f"{where} has unknown keys {', '.join(sorted(unknown))}")
    levels = {key: _level(path, where, data, key) for key in LEVEL_KEYS}
    if all(value is None for value in levels.values()):
        raise _fail(path, f"{where} gives no level (ctdivol_mgy or dlp_mgycm)")
    match = data.get("match")
    if not isinstance(match, dict) or not match:
        raise _fail(path, f"{where} has no [exams.match] patterns")
    unknown = set(match) - set(MATCH_KEYS)
    if unknown:
        raise _fail(
            path,
            f"{where} match has unknown keys {', '.join(sorted(unknown))} "
            f"(known: {', '.join(MATCH_KEYS)})",
        )
    indication = data.get("indication", "")
    if not isinstance(indication, str):
        raise _fail(path, f"{where} indication must be text")
    return ReferenceLevel(
        name=name.strip(),
        indication=indication.strip(),
        ctdivol_mgy=levels["ctdivol_mgy"],
        dlp_mgycm=levels["dlp_mgycm"],
        match={key: _patterns(path, where, key, value) for key, value in match.items()},
    )


def load_reference_table(path: str | os.PathLike[str]) -> ReferenceTable:
    """Read and check a reference level table; PlanError (one line) when it cannot be used."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise _fail(file, f"cannot be read ({error.strerror or error})") from error
    except UnicodeDecodeError as error:
        raise _fail(file, "is not UTF-8 text") from error
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise _fail(file, f"is not valid TOML ({error})") from error
    table = document.get("table", {})
    if not isinstance(table, dict):
        raise _fail(file, "[table] must be a table")
    exams = document.get("exams")
    if not isinstance(exams, list) or not exams:
        raise _fail(file, "lists no [[exams]]")
    name = table.get("name", file.stem)
    source = table.get("source", "")
    if not isinstance(name, str) or not isinstance(source, str):
        raise _fail(file, "[table] name and source must be text")
    return ReferenceTable(
        path=str(file),
        name=name.strip() or file.stem,
        source=source.strip(),
        exams=tuple(_exam(file, number, data) for number, data in enumerate(exams, start=1)),
    )
