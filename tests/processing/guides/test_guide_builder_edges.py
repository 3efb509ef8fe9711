"""The guide's base at sharp bone features: a concave crease and a thin edge with a slit."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.guides import bones
from tests.processing.guides.guide_checks import SEAT_TOLERANCE_MM
from workstation.core.guide_plan import Region
from workstation.processing.guides.contact_base import (
    HIDDEN_REACH_MM,
    build_base,
    facing_gaps,
    project_seat,
    without_faces,
)
from workstation.processing.guides.distance_field import DistanceField
from workstation.processing.guides.manifold_bridge import check_solid
from workstation.processing.guides.printability import CONTACT_BAND_MM, THIN_WALL_MM

C, T = 0.25, 3.0


def _crease_seat(base, distance_to_bone):
    """Analytic distance of the base's vertices near the crease that lie on its seat."""
    v = base.vertices
    quadrant = (v[:, 0] < 0) & (v[:, 2] > 0) & (np.abs(v[:, 1]) < 3.0)
    d = distance_to_bone(v)
    return d[quadrant & (d < C + CONTACT_BAND_MM)]


@pytest.fixture(scope="module")
def crease():
    bone = bones.step_block()
    distance = DistanceField(bone)
    region = Region((((-2.0, 0.0, 2.0), 6.0),))
    return bone, distance, build_base(distance, region, C, T, 0.3)


def test_grid_alone_leaves_the_seat_off_at_a_concave_crease(crease):
    _, _, base = crease
    error = np.abs(_crease_seat(base, bones.step_distance) - C)
    # marching cubes interpolates d linearly, but d has a kink over the crease
    assert error.max() > SEAT_TOLERANCE_MM


def test_projected_seat_sits_at_the_clearance_and_stays_closed(crease):
    bone, distance, base = crease
    projected, moved = project_seat(base, distance, C, CONTACT_BAND_MM, bone)
    assert moved > 100
    seat = _crease_seat(projected, bones.step_distance)
    assert len(seat) > 200
    assert np.abs(seat - C).max() <= SEAT_TOLERANCE_MM
    assert np.percentile(np.abs(seat - C), 99) <= 0.01
    check = check_solid(projected)
    assert check.watertight and check.manifold and check.components == 1, check.reasons
    # only seat vertices move, by at most the projection's limit
    shift = np.linalg.norm(projected.vertices - base.vertices, axis=1)
    assert shift.max() <= 0.15 + 1e-9
    far = distance.signed(base.vertices) > C + CONTACT_BAND_MM
    assert shift[far].max() == 0.0


def _slit_bases():
    """The base over the plate's top edge without and with the hidden-side term."""
    bone = bones.slit_plate()
    distance = DistanceField(bone)
    region = Region((((0.0, 0.0, 0.0), 10.0),))
    gaps = facing_gaps(bone, bone, np.full(3, -20.0), np.full(3, 20.0))
    hidden = gaps <= HIDDEN_REACH_MM
    slit = gaps <= 2 * C + THIN_WALL_MM
    assert slit.any()
    open_surface = DistanceField(without_faces(bone, hidden))
    plain = build_base(distance, region, C, T, 0.3, open_surface=open_surface)
    sided = build_base(distance, region, C, T, 0.3, open_surface=open_surface,
                       hidden_surface=without_faces(bone, ~hidden),
                       slit_surface=without_faces(bone, ~slit))
    return plain, sided


def test_base_does_not_wrap_round_a_thin_edge_into_the_slit_behind_it():
    plain, sided = _slit_bases()
    middle = sum(bones.SLIT) / 2  # the tongue's 0.3 mm between the slit's clearances
    xs = np.linspace(-4.0, 4.0, 9)

    def inside(base, depth):
        points = np.column_stack([xs, np.full(9, middle), np.full(9, -depth)])
        return DistanceField(base).signed(points) < 0

    assert inside(plain, 2.5).all()  # without the term: a 0.3 mm tongue 3 mm deep
    # with it the wall ends at the slit's mouth (the slit's faces are too close to each
    # other for a wall between both clearances: the wall stops at their bisector)
    for depth in (0.5, 1.0, 1.6, 2.5):
        assert not inside(sided, depth).any(), depth
    # the wall over the edge and on both open faces is kept
    over = np.column_stack([xs, np.full(9, 1.5), np.full(9, 1.5)])
    front = np.column_stack([xs, np.full(9, -1.5), np.full(9, -3.0)])
    wall = np.column_stack([xs, np.full(9, bones.SLIT[1] - 1.5), np.full(9, 4.0)])
    field = DistanceField(sided)
    for points in (over, front, wall):
        assert (field.signed(points) < 0).all()
    check = check_solid(sided)
    assert check.watertight and check.manifold, check.reasons
