"""Measurements of a case, Qt-free: distances, angles and ROIs with their points in LPS mm.

The measuring tools add records here; the views observe the list and draw what it
holds, and projects save and reopen it.  A measurement keeps the view it was made in,
because an ROI's outline lies in that view's plane.

Events (``subscribe(event, callback)``): ``"added"`` and ``"removed"`` (payload the
Measurement), ``"changed"`` (payload the Measurement after an edit), ``"cleared"``
(payload None).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

from workstation.core.events import EventSource

EVENTS = ("added", "removed", "changed", "cleared")

#: Kinds of measurement and how many points each has.
MEASUREMENT_POINTS = {"distance": 2, "angle": 3, "roi_rectangle": 2, "roi_ellipse": 2}

Point = tuple[float, float, float]


@dataclass(frozen=True)
class Measurement:
    """One measurement: its kind, points (LPS mm), the view it was made in, its results.

    ``values`` holds the numbers the tool computed (``value``, and for an ROI ``mean``,
    ``std``, ``min``, ``max``, ``area_mm2``, ``count``, ``units``); ``text`` is the label
    the views show.
    """

    measurement_id: str
    kind: str
    points_lps: tuple[Point, ...]
    view: str
    text: str
    values: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    def __post_init__(self) -> None:
        needed = MEASUREMENT_POINTS.get(self.kind)
        if needed is None:
            known = ", ".join(MEASUREMENT_POINTS)
            raise ValueError(f"unknown measurement kind {self.kind!r}; known: {known}")
        points = tuple(tuple(float(c) for c in point) for point in self.points_lps)
        if len(points) != needed or any(len(point) != 3 for point in points):
            raise ValueError(f"a {self.kind} measurement needs {needed} points (x, y, z)")
        object.__setattr__(self, "points_lps", points)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (projects store these)."""
        return {
            "id": self.measurement_id,
            "kind": self.kind,
            "name": self.name,
            "points_lps": [list(point) for point in self.points_lps],
            "view": self.view,
            "text": self.text,
            "values": dict(self.values),
        }

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Measurement:
        """The measurement a ``to_dict`` record describes; ValueError when it is malformed."""
        try:
            return cls(
                measurement_id=str(record["id"]),
                kind=str(record["kind"]),
                points_lps=tuple(tuple(point) for point in record["points_lps"]),
                view=str(record.get("view", "")),
                text=str(record.get("text", "")),
                values=dict(record.get("values") or {}),
                name=str(record.get("name", "")),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"malformed measurement record: {error}") from None


class MeasurementList(EventSource):
    """The measurements of one case, in the order they were made."""

    def __init__(self) -> None:
        super().__init__(EVENTS, "measurements")
        self.items: list[Measurement] = []
        self._ids = itertools.count(1)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self.items))

    def new_id(self) -> str:
        """A measurement id not used yet in this list."""
        taken = {item.measurement_id for item in self.items}
        while True:
            candidate = f"measurement-{next(self._ids)}"
            if candidate not in taken:
                return candidate

    def add(
        self,
        kind: str,
        points_lps: list[Any] | tuple[Any, ...],
        view: str,
        text: str,
        values: dict[str, Any] | None = None,
        name: str = "",
        measurement_id: str | None = None,
    ) -> Measurement:
        """Record a new measurement and announce it."""
        measurement = Measurement(
            measurement_id or self.new_id(),
            kind,
            tuple(tuple(point) for point in points_lps),
            view,
            text,
            dict(values or {}),
            name,
        )
        self.items.append(measurement)
        self._emit("added", measurement)
        return measurement

    def by_id(self, measurement_id: str) -> Measurement:
        """The measurement with this id; KeyError when there is none."""
        for item in self.items:
            if item.measurement_id == measurement_id:
                return item
        raise KeyError(measurement_id)

    def update(self, measurement_id: str, **changes: Any) -> Measurement:
        """Replace fields of a measurement (name, points, text, values) and announce it."""
        old = self.by_id(measurement_id)
        new = replace(old, **changes)
        self.items[self.items.index(old)] = new
        self._emit("changed", new)
        return new

    def remove(self, measurement_id: str) -> Measurement:
        """Delete a measurement and announce it."""
        measurement = self.by_id(measurement_id)
        self.items.remove(measurement)
        self._emit("removed", measurement)
        return measurement

    def clear(self) -> None:
        """Forget every measurement (another volume was loaded)."""
        if self.items:
            self.items.clear()
            self._emit("cleared", None)

    def replace_all(self, measurements: list[Measurement]) -> None:
        """Show exactly ``measurements`` (a reopened project): cleared, then each added."""
        self.clear()
        for measurement in measurements:
            self.items.append(measurement)
            self._emit("added", measurement)

    def to_list(self) -> list[dict[str, Any]]:
        """Every measurement as a JSON-ready record."""
        return [item.to_dict() for item in self.items]
