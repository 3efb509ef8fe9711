"""Edge and vertex topology of meshes: boundary, non-manifold, winding and vertex fans."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core.mesh import Mesh
from workstation.processing.int_sort import stable_argsort

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


def boundary_edges(faces: np.ndarray, analysis: EdgeAnalysis | None = None) -> np.ndarray:
    """Directed edges (a, b) of triangles whose undirected edge no other triangle uses.

    ``analysis`` is the faces' ``analyse_edges`` when the caller already has it.
    """
    analysis = analysis or analyse_edges(faces, int(faces.max()) + 1)
    lone = np.flatnonzero(analysis.uses() == 1)
    return np.stack([faces.ravel()[lone], faces[:, [1, 2, 0]].ravel()[lone]], axis=1)


def edge_counts(faces: np.ndarray, n_vertices: int) -> tuple[int, int, int]:
    """(boundary, non-manifold, inconsistently wound) edge counts."""
    analysis = analyse_edges(faces, n_vertices)
    return analysis.boundary, analysis.nonmanifold, analysis.inconsistent


#: Pinched points up to which a closed mesh's fans are found by walking round them one by
#: one (in Python); beyond, by connected components, which take the same time for any count.
MAX_PINCHED_TO_WALK = 2000


@dataclass
class EdgeAnalysis:
    """The half-edges of a mesh grouped by undirected edge (one sort serves every count).

    ``order`` lists the half-edges (``3 * face + corner``, from that corner to the next)
    sorted by undirected edge and then direction; ``same`` marks each sorted half-edge
    whose undirected edge equals the next one's; ``flipped`` tells, per half-edge, that it
    runs from the higher vertex number to the lower.
    """

    faces: np.ndarray
    order: np.ndarray
    same: np.ndarray
    flipped: np.ndarray
    sizes: np.ndarray  # half-edges along each undirected edge, in sorted order
    boundary: int
    nonmanifold: int
    inconsistent: int
    _fans: tuple[np.ndarray, np.ndarray] | None = None
    _step: np.ndarray | None = None
    _pinched: np.ndarray | None = None

    def uses(self) -> np.ndarray:
        """How many half-edges run along each half-edge's undirected edge (face-major)."""
        uses = np.empty(len(self.order), dtype=np.int64)
        uses[self.order] = np.repeat(self.sizes, self.sizes)
        return uses

    @property
    def corners(self) -> np.ndarray:
        """The vertex of every corner (``3 * face + i``), face-major."""
        return self.faces.astype(np.int64, copy=False).ravel()

    @property
    def closed(self) -> bool:
        """Watertight: every edge has exactly two half-edges, running opposite ways."""
        return self.boundary == self.nonmanifold == self.inconsistent == 0

    def fans(self) -> tuple[np.ndarray, np.ndarray]:
        """(fan number of every corner, face-major; the vertex of every fan), computed once.

        Fans are numbered in vertex order, those of one vertex by their lowest corner.
        """
        if self._fans is None:
            walk = self.closed and len(self.pinched_points()) <= MAX_PINCHED_TO_WALK
            self._fans = _fans_by_walking(self) if walk else _fans_of(self)
        return self._fans

    def pinched_points(self) -> np.ndarray:
        """The points (vertex numbers) where more than one fan of triangles meets."""
        if self._pinched is None:
            self._pinched = self._find_pinched_points()
        return self._pinched

    def _find_pinched_points(self) -> np.ndarray:
        if not self.closed:
            return np.flatnonzero(np.bincount(self.fans()[1]) > 1)
        corners = self.corners
        step = self.step()
        count = np.bincount(corners)
        start = np.full(len(count), -1, dtype=np.int64)
        start[corners] = np.arange(len(corners), dtype=np.int64)  # a corner of each point
        start = start[start >= 0]
        length = np.ones(len(start), dtype=np.int64)
        current = step[start]
        walking = np.flatnonzero(current != start)
        while walking.size:  # round each fan from its start corner, all at once
            current[walking] = step[current[walking]]
            length[walking] += 1
            walking = walking[current[walking] != start[walking]]
        return np.sort(corners[start[length < count[corners[start]]]])

    def step(self) -> np.ndarray:
        """On a closed mesh, per corner the next corner round the same point: across the
        corner's outgoing edge, in the triangle on the other side."""
        if self._step is None:
            m = len(self.order)
            twin = np.empty(m, dtype=np.int64)
            twin[self.order[0::2]] = self.order[1::2]
            twin[self.order[1::2]] = self.order[0::2]
            self._step = _following(m)[twin]
        return self._step


def analyse_edges(faces: np.ndarray, n_vertices: int) -> EdgeAnalysis:
    """Group the half-edges of ``faces`` by undirected edge and count the three defects."""
    n = np.int64(max(n_vertices, 1))
    start = faces.astype(np.int64, copy=False).ravel()
    end = faces[:, [1, 2, 0]].astype(np.int64, copy=False).ravel()
    flipped = start > end
    keys = (np.minimum(start, end) * n + np.maximum(start, end)) * 2 + flipped
    order = stable_argsort(keys)
    ordered = keys[order]
    # two half-edges the same way round along one edge: inconsistent winding
    inconsistent = int(np.count_nonzero(ordered[1:] == ordered[:-1]))
    ordered >>= 1
    same = ordered[1:] == ordered[:-1]
    starts = np.flatnonzero(np.concatenate(([True], ~same)))
    sizes = np.diff(np.append(starts, len(ordered)))
    return EdgeAnalysis(
        faces,
        order,
        same,
        flipped,
        sizes,
        boundary=int(np.count_nonzero(sizes == 1)),
        nonmanifold=int(np.count_nonzero(sizes > 2)),
        inconsistent=inconsistent,
    )


def edge_info(mesh: Mesh, analysis: EdgeAnalysis | None = None) -> EdgeInfo:
    """Count boundary, non-manifold and inconsistently wound edges, and non-manifold vertices."""
    faces = mesh.faces
    if len(faces) == 0:
        return EdgeInfo(0, 0, 0, 0)
    analysis = analysis or analyse_edges(faces, mesh.n_vertices)
    pinched = len(analysis.pinched_points())
    return EdgeInfo(analysis.boundary, analysis.nonmanifold, analysis.inconsistent, pinched)


def _fans_of(analysis: EdgeAnalysis) -> tuple[np.ndarray, np.ndarray]:
    """Fans as connected groups of corners: two half-edges along one edge join the corners
    of their triangles at each of the edge's two vertices."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    corners = analysis.corners
    m = len(corners)
    first = analysis.order[:-1][analysis.same]
    second = analysis.order[1:][analysis.same]
    following = _following(m)

    def at_low(half_edges: np.ndarray) -> np.ndarray:
        return np.where(analysis.flipped[half_edges], following[half_edges], half_edges)

    def at_high(half_edges: np.ndarray) -> np.ndarray:
        return np.where(analysis.flipped[half_edges], half_edges, following[half_edges])

    rows = np.concatenate([at_low(first), at_high(first)])
    cols = np.concatenate([at_low(second), at_high(second)])
    index_type = np.int32 if m < 2**31 else np.int64
    indptr = np.zeros(m + 1, dtype=index_type)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    graph = csr_matrix(
        (np.ones(len(rows), dtype=np.int8), cols[stable_argsort(rows)].astype(index_type), indptr),
        shape=(m, m),
    )
    count, labels = connected_components(graph, directed=True, connection="weak")
    fan_vertex = np.empty(count, dtype=np.int64)
    fan_vertex[labels] = corners
    by_vertex = stable_argsort(fan_vertex)  # number the fans in vertex order
    rank = np.empty(count, dtype=np.int64)
    rank[by_vertex] = np.arange(count, dtype=np.int64)
    return rank[labels], fan_vertex[by_vertex]


def _following(m: int) -> np.ndarray:
    """Per half-edge (or corner) of ``m``, the corner it ends at: the next of its triangle."""
    following = np.arange(1, m + 1, dtype=np.int64)
    following[2::3] -= 3
    return following


def _fans_by_walking(analysis: EdgeAnalysis) -> tuple[np.ndarray, np.ndarray]:
    """Fans of a closed mesh: one per used point, but at pinched points one per walk round.

    Numbered as ``_fans_of`` numbers them (vertex order, then lowest corner).
    """
    corners = analysis.corners
    cycles = (np.bincount(corners) > 0).astype(np.int64)  # fans per point
    extra = np.zeros(len(corners), dtype=np.int64)  # which of its point's fans
    pinched = analysis.pinched_points()
    if pinched.size:
        step = analysis.step()
        cycles[pinched] = 0
        at_pinched = np.zeros(len(cycles), dtype=bool)
        at_pinched[pinched] = True
        walked = np.zeros(len(corners), dtype=bool)
        for corner in np.flatnonzero(at_pinched[corners]).tolist():  # few corners
            if walked[corner]:
                continue
            point = int(corners[corner])
            current = corner
            while not walked[current]:
                walked[current] = True
                extra[current] = cycles[point]
                current = int(step[current])
            cycles[point] += 1
    first_fan = np.cumsum(cycles) - cycles
    fan_vertex = np.repeat(np.arange(len(cycles), dtype=np.int64), cycles)
    return first_fan[corners] + extra, fan_vertex
