"""Edge analysis and vertex fans against a direct, independent definition.

The reference below follows the definitions literally (a dictionary of edge uses; fans
grown triangle by triangle across shared edges around each vertex), on random meshes
with boundaries, folds, pinched points, inconsistent winding and degenerate triangles.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from workstation.core.mesh import Mesh
from workstation.processing.mesh_topology import _fans_of, analyse_edges, edge_info


def reference_counts(faces: np.ndarray) -> tuple[int, int, int]:
    """(boundary, non-manifold, inconsistent) edges by counting uses in a dictionary."""
    uses: dict[tuple[int, int], int] = defaultdict(int)
    directed: dict[tuple[int, int], int] = defaultdict(int)
    for face in faces.tolist():
        for i in range(3):
            a, b = face[i], face[(i + 1) % 3]
            uses[(min(a, b), max(a, b))] += 1
            directed[(a, b)] += 1
    boundary = sum(1 for count in uses.values() if count == 1)
    nonmanifold = sum(1 for count in uses.values() if count > 2)
    inconsistent = sum(count - 1 for count in directed.values())
    return boundary, nonmanifold, inconsistent


def reference_fans(faces: np.ndarray) -> set[frozenset[int]]:
    """Fans as sets of corner numbers (3 * face + i): the corners at one vertex whose
    triangles are linked through edges at that vertex, grown by a flood fill."""
    corners_at: dict[int, list[int]] = defaultdict(list)
    for f, face in enumerate(faces.tolist()):
        for i in range(3):
            corners_at[face[i]].append(3 * f + i)
    fans: set[frozenset[int]] = set()
    flat = faces.ravel().tolist()
    for corners in corners_at.values():

        def spokes(corner: int) -> set[int]:
            face = corner // 3
            i = corner % 3
            return {flat[3 * face + (i + 1) % 3], flat[3 * face + (i + 2) % 3]}

        left = set(corners)
        while left:
            seed = left.pop()
            fan = {seed}
            reach = spokes(seed)
            grown = True
            while grown:
                grown = False
                for corner in list(left):
                    if spokes(corner) & reach:
                        left.discard(corner)
                        fan.add(corner)
                        reach |= spokes(corner)
                        grown = True
            fans.add(frozenset(fan))
    return fans


def random_faces(rng: np.random.Generator, n_vertices: int, n_faces: int) -> np.ndarray:
    """Triangles of a small jittered grid plus random extra ones (folds, pinches, junk)."""
    side = 6
    grid = []
    for r in range(side - 1):
        for c in range(side - 1):
            a, b, d, e = r * side + c, r * side + c + 1, (r + 1) * side + c, (r + 1) * side + c + 1
            grid += [[a, b, e], [a, e, d]]
    grid = np.array(grid)
    grid = grid[rng.random(len(grid)) > 0.15]  # holes and boundaries
    flips = rng.random(len(grid)) < 0.1  # inconsistent winding
    grid[flips] = grid[flips][:, ::-1]
    extra = rng.integers(0, n_vertices, size=(n_faces, 3))
    degenerate = rng.integers(0, n_vertices, size=(3, 1)).repeat(3, axis=1)
    degenerate[0, 2] = (degenerate[0, 0] + 1) % n_vertices
    return np.concatenate([grid, extra, degenerate, grid[:5]]).astype(np.int64)


@pytest.mark.parametrize("seed", range(12))
def test_edge_counts_and_fans_match_the_definitions(seed):
    rng = np.random.default_rng(seed)
    faces = random_faces(rng, 36, int(rng.integers(0, 30)))
    analysis = analyse_edges(faces, 36)
    assert (analysis.boundary, analysis.nonmanifold, analysis.inconsistent) == reference_counts(
        faces
    )
    fans, fan_vertex = analysis.fans()
    groups: dict[int, set[int]] = defaultdict(set)
    for corner, fan in enumerate(fans.tolist()):
        groups[fan].add(corner)
    assert {frozenset(g) for g in groups.values()} == reference_fans(faces)
    assert np.array_equal(fan_vertex[fans], faces.ravel())  # each fan's vertex
    assert np.all(np.diff(fan_vertex) >= 0)  # fans are numbered in vertex order


def test_two_cubes_touching_at_one_corner_have_one_pinched_point():
    cube = np.array(
        [[0, 2, 1], [1, 2, 3], [4, 5, 6], [5, 7, 6], [0, 1, 5], [0, 5, 4],
         [2, 6, 7], [2, 7, 3], [0, 4, 6], [0, 6, 2], [1, 3, 7], [1, 7, 5]]
    )  # fmt: skip
    corners = np.array([[x, y, z] for z in (0, 1) for y in (0, 1) for x in (0, 1)], float)
    vertices = np.concatenate([corners, corners + 1.0])
    second = cube + 8
    second[second == 8] = 7  # the second cube's corner (1, 1, 1) is the first cube's vertex 7
    info = edge_info(Mesh(vertices, np.concatenate([cube, second])))
    assert info.watertight and not info.manifold
    assert info.nonmanifold_vertices == 1


@pytest.mark.parametrize("pinches", [0, 1, 3])
def test_pinched_points_of_a_closed_surface_by_walking_match_the_fans(pinches):
    """The walk round each point of a watertight mesh finds the points the fans split, and
    numbers the fans exactly as the connected-components way does."""
    from tests.processing.spheres import ball_volume, grid_affine
    from workstation.processing.surface import extract_surface
    from workstation.processing.threshold import threshold

    shape = (30, 40, 40)
    volume, _ = ball_volume(grid_affine("axial", shape), shape)
    ball = extract_surface(threshold(volume, 0))
    n = ball.n_vertices
    other = ball.faces + n  # a second copy; some of its points become the first's
    for k in range(pinches):
        other[other == n + 10 * k] = 10 * k + 5
    mesh = Mesh(
        np.concatenate([ball.vertices, ball.vertices + 100.0]), np.concatenate([ball.faces, other])
    )
    analysis = analyse_edges(mesh.faces, mesh.n_vertices)
    assert analysis.boundary == analysis.nonmanifold == analysis.inconsistent == 0
    assert edge_info(mesh, analysis).nonmanifold_vertices == pinches
    assert analysis.pinched_points().tolist() == [10 * k + 5 for k in range(pinches)]
    walked = analysis.fans()
    by_components = _fans_of(analysis)  # the general way, for any mesh
    assert all(np.array_equal(a, b) for a, b in zip(walked, by_components, strict=True))
    assert len(walked[1]) == len(np.unique(mesh.faces)) + pinches  # a fan more per pinch
    assert int(np.count_nonzero(np.bincount(walked[1]) > 1)) == pinches
