"""A guide on the real skull (bone model of the tilted head CT, made by our pipeline)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.guides import bones
from tests.processing.guides.guide_checks import (
    SEAT_TOLERANCE_MM,
    assert_no_overlap,
    assert_one_solid,
    assert_sleeves_clear_and_walled,
    seat_distances,
)
from workstation.core.guide_plan import Slot
from workstation.processing.guides.distance_field import DistanceField
from workstation.processing.guides.guide_builder import build_guide
from workstation.processing.guides.guide_features import bone_normal
from workstation.processing.guides.printability import first_hits, to_trimesh

pytestmark = pytest.mark.slow


def _on_surface(tmesh, point: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Where a ray from 20 mm outside ``point`` along -normal meets the bone."""
    start = point + 20.0 * normal
    hit = first_hits(tmesh, start[None], -normal[None])[0]
    assert np.isfinite(hit)
    return start - hit * normal


@pytest.fixture(scope="module")
def forehead_guide():
    skull = bones.real_skull()
    tmesh = to_trimesh(skull)
    center = skull.vertices.mean(axis=0)
    front = _on_surface(tmesh, np.array([center[0], -150.0, center[2] + 20.0]),
                        np.array([0.0, -1.0, 0.0]))
    normal = bone_normal(DistanceField(skull), front)
    side = np.cross(normal, [0.0, 0.0, 1.0])
    side /= np.linalg.norm(side)
    upward = np.cross(normal, side)
    entries = [_on_surface(tmesh, front + s * side, normal) for s in (8.0, -8.0)]
    slot_point = _on_surface(tmesh, front + 9.0 * upward, normal)
    plan = bones.plan(
        front, 20.0,
        sleeves=tuple(bones.sleeve(e, -normal) for e in entries),
        slots=(Slot(tuple(slot_point), tuple(upward), 1.2, 15.0, 6.0),),
        direction=tuple(-normal),
    )
    return skull, plan, build_guide(plan, skull)


def test_real_skull_guide_is_one_solid_seated_at_the_clearance(forehead_guide):
    skull, plan, result = forehead_guide
    assert skull.n_faces > 400_000
    assert_one_solid(result)
    error = np.abs(seat_distances(result, skull, plan) - plan.clearance_mm)
    # creases of the real bone (sharp concave corners) are rounded by the 0.3 mm grid: a
    # handful of vertices in 20,000 sit up to 0.1 mm off; 99.9 % are within 0.05 mm
    assert np.percentile(error, 99.9) <= SEAT_TOLERANCE_MM
    assert error.max() <= 2 * SEAT_TOLERANCE_MM + 0.02
    assert abs(result.report["clearance_mm"]["median"] - plan.clearance_mm) < 0.01


def test_real_skull_guide_does_not_overlap_and_its_axes_are_open(forehead_guide):
    skull, plan, result = forehead_guide
    assert_no_overlap(result, skull)
    assert_sleeves_clear_and_walled(result, plan)
    assert all(slot["open"] for slot in result.report["slots"])
    assert result.report["timings_s"]["base"] < 30.0
