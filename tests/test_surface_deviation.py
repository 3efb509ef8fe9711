"""The benchmarks' surface deviation measures known offsets between spheres exactly."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from tests.benchmarks.surface_deviation import deviation, distances_to_surface


def _sphere(radius: float) -> tuple[np.ndarray, np.ndarray]:
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=radius)
    return np.asarray(mesh.vertices), np.asarray(mesh.faces)


def test_points_are_measured_to_the_nearest_triangle_not_vertex() -> None:
    vertices = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    faces = np.array([[0, 1, 2]])
    points = np.array([[2.0, 2.0, 0.5], [2.0, 2.0, 0.0], [-3.0, 0.0, 4.0], [10.0, 10.0, 0.0]])
    expected = [0.5, 0.0, 5.0, np.sqrt(50.0)]
    assert distances_to_surface(points, vertices, faces) == pytest.approx(expected, abs=1e-9)


def test_a_sphere_0_1_mm_larger_deviates_by_0_1_mm_and_3_percent_volume() -> None:
    result = deviation(_sphere(10.0), _sphere(10.1), samples=100_000)
    # facets of a 10 mm icosphere (subdivision 5) lie at most 0.005 mm inside its sphere
    assert result.to_reference_p99 == pytest.approx(0.1, abs=0.006)
    assert result.from_reference_p99 == pytest.approx(0.1, abs=0.006)
    assert result.symmetric_p99 == pytest.approx(0.1, abs=0.006)
    assert result.volume_change_percent == pytest.approx(100 * (1.01**3 - 1), abs=0.01)


def test_identical_surfaces_do_not_deviate() -> None:
    sphere = _sphere(10.0)
    result = deviation(sphere, sphere, samples=20_000)
    assert result.symmetric_p99 < 1e-9 and result.volume_change_percent == 0.0
