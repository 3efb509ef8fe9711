"""Measurements of a case, Qt-free: distances, angles and ROIs with their points in LPS mm.

The measuring tools add records here; the views observe the list and draw what it
holds, and projects save and reopen it.  A measurement keeps the view it was made in,
because an ROI's outline lies in that view's plane.

Events (``subscribe(event, callback)``): ``"added"`` and ``"removed"`` (payload the
Measurement), ``"changed"`` (payload the Measurement after an edit), ``"cleared"``
(payload None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workstation.core.record_list import EVENTS as EVENTS
from workstation.core.record_list import RecordList

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


class MeasurementList(RecordList[Measurement]):
    """The measurements of one case, in the order they were made."""

    def __init__(self) -> None:
        super().__init__("measurements", "measurement_id")

    def new_id(self) -> str:
        """A measurement id not used yet in this list."""
        return self._fresh_id("measurement")

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
        return self._append(measurement)
