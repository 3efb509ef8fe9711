"""Signed distances and offset surfaces against analytic spheres and cylinders."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from tests.processing.guides.bones import SHAFT_RADIUS, shaft
from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.processing.guides.distance_field import (
    DistanceField,
    offset_surface,
    signed_distance,
)
from workstation.processing.guides.manifold_bridge import check_solid

RADIUS = 20.0


def ball(subdivisions: int = 5, radius: float = RADIUS) -> Mesh:
    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Mesh(sphere.vertices, sphere.faces, name="Ball")


def chord_error(mesh: Mesh, radius: float) -> float:
    """How far the faceted sphere lies inside the true one (face centroids)."""
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    return float(radius - np.linalg.norm(centroids, axis=1).min())


def test_signed_distance_matches_a_sphere_inside_and_outside():
    mesh = ball()
    rng = np.random.default_rng(1)
    directions = rng.normal(size=(5000, 3))
    directions /= np.linalg.norm(directions, axis=1)[:, None]
    points = directions * rng.uniform(RADIUS - 8, RADIUS + 8, size=(5000, 1))
    expected = np.linalg.norm(points, axis=1) - RADIUS
    got = signed_distance(mesh, points)
    assert np.abs(got - expected).max() <= chord_error(mesh, RADIUS) + 1e-6
    sure = np.abs(expected) > 0.05
    assert np.array_equal(np.sign(got[sure]), np.sign(expected[sure]))


def test_signed_distance_of_a_cylinder_with_long_thin_triangles():
    mesh = shaft(sections=256)  # side triangles 120 mm long and 0.3 mm wide
    rng = np.random.default_rng(2)
    angle = rng.uniform(0, 2 * np.pi, 4000)
    rho = rng.uniform(4.0, SHAFT_RADIUS + 6.0, 4000)
    z = rng.uniform(-40, 40, 4000)
    points = np.column_stack([rho * np.cos(angle), rho * np.sin(angle), z])
    expected = rho - SHAFT_RADIUS  # caps at |z| = 60 are farther than the side
    got = DistanceField(mesh).signed(points)
    assert np.abs(got - expected).max() < 0.002


def test_points_on_the_surface_have_zero_distance():
    mesh = ball(4)
    got = signed_distance(mesh, mesh.vertices)
    assert np.abs(got).max() < 1e-9


@pytest.mark.parametrize("distance", [3.0, -3.0])
def test_offset_of_a_sphere_is_the_analytic_sphere(distance):
    mesh = ball()
    grown = offset_surface(mesh, distance)
    radii = np.linalg.norm(grown.vertices, axis=1)
    # the faceted input lies up to its chord error inside the true sphere
    assert np.abs(radii - (RADIUS + distance)).max() <= 0.05
    check = check_solid(grown)
    assert check.watertight and check.manifold and check.components == 1
    expected_volume = 4 / 3 * np.pi * (RADIUS + distance) ** 3
    assert check.volume_mm3 == pytest.approx(expected_volume, rel=0.005)
    assert "grid spacing" in grown.report[0]


def test_inward_offset_of_a_cylinder_keeps_its_axis():
    grown = offset_surface(shaft(sections=256), -2.0, spacing_mm=0.4)
    side = np.abs(grown.vertices[:, 2]) < 50
    rho = np.hypot(grown.vertices[side, 0], grown.vertices[side, 1])
    assert np.abs(rho - (SHAFT_RADIUS - 2.0)).max() <= 0.05
    assert grown.vertices[:, 2].max() == pytest.approx(58.0, abs=0.05)
    assert check_solid(grown).watertight


def test_shrinking_away_everything_is_an_error():
    with pytest.raises(MeshToolError):
        offset_surface(ball(3), -RADIUS - 1.0)


@pytest.mark.slow
def test_offset_of_a_300k_triangle_sphere_is_exact():
    mesh = ball(7, 50.0)  # 327,680 triangles
    grown = offset_surface(mesh, 2.0)
    radii = np.linalg.norm(grown.vertices, axis=1)
    assert np.abs(radii - 52.0).max() <= 0.05


def test_far_points_are_bounded_not_searched():
    mesh = ball(4)
    rng = np.random.default_rng(3)
    points = rng.uniform(-45, 45, size=(6000, 3))
    limit = 6.0
    values, known = DistanceField(mesh).bounded(points, limit)
    expected = np.linalg.norm(points, axis=1) - RADIUS
    exact = signed_distance(mesh, points)
    assert np.array_equal(values[known], exact[known])
    # every point left unknown is at least the limit away (against the analytic sphere)
    assert (np.abs(expected[~known]) >= limit - chord_error(mesh, RADIUS)).all()
    assert (values[~known] == limit).all()
    # and the bound gives up only on far points: everything nearer than the limit is known
    assert known[np.abs(expected) < limit - 1.0].all()
    assert 0 < known.sum() < len(points)


def test_offset_of_a_hollow_ball_keeps_the_cavity_outside():
    """Far grid nodes take the sign of their neighbours: inside the wall, out in the cavity."""
    outer, inner = ball(6, 40.0), ball(5, 15.0)
    shell = Mesh(
        np.concatenate([outer.vertices, inner.vertices]),
        np.concatenate([outer.faces, inner.faces[:, ::-1] + outer.n_vertices]),
        name="Shell",
    )
    grown = offset_surface(shell, 1.0, spacing_mm=0.5)
    radii = np.linalg.norm(grown.vertices, axis=1)
    outside = radii > 25.0
    assert np.abs(radii[outside] - 41.0).max() <= 0.05
    assert np.abs(radii[~outside] - 14.0).max() <= 0.05
    expected = 4 / 3 * np.pi * (41.0**3 - 14.0**3)
    assert grown.signed_volume() == pytest.approx(expected, rel=0.005)


def test_threads_give_the_same_distances_as_one(monkeypatch):
    from workstation.processing.guides import distance_field

    mesh = ball(5)
    rng = np.random.default_rng(4)
    points = rng.uniform(-30, 30, size=(40_000, 3))
    field = DistanceField(mesh)
    monkeypatch.setattr(distance_field, "THREADS", 2)
    threaded, direction = field.signed_and_direction(points)
    monkeypatch.setattr(distance_field, "THREADS", 1)
    serial, serial_direction = field.signed_and_direction(points)
    assert np.array_equal(threaded, serial)
    assert np.array_equal(direction, serial_direction)
