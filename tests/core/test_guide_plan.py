"""PLAN.json parsing: defaults, normalisation, the round trip, and one clear line per bad key."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from workstation.core.errors import GuidePlanError
from workstation.core.guide_plan import (
    CLEARANCE_PRESETS,
    DEFAULT_CLEARANCE_MM,
    DEFAULT_THICKNESS_MM,
    BoneReference,
    Region,
    parse_plan,
)

PLAN = {
    "bone": "BONE.stl",
    "region": {"sphere": {"center_lps": [0.0, 0.0, 20.0], "radius_mm": 12.0}},
    "thickness_mm": 3.0,
    "clearance_mm": 0.25,
    "insertion_direction_lps": [0.0, 0.0, -2.0],
    "sleeves": [
        {
            "entry_lps": [0.0, 0.0, 20.0],
            "target_lps": [0.0, 0.0, 10.0],
            "inner_diameter_mm": 2.2,
            "outer_diameter_mm": 5.0,
            "height_mm": 8.0,
            "name": "Screw 1",
        }
    ],
    "slots": [
        {
            "point_lps": [4.0, 0.0, 19.5],
            "normal_lps": [3.0, 4.0, 0.0],
            "width_mm": 1.2,
            "length_mm": 20.0,
            "depth_mm": 8.0,
        }
    ],
}


def _plan(**changes):
    record = copy.deepcopy(PLAN)
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def _error(record) -> str:
    with pytest.raises(GuidePlanError) as caught:
        parse_plan(record)
    message = str(caught.value)
    assert "\n" not in message
    assert caught.value.exit_code == 12
    return message


def test_a_full_plan_parses_with_its_meanings():
    plan = parse_plan(PLAN, base_dir="/cases/a")
    assert plan.bone == BoneReference(path="BONE.stl")
    assert plan.bone.kind == "file"
    assert plan.region.spheres == (((0.0, 0.0, 20.0), 12.0),)
    assert plan.insertion_direction_lps == (0.0, 0.0, -1.0)  # normalised
    sleeve = plan.sleeves[0]
    assert sleeve.name == "Screw 1"
    np.testing.assert_allclose(sleeve.axis, [0.0, 0.0, -1.0])
    slot = plan.slots[0]
    np.testing.assert_allclose(slot.normal_lps, [0.6, 0.8, 0.0])
    assert slot.name == ""
    assert plan.base_dir == "/cases/a"


def test_defaults_thickness_3mm_and_the_sla_clearance():
    plan = parse_plan(
        _plan(thickness_mm=None, clearance_mm=None, insertion_direction_lps=None, sleeves=None)
    )
    assert plan.thickness_mm == DEFAULT_THICKNESS_MM == 3.0
    assert plan.clearance_mm == DEFAULT_CLEARANCE_MM == CLEARANCE_PRESETS["SLA"] == 0.25
    assert CLEARANCE_PRESETS["FDM"] == 0.4
    assert plan.insertion_direction_lps is None
    assert plan.sleeves == ()


def test_round_trip_through_json():
    plan = parse_plan(PLAN, base_dir="/somewhere")
    again = parse_plan(json.loads(json.dumps(plan.to_dict())))
    assert again == plan
    assert again.to_dict() == plan.to_dict()
    # the dict is the PLAN.json object: every key known, base_dir not in it
    assert set(plan.to_dict()) <= set(PLAN)


@pytest.mark.parametrize(
    "bone",
    [
        "BONE.stl",
        {"project": "CASE.wsproj", "model": "Mandible"},
        {"model": "Mandible"},
    ],
)
def test_bone_forms_round_trip(bone):
    plan = parse_plan(_plan(bone=bone))
    assert plan.to_dict()["bone"] == bone
    assert parse_plan(plan.to_dict()) == plan


def test_bone_kinds():
    assert parse_plan(_plan(bone={"project": "C.wsproj", "model": "M"})).bone.kind == "project"
    assert parse_plan(_plan(bone={"model": "M"})).bone.kind == "session"
    assert parse_plan(_plan(bone={"path": "x.stl"})).bone == BoneReference(path="x.stl")


def test_brush_region_is_a_union_of_spheres():
    region = {"brush": {"radius_mm": 3.0, "points_lps": [[0, 0, 0], [10, 0, 0]]}}
    plan = parse_plan(_plan(region=region))
    assert plan.region.spheres == (((0.0, 0.0, 0.0), 3.0), ((10.0, 0.0, 0.0), 3.0))
    inside = plan.region.contains(
        np.array([[2.9, 0, 0], [5.0, 0, 0], [12.0, 1.0, 0], [10, 3.1, 0]])
    )
    assert inside.tolist() == [True, False, True, False]
    low, high = plan.region.bounds()
    np.testing.assert_allclose(low, [-3, -3, -3])
    np.testing.assert_allclose(high, [13, 3, 3])
    assert parse_plan(plan.to_dict()) == plan


def test_spheres_of_different_radii_round_trip():
    region = Region((((0.0, 0.0, 0.0), 2.0), ((1.0, 0.0, 0.0), 3.0)))
    value = region.to_value()
    assert "spheres" in value
    assert parse_plan(_plan(region=value)).region == region


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"bone": None}, "misses bone"),
        ({"region": None}, "misses region"),
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"thickness_mm": -1.0}, "thickness_mm must be a size larger than 0 mm, got -1"),
        ({"thickness_mm": 0}, "thickness_mm must be a size larger than 0 mm, got 0"),
        ({"clearance_mm": 0.0}, "clearance_mm must be a size larger than 0"),
        ({"clearance_mm": "SLA"}, "clearance_mm must be a number, got text"),
        ({"clearance_mm": True}, "clearance_mm must be a number"),
        ({"thickness_mm": float("nan")}, "thickness_mm must be a finite number"),
        ({"insertion_direction_lps": [0, 0, 0]}, "insertion_direction_lps must be a direction"),
        ({"insertion_direction_lps": [0, 1]}, "insertion_direction_lps must be three numbers"),
        ({"bone": ""}, "bone must be a non-empty text"),
        ({"bone": 3}, "bone must be a JSON object"),
        ({"bone": {"project": "C.wsproj"}}, "bone misses model"),
        ({"bone": {"file": "x.stl"}}, "bone has unknown key 'file'"),
        ({"region": {"cube": {}}}, "region has unknown key 'cube'"),
        ({"region": {}}, "region must have one of sphere, brush, spheres"),
        (
            {"region": {"sphere": {"center_lps": [0, 0, 0], "radius_mm": -2}}},
            "region.sphere.radius_mm must be a size larger than 0 mm, got -2",
        ),
        (
            {"region": {"sphere": {"center_lps": [0, "a", 0], "radius_mm": 2}}},
            "region.sphere.center_lps[1] must be a number, got text",
        ),
        (
            {"region": {"brush": {"radius_mm": 2, "points_lps": []}}},
            "region.brush.points_lps must be a non-empty list",
        ),
        ({"sleeves": {"a": 1}}, "sleeves must be a list"),
        ({"slots": [3]}, "slots[0] must be a JSON object"),
    ],
)
def test_bad_plans_name_the_key(changes, expected):
    message = _error(_plan(**changes))
    assert expected in message, message
    assert message.startswith("Guide plan: ")


def _sleeve(**changes):
    sleeve = dict(PLAN["sleeves"][0])
    sleeve.update(changes)
    return _plan(sleeves=[PLAN["sleeves"][0], sleeve])


def _slot(**changes):
    slot = dict(PLAN["slots"][0])
    slot.update(changes)
    return _plan(slots=[slot])


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (_sleeve(inner_diameter_mm=-2.2), "sleeves[1].inner_diameter_mm must be a size larger"),
        (_sleeve(height_mm=0), "sleeves[1].height_mm must be a size larger than 0 mm, got 0"),
        (
            _sleeve(outer_diameter_mm=2.2),
            "sleeves[1].outer_diameter_mm (2.2) must be larger than inner_diameter_mm (2.2)",
        ),
        (
            _sleeve(outer_diameter_mm=2.0),
            "sleeves[1].outer_diameter_mm (2) must be larger than inner_diameter_mm (2.2)",
        ),
        (_sleeve(target_lps=[0.0, 0.0, 20.0]), "sleeves[1] has its target_lps at its entry_lps"),
        (_sleeve(name=5), "sleeves[1].name must be text"),
        (_sleeve(drill="x"), "sleeves[1] has unknown key 'drill'"),
        (_slot(width_mm=-1.2), "slots[0].width_mm must be a size larger than 0 mm, got -1.2"),
        (_slot(length_mm=0.0), "slots[0].length_mm must be a size larger than 0 mm"),
        (_slot(depth_mm=-8), "slots[0].depth_mm must be a size larger than 0 mm"),
        (_slot(normal_lps=[0, 0, 0]), "slots[0].normal_lps must be a direction"),
        (_slot(point_lps=[1, 2, math.inf]), "slots[0].point_lps[2] must be a finite number"),
    ],
)
def test_bad_sleeves_and_slots_name_the_key(record, expected):
    message = _error(record)
    assert expected in message, message


def test_a_missing_sleeve_key_is_named():
    sleeve = dict(PLAN["sleeves"][0])
    del sleeve["height_mm"]
    assert "sleeves[0] misses height_mm" in _error(_plan(sleeves=[sleeve]))


def test_not_an_object():
    assert "the plan must be a JSON object, got a list" in _error([1, 2])


def test_base_dir_is_not_compared():
    assert parse_plan(PLAN, base_dir="/a") == parse_plan(PLAN, base_dir="/b")
