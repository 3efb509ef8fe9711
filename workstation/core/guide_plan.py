"""A surgical guide's plan (PLAN.json): bone, contact region, sleeves and slots, validated.

The plan is the one object the command line reads and the window stores in a project
(a guide planning object's ``plan``).  Coordinates are patient LPS millimetres.
``parse_plan`` checks everything that can be checked without the bone (types, finite
numbers, positive sizes, outer diameter larger than the inner one, non-zero directions)
and raises ``GuidePlanError`` with one line naming the key; ``GuidePlan.to_dict`` gives
the PLAN.json object back (``parse_plan(plan.to_dict()) == plan``).  What needs the bone
(the region holds bone surface, a sleeve entry lies in the region) is checked when the
guide is built.

Meanings, so that a plan means one thing:

- ``insertion_direction_lps``: the direction in which the guide moves while it is placed
  onto the bone (towards the bone); stored as a unit vector.
- a sleeve's ``entry_lps`` lies on or near the bone surface inside the region,
  ``target_lps`` deeper in the bone; ``height_mm`` is measured from the base's outer
  surface along the axis.
- a slot's ``point_lps`` is where the planned cut meets the bone surface, ``normal_lps``
  the cut plane's normal (stored as a unit vector); ``width_mm`` is the gap across the
  plane, ``length_mm`` runs along the bone surface within the plane, ``depth_mm`` is the
  height of the slot housing above the base's outer surface.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workstation.core.errors import GuidePlanError

Point = tuple[float, float, float]

#: Fit clearance between guide and bone by printing process, mm (values users of
#: BoneReconstructionPlanner report for SLA resin and FDM filament prints).
CLEARANCE_PRESETS: dict[str, float] = {"SLA": 0.25, "FDM": 0.4}

#: Wall thickness of the guide base when the plan gives none, mm.
DEFAULT_THICKNESS_MM = 3.0

#: Fit clearance when the plan gives none: the SLA preset, mm.
DEFAULT_CLEARANCE_MM = CLEARANCE_PRESETS["SLA"]

#: A sleeve shorter than this (entry to target) has no direction, mm.
MIN_SLEEVE_LENGTH_MM = 1e-3

#: Keys of the PLAN.json object (bone and region are required).
PLAN_KEYS = (
    "bone",
    "region",
    "thickness_mm",
    "clearance_mm",
    "insertion_direction_lps",
    "sleeves",
    "slots",
)
_REQUIRED = ("bone", "region")
_SLEEVE_KEYS = ("entry_lps", "target_lps", "inner_diameter_mm", "outer_diameter_mm", "height_mm")
_SLOT_KEYS = ("point_lps", "normal_lps", "width_mm", "length_mm", "depth_mm")
_BONE_KEYS = ("path", "project", "model")
_REGION_FORMS = ("sphere", "brush", "spheres")


@dataclass(frozen=True)
class BoneReference:
    """Which bone the guide seats on: a mesh file, a project's model, or an open case's model.

    ``path`` (a mesh file) or ``project`` + ``model`` (a model of a .wsproj file) or
    ``model`` alone (a model of the case open in the window).  Relative paths resolve
    against the plan's folder (``GuidePlan.base_dir``).
    """

    path: str | None = None
    project: str | None = None
    model: str | None = None

    @property
    def kind(self) -> str:
        """The form: "file", "project" or "session" (a model of the open case)."""
        if self.path is not None:
            return "file"
        return "project" if self.project is not None else "session"

    def to_value(self) -> str | dict[str, str]:
        """The PLAN.json value: the path as a string, else {"project"?, "model"}."""
        if self.path is not None:
            return self.path
        value = {"project": self.project} if self.project is not None else {}
        return {**value, "model": str(self.model)}

    def describe(self) -> str:
        """The reference in words, for messages."""
        if self.path is not None:
            return self.path
        if self.project is not None:
            return f"model {self.model!r} of {self.project}"
        return f"model {self.model!r} of the open case"


@dataclass(frozen=True)
class Region:
    """The contact region: the union of spheres (center LPS mm, radius mm)."""

    spheres: tuple[tuple[Point, float], ...]

    def contains(self, points: np.ndarray) -> np.ndarray:
        """A boolean per point (N, 3): inside (or on) at least one sphere."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        inside = np.zeros(len(points), dtype=bool)
        for center, radius in self.spheres:
            offsets = points - np.asarray(center)
            inside |= np.einsum("ij,ij->i", offsets, offsets) <= radius * radius
        return inside

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """LPS (min, max) of the box holding every sphere."""
        centers = np.array([center for center, _ in self.spheres], dtype=np.float64)
        radii = np.array([radius for _, radius in self.spheres], dtype=np.float64)[:, None]
        return (centers - radii).min(axis=0), (centers + radii).max(axis=0)

    def to_value(self) -> dict[str, Any]:
        """The PLAN.json value: one sphere, a brush (one radius) or a list of spheres."""
        if len(self.spheres) == 1:
            center, radius = self.spheres[0]
            return {"sphere": {"center_lps": list(center), "radius_mm": radius}}
        radii = {radius for _, radius in self.spheres}
        if len(radii) == 1:
            points = [list(center) for center, _ in self.spheres]
            return {"brush": {"radius_mm": radii.pop(), "points_lps": points}}
        return {
            "spheres": [
                {"center_lps": list(center), "radius_mm": radius} for center, radius in self.spheres
            ]
        }


@dataclass(frozen=True)
class Sleeve:
    """A drill sleeve along the planned line entry → target (diameters and height in mm)."""

    entry_lps: Point
    target_lps: Point
    inner_diameter_mm: float
    outer_diameter_mm: float
    height_mm: float
    name: str = ""

    @property
    def axis(self) -> np.ndarray:
        """The unit direction from entry to target (into the bone)."""
        vector = np.subtract(self.target_lps, self.entry_lps, dtype=np.float64)
        return vector / float(np.linalg.norm(vector))

    def to_dict(self) -> dict[str, Any]:
        """The PLAN.json object of the sleeve."""
        record: dict[str, Any] = {
            "entry_lps": list(self.entry_lps),
            "target_lps": list(self.target_lps),
            "inner_diameter_mm": self.inner_diameter_mm,
            "outer_diameter_mm": self.outer_diameter_mm,
            "height_mm": self.height_mm,
        }
        if self.name:
            record["name"] = self.name
        return record


@dataclass(frozen=True)
class Slot:
    """A saw slot where the planned cut plane meets the bone (sizes in mm, unit normal)."""

    point_lps: Point
    normal_lps: Point
    width_mm: float
    length_mm: float
    depth_mm: float
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The PLAN.json object of the slot."""
        record: dict[str, Any] = {
            "point_lps": list(self.point_lps),
            "normal_lps": list(self.normal_lps),
            "width_mm": self.width_mm,
            "length_mm": self.length_mm,
            "depth_mm": self.depth_mm,
        }
        if self.name:
            record["name"] = self.name
        return record


@dataclass(frozen=True)
class GuidePlan:
    """Everything a guide is built from; ``base_dir`` is where relative paths resolve.

    ``base_dir`` (the plan file's folder) is not part of the PLAN.json object and does
    not take part in comparisons.
    """

    bone: BoneReference
    region: Region
    thickness_mm: float
    clearance_mm: float
    insertion_direction_lps: Point | None
    sleeves: tuple[Sleeve, ...]
    slots: tuple[Slot, ...]
    base_dir: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The PLAN.json object (plain JSON types)."""
        record: dict[str, Any] = {
            "bone": self.bone.to_value(),
            "region": self.region.to_value(),
            "thickness_mm": self.thickness_mm,
            "clearance_mm": self.clearance_mm,
        }
        if self.insertion_direction_lps is not None:
            record["insertion_direction_lps"] = list(self.insertion_direction_lps)
        record["sleeves"] = [sleeve.to_dict() for sleeve in self.sleeves]
        record["slots"] = [slot.to_dict() for slot in self.slots]
        return record


# -- parsing ------------------------------------------------------------------------------
def _fail(key: str, why: str) -> GuidePlanError:
    return GuidePlanError(f"Guide plan: {key} {why}.")


def _object(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(key, f"must be a JSON object, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false"}
    if value is None:
        return "null"
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return f"the number {value!r}" if isinstance(value, int | float) else type(value).__name__


def _keys(
    record: dict[str, Any], key: str, allowed: tuple[str, ...], required: tuple[str, ...]
) -> None:
    """Refuse unknown and missing keys of ``record`` (named ``key`` in messages)."""
    unknown = [name for name in record if name not in allowed]
    if unknown:
        listed = ", ".join(repr(str(name)) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise _fail(key, f"has unknown key{plural} {listed} (known: {', '.join(allowed)})")
    missing = [name for name in required if name not in record]
    if missing:
        raise _fail(key, f"misses {', '.join(missing)}")


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(key, f"must be a number, got {_kind(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise _fail(key, f"must be a finite number, got {value!r}")
    return number


def _size(value: Any, key: str) -> float:
    number = _number(value, key)
    if number <= 0:
        raise _fail(key, f"must be a size larger than 0 mm, got {number:g}")
    return number


def _point(value: Any, key: str) -> Point:
    if not isinstance(value, list | tuple) or len(value) != 3:
        raise _fail(key, f"must be three numbers [x, y, z], got {_kind(value)}")
    x, y, z = (_number(item, f"{key}[{index}]") for index, item in enumerate(value))
    return x, y, z


def _unit(value: Any, key: str) -> Point:
    x, y, z = _point(value, key)
    length = math.sqrt(x * x + y * y + z * z)
    if length < 1e-12:
        raise _fail(key, "must be a direction, got the zero vector")
    if abs(length - 1.0) < 1e-12:  # already unit: keep it exactly (stable round trip)
        return x, y, z
    return x / length, y / length, z / length


def _name(record: dict[str, Any], key: str) -> str:
    value = record.get("name", "")
    if not isinstance(value, str):
        raise _fail(f"{key}.name", f"must be text, got {_kind(value)}")
    return value


def _text(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(key, f"must be a non-empty text, got {_kind(value)}")
    return value


def parse_bone(value: Any) -> BoneReference:
    """The bone reference: "BONE.stl", {"project": ..., "model": ...} or {"model": ...}."""
    if isinstance(value, str):
        return BoneReference(path=_text(value, "bone"))
    record = _object(value, "bone")
    _keys(record, "bone", _BONE_KEYS, ())
    if "path" in record:
        if len(record) > 1:
            raise _fail("bone", "gives a path or a model, not both")
        return BoneReference(path=_text(record["path"], "bone.path"))
    if "model" not in record:
        raise _fail("bone", 'misses model (give "BONE.stl" or {"project": ..., "model": ...})')
    model = _text(record["model"], "bone.model")
    project = record.get("project")
    return BoneReference(
        project=None if project is None else _text(project, "bone.project"), model=model
    )


def _sphere(value: Any, key: str) -> tuple[Point, float]:
    record = _object(value, key)
    _keys(record, key, ("center_lps", "radius_mm"), ("center_lps", "radius_mm"))
    return (
        _point(record["center_lps"], f"{key}.center_lps"),
        _size(record["radius_mm"], f"{key}.radius_mm"),
    )


def parse_region(value: Any) -> Region:
    """The region: {"sphere": {...}}, {"brush": {"radius_mm", "points_lps"}} or {"spheres": []}."""
    record = _object(value, "region")
    _keys(record, "region", _REGION_FORMS, ())
    if len(record) != 1:
        raise _fail("region", f"must have one of {', '.join(_REGION_FORMS)}, got {len(record)}")
    form, body = next(iter(record.items()))
    if form == "sphere":
        return Region((_sphere(body, "region.sphere"),))
    if form == "spheres":
        if not isinstance(body, list) or not body:
            raise _fail("region.spheres", f"must be a non-empty list, got {_kind(body)}")
        return Region(tuple(_sphere(item, f"region.spheres[{i}]") for i, item in enumerate(body)))
    brush = _object(body, "region.brush")
    _keys(brush, "region.brush", ("radius_mm", "points_lps"), ("radius_mm", "points_lps"))
    radius = _size(brush["radius_mm"], "region.brush.radius_mm")
    points = brush["points_lps"]
    if not isinstance(points, list) or not points:
        raise _fail("region.brush.points_lps", f"must be a non-empty list, got {_kind(points)}")
    return Region(
        tuple(
            (_point(item, f"region.brush.points_lps[{i}]"), radius) for i, item in enumerate(points)
        )
    )


def parse_sleeve(value: Any, key: str = "sleeve") -> Sleeve:
    """One sleeve object; GuidePlanError naming ``key`` and the field."""
    record = _object(value, key)
    _keys(record, key, (*_SLEEVE_KEYS, "name"), _SLEEVE_KEYS)
    entry = _point(record["entry_lps"], f"{key}.entry_lps")
    target = _point(record["target_lps"], f"{key}.target_lps")
    if math.dist(entry, target) < MIN_SLEEVE_LENGTH_MM:
        raise _fail(key, "has its target_lps at its entry_lps: a sleeve needs a direction")
    inner = _size(record["inner_diameter_mm"], f"{key}.inner_diameter_mm")
    outer = _size(record["outer_diameter_mm"], f"{key}.outer_diameter_mm")
    if outer <= inner:
        raise _fail(
            f"{key}.outer_diameter_mm",
            f"({outer:g}) must be larger than inner_diameter_mm ({inner:g})",
        )
    height = _size(record["height_mm"], f"{key}.height_mm")
    return Sleeve(entry, target, inner, outer, height, _name(record, key))


def parse_slot(value: Any, key: str = "slot") -> Slot:
    """One slot object; GuidePlanError naming ``key`` and the field."""
    record = _object(value, key)
    _keys(record, key, (*_SLOT_KEYS, "name"), _SLOT_KEYS)
    return Slot(
        _point(record["point_lps"], f"{key}.point_lps"),
        _unit(record["normal_lps"], f"{key}.normal_lps"),
        _size(record["width_mm"], f"{key}.width_mm"),
        _size(record["length_mm"], f"{key}.length_mm"),
        _size(record["depth_mm"], f"{key}.depth_mm"),
        _name(record, key),
    )


def _items(record: dict[str, Any], key: str) -> list[Any]:
    value = record.get(key, [])
    if not isinstance(value, list):
        raise _fail(key, f"must be a list, got {_kind(value)}")
    return value


def parse_plan(record: Any, base_dir: str | None = None) -> GuidePlan:
    """Check a PLAN.json object and return the plan; GuidePlanError, one line naming the key.

    ``thickness_mm`` defaults to ``DEFAULT_THICKNESS_MM`` (3 mm), ``clearance_mm`` to
    ``DEFAULT_CLEARANCE_MM`` (0.25 mm, the SLA preset); ``sleeves`` and ``slots`` to
    none.  Every size must be larger than 0 (a clearance of 0 too: a guide without
    clearance does not seat).
    """
    plan = _object(record, "the plan")
    _keys(plan, "the plan", PLAN_KEYS, _REQUIRED)
    thickness = _size(plan.get("thickness_mm", DEFAULT_THICKNESS_MM), "thickness_mm")
    clearance = _size(plan.get("clearance_mm", DEFAULT_CLEARANCE_MM), "clearance_mm")
    direction = plan.get("insertion_direction_lps")
    return GuidePlan(
        bone=parse_bone(plan["bone"]),
        region=parse_region(plan["region"]),
        thickness_mm=thickness,
        clearance_mm=clearance,
        insertion_direction_lps=(
            None if direction is None else _unit(direction, "insertion_direction_lps")
        ),
        sleeves=tuple(
            parse_sleeve(item, f"sleeves[{i}]") for i, item in enumerate(_items(plan, "sleeves"))
        ),
        slots=tuple(
            parse_slot(item, f"slots[{i}]") for i, item in enumerate(_items(plan, "slots"))
        ),
        base_dir=base_dir,
    )
