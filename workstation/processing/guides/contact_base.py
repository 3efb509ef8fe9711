"""The guide's contact base: the shell {c < d < c + t} of the bone inside the region.

``d`` is the signed distance to the bone, ``c`` the fit clearance and ``t`` the wall
thickness; the shell is cut by the region (a union of spheres) and closed by marching
cubes of one 1-Lipschitz field, so the base is a closed solid whatever the bone's shape.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from workstation.core.guide_plan import Region
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.processing.guides.distance_field import LEVELS, DistanceField, levelset_surface

#: Beyond this (mm) a term of the base's field is not refined by the other terms.
CUTOFF_MM = 2.0


#: Bone facing other bone closer than this (mm) along its normal is hidden from the guide.
HIDDEN_REACH_MM = 15.0
#: The wall may reach past the seam between open and hidden bone by about this (mm):
#: it ends near the bisector of the two, so it never wraps round a thin bone's edge.
SIDE_MM = 1.0
#: Seat vertices are moved onto the exact clearance surface by at most this (mm).
SEAT_PROJECTION_MM = 0.15


def crop_to_box(mesh: Mesh, lower: np.ndarray, upper: np.ndarray) -> Mesh:
    """The triangles of ``mesh`` touching the box (an open patch; distances near it stay exact)."""
    v = mesh.vertices
    inside = np.all((v >= lower) & (v <= upper), axis=1)
    tri = mesh.vertices[mesh.faces]
    overlap = np.all((tri.max(axis=1) >= lower) & (tri.min(axis=1) <= upper), axis=1)
    keep = overlap | inside[mesh.faces].any(axis=1)
    faces = mesh.faces[keep]
    used, inverse = np.unique(faces, return_inverse=True)
    return Mesh(v[used], inverse.reshape(-1, 3), name=mesh.name)


def region_field(region: Region, points: np.ndarray) -> np.ndarray:
    """Distance bound to the region (< 0 inside the union of spheres, 1-Lipschitz)."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    radii = {radius for _, radius in region.spheres}
    if len(region.spheres) > 8 and len(radii) == 1:  # a brush: nearest painted point
        centers = np.array([c for c, _ in region.spheres], dtype=np.float64)
        nearest, _ = cKDTree(centers).query(points, k=1)
        return np.asarray(nearest - radii.pop())
    out = np.full(len(points), np.inf)
    for center, radius in region.spheres:
        out = np.minimum(out, np.linalg.norm(points - np.asarray(center), axis=1) - radius)
    return out


def box_field(lower: np.ndarray, upper: np.ndarray, points: np.ndarray) -> np.ndarray:
    """A 1-Lipschitz field < 0 inside the box (exact distance inside, a bound outside)."""
    return np.max(np.maximum(lower - points, points - upper), axis=1)


def region_touches_bone(region: Region, distance: DistanceField) -> bool:
    """True when the bone surface passes through at least one sphere of the region."""
    centers = np.array([c for c, _ in region.spheres], dtype=np.float64)
    radii = np.array([r for _, r in region.spheres], dtype=np.float64)
    return bool(np.any(np.abs(distance.signed(centers)) < radii))


def hidden_faces(bone: Mesh, local: Mesh, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Faces of ``local`` in the box that face other bone, not open space.

    A ray from the face along its outward normal that meets ``bone`` within
    HIDDEN_REACH_MM marks a sinus wall or a small cavity: surfaces a guide cannot reach.
    Surfaces facing each other across a wider gap (the two sides of a mandible's arch)
    stay open; a skull's inner table is left out as a separate piece (``seated_pieces``).
    """
    return facing_gaps(bone, local, lower, upper) <= HIDDEN_REACH_MM


def facing_gaps(bone: Mesh, local: Mesh, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Per face of ``local`` in the box: how far (mm) along its outward normal bone lies.

    inf where the ray meets no bone or the face lies outside the box.
    """
    from workstation.processing.guides.printability import first_hits, to_trimesh

    tri = local.vertices[local.faces]
    centroids = tri.mean(axis=1)
    inside = np.all((centroids >= lower) & (centroids <= upper), axis=1)
    gaps = np.full(local.n_faces, np.inf)
    if not inside.any():
        return gaps
    cross = np.cross(tri[inside, 1] - tri[inside, 0], tri[inside, 2] - tri[inside, 0])
    length = np.linalg.norm(cross, axis=1)
    normals = cross / np.where(length > 0, length, 1.0)[:, None]
    gaps[np.nonzero(inside)[0]] = first_hits(
        to_trimesh(bone), centroids[inside], normals, min_distance=0.05
    )
    return gaps


def without_faces(mesh: Mesh, drop: np.ndarray) -> Mesh:
    """``mesh`` less the faces marked in ``drop`` (an open patch)."""
    faces = mesh.faces[~drop]
    used, inverse = np.unique(faces, return_inverse=True)
    return Mesh(mesh.vertices[used], inverse.reshape(-1, 3), name=mesh.name)


def build_base(
    distance: DistanceField,
    region: Region,
    clearance_mm: float,
    thickness_mm: float,
    spacing_mm: float,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    open_surface: DistanceField | None = None,
    hidden_surface: Mesh | None = None,
    slit_surface: Mesh | None = None,
) -> Mesh:
    """Closed base: marching cubes of max(c - d, d - (c + t), region) on a local grid.

    With ``open_surface`` (the bone's faces that face open space) and ``hidden_surface``
    (the others) the wall follows the open surface only and stays on its side:
    max(c - d, |d_open| - (c + t), (|d_open| - |d_hidden| - SIDE_MM) / 2, region), so
    hidden surfaces (a skull's inner table, sinus walls, the back of a thin bone's edge)
    carry no base and no thin tongue wraps round an edge into a slit behind it.  With
    ``slit_surface`` (hidden faces across a gap too narrow for a wall between the two
    clearances) the wall ends at the bisector there: (|d_open| - |d_slit|) / 2.
    """
    c, t = float(clearance_mm), float(thickness_mm)
    skip = max(4 * CUTOFF_MM, 2 * (CUTOFF_MM + c + t))
    hidden_tree, hidden_reach = _hidden_bound(hidden_surface)
    slit_tree, slit_reach = _hidden_bound(slit_surface)
    slit_field = DistanceField(slit_surface) if slit_surface is not None else None

    def field(points: np.ndarray) -> np.ndarray:
        # F = max(shell, region(foot) / 2): the rim follows the bone's normals (the wall
        # ends square, no thin wedge where a sphere would cut it at a glancing angle);
        # halving keeps the term 1-Lipschitz where the foot point moves faster than x.
        # Far from the region a lower bound of the same sign is returned (the narrow band
        # treats bounds safely): F >= min(r / 4, r / 2 - (c + t)) with r = region(x).
        r = region_field(region, points)
        out = np.minimum(r / 4, r / 2 - (c + t))
        todo = np.nonzero(r < skip)[0]
        pts = points[todo]
        d, outward = distance.signed_and_direction(pts, cancel)
        rim = 0.5 * region_field(region, pts - d[:, None] * outward)
        shell = np.maximum(c - d, d - (c + t))
        if open_surface is not None:  # |d_open| >= |d|: the plain shell is a bound already
            need = np.nonzero(np.maximum(shell, rim) < CUTOFF_MM)[0]
            d_open = np.abs(open_surface.signed(pts[need], cancel))
            shell[need] = np.maximum(c - d[need], d_open - (c + t))
            if hidden_tree is not None:
                shell[need] = np.maximum(shell[need], _side_term(
                    d_open, np.abs(d[need]), pts[need], hidden_tree, hidden_reach))
            if slit_field is not None and slit_tree is not None:
                shell[need] = _slit_term(shell[need], d_open, np.abs(d[need]), pts[need],
                                         slit_field, slit_tree, slit_reach, cancel)
        out[todo] = np.maximum(shell, rim)
        return out

    lower, upper = region.bounds()
    margin = 2 * spacing_mm * 2**LEVELS
    return levelset_surface(
        field, lower - margin, upper + margin, spacing_mm, progress, cancel, name="Guide base"
    )


def _hidden_bound(hidden: Mesh | None) -> tuple[cKDTree | None, float]:
    """A k-d tree of the hidden faces' centroids and their largest centroid-corner reach."""
    if hidden is None or not hidden.n_faces:
        return None, 0.0
    tri = hidden.vertices[hidden.faces]
    centroids = tri.mean(axis=1)
    reach = float(np.linalg.norm(tri - centroids[:, None], axis=2).max())
    return cKDTree(centroids), reach


def _side_term(d_open: np.ndarray, d_near: np.ndarray, points: np.ndarray,
               tree: cKDTree, reach: float) -> np.ndarray:
    """(|d_open| - |d_hidden| - SIDE_MM) / 2: > 0 where hidden bone is clearly nearer.

    Where the nearest bone is hidden, |d_hidden| = |d| (exact).  Where it is open,
    |d_hidden| is bounded below by the nearest hidden centroid less ``reach``, which gives
    an upper bound of the same sign (negative), as the narrow band needs.
    """
    side = 0.5 * (d_open - d_near - SIDE_MM)
    nearest_open = d_open - d_near <= 1e-9
    if nearest_open.any():
        gap, _ = tree.query(points[nearest_open], k=1)
        lower = np.maximum(d_near[nearest_open], gap - reach)
        side[nearest_open] = 0.5 * (d_near[nearest_open] - lower - SIDE_MM)
    return np.asarray(side)


def _slit_term(current: np.ndarray, d_open: np.ndarray, d_near: np.ndarray,
               points: np.ndarray, slit: DistanceField, tree: cKDTree, reach: float,
               cancel: CancelToken | None) -> np.ndarray:
    """max(current, (|d_open| - |d_slit|) / 2), |d_slit| exact only where it can matter.

    |d_slit| >= |d| and, where the nearest bone is open, |d_slit| >= the nearest slit
    centroid less ``reach``: the term's upper bound from these is computed first, and
    |d_slit| is evaluated only where that bound exceeds ``current`` (elsewhere the term
    cannot change the maximum).
    """
    out = current.copy()
    bound = 0.5 * (d_open - d_near)
    nearest_open = d_open - d_near <= 1e-9
    if nearest_open.any():
        gap, _ = tree.query(points[nearest_open], k=1)
        lower = np.maximum(d_near[nearest_open], gap - reach)
        bound[nearest_open] = 0.5 * (d_near[nearest_open] - lower)
    todo = np.nonzero(bound > out)[0]
    if len(todo):
        d_slit = np.abs(slit.signed(points[todo], cancel))
        out[todo] = np.maximum(out[todo], 0.5 * (d_open[todo] - d_slit))
    return out


def project_seat(base: Mesh, distance: DistanceField, clearance_mm: float,
                 band_mm: float, bone: Mesh | None = None) -> tuple[Mesh, int]:
    """Move the base's seat vertices onto the exact clearance surface {d = c}.

    Marching cubes interpolates d linearly along grid edges, so where the bone has a
    sharp concave crease (d has a kink) the seat's vertices sit up to a third of the grid
    spacing off.  One Newton step along the distance direction, x - (d(x) - c) n(x),
    puts a vertex on the level set (d is exact and 1-Lipschitz); vertices within
    ``band_mm`` of it and moving at most SEAT_PROJECTION_MM are moved, and any move that
    would turn a triangle over is undone, so the mesh stays closed and manifold.  Given
    ``bone`` (the mesh of ``distance``), vertices that its nearest vertex proves far from
    the seat (|d| >= that distance less the longest edge) are not queried.
    Returns the mesh and how many vertices moved.
    """
    c = float(clearance_mm)
    v = base.vertices
    query = np.ones(len(v), dtype=bool)
    if bone is not None and bone.n_faces:
        tri = bone.vertices[bone.faces]
        longest = float(np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max())
        nearest, _ = cKDTree(bone.vertices).query(v, k=1)
        query = nearest - longest <= c + band_mm
    d = np.full(len(v), np.inf)
    outward = np.zeros_like(v)
    if query.any():
        d[query], outward[query] = distance.signed_and_direction(v[query])
    step = d - c
    move = (np.abs(step) <= band_mm) & (np.abs(step) <= SEAT_PROJECTION_MM) & (step != 0)
    if not move.any():
        return base, 0
    faces = base.faces

    def normals(points: np.ndarray) -> np.ndarray:
        tri = points[faces]
        return np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])

    before = normals(v)
    while True:  # undo moves that turn a triangle over (the moving set only shrinks)
        moved = v.copy()
        moved[move] -= step[move, None] * outward[move]
        after = normals(moved)
        area = np.einsum("ij,ij->i", before, before)
        bad = np.einsum("ij,ij->i", before, after) <= 0.1 * area
        bad &= move[faces].any(axis=1)
        if not bad.any():
            break
        move[faces[bad].ravel()] = False
    return Mesh(moved, faces.copy(), name=base.name), int(move.sum())


def seated_pieces(base: Mesh, region: Region, reach_mm: float) -> tuple[Mesh, int]:
    """Keep the base's pieces that pass within ``reach_mm`` of a region centre.

    A region reaching through a thin bone (a skull's outer and inner tables) also holds
    the far side's surface; the user picked the near side, where the centres are.  When
    no piece is that close every piece is kept.  Returns the mesh and how many were dropped.
    """
    faces = base.faces
    n = base.n_vertices
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    count, labels = connected_components(graph, directed=False)
    if count <= 1:
        return base, 0
    centers = np.array([c for c, _ in region.spheres], dtype=np.float64)
    near = np.zeros(count, dtype=bool)
    for center in centers:
        close = np.linalg.norm(base.vertices - center, axis=1) <= reach_mm
        near[np.unique(labels[close])] = True
    if not near.any():
        return base, 0
    keep_vertex = near[labels]
    keep_face = keep_vertex[faces[:, 0]]
    used, inverse = np.unique(faces[keep_face], return_inverse=True)
    kept = Mesh(base.vertices[used], inverse.reshape(-1, 3), name=base.name)
    return kept, int(count - near.sum())


def bone_layer(
    distance: DistanceField,
    level_mm: float,
    depth_mm: float,
    lower: np.ndarray,
    upper: np.ndarray,
    spacing_mm: float,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Mesh:
    """The bone grown to ``level_mm`` as a closed layer {-depth < d < level} in a box.

    Subtracted from sleeves and housings so they stop inside the base's wall and nothing
    reaches into the bone; the inner face lies ``depth_mm`` under the bone surface.
    """
    level, depth = float(level_mm), float(depth_mm)

    def field(points: np.ndarray) -> np.ndarray:
        d = distance.signed(points, cancel)
        layer = np.maximum(d - level, -(d + depth))
        return np.maximum(layer, box_field(lower, upper, points))

    margin = 2 * spacing_mm * 2**LEVELS
    return levelset_surface(
        field, lower - margin, upper + margin, spacing_mm, progress, cancel, name="Bone layer"
    )
