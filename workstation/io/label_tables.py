"""Label tables: the names (and colours) of the values of a label map, in the formats tools write.

- ITK-SNAP label descriptions: ``IDX -R- -G- -B- -A-- VIS MSH "LABEL"`` lines (colours
  0-255, alpha 0-1), ``#`` comments;
- 3D Slicer colour tables (``.ctbl``, ``.txt``): ``index name r g b a`` (0-255);
- JSON: ``{"1": "liver", ...}``, ``{"1": {"name": ..., "color": [r, g, b]}}``, a list of
  ``{"value", "name", "color"}``, nnU-Net's ``{"labels": {"liver": 1, ...}}`` and
  TotalSegmentator's class map of one task ``{"total": {"1": "spleen", ...}}``;
- CSV: ``value,name[,r,g,b]`` with an optional heading row (3D Slicer's colour table CSV too);
- the label table TotalSegmentator stores in a NIfTI header extension (Caret XML:
  ``<Label Key="1" Red="1.0" Green="0.0" Blue="0.0">name</Label>``).

A colour given as numbers above 1 is read on the 0-255 scale, else as 0-1.  Value 0 is the
background and never names a structure.  Every problem is a one-line SegmentationError.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.errors import SegmentationError

#: Largest label table file read (a real one is a few kB).
MAX_TABLE_BYTES = 16 * 1024 * 1024

_ITKSNAP_LINE = re.compile(
    r'^\s*(-?\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([-+0-9.eE]+)\s+(\d+)\s+(\d+)\s+"(.*)"\s*$'
)


@dataclass(frozen=True)
class LabelEntry:
    """The name of one label value and, when the table gives one, its RGB colour (0..1)."""

    name: str
    color: tuple[float, float, float] | None = None


LabelTable = dict[int, LabelEntry]


class _Bad(ValueError):
    """A line or entry that does not fit the format (message says which)."""


def _colour(values: list[Any], scale_255: bool | None = None) -> tuple[float, float, float]:
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        raise _Bad(f"colour {values!r} is not three numbers") from None
    if len(numbers) != 3 or any(not 0.0 <= v <= 255.0 for v in numbers):
        raise _Bad(f"colour {values!r} is not three numbers from 0 to 255 (or 0 to 1)")
    if scale_255 is None:
        scale_255 = any(v > 1.0 for v in numbers)
    if scale_255:
        numbers = [v / 255.0 for v in numbers]
    return numbers[0], numbers[1], numbers[2]


def _value(text: Any) -> int:
    if isinstance(text, bool):
        raise _Bad(f"label value {text!r} is not a whole number")
    try:
        number = float(text)
    except (TypeError, ValueError):
        raise _Bad(f"label value {text!r} is not a whole number") from None
    if not number.is_integer():
        raise _Bad(f"label value {text!r} is not a whole number")
    return int(number)


def _name(text: Any) -> str:
    name = " ".join(str(text).split()) if text is not None else ""
    if not name:
        raise _Bad("a label has an empty name")
    return name


def _add(table: LabelTable, value: int, entry: LabelEntry) -> None:
    if value != 0:
        table[value] = entry


# -- text formats ------------------------------------------------------------------------------
def parse_itksnap(text: str) -> LabelTable:
    """An ITK-SNAP label description file."""
    table: LabelTable = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _ITKSNAP_LINE.match(line)
        if match is None:
            raise _Bad(f"line {number} is not 'IDX R G B A VIS MSH \"LABEL\"'")
        colour = _colour(list(match.group(2, 3, 4)), scale_255=True)
        _add(table, int(match.group(1)), LabelEntry(_name(match.group(8)), colour))
    return table


def parse_slicer_table(text: str) -> LabelTable:
    """A 3D Slicer colour table: ``index name r g b a`` per line, ``#`` comments."""
    table: LabelTable = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 6:
            raise _Bad(f"line {number} is not 'index name r g b a'")
        try:
            value = _value(parts[0])
            colour = _colour(parts[-4:-1], scale_255=True)
        except _Bad as problem:
            raise _Bad(f"line {number}: {problem}") from None
        _add(table, value, LabelEntry(_name(" ".join(parts[1:-4])), colour))
    return table


def parse_csv(text: str) -> LabelTable:
    """CSV rows ``value,name[,r,g,b[,a]]``; a first row that is not a value is a heading."""
    table: LabelTable = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [cell.strip() for cell in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        try:
            value = _value(cells[0])
        except _Bad:
            if number == 1:
                continue  # the heading
            raise _Bad(f"row {number}: {cells[0]!r} is not a label value") from None
        if len(cells) < 2:
            raise _Bad(f"row {number} has no name")
        try:
            colour = _colour(cells[2:5]) if len(cells) >= 5 and all(cells[2:5]) else None
        except _Bad as problem:
            raise _Bad(f"row {number}: {problem}") from None
        _add(table, value, LabelEntry(_name(cells[1]), colour))
    return table


# -- JSON ----------------------------------------------------------------------------------------
def _json_entry(value: Any) -> LabelEntry:
    if isinstance(value, str):
        return LabelEntry(_name(value))
    if isinstance(value, dict) and "name" in value:
        colour = value.get("color", value.get("colour", value.get("rgb")))
        return LabelEntry(_name(value["name"]), None if colour is None else _colour(colour[:3]))
    raise _Bad(f"entry {json.dumps(value)[:60]} is neither a name nor {{'name', 'color'}}")


def _json_mapping(data: dict[str, Any]) -> LabelTable:
    table: LabelTable = {}
    values = list(data.values())
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        for name, value in data.items():  # nnU-Net: {"liver": 1}
            _add(table, _value(value), LabelEntry(_name(name)))
        return table
    for key, value in data.items():
        _add(table, _value(key), _json_entry(value))
    return table


def parse_json(text: str) -> LabelTable:
    """The JSON forms listed in the module's docstring."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as problem:
        raise _Bad(f"not JSON (line {problem.lineno}: {problem.msg})") from None
    if isinstance(data, dict) and isinstance(data.get("labels"), dict | list):
        data = data["labels"]
    if isinstance(data, list):
        table: LabelTable = {}
        for item in data:
            if not isinstance(item, dict):
                raise _Bad("a list entry must be {'value', 'name'[, 'color']}")
            key = next((k for k in ("value", "label", "index", "id") if k in item), None)
            if key is None:
                raise _Bad("a list entry has no 'value'")
            _add(table, _value(item[key]), _json_entry(item))
        return table
    if not isinstance(data, dict):
        raise _Bad("must be an object of value: name, or a list of entries")
    tasks = [key for key, value in data.items() if isinstance(value, dict) and "name" not in value]
    if tasks and len(tasks) == len(data):  # TotalSegmentator's class_map: {task: {value: name}}
        if len(tasks) > 1:
            raise _Bad(f"holds the class maps of {len(tasks)} tasks ({', '.join(tasks)}); keep one")
        return _json_mapping(data[tasks[0]])
    return _json_mapping(data)


# -- NIfTI header extension ------------------------------------------------------------------
def parse_caret_xml(content: bytes) -> LabelTable:
    """The Caret label table XML TotalSegmentator writes into a NIfTI header extension."""
    try:
        root = ElementTree.fromstring(content.rstrip(b"\0 \n\t"))
    except ElementTree.ParseError as problem:
        raise _Bad(f"label table XML is broken ({problem})") from None
    table: LabelTable = {}
    for label in root.iter("Label"):
        colour_values = [label.get(part) for part in ("Red", "Green", "Blue")]
        colour = None if None in colour_values else _colour(colour_values, scale_255=False)
        _add(table, _value(label.get("Key")), LabelEntry(_name(label.text), colour))
    return table


def is_caret_label_table(content: bytes) -> bool:
    """True when a NIfTI header extension holds a Caret (TotalSegmentator) label table."""
    return b"<CaretExtension" in content[:4096] and b"<LabelTable" in content


# -- files -----------------------------------------------------------------------------------------
def _format_of(path: Path, text: str) -> str:
    lowered = path.name.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith(".ctbl"):
        return "slicer"
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if any('"' in line for line in lines):
        return "itksnap"
    if lines and "," in lines[0]:
        return "csv"
    if text.lstrip().startswith(("{", "[")):
        return "json"
    return "slicer"


PARSERS = {
    "itksnap": parse_itksnap,
    "slicer": parse_slicer_table,
    "csv": parse_csv,
    "json": parse_json,
}


def read_label_table(path: str | os.PathLike[str]) -> LabelTable:
    """The label table in ``path`` (format from its extension, else from its content)."""
    source = Path(path)
    try:
        if source.stat().st_size > MAX_TABLE_BYTES:
            raise SegmentationError(f"label table {source.name} is too large to be a label table")
        raw = source.read_bytes()
    except OSError as problem:
        raise SegmentationError(
            f"cannot read the label table {source}: {problem.strerror or problem}"
        ) from None
    text = raw.decode("utf-8-sig", errors="replace")
    kind = _format_of(source, text)
    try:
        table = PARSERS[kind](text)
    except _Bad as problem:
        raise SegmentationError(f"label table {source.name}: {problem}") from None
    if not table:
        raise SegmentationError(f"label table {source.name} names no label")
    return table


def entry_for(value: int, table: LabelTable | None) -> LabelEntry:
    """The table's entry of ``value``, or "Label N" without a colour."""
    if table and value in table:
        return table[value]
    return LabelEntry(f"Label {value}")
