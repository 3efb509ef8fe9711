"""Exact signed distance to a closed triangle mesh, and offset surfaces from it.

The distance of a point is the exact point-triangle distance to a few candidate
triangles: the faces of the nearest surface samples (a k-d tree over points spread over
every triangle, so long thin triangles are found too).  The sign comes from the
angle-weighted pseudonormal of the closest feature (face, edge or vertex), which is exact
for closed, consistently wound meshes.  Surfaces are extracted by marching cubes on a
narrow band: a coarse grid first, the fine grid only in coarse cells that can hold the
level (the distance is 1-Lipschitz), so cost follows the surface area, not the box volume.
Coarse nodes far from the surface are only bounded (one pruned tree search, no triangle
tests) and take their sign from connected neighbours; queries run in threads over chunks.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.measure import marching_cubes

from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress

#: Nearest samples whose faces are the candidate triangles of a query point.
CANDIDATES = 8
#: Query points handled at once (bounds the (points x candidates) temporaries).
CHUNK = 65_536
#: Grid halvings between the coarse grid (evaluated everywhere) and the output grid.
LEVELS = 3
#: Largest fine grid a default spacing may give (nodes); finer grids need an explicit spacing.
MAX_DEFAULT_NODES = 40_000_000
#: Default grid spacing bounds (mm).
MIN_DEFAULT_SPACING = 0.2
MAX_DEFAULT_SPACING = 1.0
#: Points per k-d tree leaf (larger leaves search faster for points off a surface).
LEAF_SIZE = 32
#: Threads sharing the distance queries (numpy and the k-d tree release the GIL).
THREADS = max(1, min(2, os.cpu_count() or 1))

Field = Callable[[np.ndarray], np.ndarray]


class DistanceField:
    """Signed distance queries against one mesh (> 0 outside, < 0 inside, in mm)."""

    def __init__(self, mesh: Mesh) -> None:
        if not mesh.n_faces:
            raise MeshToolError("the mesh has no triangles to measure a distance to")
        self.vertices = mesh.vertices
        self.faces = mesh.faces
        a, b, c = (self.vertices[self.faces[:, i]] for i in range(3))
        cross = np.cross(b - a, c - a)
        length = np.linalg.norm(cross, axis=1)
        self.face_normals = cross / np.where(length > 0, length, 1.0)[:, None]
        self._edge_normals()
        self._vertex_normals(a, b, c)
        self._samples(a, b, c)

    def _edge_normals(self) -> None:
        """Sum of the unit normals of the faces around every edge, per face edge."""
        faces = self.faces
        pairs = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        pairs.sort(axis=1)
        keys = pairs[:, 0] * np.int64(len(self.vertices)) + pairs[:, 1]
        _, inverse = np.unique(keys, return_inverse=True)
        inverse = inverse.reshape(-1)
        normals = np.tile(self.face_normals, (3, 1))
        count = int(inverse.max()) + 1
        summed = np.stack(
            [np.bincount(inverse, weights=normals[:, i], minlength=count) for i in range(3)], 1
        )
        m = len(faces)
        # face_edge[:, 0] = AB, [:, 1] = BC, [:, 2] = CA
        self.face_edge = np.stack([inverse[:m], inverse[m : 2 * m], inverse[2 * m :]], 1)
        self.edge_normals = summed

    def _vertex_normals(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        """Angle-weighted vertex pseudonormals."""
        def angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
            nu = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
            cos = np.einsum("ij,ij->i", u, v) / np.where(nu > 0, nu, 1.0)
            return np.arccos(np.clip(cos, -1.0, 1.0))

        angles = [angle(b - a, c - a), angle(c - b, a - b), angle(a - c, b - c)]
        n = len(self.vertices)
        total = np.zeros((n, 3))
        for corner in range(3):
            weighted = self.face_normals * angles[corner][:, None]
            idx = self.faces[:, corner]
            for i in range(3):
                total[:, i] += np.bincount(idx, weights=weighted[:, i], minlength=n)
        self.vertex_normals = total

    def _samples(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        """Points spread over every triangle (sub-triangle centroids) and their face ids."""
        edges = np.stack(
            [np.linalg.norm(b - a, axis=1), np.linalg.norm(c - b, axis=1),
             np.linalg.norm(a - c, axis=1)], 1
        )
        longest = edges.max(axis=1)
        step = max(float(np.median(edges)) * 1.5, 1e-6)
        self.median_edge = float(np.median(edges))
        subdivisions = np.clip(np.ceil(longest / step), 1, 48).astype(np.int64)
        points: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        for m in np.unique(subdivisions):
            ids = np.nonzero(subdivisions == m)[0]
            bary = _sub_centroids(int(m))
            pa, pb, pc = a[ids], b[ids], c[ids]
            pts = (
                pa[:, None, :] * bary[None, :, 0:1]
                + pb[:, None, :] * bary[None, :, 1:2]
                + pc[:, None, :] * bary[None, :, 2:3]
            )
            points.append(pts.reshape(-1, 3))
            owners.append(np.repeat(ids, len(bary)))
        self.sample_faces = np.concatenate(owners)
        self.tree = cKDTree(np.concatenate(points), leafsize=LEAF_SIZE)
        # every surface point lies within this of a sample (a sub-triangle's longest edge)
        self.sample_gap = float((longest / subdivisions).max())

    def signed(self, points: np.ndarray, cancel: CancelToken | None = None) -> np.ndarray:
        """Signed distance (mm) of every point; > 0 outside the surface."""
        return self.signed_and_direction(points, cancel)[0]

    def signed_and_direction(
        self, points: np.ndarray, cancel: CancelToken | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Signed distance and the outward unit direction of the surface at the closest point.

        The direction is (point - closest) / distance times the sign, i.e. the outward
        normal seen from the point; it is the feature's pseudonormal on the surface.
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        out = np.empty(len(points))
        direction = np.empty((len(points), 3))

        def work(start: int, step: int, workers: int) -> None:
            if cancel is not None:
                cancel.raise_if_cancelled()
            chunk = points[start : start + step]
            out[start : start + len(chunk)], direction[start : start + len(chunk)] = (
                self._signed_chunk(chunk, workers)
            )

        if THREADS > 1 and len(points) > CHUNK // 4:
            # threads over chunks: each runs the tree search and the triangle tests
            step = min(CHUNK, -(-len(points) // THREADS))
            with ThreadPoolExecutor(THREADS) as pool:
                jobs = [pool.submit(work, start, step, 1) for start in range(0, len(points), step)]
                for job in jobs:
                    job.result()
        else:
            for start in range(0, len(points), CHUNK):
                work(start, CHUNK, THREADS)
        return out, direction

    def bounded(
        self, points: np.ndarray, limit: float, cancel: CancelToken | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Signed distances where |d| < ``limit``; elsewhere ``limit`` and known = False.

        A point with no surface sample within ``limit`` plus the sampling gap is at least
        ``limit`` from the surface (its sign is left to the caller): far points cost one
        pruned tree search instead of a full nearest-triangle search.
        """
        points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        reach = float(limit) + self.sample_gap
        nearest, _ = self.tree.query(points, k=1, distance_upper_bound=reach, workers=THREADS)
        known = np.isfinite(nearest)
        values = np.full(len(points), float(limit))
        values[known] = self.signed(points[known], cancel)
        return values, known

    def _signed_chunk(self, p: np.ndarray, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Signed distances of one chunk of points and the outward directions."""
        k = min(CANDIDATES, self.tree.n)
        _, nearest = self.tree.query(p, k=k, workers=workers)
        nearest = nearest.reshape(len(p), k)
        cand = self.sample_faces[nearest]  # (P, k)
        tri = self.faces[cand]  # (P, k, 3)
        a, b, c = (self.vertices[tri[..., i]] for i in range(3))
        diff, _, _, region = _closest_on_triangles(p[:, None, :], a, b, c)
        dist2 = np.einsum("ijk,ijk->ij", diff, diff)
        best = np.argmin(dist2, axis=1)
        rows = np.arange(len(p))
        face = cand[rows, best]
        reg = region[rows, best]
        vec = diff[rows, best]
        normal = self.face_normals[face].copy()
        for code, corner in ((1, 0), (2, 1), (3, 2)):
            sel = reg == code
            normal[sel] = self.vertex_normals[self.faces[face[sel], corner]]
        for code, edge in ((4, 0), (5, 1), (6, 2)):
            sel = reg == code
            normal[sel] = self.edge_normals[self.face_edge[face[sel], edge]]
        dist = np.sqrt(dist2[rows, best])
        side = np.einsum("ij,ij->i", vec, normal)
        signed = np.where(side < 0, -dist, dist)
        safe = np.where(dist > 1e-12, dist, 1.0)
        direction = vec / safe[:, None] * np.where(side < 0, -1.0, 1.0)[:, None]
        flat = dist <= 1e-12
        if flat.any():
            n = normal[flat]
            direction[flat] = n / np.maximum(np.linalg.norm(n, axis=1), 1e-12)[:, None]
        return signed, direction


def _sub_centroids(m: int) -> np.ndarray:
    """Barycentric centroids of the m*m sub-triangles of a triangle split m times per edge."""
    out = []
    for i in range(m):
        for j in range(m - i):
            out.append(((i + 1 / 3) / m, (j + 1 / 3) / m))
            if i + j < m - 1:
                out.append(((i + 2 / 3) / m, (j + 2 / 3) / m))
    uv = np.array(out)
    return np.column_stack([1 - uv.sum(axis=1), uv[:, 0], uv[:, 1]])


def _closest_on_triangles(
    p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Closest points on triangles (Ericson's regions) as a + v ab + w ac, and the feature.

    Returns (p - closest, v, w, code); codes: 0 face, 1/2/3 vertex a/b/c, 4 edge ab,
    5 edge bc, 6 edge ca.  Work is on scalars per pair; vectors are formed once.
    """
    def dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.einsum("...k,...k->...", u, v)

    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = dot(ab, ap), dot(ac, ap)
    abab, abac, acac = dot(ab, ab), dot(ab, ac), dot(ac, ac)
    # the same products for p - b and p - c, without forming those vectors
    d3, d4 = d1 - abab, d2 - abac
    d5, d6 = d1 - abac, d2 - acac
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        safe = np.where(np.abs(denom) > 0, denom, 1.0)
        v = vb / safe
        w = vc / safe
        e_bc = (d4 - d3) + (d5 - d6)
        t_bc = (d4 - d3) / np.where(e_bc != 0, e_bc, 1.0)
        t_ac = d2 / np.where(d2 - d6 != 0, d2 - d6, 1.0)
        t_ab = d1 / np.where(d1 - d3 != 0, d1 - d3, 1.0)
    region = np.zeros(d1.shape, dtype=np.int8)
    zero = np.zeros_like(d1)
    one = np.ones_like(d1)
    steps = [
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), 5, 1 - t_bc, t_bc),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), 6, zero, t_ac),
        ((d6 >= 0) & (d5 <= d6), 3, zero, one),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), 4, t_ab, zero),
        ((d3 >= 0) & (d4 <= d3), 2, one, zero),
        ((d1 <= 0) & (d2 <= 0), 1, zero, zero),
    ]
    for mask, code, sv, sw in steps:
        v = np.where(mask, sv, v)
        w = np.where(mask, sw, w)
        region = np.where(mask, np.int8(code), region)
    diff = ap - ab * v[..., None] - ac * w[..., None]
    return diff, v, w, region


def signed_distance(mesh: Mesh, points: np.ndarray) -> np.ndarray:
    """Signed distance (mm, > 0 outside) of ``points`` (N, 3) to the closed ``mesh``."""
    return DistanceField(mesh).signed(points)


def default_spacing(mesh: Mesh, margin_mm: float = 0.0) -> float:
    """Grid spacing for offsets of ``mesh``: its median edge, bounded, coarser for huge boxes."""
    a, b = mesh.vertices[mesh.faces[:, 0]], mesh.vertices[mesh.faces[:, 1]]
    edge = float(np.median(np.linalg.norm(b - a, axis=1))) if mesh.n_faces else 1.0
    spacing = min(max(edge, MIN_DEFAULT_SPACING), MAX_DEFAULT_SPACING)
    lo, hi = mesh.bounds()
    extent = (hi - lo) + 2 * margin_mm
    nodes = float(np.prod(extent / spacing + 1))
    if nodes > MAX_DEFAULT_NODES:
        spacing *= (nodes / MAX_DEFAULT_NODES) ** (1 / 3)
    return spacing


def levelset_surface(
    field: Field,
    lower: np.ndarray,
    upper: np.ndarray,
    spacing_mm: float,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    name: str = "Model",
) -> Mesh:
    """Closed surface ``field == 0`` (inside where < 0) of a 1-Lipschitz field in a box.

    The box must hold the whole zero set with a margin (the field > 0 on its faces) so
    the surface closes.  A pyramid of grids halving the spacing evaluates a node only when
    the bound from its coarser neighbours (|f| >= |f(corner)| - distance) cannot rule
    out a sign change on its edges; every other node keeps a certain sign and bound.  A
    ``BoundedField`` is only bounded at far coarse nodes (their signs from neighbours).
    """
    h = float(spacing_mm)
    lower = np.asarray(lower, dtype=np.float64)
    coarse_h = h * 2**LEVELS
    cells = np.maximum(np.ceil((np.asarray(upper) - lower) / coarse_h).astype(int), 1)
    thresholds = [1.01 * h]
    for level in range(LEVELS):
        thresholds.append(thresholds[-1] + h * 2**level * math.sqrt(3.0))
    thresholds.reverse()  # thresholds[j] belongs to the grid of spacing h * 2**(LEVELS - j)
    axes = [lower[i] + coarse_h * np.arange(cells[i] + 1) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    progress(0.0, "Coarse distance grid")
    values, exact = _coarse_values(field, grid, tuple(cells + 1), coarse_h, thresholds[0])
    evaluated = int(exact.sum())
    for level in range(1, LEVELS + 1):
        if cancel is not None:
            cancel.raise_if_cancelled()
        step = h * 2 ** (LEVELS - level)
        values, exact, todo = _refine(values, exact, step, thresholds[level])
        index = np.nonzero(todo)
        count = len(index[0])
        evaluated += count
        chunk = CHUNK * 4
        for start in range(0, count, chunk):
            if cancel is not None:
                cancel.raise_if_cancelled()
            progress(0.05 + 0.85 * (level - 1 + start / max(count, 1)) / LEVELS,
                     "Narrow-band distances")
            sel = tuple(i[start : start + chunk] for i in index)
            pts = lower + step * np.stack(sel, 1).astype(np.float64)
            values[sel] = field(pts)
            exact[sel] = True
    values[values == 0] = np.float32(1e-6 * h)
    if not (values < 0).any():
        raise MeshToolError("the surface is empty (nothing lies inside it)")
    progress(0.9, "Marching cubes")
    verts, faces, _, _ = marching_cubes(values, level=0.0, spacing=(h, h, h))
    mesh = Mesh(verts.astype(np.float64) + lower, faces.astype(np.int64), name=name)
    if mesh.signed_volume() < 0:
        mesh.faces = np.ascontiguousarray(mesh.faces[:, ::-1])
    mesh.report = [f"grid spacing {h:.3g} mm, {evaluated} distance evaluations"]
    progress(1.0, "Surface done")
    return mesh


class BoundedField:
    """A 1-Lipschitz field that can skip far points: ``bounded(points, limit)``.

    ``bounded`` returns (values, known): exact values where known, elsewhere only the
    promise |f| >= limit (the sign is unknown).  ``levelset_surface`` then gives far
    coarse nodes their sign from their connected neighbours.
    """

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Exact values of the field at ``points``."""
        raise NotImplementedError

    def bounded(self, points: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
        """Exact values where |f| < ``limit`` (known), ``limit`` and not known elsewhere."""
        return self(points), np.ones(len(points), dtype=bool)


class _OffsetField(BoundedField):
    """d(x) - distance for a mesh's signed distance d."""

    def __init__(self, df: DistanceField, distance: float, cancel: CancelToken | None) -> None:
        self.df, self.distance, self.cancel = df, float(distance), cancel

    def __call__(self, points: np.ndarray) -> np.ndarray:
        return self.df.signed(points, self.cancel) - self.distance

    def bounded(self, points: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
        # |d| >= limit + |distance| gives |d - distance| >= limit
        values, known = self.df.bounded(points, limit + abs(self.distance), self.cancel)
        values[known] -= self.distance
        values[~known] = limit
        return values, known


def _coarse_values(
    field: Field, grid: np.ndarray, shape: tuple[int, ...], coarse_h: float, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The coarse grid's values and which are exact; far nodes get a signed bound.

    Far nodes (|f| >= limit > the coarse spacing) next to each other or to an exact node
    share its sign (1-Lipschitz: a sign change between nodes one spacing apart needs
    |f(a)| + |f(b)| <= spacing), so each connected piece of far nodes takes the sign of
    an exact neighbour.  The limit also exceeds the next level's threshold, so far nodes
    are never evaluated later.
    """
    bounded = getattr(field, "bounded", None)
    if bounded is None:
        values = np.asarray(field(grid), dtype=np.float32).reshape(shape)
        return values, np.ones(shape, dtype=bool)
    limit = 1.01 * max(coarse_h, threshold)
    raw, known_flat = bounded(grid, limit)
    values = np.asarray(raw, dtype=np.float32).reshape(shape)
    known = np.asarray(known_flat, dtype=bool).reshape(shape)
    if known.all():
        return values, known
    labels, count = ndimage.label(~known)
    sign = np.zeros(count + 1, dtype=np.float32)
    for axis in range(3):
        for lo, hi in ((slice(None, -1), slice(1, None)), (slice(1, None), slice(None, -1))):
            far = tuple(lo if i == axis else slice(None) for i in range(3))
            near = tuple(hi if i == axis else slice(None) for i in range(3))
            pair = labels[far] > 0
            pair &= known[near] & (values[near] != 0)
            sign[labels[far][pair]] = np.sign(values[near][pair])
    unresolved = (sign[labels] == 0) & ~known
    values = np.where(known, values, sign[labels] * np.float32(limit)).astype(np.float32)
    if unresolved.any():  # no exact neighbour (no surface in the box): evaluate them
        index = np.nonzero(unresolved)
        values[index] = np.asarray(field(grid.reshape(*shape, 3)[index]), dtype=np.float32)
        known = known | unresolved
    return values, known


def _refine(
    parent: np.ndarray, parent_exact: np.ndarray, step: float, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Halve the grid: bounded values for new nodes and the mask of nodes to evaluate.

    A new node's |f| is at least the largest |f(corner)| of its parent cell minus the
    distance to the corners (1-Lipschitz); its sign is that corner's.  Nodes of the
    parent keep their values (exact or bound).  A node is evaluated when its bound is at
    most ``threshold``.
    """
    n = parent.shape
    child = np.empty(tuple(2 * s - 1 for s in n), dtype=np.float32)
    todo = np.zeros(child.shape, dtype=bool)
    exact = np.zeros(child.shape, dtype=bool)
    for px in (0, 1):
        for py in (0, 1):
            for pz in (0, 1):
                odd = (px, py, pz)
                size = tuple(n[i] - odd[i] for i in range(3))
                if not all(size):
                    continue
                if not any(odd):
                    child[0::2, 0::2, 0::2] = parent
                    exact[0::2, 0::2, 0::2] = parent_exact
                    todo[0::2, 0::2, 0::2] = ~parent_exact & (np.abs(parent) <= threshold)
                    continue
                best = np.zeros(size, dtype=np.float32)
                for qx in range(px + 1):
                    for qy in range(py + 1):
                        for qz in range(pz + 1):
                            corner = parent[qx : qx + size[0], qy : qy + size[1], qz : qz + size[2]]
                            best = np.where(np.abs(corner) > np.abs(best), corner, best)
                reach = np.float32(step * math.sqrt(sum(odd)))
                bound = np.abs(best) - reach
                target = (slice(px, None, 2), slice(py, None, 2), slice(pz, None, 2))
                child[target] = np.sign(best) * np.maximum(bound, np.float32(0))
                todo[target] = bound <= threshold
    return child, exact, todo


def offset_surface(
    mesh: Mesh,
    distance_mm: float,
    spacing_mm: float | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Mesh:
    """The closed surface at ``distance_mm`` from ``mesh`` (> 0 grows, < 0 shrinks)."""
    distance = float(distance_mm)
    spacing = default_spacing(mesh, abs(distance)) if spacing_mm is None else float(spacing_mm)
    why = "as asked" if spacing_mm is not None else _spacing_reason(mesh, spacing)
    if spacing <= 0:
        raise MeshToolError("the grid spacing must be positive")
    df = DistanceField(mesh)
    lo, hi = mesh.bounds()
    margin = max(distance, 0.0) + 2 * spacing * 2**LEVELS
    result = levelset_surface(
        _OffsetField(df, distance, cancel),
        lo - margin,
        hi + margin,
        spacing,
        progress,
        cancel,
        name=f"{mesh.name} offset {distance:g} mm",
    )
    result.color = mesh.color
    result.report = [
        f"offset {distance:g} mm from a signed distance field, {result.report[0]} ({why})"
    ]
    return result


def _spacing_reason(mesh: Mesh, spacing: float) -> str:
    """Why the default spacing is what it is, in the user's terms."""
    a, b = mesh.vertices[mesh.faces[:, 0]], mesh.vertices[mesh.faces[:, 1]]
    edge = float(np.median(np.linalg.norm(b - a, axis=1)))
    bounded = min(max(edge, MIN_DEFAULT_SPACING), MAX_DEFAULT_SPACING)
    text = f"default: the model's median edge {edge:.3g} mm"
    if bounded != edge:
        text += f", kept within {MIN_DEFAULT_SPACING:g}-{MAX_DEFAULT_SPACING:g} mm"
    if spacing > bounded * 1.0001:
        text += f", coarsened to keep the grid within {MAX_DEFAULT_NODES / 1e6:g} M nodes"
    return text
