"""Analytic test solids for the mesh tools: boxes and fine spheres built without manifold3d."""

from __future__ import annotations

import numpy as np
import trimesh

from workstation.core.mesh import Mesh

#: Corners of the unit cube and its 12 outward (counter-clockwise) triangles.
_CUBE_POINTS = np.array(
    [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
    dtype=np.float64,
)
_CUBE_FACES = np.array(
    [
        [0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
        [1, 2, 6], [1, 6, 5], [2, 3, 7], [2, 7, 6], [3, 0, 4], [3, 4, 7],
    ]
)  # fmt: skip


def box(
    low: tuple[float, float, float], high: tuple[float, float, float], name: str = "Box"
) -> Mesh:
    """An axis-aligned box from ``low`` to ``high`` (LPS mm), outward wound."""
    low_a, high_a = np.asarray(low, float), np.asarray(high, float)
    return Mesh(low_a + _CUBE_POINTS * (high_a - low_a), _CUBE_FACES.copy(), name=name)


def sphere(
    radius: float,
    centre: tuple[float, float, float] = (0.0, 0.0, 0.0),
    subdivisions: int = 5,
    name: str = "Ball",
) -> Mesh:
    """An icosphere (every point exactly at ``radius``) about ``centre``."""
    ico = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Mesh(np.asarray(ico.vertices) + np.asarray(centre), np.asarray(ico.faces), name=name)


def equivalent_radius(mesh: Mesh) -> float:
    """Radius of the ball with the mesh's volume (the polygon's own "radius")."""
    return float((3.0 * mesh.signed_volume() / (4.0 * np.pi)) ** (1.0 / 3.0))


def cap_volume(radius: float, height: float) -> float:
    """Volume of a spherical cap of ``height`` on a ball of ``radius``."""
    return float(np.pi * height**2 * (3.0 * radius - height) / 3.0)
