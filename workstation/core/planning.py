"""Planning objects of a case, Qt-free: points, lines, planes and guides in LPS mm.

The surgeon places landmarks (points), drill trajectories (lines: entry and target),
osteotomies (planes: an origin and a unit normal) and surgical guides (a guide plan);
the views draw them, the Planning list shows their coordinates, lengths and angles,
and projects save and reopen them.

Events (``subscribe(event, callback)``): ``"added"`` and ``"removed"`` (payload the
PlanningObject), ``"changed"`` (payload the PlanningObject after an edit), ``"cleared"``
(payload None).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from workstation.core.record_list import EVENTS as EVENTS
from workstation.core.record_list import RecordList

Point = tuple[float, float, float]

PLANNING_KINDS = ("point", "line", "plane", "guide")

#: How many points each kind holds.
PLANNING_POINTS = {"point": 1, "line": 2, "plane": 1, "guide": 0}

#: The name a new object gets when none is given ("Point 1", "Line 2" …).
KIND_LABELS = {"point": "Point", "line": "Line", "plane": "Plane", "guide": "Guide"}

DEFAULT_COLOR: tuple[float, float, float] = (1.0, 0.8, 0.2)


def _triple(value: Any, what: str) -> Point:
    """Three finite floats from a sequence; ValueError naming ``what`` otherwise."""
    try:
        numbers = tuple(float(c) for c in value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be three numbers (x, y, z)") from None
    if len(numbers) != 3 or not all(math.isfinite(c) for c in numbers):
        raise ValueError(f"{what} must be three finite numbers (x, y, z)")
    return (numbers[0], numbers[1], numbers[2])


@dataclass(frozen=True)
class PlanningObject:
    """One planning object: its kind, points (LPS mm), plane normal, colour and guide plan.

    A point holds ``(p,)``, a line ``(entry, target)``, a plane ``(origin,)`` with a unit
    ``normal_lps`` (normalised here), a guide no points and its PLAN object in ``plan``.
    """

    object_id: str
    kind: str
    name: str
    points_lps: tuple[Point, ...]
    normal_lps: Point | None = None
    color: tuple[float, float, float] = DEFAULT_COLOR
    visible: bool = True
    plan: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        needed = PLANNING_POINTS.get(self.kind)
        if needed is None:
            known = ", ".join(PLANNING_KINDS)
            raise ValueError(f"unknown planning kind {self.kind!r}; known: {known}")
        if not isinstance(self.object_id, str) or not self.object_id:
            raise ValueError("a planning object needs an id")
        points = tuple(_triple(point, f"a {self.kind}'s point") for point in self.points_lps)
        if len(points) != needed:
            raise ValueError(f"a {self.kind} needs {needed} point(s) (x, y, z)")
        object.__setattr__(self, "points_lps", points)
        object.__setattr__(self, "name", str(self.name))
        object.__setattr__(self, "visible", bool(self.visible))
        object.__setattr__(self, "normal_lps", self._checked_normal())
        color = _triple(self.color, "a colour")
        if not all(0.0 <= c <= 1.0 for c in color):
            raise ValueError("a colour's components must lie in 0..1")
        object.__setattr__(self, "color", color)
        if self.plan is not None:
            if self.kind != "guide":
                raise ValueError(f"only a guide holds a plan, not a {self.kind}")
            if not isinstance(self.plan, dict):
                raise ValueError("a guide's plan must be a JSON object")

    def _checked_normal(self) -> Point | None:
        if self.kind != "plane":
            if self.normal_lps is not None:
                raise ValueError(f"only a plane has a normal, not a {self.kind}")
            return None
        if self.normal_lps is None:
            raise ValueError("a plane needs a normal (x, y, z)")
        normal = np.asarray(_triple(self.normal_lps, "a plane's normal"))
        length = float(np.linalg.norm(normal))
        if length < 1e-12:
            raise ValueError("a plane's normal must not be zero")
        unit = normal / length
        return (float(unit[0]), float(unit[1]), float(unit[2]))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (projects store these)."""
        return {
            "id": self.object_id,
            "kind": self.kind,
            "name": self.name,
            "points_lps": [list(point) for point in self.points_lps],
            "normal_lps": None if self.normal_lps is None else list(self.normal_lps),
            "color": list(self.color),
            "visible": self.visible,
            "plan": copy.deepcopy(self.plan),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> PlanningObject:
        """The object a ``to_dict`` record describes; ValueError when it is malformed."""
        if not isinstance(record, dict):
            raise ValueError("a planning record must be a JSON object")
        try:
            points = record["points_lps"]
            if not isinstance(points, list | tuple):
                raise ValueError("points_lps must be a list of points")
            color = record.get("color")
            visible = record.get("visible", True)
            if not isinstance(visible, bool):
                raise ValueError("visible must be true or false")
            return cls(
                object_id=str(record["id"]),
                kind=str(record["kind"]),
                name=str(record.get("name", "")),
                points_lps=tuple(tuple(point) for point in points),
                normal_lps=record.get("normal_lps"),
                color=DEFAULT_COLOR if color is None else color,
                visible=visible,
                plan=copy.deepcopy(record.get("plan")),
            )
        except KeyError as error:
            raise ValueError(f"planning record lacks {error}") from None
        except TypeError as error:
            raise ValueError(f"malformed planning record: {error}") from None


class PlanningList(RecordList[PlanningObject]):
    """The planning objects of one case, in the order they were made."""

    def __init__(self) -> None:
        super().__init__("planning", "object_id")

    def new_id(self, kind: str) -> str:
        """An id for a new object of ``kind`` ("line-3"), not used yet in this list."""
        return self._fresh_id(kind)

    def add(
        self,
        kind: str,
        points_lps: list[Any] | tuple[Any, ...],
        name: str = "",
        normal_lps: Any = None,
        plan: dict[str, Any] | None = None,
        object_id: str | None = None,
        color: Any = None,
    ) -> PlanningObject:
        """Record a new object and announce it; ValueError when it is malformed."""
        if kind not in PLANNING_POINTS:
            known = ", ".join(PLANNING_KINDS)
            raise ValueError(f"unknown planning kind {kind!r}; known: {known}")
        if object_id is not None and object_id in self:
            raise ValueError(f"a planning object {object_id!r} exists already")
        object_id = object_id or self.new_id(kind)
        if not name:
            number = object_id.rsplit("-", 1)[-1]
            name = f"{KIND_LABELS[kind]} {number}"
        return self._append(
            PlanningObject(
                object_id=object_id,
                kind=kind,
                name=name,
                points_lps=tuple(tuple(point) for point in points_lps),
                normal_lps=normal_lps,
                color=DEFAULT_COLOR if color is None else color,
                plan=copy.deepcopy(plan),
            )
        )

    def update(self, record_id: str, **changes: Any) -> PlanningObject:
        """Replace fields of an object (name, points, normal, colour, visibility, plan)."""
        if "object_id" in changes or "kind" in changes:
            raise ValueError("an object's id and kind cannot change")
        if "points_lps" in changes:
            changes["points_lps"] = tuple(tuple(point) for point in changes["points_lps"])
        if "plan" in changes:
            changes["plan"] = copy.deepcopy(changes["plan"])
        return super().update(record_id, **changes)

    def replace_all(self, objects: list[PlanningObject]) -> None:
        """Show exactly ``objects`` (a reopened project); ValueError for a repeated id."""
        ids = [obj.object_id for obj in objects]
        if len(set(ids)) != len(ids):
            duplicate = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"planning object id {duplicate!r} appears twice")
        super().replace_all(objects)

    def of_kind(self, kind: str) -> list[PlanningObject]:
        """The objects of one kind, in order."""
        return [item for item in self.items if item.kind == kind]


def line_length_mm(obj: PlanningObject) -> float:
    """The distance from a line's entry to its target, in mm."""
    if obj.kind != "line":
        raise ValueError(f"a {obj.kind} has no length")
    entry, target = (np.asarray(point) for point in obj.points_lps)
    return float(np.linalg.norm(target - entry))


def direction(obj: PlanningObject) -> np.ndarray:
    """A line's unit direction (entry → target) or a plane's unit normal."""
    if obj.kind == "plane":
        assert obj.normal_lps is not None
        return np.asarray(obj.normal_lps, dtype=float)
    if obj.kind == "line":
        entry, target = (np.asarray(point, dtype=float) for point in obj.points_lps)
        vector = target - entry
        length = float(np.linalg.norm(vector))
        if length < 1e-9:
            raise ValueError(f"line {obj.name!r} has no direction: entry and target coincide")
        return vector / length
    raise ValueError(f"a {obj.kind} has no direction")


def angle_between_deg(a: PlanningObject, b: PlanningObject) -> float:
    """The angle between two lines (0..180), a line and a plane, or two planes (0..90)."""
    u, v = direction(a), direction(b)
    along = float(np.dot(u, v))
    across = float(np.linalg.norm(np.cross(u, v)))
    kinds = {a.kind, b.kind}
    if kinds == {"line"}:
        return math.degrees(math.atan2(across, along))
    if kinds == {"plane"}:
        return math.degrees(math.atan2(across, abs(along)))
    # a line and a plane: the complement of the angle between the line and the normal
    return math.degrees(math.atan2(abs(along), across))
