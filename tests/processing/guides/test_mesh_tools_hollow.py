"""Offset and hollow against analytic ball volumes; drain holes must open the cavity."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.guides.tool_shapes import box, equivalent_radius, sphere
from workstation.core.errors import MeshToolError
from workstation.processing.guides.distance_field import offset_surface
from workstation.processing.guides.hollow import DrainHole, hollow
from workstation.processing.guides.manifold_bridge import check_solid

SPACING = 0.5
#: Offsets come from a grid: the surface's equivalent radius is within this of the truth.
RADIUS_TOLERANCE = 0.1 * SPACING


@pytest.fixture(scope="module")
def ball():
    return sphere(15.0, subdivisions=5)


@pytest.mark.parametrize("distance", [2.0, -2.0])
def test_offset_ball_by_two_millimetres(ball, distance: float) -> None:
    result = offset_surface(ball, distance, SPACING)
    assert check_solid(result).ok and check_solid(result).components == 1
    expected_radius = equivalent_radius(ball) + distance
    assert equivalent_radius(result) == pytest.approx(expected_radius, abs=RADIUS_TOLERANCE)
    assert result.signed_volume() == pytest.approx(
        4.0 / 3.0 * np.pi * (15.0 + distance) ** 3, rel=3 * RADIUS_TOLERANCE / 13.0
    )
    radii = np.linalg.norm(result.vertices, axis=1)
    assert np.abs(radii - (15.0 + distance)).max() < SPACING  # every point near the sphere
    assert any("spacing" in line for line in result.report)


def test_hollow_ball_volume_is_outer_minus_inner(ball) -> None:
    result = hollow(ball, 3.0, spacing_mm=SPACING)
    check = check_solid(result.mesh)
    assert check.ok and check.components == 1
    r = equivalent_radius(ball)
    expected = ball.signed_volume() - 4.0 / 3.0 * np.pi * (r - 3.0) ** 3
    # the inner surface's radius is within RADIUS_TOLERANCE: its volume within 4 pi r^2 dr
    assert result.mesh.signed_volume() == pytest.approx(
        expected, abs=4 * np.pi * 12.0**2 * RADIUS_TOLERANCE
    )
    assert result.holes == [] and result.warnings == []
    # the cavity is a closed inner surface: the mesh has two shells
    from workstation.processing.mesh_components import pieces

    volumes = sorted(pieces(result.mesh).volumes)
    assert volumes[0] < 0 < volumes[1]
    assert -volumes[0] == pytest.approx(4.0 / 3.0 * np.pi * 12.0**3, rel=0.02)


def test_drain_hole_opens_the_cavity(ball) -> None:
    diameter = 4.0
    result = hollow(
        ball, 3.0, [DrainHole.of((0, 0, 15.0), (0, 0, -1), diameter)], spacing_mm=SPACING
    )
    assert result.warnings == []
    (hole,) = result.holes
    assert hole["opens"] is True
    check = check_solid(result.mesh)
    assert check.ok and check.components == 1
    # one shell now: the cavity's surface joins the outside through the hole
    from workstation.processing.mesh_components import count_components

    assert count_components(result.mesh) == 1
    closed = hollow(ball, 3.0, spacing_mm=SPACING).mesh.signed_volume()
    removed = closed - result.mesh.signed_volume()
    # about a 3 mm plug of the hole's cross-section (polygonal circle, curved ends)
    plug = np.pi * (diameter / 2) ** 2 * 3.0
    assert removed == pytest.approx(plug, rel=0.15)
    # the hole's axis starts outside the ball and ends inside the cavity
    start, end = np.asarray(hole["start_lps"]), np.asarray(hole["end_lps"])
    assert np.linalg.norm(start) > 15.0 and np.linalg.norm(end) < 12.0


def test_drain_hole_that_misses_is_reported(ball) -> None:
    holes = [
        DrainHole.of((0, 0, 15.0), (0, 0, -1), 3.0),
        DrainHole.of((40.0, 0, 0), (0, 0, 1), 3.0),  # beside the ball
    ]
    result = hollow(ball, 3.0, holes, spacing_mm=SPACING)
    assert [h["opens"] for h in result.holes] == [True, False]
    assert result.warnings == [
        "drain hole 2 does not open the cavity: its line does not meet the model"
    ]


def test_too_thick_wall_is_refused() -> None:
    with pytest.raises(MeshToolError, match="nowhere thicker than twice the 3 mm wall"):
        hollow(box((0, 0, 0), (4, 4, 40), name="Rod"), 3.0, spacing_mm=SPACING)


def test_bad_sizes_are_refused(ball) -> None:
    with pytest.raises(MeshToolError, match="wall thickness must be positive"):
        hollow(ball, 0.0)
    with pytest.raises(MeshToolError, match="diameter must be positive"):
        DrainHole.of((0, 0, 0), (0, 0, 1), -1.0)


def test_drain_hole_opens_one_of_two_cavities() -> None:
    """Two balls joined by a thin rod hollow into two cavities; a hole opens only one."""
    from workstation.processing.guides.booleans import boolean
    from workstation.processing.mesh_components import count_components

    left, right = sphere(10.0, (-12.0, 0, 0)), sphere(10.0, (12.0, 0, 0))
    rod = box((-12.0, -1.5, -1.5), (12.0, 1.5, 1.5), name="Rod")
    dumbbell = boolean([left, right, rod], "union", name="Dumbbell")
    closed = hollow(dumbbell, 2.0, spacing_mm=SPACING)
    assert count_components(closed.mesh) == 3  # the outside and two cavity surfaces
    result = hollow(
        dumbbell, 2.0, [DrainHole.of((-12.0, 0, 10.0), (0, 0, -1), 3.0)], spacing_mm=SPACING
    )
    assert [h["opens"] for h in result.holes] == [True]
    assert count_components(result.mesh) == 2  # the right cavity stays closed
    check = check_solid(result.mesh)
    assert check.watertight and check.manifold
    cavity = 4.0 / 3.0 * np.pi * 8.0**3
    removed = dumbbell.signed_volume() - closed.mesh.signed_volume()
    assert removed == pytest.approx(2 * cavity, rel=0.03)
