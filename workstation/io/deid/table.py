"""PS3.15 Table E.1-1 and the workstation's option lists, loaded from the bundled resources."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydicom.datadict import tag_for_keyword

from workstation.core.errors import DeidentificationError
from workstation.resources_path import resources_dir

TABLE_FILE = "ps3.15-e1-1-2026c.tsv"
OPTIONS_FILE = "options.toml"
ACTIONS = frozenset({"D", "Z", "X", "U", "X/D", "X/Z", "X/Z/D", "X/Z/U*", "Z/D"})


@dataclass(frozen=True)
class ProfileRule:
    """One row: the tag (with ``mask`` for repeating groups), its action and name."""

    tag: int
    mask: int
    action: str
    name: str

    def matches(self, tag: int) -> bool:
        """Whether ``tag`` is this row's attribute."""
        return (tag & self.mask) == self.tag


@dataclass(frozen=True)
class SafePrivate:
    """Private attributes kept under Retain Safe Private: creator, group, element bytes."""

    creator: str
    group: int
    elements: frozenset[int]


@dataclass(frozen=True)
class ProfileTable:
    """The basic profile (exact tags and masked rows) and our option lists."""

    edition: str
    rules: tuple[ProfileRule, ...]
    by_tag: dict[int, str]
    masked: tuple[ProfileRule, ...]
    keep: dict[str, frozenset[int]]
    clean: frozenset[int]
    safe_private: tuple[SafePrivate, ...]

    def action(self, tag: int) -> str | None:
        """The basic action for ``tag``, or None if the table does not list it."""
        found = self.by_tag.get(tag)
        if found is None and (tag >> 24) in (0x50, 0x60):
            for rule in self.masked:
                if rule.matches(tag):
                    return rule.action
        return found


def deid_resources() -> Path:
    """The folder of the de-identification table and options."""
    return resources_dir() / "deidentification"


def _parse_tag(text: str) -> tuple[int, int]:
    """(tag, mask) of 'gggg,eeee' where x digits match anything."""
    digits = text.replace(",", "").strip().lower()
    if len(digits) != 8:
        raise ValueError(text)
    value = int(digits.replace("x", "0"), 16)
    mask = int("".join("0" if c == "x" else "f" for c in digits), 16)
    return value, mask


def _edition(lines: list[str]) -> str:
    """The edition named in the header comment, e.g. '2026c'."""
    for line in lines:
        if line.startswith("#") and "edition" in line:
            after = line.split("edition", 1)[1].split(")")[0].strip()
            if after:
                return after
    raise ValueError("no edition in the table header")


def _keywords(names: list[str], where: str) -> frozenset[int]:
    """The tags of DICOM keywords or 'gggg,eeee'; an unknown keyword is a damaged resource."""
    tags = set()
    for name in names:
        tag = int(name.replace(",", ""), 16) if "," in name else tag_for_keyword(name)
        if tag is None:
            raise DeidentificationError(f"{OPTIONS_FILE}: unknown keyword {name} in {where}.")
        tags.add(int(tag))
    return frozenset(tags)


def parse_table(text: str, options_text: str) -> ProfileTable:
    """The table from the TSV text and the option lists from the TOML text."""
    lines = text.splitlines()
    rules: list[ProfileRule] = []
    for number, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#") or line.startswith("tag\t"):
            continue
        fields = line.split("\t")
        try:
            tag, mask = _parse_tag(fields[0])
            action = fields[1].strip()
            if action not in ACTIONS:
                raise ValueError(action)
        except (ValueError, IndexError):
            raise DeidentificationError(f"{TABLE_FILE} line {number} is damaged.") from None
        rules.append(ProfileRule(tag, mask, action, fields[2].strip() if len(fields) > 2 else ""))
    try:
        edition = _edition(lines)
        options = tomllib.loads(options_text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        message = f"The de-identification resources are damaged: {error}"
        raise DeidentificationError(message) from None
    keep = {name: _keywords(options.get(name, {}).get("keep", []), name)
            for name in ("retain-patient-characteristics", "retain-device-identity")}  # fmt: skip
    clean = _keywords(options.get("clean-descriptors", {}).get("clean", []), "clean-descriptors")
    safe = tuple(
        SafePrivate(
            entry["creator"],
            int(entry["group"], 16),
            frozenset(int(element, 16) for element in entry["elements"]),
        )
        for entry in options.get("safe-private", [])
    )
    exact = {rule.tag: rule.action for rule in rules if rule.mask == 0xFFFFFFFF}
    masked = tuple(rule for rule in rules if rule.mask != 0xFFFFFFFF)
    return ProfileTable(edition, tuple(rules), exact, masked, keep, clean, safe)


@functools.cache
def load_table() -> ProfileTable:
    """The bundled table (read once per process)."""
    folder = deid_resources()
    try:
        text = (folder / TABLE_FILE).read_text(encoding="utf-8")
        options_text = (folder / OPTIONS_FILE).read_text(encoding="utf-8")
    except OSError as error:
        raise DeidentificationError(f"The de-identification table is missing: {error}") from None
    return parse_table(text, options_text)
