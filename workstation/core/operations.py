"""Segmentation operations as data: the JSON records, their schema and their validation.

An operation is a JSON object ``{"op": NAME, ...}`` whose geometry is in patient LPS
millimetres (never voxel indices), so the same list applied to the same series gives the
same voxels.  ``parse_operations`` turns a file's content into normalised records (every
optional field filled in) or raises ``OperationError`` naming the operation's 0-based
index.  The names and fields are a stable interface: users keep scripts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workstation.core.errors import SegmentationError

Record = dict[str, Any]


class OperationError(SegmentationError):
    """An operation that cannot be read or applied; the message names its index."""

    def __init__(self, index: int | None, op: str, message: str) -> None:
        where = "operations file" if index is None else f"operation {index}"
        label = f" ({op})" if op else ""
        super().__init__(f"{where}{label}: {message}")
        self.index = index
        self.op = op
        self.reason = message


class _Invalid(ValueError):
    """A field value that does not fit its schema (message says which and why)."""


# -- field checkers ---------------------------------------------------------------------
def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _Invalid(f"{name} must be a finite number, got {json.dumps(value)}")
    return float(value)


def _positive(value: Any, name: str) -> float:
    number = _number(value, name)
    if number <= 0:
        raise _Invalid(f"{name} must be greater than 0, got {number:g}")
    return number


def _non_negative(value: Any, name: str) -> float:
    number = _number(value, name)
    if number < 0:
        raise _Invalid(f"{name} cannot be negative, got {number:g}")
    return number


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(f"{name} must be a non-empty text, got {json.dumps(value)}")
    return value.strip()


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(f"{name} must be true or false, got {json.dumps(value)}")
    return value


def _point(value: Any, name: str) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise _Invalid(f"{name} must be a point [x, y, z] in LPS mm, got {json.dumps(value)}")
    return [_number(v, name) for v in value]


def _points(value: Any, name: str, minimum: int = 1) -> list[list[float]]:
    if not isinstance(value, list) or len(value) < minimum:
        raise _Invalid(f"{name} must be a list of at least {minimum} point(s) [x, y, z]")
    return [_point(v, f"{name}[{i}]") for i, v in enumerate(value)]


def _direction(value: Any, name: str) -> list[float]:
    vector = _point(value, name)
    length = math.sqrt(sum(v * v for v in vector))
    if length < 1e-9:
        raise _Invalid(f"{name} must be a non-zero direction")
    return [v / length for v in vector]


def _colour(value: Any, name: str) -> list[float]:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise _Invalid(f"{name} must be [r, g, b] with values from 0 to 1")
    colour = [_number(v, name) for v in value]
    if any(not 0.0 <= v <= 1.0 for v in colour):
        raise _Invalid(f"{name} values must lie from 0 to 1 (as Slicer writes them), got {value}")
    return colour


def _range(value: Any, name: str) -> list[float] | None:
    if value is None:
        return None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise _Invalid(f"{name} must be [low, high] or null, got {json.dumps(value)}")
    low, high = _number(value[0], name), _number(value[1], name)
    if low > high:
        raise _Invalid(f"{name} low {low:g} is above high {high:g}")
    return [low, high]


def _optional_number(value: Any, name: str) -> float | None:
    return None if value is None else _number(value, name)


def _optional_positive(value: Any, name: str) -> float | None:
    return None if value is None else _positive(value, name)


def _choice(*choices: str) -> Callable[[Any, str], str]:
    def check(value: Any, name: str) -> str:
        if value not in choices:
            raise _Invalid(f"{name} must be one of {', '.join(choices)}, got {json.dumps(value)}")
        return str(value)

    return check


def _coded(value: Any, name: str) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not {"value", "scheme", "meaning"} <= set(value):
        raise _Invalid(f"{name} must be {{'value', 'scheme', 'meaning'}} or null")
    return {key: _text(value[key], f"{name}.{key}") for key in ("value", "scheme", "meaning")}


def _seeds(value: Any, name: str) -> dict[str, list[list[float]]]:
    if not isinstance(value, dict) or not value:
        raise _Invalid(f"{name} must map segment names to lists of points")
    return {
        _text(key, f"{name} key"): _points(points, f"{name}[{key!r}]")
        for key, points in value.items()
    }


def _index(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Invalid(f"{name} must be a whole number from 0, got {json.dumps(value)}")
    return int(value)


_REQUIRED = object()
Field = tuple[Callable[[Any, str], Any], Any]  # (checker, default or _REQUIRED)

#: Every operation: its fields with their checker and default.  The order is the order
#: the fields are written back.
SCHEMAS: dict[str, dict[str, Field]] = {
    "add_segment": {
        "name": (_text, _REQUIRED),
        "color": (lambda v, n: None if v is None else _colour(v, n), None),
        "category": (_coded, None),
        "type": (_coded, None),
    },
    "remove_segment": {"segment": (_text, _REQUIRED)},
    "rename_segment": {"segment": (_text, _REQUIRED), "name": (_text, _REQUIRED)},
    "duplicate_segment": {"segment": (_text, _REQUIRED), "name": (_text, _REQUIRED)},
    "move_segment": {"segment": (_text, _REQUIRED), "index": (_index, _REQUIRED)},
    "set_segment": {
        "segment": (_text, _REQUIRED),
        "color": (lambda v, n: None if v is None else _colour(v, n), None),
        "visible": (lambda v, n: None if v is None else _boolean(v, n), None),
        "opacity": (lambda v, n: None if v is None else _unit(v, n), None),
        "locked": (lambda v, n: None if v is None else _boolean(v, n), None),
        "category": (_coded, None),
        "type": (_coded, None),
    },
    "threshold": {
        "segment": (_text, _REQUIRED),
        "lower": (_number, _REQUIRED),
        "upper": (_optional_number, None),
    },
    "paint": {
        "segment": (_text, _REQUIRED),
        "points_lps": (_points, _REQUIRED),
        "radius_mm": (_positive, _REQUIRED),
        "shape": (_choice("sphere", "disc"), "sphere"),
        "plane_normal_lps": (lambda v, n: None if v is None else _direction(v, n), None),
        "erase": (_boolean, False),
        "intensity_range": (_range, None),
    },
    "scissors": {
        "segment": (_text, _REQUIRED),
        "polygon_lps": (lambda v, n: _points(v, n, minimum=3), _REQUIRED),
        "direction_lps": (_direction, _REQUIRED),
        "mode": (_choice("erase_inside", "erase_outside", "fill_inside"), _REQUIRED),
        "depth_mm": (_optional_positive, None),
    },
    "islands": {
        "segment": (_text, _REQUIRED),
        "mode": (_choice("keep_largest", "keep_seed", "remove_small", "split"), _REQUIRED),
        "seed_lps": (lambda v, n: None if v is None else _point(v, n), None),
        "min_mm3": (lambda v, n: None if v is None else _non_negative(v, n), None),
    },
    "grow_from_seeds": {
        "seeds": (_seeds, _REQUIRED),
        "intensity_range": (_range, None),
    },
    "interpolate": {"segment": (_text, _REQUIRED)},
    "morphology": {
        "segment": (_text, _REQUIRED),
        "operation": (_choice("dilate", "erode", "open", "close"), _REQUIRED),
        "radius_mm": (_positive, _REQUIRED),
    },
    "fill_holes": {"segment": (_text, _REQUIRED)},
    "smooth": {"segment": (_text, _REQUIRED), "radius_mm": (_positive, _REQUIRED)},
    "logical": {
        "segment": (_text, _REQUIRED),
        "other": (_text, _REQUIRED),
        "operation": (_choice("union", "subtract", "intersect"), _REQUIRED),
    },
}


def _unit(value: Any, name: str) -> float:
    number = _number(value, name)
    if not 0.0 <= number <= 1.0:
        raise _Invalid(f"{name} must lie from 0 to 1, got {number:g}")
    return number


def _cross_checks(record: Record) -> None:
    """Rules that involve more than one field."""
    op = record["op"]
    if op == "paint" and record["shape"] == "disc" and record["plane_normal_lps"] is None:
        raise _Invalid("a disc brush needs plane_normal_lps")
    if op == "islands":
        if record["mode"] == "keep_seed" and record["seed_lps"] is None:
            raise _Invalid("mode keep_seed needs seed_lps")
        if record["mode"] == "remove_small" and record["min_mm3"] is None:
            raise _Invalid("mode remove_small needs min_mm3")
    if op == "threshold" and record["upper"] is not None and record["upper"] < record["lower"]:
        raise _Invalid(f"upper {record['upper']:g} is below lower {record['lower']:g}")
    if op == "logical" and record["segment"] == record["other"]:
        raise _Invalid("segment and other must be two different segments")


def normalise(raw: Any, index: int | None = None) -> Record:
    """One validated record with every field present; OperationError otherwise."""
    if not isinstance(raw, dict):
        raise OperationError(index, "", f"must be a JSON object, got {json.dumps(raw)[:60]}")
    op = raw.get("op")
    if not isinstance(op, str) or op not in SCHEMAS:
        known = ", ".join(SCHEMAS)
        raise OperationError(index, "", f"unknown operation {json.dumps(op)}; known: {known}")
    schema = SCHEMAS[op]
    unknown = sorted(set(raw) - set(schema) - {"op"})
    if unknown:
        raise OperationError(index, op, f"unknown field(s) {', '.join(unknown)}")
    record: Record = {"op": op}
    try:
        for name, (check, default) in schema.items():
            if name not in raw or (raw[name] is None and default is not _REQUIRED):
                if default is _REQUIRED:
                    raise _Invalid(f"{name} is missing")
                record[name] = default
            else:
                record[name] = check(raw[name], name)
        _cross_checks(record)
    except _Invalid as problem:
        raise OperationError(index, op, str(problem)) from None
    return record


def parse_operations(data: Any) -> tuple[list[Record], list[Record]]:
    """(segments, operations) of ``{"segments": [...], "operations": [...]}`` or a list.

    Entries of ``segments`` are ``add_segment`` records without the ``op`` key; they are
    applied before the operations.  Indices in errors count the operations only.
    """
    if isinstance(data, list):
        segments_raw: list[Any] = []
        operations_raw = data
    elif isinstance(data, dict):
        unknown = sorted(set(data) - {"segments", "operations"})
        if unknown:
            raise OperationError(None, "", f"unknown key(s) {', '.join(unknown)}")
        segments_raw = data.get("segments", [])
        operations_raw = data.get("operations", [])
        if not isinstance(segments_raw, list) or not isinstance(operations_raw, list):
            raise OperationError(None, "", "segments and operations must be lists")
    else:
        raise OperationError(
            None, "", 'must be {"segments": [...], "operations": [...]} or a list of operations'
        )
    segments = []
    for number, entry in enumerate(segments_raw):
        if not isinstance(entry, dict):
            raise OperationError(None, "", f"segments[{number}] must be a JSON object")
        try:
            segments.append(normalise({"op": "add_segment", **entry}))
        except OperationError as problem:
            raise OperationError(
                None, "add_segment", f"segments[{number}]: {problem.reason}"
            ) from None
    operations = [normalise(raw, index) for index, raw in enumerate(operations_raw)]
    return segments, operations


def read_operations(path: str | Path) -> tuple[list[Record], list[Record]]:
    """Parse an OPS.json file; OperationError (one line) for unreadable or invalid files."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise OperationError(None, "", f"cannot read {path}: {problem}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as problem:
        raise OperationError(
            None,
            "",
            f"{path} is not JSON (line {problem.lineno}, column {problem.colno}: {problem.msg})",
        ) from None
    return parse_operations(data)


def operations_document(operations: list[Record]) -> dict[str, Any]:
    """The JSON document the GUI exports: ``{"segments": [], "operations": [...]}``."""
    return {"segments": [], "operations": [dict(record) for record in operations]}


# -- importing a segmentation file ----------------------------------------------------------
def _sha256(value: Any, name: str) -> str:
    text = _text(value, name).lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise _Invalid(f"{name} must be 64 hexadecimal digits (a SHA-256), got {json.dumps(value)}")
    return text


def _names(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise _Invalid(f"{name} must be a non-empty list of segment names or null")
    return [_text(item, f"{name}[{index}]") for index, item in enumerate(value)]


#: ``import_segmentation``: add the segments of a .seg.nrrd/.nrrd/.nii(.gz) file (all, or
#: those called ``names``); ``sha256`` is the file's, so a replay of a changed file fails.
SCHEMAS["import_segmentation"] = {
    "path": (_text, _REQUIRED),
    "sha256": (_sha256, _REQUIRED),
    "label_table": (lambda v, n: None if v is None else _text(v, n), None),
    "names": (_names, None),
}
