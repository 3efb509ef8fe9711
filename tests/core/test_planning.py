"""Planning objects: validation, the evented list, records, lengths and angles."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from workstation.core.planning import (
    PLANNING_KINDS,
    PlanningList,
    PlanningObject,
    angle_between_deg,
    direction,
    line_length_mm,
)


def _recorder(planning: PlanningList) -> list[tuple[str, object]]:
    events: list[tuple[str, object]] = []
    for name in ("added", "removed", "changed", "cleared"):
        planning.subscribe(name, lambda payload, name=name: events.append((name, payload)))
    return events


def _angle(u, v) -> float:
    """Angle between two vectors in degrees, by the arccos of the normalised dot product."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    cosine = np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v))
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def test_kinds_ids_and_default_names():
    planning = PlanningList()
    point = planning.add("point", [(1, 2, 3)])
    line = planning.add("line", [(0, 0, 0), (0, 0, 10)])
    plane = planning.add("plane", [(0, 0, 0)], normal_lps=(0, 0, 2))
    guide = planning.add("guide", [], plan={"thickness_mm": 3.0})
    assert [o.object_id for o in planning] == ["point-1", "line-2", "plane-3", "guide-4"]
    assert [o.name for o in planning] == ["Point 1", "Line 2", "Plane 3", "Guide 4"]
    assert point.points_lps == ((1.0, 2.0, 3.0),)
    assert plane.normal_lps == (0.0, 0.0, 1.0)  # normalised
    assert guide.plan == {"thickness_mm": 3.0} and guide.points_lps == ()
    assert [o.kind for o in planning.of_kind("line")] == ["line"]
    assert planning.by_id("line-2") is line
    assert "plane-3" in planning and "plane-9" not in planning
    assert set(PLANNING_KINDS) == {o.kind for o in planning}
    with pytest.raises(KeyError):
        planning.by_id("line-9")


def test_ids_stay_unique_after_reopening_and_removing():
    planning = PlanningList()
    planning.replace_all(
        [
            PlanningObject("point-1", "point", "A", ((0, 0, 0),)),
            PlanningObject("line-2", "line", "B", ((0, 0, 0), (1, 0, 0))),
        ]
    )
    new = planning.add("point", [(5, 5, 5)])
    assert new.object_id not in {"point-1", "line-2"}
    with pytest.raises(ValueError, match="exists already"):
        planning.add("point", [(0, 0, 0)], object_id="point-1")
    with pytest.raises(ValueError, match="twice"):
        planning.replace_all([planning.items[0], planning.items[0]])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "spline", "points_lps": ((0, 0, 0),)}, "unknown planning kind"),
        ({"kind": "point", "points_lps": ()}, "needs 1 point"),
        ({"kind": "line", "points_lps": ((0, 0, 0),)}, "needs 2 point"),
        ({"kind": "point", "points_lps": ((0, 0),)}, "three"),
        ({"kind": "point", "points_lps": ((0, 0, float("nan")),)}, "finite"),
        ({"kind": "plane", "points_lps": ((0, 0, 0),)}, "needs a normal"),
        ({"kind": "plane", "points_lps": ((0, 0, 0),), "normal_lps": (0, 0, 0)}, "zero"),
        ({"kind": "point", "points_lps": ((0, 0, 0),), "normal_lps": (0, 0, 1)}, "only a plane"),
        ({"kind": "point", "points_lps": ((0, 0, 0),), "plan": {}}, "only a guide"),
        ({"kind": "guide", "points_lps": (), "plan": [1]}, "JSON object"),
        ({"kind": "point", "points_lps": ((0, 0, 0),), "color": (2, 0, 0)}, "0..1"),
    ],
)
def test_malformed_objects_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PlanningObject(object_id="x-1", name="X", **kwargs)


def test_events_follow_every_change():
    planning = PlanningList()
    events = _recorder(planning)
    line = planning.add("line", [(0, 0, 0), (1, 0, 0)])
    moved = planning.update(line.object_id, points_lps=[(0, 0, 0), (0, 5, 0)], name="Drill")
    assert moved.points_lps == ((0.0, 0.0, 0.0), (0.0, 5.0, 0.0)) and moved.name == "Drill"
    assert planning.by_id(line.object_id) == moved
    plane = planning.add("plane", [(0, 0, 0)], normal_lps=(1, 0, 0))
    tilted = planning.update(plane.object_id, normal_lps=(3, 4, 0))
    assert tilted.normal_lps == pytest.approx((0.6, 0.8, 0.0))
    with pytest.raises(ValueError):
        planning.update(plane.object_id, kind="line")
    with pytest.raises(ValueError):
        planning.update(plane.object_id, normal_lps=(0, 0, 0))
    assert planning.by_id(plane.object_id) == tilted  # a refused edit changes nothing
    planning.remove(line.object_id)
    planning.clear()
    planning.clear()  # empty: nothing more to announce
    assert [name for name, _ in events] == [
        "added",
        "changed",
        "added",
        "changed",
        "removed",
        "cleared",
    ]
    assert events[1][1] == moved and events[4][1] == moved and events[5][1] is None


def test_records_round_trip_through_json():
    planning = PlanningList()
    planning.add("point", [(1.1, 2.2, 3.3)], name="Nasion", color=(0.1, 0.2, 0.3))
    planning.add("line", [(0.1, 0.2, 0.3), (4.0, 5.0, 6.0)])
    planning.add("plane", [(1, 1, 1)], normal_lps=(1, 1, 0))
    planning.update("plane-3", visible=False)
    planning.add("guide", [], plan={"region": {"sphere": {"center_lps": [1, 2, 3]}}})
    text = json.dumps(planning.to_list())
    again = [PlanningObject.from_dict(record) for record in json.loads(text)]
    assert again == planning.items
    assert again[2].visible is False and again[0].color == (0.1, 0.2, 0.3)
    # a record holds its own copy of a guide plan
    record = planning.items[3].to_dict()
    record["plan"]["region"] = None
    assert planning.items[3].plan == {"region": {"sphere": {"center_lps": [1, 2, 3]}}}


@pytest.mark.parametrize(
    "record",
    [
        [],
        {"kind": "point", "points_lps": [[0, 0, 0]]},
        {"id": "p", "points_lps": [[0, 0, 0]]},
        {"id": "p", "kind": "point"},
        {"id": "p", "kind": "point", "points_lps": 5},
        {"id": "p", "kind": "point", "points_lps": [[0, 0, "a"]]},
        {"id": "p", "kind": "point", "points_lps": [[0, 0, 0]], "visible": "yes"},
        {"id": "p", "kind": "plane", "points_lps": [[0, 0, 0]], "normal_lps": 3},
        {"id": "p", "kind": "point", "points_lps": [[0, 0, 0]], "color": [1]},
    ],
)
def test_malformed_records_give_value_error(record):
    with pytest.raises(ValueError):
        PlanningObject.from_dict(record)


def test_length_and_direction_against_numpy():
    rng = np.random.default_rng(3)
    planning = PlanningList()
    for _ in range(20):
        entry, target = rng.normal(scale=30, size=(2, 3))
        line = planning.add("line", [entry, target])
        assert line_length_mm(line) == pytest.approx(np.linalg.norm(target - entry), rel=1e-12)
        expected = (target - entry) / np.linalg.norm(target - entry)
        assert np.allclose(direction(line), expected, atol=1e-12)
    plane = planning.add("plane", [(0, 0, 0)], normal_lps=(0, 2, 0))
    assert np.allclose(direction(plane), [0, 1, 0])
    point = planning.add("point", [(0, 0, 0)])
    with pytest.raises(ValueError):
        line_length_mm(plane)
    with pytest.raises(ValueError):
        direction(point)
    short = planning.add("line", [(1, 1, 1), (1, 1, 1)])  # placed, not yet dragged out
    assert line_length_mm(short) == 0.0
    with pytest.raises(ValueError, match="coincide"):
        direction(short)


def test_angles_against_an_independent_calculation():
    rng = np.random.default_rng(11)
    planning = PlanningList()
    for _ in range(50):
        u, v, n, m = rng.normal(size=(4, 3))
        a = planning.add("line", [(0, 0, 0), u])
        b = planning.add("line", [(1, 1, 1), np.add((1, 1, 1), v)])
        p = planning.add("plane", [(0, 0, 0)], normal_lps=n)
        q = planning.add("plane", [(5, 0, 0)], normal_lps=m)
        # line-line: 0..180 between the directions
        assert angle_between_deg(a, b) == pytest.approx(_angle(u, v), abs=1e-7)
        # plane-plane: the dihedral angle, 0..90
        dihedral = min(_angle(n, m), 180 - _angle(n, m))
        assert angle_between_deg(p, q) == pytest.approx(dihedral, abs=1e-7)
        # line-plane: 90 minus the (acute) angle between the line and the normal
        to_normal = min(_angle(u, n), 180 - _angle(u, n))
        assert angle_between_deg(a, p) == pytest.approx(90 - to_normal, abs=1e-7)
        assert angle_between_deg(p, a) == pytest.approx(90 - to_normal, abs=1e-7)
    x = planning.add("line", [(0, 0, 0), (1, 0, 0)])
    back = planning.add("line", [(0, 0, 0), (-1, 0, 0)])
    floor = planning.add("plane", [(0, 0, 0)], normal_lps=(0, 0, 1))
    ceiling = planning.add("plane", [(0, 0, 9)], normal_lps=(0, 0, -1))
    assert angle_between_deg(x, back) == pytest.approx(180.0)
    assert angle_between_deg(x, floor) == pytest.approx(0.0)  # the line lies in the plane
    assert angle_between_deg(floor, ceiling) == pytest.approx(0.0)
    tiny = planning.add("line", [(0, 0, 0), (1, 1e-9, 0)])
    assert angle_between_deg(x, tiny) == pytest.approx(math.degrees(1e-9), rel=1e-6)
    with pytest.raises(ValueError):
        angle_between_deg(x, planning.add("point", [(0, 0, 0)]))
