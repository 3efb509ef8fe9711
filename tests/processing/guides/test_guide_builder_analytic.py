"""Guides on analytic bones: a skull (sphere), a shaft (cylinder), a mandible (bar)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.processing.guides import bones
from tests.processing.guides.guide_checks import (
    SEAT_TOLERANCE_MM,
    assert_no_overlap,
    assert_one_solid,
    assert_sleeves_clear_and_walled,
    assert_wall_at_least,
    contact_mask,
    seat_distances,
)
from workstation.core.errors import Cancelled, GuidePlanError
from workstation.core.guide_plan import Slot
from workstation.core.progress import CancelToken
from workstation.processing.guides.guide_builder import build_guide
from workstation.processing.guides.printability import sleeve_open, slot_open, to_trimesh

SKULL_TOP = np.array([0.0, 0.0, bones.SKULL_RADIUS])


@pytest.fixture(scope="module")
def skull():
    return bones.skull()


@pytest.fixture(scope="module")
def skull_guide(skull):
    up = np.array([0.0, 0.0, 1.0])
    tilt = np.array([np.sin(0.1), 0.0, np.cos(0.1)])
    slot_point = bones.SKULL_RADIUS * np.array([0.0, np.sin(0.12), np.cos(0.12)])
    plan = bones.plan(
        SKULL_TOP, 18.0,
        sleeves=(bones.sleeve(SKULL_TOP, -up), bones.sleeve(bones.SKULL_RADIUS * tilt, -tilt)),
        slots=(Slot(tuple(slot_point), (0.0, 1.0, 0.0), 1.2, 14.0, 6.0),),
        direction=(0.0, 0.0, -1.0),
    )
    return plan, build_guide(plan, skull)


def test_skull_guide_is_one_watertight_solid(skull_guide):
    _, result = skull_guide
    assert_one_solid(result)
    assert not result.report["warnings"], result.report["warnings"]
    assert set(result.report["timings_s"]) >= {"base", "boolean_add_features", "undercut"}


def test_skull_guide_seats_at_the_clearance(skull_guide, skull):
    plan, result = skull_guide
    seat = seat_distances(result, skull, plan)
    assert np.abs(seat - plan.clearance_mm).max() <= SEAT_TOLERANCE_MM
    # independently, against the true sphere (the faceted sphere lies up to ~0.02 inside)
    contact = contact_mask(result, skull, plan)
    analytic = np.linalg.norm(result.guide.vertices[contact], axis=1) - bones.SKULL_RADIUS
    assert np.abs(analytic - plan.clearance_mm).max() <= SEAT_TOLERANCE_MM
    report = result.report["clearance_mm"]
    assert abs(report["median"] - plan.clearance_mm) < 0.01


def test_skull_guide_does_not_overlap_the_bone(skull_guide, skull):
    _, result = skull_guide
    assert_no_overlap(result, skull)
    # no vertex (rim and cut edges included) is closer than the reported seat minimum
    # by more than 2 microns (the seat is projected onto the level set, the rim's ends
    # keep their grid positions)
    assert result.clearance_mm.min() >= result.report["clearance_mm"]["min"] - 2e-3
    assert result.clearance_mm.min() > 0.25 - SEAT_TOLERANCE_MM


def test_skull_guide_sleeves_are_open_and_walled(skull_guide):
    plan, result = skull_guide
    assert_sleeves_clear_and_walled(result, plan)
    assert all(slot["open"] for slot in result.report["slots"])


def test_skull_guide_wall_is_the_thickness(skull_guide, skull):
    plan, result = skull_guide
    keep_out = [(np.asarray(s.entry_lps), s.outer_diameter_mm) for s in plan.sleeves]
    keep_out += [(np.asarray(s.point_lps), s.length_mm) for s in plan.slots]
    assert_wall_at_least(result, skull, plan, keep_out)
    # the thinnest wall is the sleeves' tube: (outer - inner) / 2 = 1.4 mm (polygons of 64)
    assert result.report["min_wall_mm"] == pytest.approx(1.4, abs=0.02)


def test_cap_on_a_skull_lowered_from_above_has_no_undercut(skull_guide):
    _, result = skull_guide
    undercut = result.report["undercut"]
    assert undercut["found"] is False and undercut["where_lps"] == []
    assert undercut["direction_lps"] == [0.0, 0.0, -1.0]


def test_region_wrapped_past_the_shaft_equator_is_an_undercut():
    shaft = bones.shaft()
    top = np.array([0.0, bones.SHAFT_RADIUS, 0.0])
    clean = build_guide(bones.plan(top, 9.0, direction=(0.0, -1.0, 0.0)), shaft)
    assert clean.report["undercut"]["found"] is False
    assert_one_solid(clean)
    wrapped = build_guide(bones.plan(top, 20.0, direction=(0.0, -1.0, 0.0)), shaft)
    undercut = wrapped.report["undercut"]
    assert undercut["found"] is True
    where = np.array(undercut["where_lps"])
    assert len(where) and (where[:, 1] < 1.0).all()  # below the equator (y = 0)
    assert any("lowered" in w for w in wrapped.report["warnings"])


def test_shaft_guide_with_a_sleeve_seats_at_the_clearance():
    shaft = bones.shaft()
    top = np.array([0.0, bones.SHAFT_RADIUS, 10.0])
    plan = bones.plan(top, 10.0, sleeves=(bones.sleeve(top, (0.0, -1.0, 0.0)),),
                      clearance=0.4, direction=(0.0, -1.0, 0.0))
    result = build_guide(plan, shaft)
    assert_one_solid(result)
    assert_no_overlap(result, shaft)
    assert_sleeves_clear_and_walled(result, plan)
    seat = seat_distances(result, shaft, plan)
    assert np.abs(seat - 0.4).max() <= SEAT_TOLERANCE_MM
    guide = result.guide.vertices
    rho = np.hypot(guide[:, 0], guide[:, 1])
    contact = contact_mask(result, shaft, plan)
    assert np.abs(rho[contact] - bones.SHAFT_RADIUS - 0.4).max() <= SEAT_TOLERANCE_MM


def test_mandible_guide_with_a_slot():
    bar = bones.mandible()
    angle = np.radians(60.0)
    top = np.array([bones.BAR_BEND * np.cos(angle), bones.BAR_BEND * np.sin(angle),
                    bones.BAR_RADIUS])
    normal = (-np.sin(angle), np.cos(angle), 0.0)  # the cut plane crosses the bar
    plan = bones.plan(top, 9.0, slots=(Slot(tuple(top), normal, 1.2, 10.0, 5.0),),
                      direction=(0.0, 0.0, -1.0))
    result = build_guide(plan, bar)
    assert_one_solid(result)
    assert_no_overlap(result, bar)
    slot = result.report["slots"][0]
    assert slot["open"]
    assert np.allclose(slot["depth_direction_lps"], [0, 0, -1], atol=0.02)
    contact = contact_mask(result, bar, plan)
    analytic = bones.bar_distance(result.guide.vertices[contact])
    assert np.abs(analytic - plan.clearance_mm).max() <= SEAT_TOLERANCE_MM
    assert result.report["undercut"]["found"] is False


def test_region_missing_the_bone_is_a_plan_error(skull):
    plan = bones.plan(np.array([0.0, 0.0, 200.0]), 10.0)
    with pytest.raises(GuidePlanError, match="region holds no bone surface"):
        build_guide(plan, skull)
    inside = bones.plan(np.zeros(3), 10.0)  # deep inside the bone: no surface either
    with pytest.raises(GuidePlanError, match="region holds no bone surface"):
        build_guide(inside, skull)


def test_sleeve_outside_the_region_is_a_plan_error(skull):
    far = np.array([0.0, bones.SKULL_RADIUS, 0.0])
    plan = bones.plan(SKULL_TOP, 10.0, sleeves=(bones.sleeve(far, (0.0, -1.0, 0.0)),))
    with pytest.raises(GuidePlanError, match="sleeve 1 lies outside the region"):
        build_guide(plan, skull)


def test_slot_outside_the_region_is_a_plan_error(skull):
    far = (0.0, bones.SKULL_RADIUS, 0.0)
    plan = bones.plan(SKULL_TOP, 10.0, slots=(Slot(far, (1.0, 0, 0), 1.2, 10.0, 5.0),))
    with pytest.raises(GuidePlanError, match="slot 1 lies outside the region"):
        build_guide(plan, skull)


def test_open_checks_see_a_blocked_axis(skull_guide):
    _, result = skull_guide
    tmesh = to_trimesh(result.guide)
    # an axis through solid base, where no hole was drilled
    point = bones.SKULL_RADIUS * np.array([-np.sin(0.12), 0.0, np.cos(0.12)])
    axis = -point / np.linalg.norm(point)
    info = {"axis_lps": axis.tolist(), "top_lps": (point - 6.0 * axis).tolist(),
            "entry_lps": point.tolist(), "inner_diameter_mm": 2.2}
    assert sleeve_open(tmesh, info, 0.25) is False
    slot = dict(result.report["slots"][0])
    slot["point_lps"] = point.tolist()
    shift = point - np.asarray(result.report["slots"][0]["point_lps"])
    for key in ("top_lps", "bottom_lps"):
        slot[key] = (np.asarray(slot[key]) + shift).tolist()
    assert slot_open(tmesh, slot) is False


def test_without_a_direction_the_mean_inward_normal_is_checked(skull):
    result = build_guide(bones.plan(SKULL_TOP, 12.0), skull)
    undercut = result.report["undercut"]
    assert undercut["assumed"] is True and undercut["found"] is False
    assert np.allclose(undercut["direction_lps"], [0.0, 0.0, -1.0], atol=0.01)


def test_a_cancelled_build_stops(skull):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        build_guide(bones.plan(SKULL_TOP, 12.0), skull, cancel=token)


def test_brush_region_is_the_union_of_its_spheres(skull):
    from workstation.core.guide_plan import Region
    from workstation.processing.guides.contact_base import region_field

    angles = np.linspace(-0.15, 0.15, 12)
    points = tuple(
        (float(bones.SKULL_RADIUS * np.sin(a)), 0.0, float(bones.SKULL_RADIUS * np.cos(a)))
        for a in angles
    )
    brush = Region(tuple((p, 5.0) for p in points))
    rng = np.random.default_rng(3)
    probe = rng.uniform([-20, -10, 60], [20, 10, 90], size=(2000, 3))
    loop = np.min([np.linalg.norm(probe - p, axis=1) - 5.0 for p in points], axis=0)
    assert np.allclose(region_field(brush, probe), loop)
    plan = bones.plan(SKULL_TOP, 1.0, direction=(0.0, 0.0, -1.0))
    plan = dataclasses.replace(plan, region=brush)
    result = build_guide(plan, skull)
    assert_one_solid(result)
    seat = seat_distances(result, skull, plan)
    assert np.abs(seat - plan.clearance_mm).max() <= SEAT_TOLERANCE_MM
    lo, hi = result.guide.bounds()
    assert hi[0] - lo[0] > 2 * bones.SKULL_RADIUS * np.sin(0.15)  # spans the stroke


def test_region_reaching_through_a_thin_skull_keeps_to_its_outer_side():
    from workstation.core.mesh import Mesh

    outer, inner = bones.skull(), bones.skull()
    inner.vertices = inner.vertices * (74.0 / bones.SKULL_RADIUS)  # a 6 mm thick vault
    faces = np.vstack([outer.faces, inner.faces[:, ::-1] + outer.n_vertices])
    vault = Mesh(np.vstack([outer.vertices, inner.vertices]), faces, name="Vault")
    plan = bones.plan(SKULL_TOP, 12.0, direction=(0.0, 0.0, -1.0))
    result = build_guide(plan, vault)
    assert_one_solid(result)
    radius = np.linalg.norm(result.guide.vertices, axis=1)
    assert radius.min() > bones.SKULL_RADIUS + plan.clearance_mm - SEAT_TOLERANCE_MM
    assert any("far side" in w for w in result.report["warnings"])
    assert result.report["undercut"]["found"] is False
