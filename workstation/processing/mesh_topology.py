"""Edge and vertex topology of meshes: boundary, non-manifold, winding and vertex fans."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core.mesh import Mesh
from workstation.processing.int_sort import distinct_with_inverse, occurrences

# scipy is imported inside the functions that use it: every ``workstation`` command
# lists the mesh command, which should not pay its import time.


@dataclass
class EdgeInfo:
    """Undirected edge use counts and winding consistency of a triangle mesh."""

    boundary_edges: int
    nonmanifold_edges: int
    inconsistent_edges: int
    nonmanifold_vertices: int

    @property
    def watertight(self) -> bool:
        """Closed: every edge belongs to exactly two triangles, wound consistently."""
        return (
            self.boundary_edges == 0
            and self.nonmanifold_edges == 0
            and self.inconsistent_edges == 0
        )

    @property
    def manifold(self) -> bool:
        """No edge in more than two triangles, consistent winding, single fan per vertex."""
        return (
            self.nonmanifold_edges == 0
            and self.inconsistent_edges == 0
            and self.nonmanifold_vertices == 0
        )


def boundary_edges(faces: np.ndarray) -> np.ndarray:
    """Directed edges (a, b) of triangles whose undirected edge no other triangle uses."""
    directed = _directed_edges(faces).astype(np.int64)
    n = np.int64(faces.max() + 1)
    undirected = np.minimum(directed[:, 0], directed[:, 1]) * n + np.maximum(
        directed[:, 0], directed[:, 1]
    )
    return directed[occurrences(undirected) == 1]


def _directed_edges(faces: np.ndarray) -> np.ndarray:
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def edge_counts(faces: np.ndarray, n_vertices: int) -> tuple[int, int, int]:
    """(boundary, non-manifold, inconsistently wound) edge counts."""
    n = np.int64(max(n_vertices, 1))
    directed = _directed_edges(faces).astype(np.int64)
    directed_keys = directed[:, 0] * n + directed[:, 1]
    directed_keys.sort()
    inconsistent = int(np.count_nonzero(directed_keys[1:] == directed_keys[:-1]))
    undirected = np.minimum(directed[:, 0], directed[:, 1]) * n + np.maximum(
        directed[:, 0], directed[:, 1]
    )
    undirected.sort()
    starts = np.flatnonzero(np.concatenate([[True], undirected[1:] != undirected[:-1]]))
    counts = np.diff(np.append(starts, len(undirected)))
    return int((counts == 1).sum()), int((counts > 2).sum()), inconsistent


def edge_info(mesh: Mesh) -> EdgeInfo:
    """Count boundary, non-manifold and inconsistently wound edges, and non-manifold vertices."""
    faces = mesh.faces
    if len(faces) == 0:
        return EdgeInfo(0, 0, 0, 0)
    boundary, nonmanifold, inconsistent = edge_counts(faces, mesh.n_vertices)
    fan_vertex = fan_vertices(faces, np.int64(max(mesh.n_vertices, 1)))[1]
    pinched = int(np.count_nonzero(np.bincount(fan_vertex) > 1))
    return EdgeInfo(boundary, nonmanifold, inconsistent, pinched)


def fan_vertices(faces: np.ndarray, n: np.int64) -> tuple[np.ndarray, np.ndarray]:
    """(fan number of every corner, face-major; the vertex of every fan).

    Triangles around a vertex that share edges form one fan; a manifold vertex has one,
    a pinched one several.  Each corner links its two edges ("spokes") at its vertex;
    the fans are the connected groups of spokes.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    corners = faces.astype(np.int64).ravel()
    following = np.roll(faces, -1, axis=1).astype(np.int64).ravel()
    preceding = np.roll(faces, -2, axis=1).astype(np.int64).ravel()
    keys = np.concatenate([corners * n + following, corners * n + preceding])
    unique_keys, inverse = distinct_with_inverse(keys)
    m = len(corners)
    graph = coo_matrix(
        (np.ones(m, dtype=np.int8), (inverse[:m], inverse[m:])),
        shape=(len(unique_keys), len(unique_keys)),
    )
    _, component = connected_components(graph, directed=False)
    fans = component[inverse[:m]]  # spokes of one fan share its vertex: fan ids are per vertex
    fan_vertex = np.empty(int(fans.max()) + 1, dtype=np.int64)
    fan_vertex[fans] = corners
    return fans, fan_vertex
