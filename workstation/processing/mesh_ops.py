"""Mesh post-processing: volume-preserving smoothing, decimation, cleaning, repair, statistics.

VTK and scipy are imported by the functions that use them: every ``workstation`` command
lists the mesh command, which should not cost their import time (about 0.2 s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from workstation.core.errors import MeshError
from workstation.core.mesh import Mesh
from workstation.processing.decimation import decimate as decimate
from workstation.processing.decimation import merge_vertices as _merge_vertices
from workstation.processing.decimation import sorted_distinct as _distinct

if TYPE_CHECKING:
    from vtkmodules.vtkCommonDataModel import vtkPolyData

#: Holes with at most this many boundary edges are filled by ``repair`` by default.
DEFAULT_MAX_HOLE_EDGES = 100


def _replace(mesh: Mesh, vertices: np.ndarray, faces: np.ndarray, report: list[str]) -> Mesh:
    return Mesh(vertices, faces, name=mesh.name, color=mesh.color, report=[*mesh.report, *report])


def to_polydata(mesh: Mesh) -> vtkPolyData:
    """A vtkPolyData viewing the mesh's arrays (no copy; keep the mesh alive while used)."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonCore import VTK_ID_TYPE, vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    points = vtkPoints()
    points.SetData(numpy_to_vtk(mesh.vertices, deep=0))
    offsets = np.arange(0, 3 * mesh.n_faces + 1, 3, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtk(offsets, deep=0, array_type=VTK_ID_TYPE),
        numpy_to_vtk(mesh.faces.reshape(-1), deep=0, array_type=VTK_ID_TYPE),
    )
    polydata = vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetPolys(cells)
    return polydata


def smooth(mesh: Mesh, iterations: int, pass_band: float = 0.1) -> Mesh:
    """Windowed-sinc smoothing (volume preserving); more iterations / lower pass band = smoother.

    ``pass_band`` in (0, 2): 0.1 is gentle, 0.01 strong (3D Slicer's "smoothing factor"
    0.5).  Topology is unchanged; only vertex positions move.
    """
    if iterations <= 0 or mesh.n_faces == 0:
        return mesh
    if not 0.0 < pass_band < 2.0:
        raise MeshError(f"The smoothing pass band must be between 0 and 2, got {pass_band}.")
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkWindowedSincPolyDataFilter

    from workstation.processing.surface import use_parallel_vtk

    use_parallel_vtk()
    smoother = vtkWindowedSincPolyDataFilter()
    smoother.SetInputData(to_polydata(mesh))
    smoother.SetNumberOfIterations(int(iterations))
    smoother.SetPassBand(float(pass_band))
    smoother.BoundarySmoothingOff()
    smoother.FeatureEdgeSmoothingOff()
    smoother.NonManifoldSmoothingOff()
    smoother.NormalizeCoordinatesOn()
    smoother.Update()
    vertices = vtk_to_numpy(smoother.GetOutput().GetPoints().GetData()).astype(np.float64)
    report = [f"Smoothed: windowed sinc, {iterations} iterations, pass band {pass_band:g}"]
    return _replace(mesh, vertices, mesh.faces, report)


def clean(mesh: Mesh) -> tuple[Mesh, list[str]]:
    """Merge duplicate points, drop degenerate and duplicate triangles and unused points."""
    report: list[str] = []
    vertices, faces, merged = _merge_vertices(mesh.vertices, mesh.faces)
    if merged:
        report.append(f"Merged {merged:,} duplicate points")
    degenerate = (
        (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    )
    if degenerate.any():
        faces = faces[~degenerate]
        report.append(f"Removed {int(degenerate.sum()):,} degenerate triangles")
    if len(faces):
        keep = _unique_faces(faces)
        if not keep.all():
            faces = faces[keep]
            report.append(f"Removed {int((~keep).sum()):,} duplicate triangles")
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    if not used.all():
        remap = np.cumsum(used) - 1
        faces = remap[faces]
        vertices = vertices[used]
        report.append(f"Removed {int((~used).sum()):,} unused points")
    if not report:
        return mesh, []
    return _replace(mesh, vertices, faces, report), report


#: Codes ``9*p0 + 3*p1 + p2`` of the even permutations of (0, 1, 2).
_EVEN_PERMUTATIONS = (5, 15, 19)


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Of integer ``keys``: (first index, group of every element, size) of each distinct key."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    new = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    starts = np.flatnonzero(new)
    return order[starts], inverse, np.diff(np.append(starts, len(keys)))


def _unique_faces(faces: np.ndarray) -> np.ndarray:
    """Mask keeping one copy of repeated triangles; opposite-wound pairs (double walls) go."""
    order = np.argsort(faces, axis=1)
    ordered = np.take_along_axis(faces, order, axis=1).astype(np.int64)
    n = int(ordered[:, 2].max()) + 1
    if n < 2**21:  # one int64 key per triangle: sorting it is ~5x faster than void keys
        first, inverse, counts = _groups((ordered[:, 0] * n + ordered[:, 1]) * n + ordered[:, 2])
    else:
        keys = np.ascontiguousarray(ordered).view(np.dtype((np.void, 24))).ravel()
        _, first, inverse, counts = np.unique(
            keys, return_index=True, return_inverse=True, return_counts=True
        )
        inverse = inverse.reshape(-1)
    if len(first) == len(faces):
        return np.ones(len(faces), dtype=bool)
    code = order[:, 0] * 9 + order[:, 1] * 3 + order[:, 2]
    even = np.isin(code, _EVEN_PERMUTATIONS)
    even_count = np.bincount(inverse, weights=even, minlength=len(first))
    mixed = (even_count > 0) & (even_count < counts)
    keep = np.zeros(len(faces), dtype=bool)
    keep[first] = True
    keep &= ~mixed[inverse]
    return keep


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


def _occurrences(keys: np.ndarray) -> np.ndarray:
    """How often each element's value occurs in ``keys`` (sort based, fast for int64)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(keys)
    ordered = keys[order]
    group = np.cumsum(np.concatenate([[True], ordered[1:] != ordered[:-1]])) - 1
    result = np.empty(len(keys), dtype=np.int64)
    result[order] = np.bincount(group)[group]
    return result


def _boundary_edges(faces: np.ndarray) -> np.ndarray:
    """Directed edges (a, b) of triangles whose undirected edge no other triangle uses."""
    directed = _directed_edges(faces).astype(np.int64)
    n = np.int64(faces.max() + 1)
    undirected = np.minimum(directed[:, 0], directed[:, 1]) * n + np.maximum(
        directed[:, 0], directed[:, 1]
    )
    return directed[_occurrences(undirected) == 1]


def _directed_edges(faces: np.ndarray) -> np.ndarray:
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def _edge_counts(faces: np.ndarray, n_vertices: int) -> tuple[int, int, int]:
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
    boundary, nonmanifold, inconsistent = _edge_counts(faces, mesh.n_vertices)
    fan_vertex = _fan_vertices(faces, np.int64(max(mesh.n_vertices, 1)))[1]
    pinched = int(np.count_nonzero(np.bincount(fan_vertex) > 1))
    return EdgeInfo(boundary, nonmanifold, inconsistent, pinched)


def _fan_vertices(faces: np.ndarray, n: np.int64) -> tuple[np.ndarray, np.ndarray]:
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
    unique_keys, inverse = np.unique(keys, return_inverse=True)
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


def split_nonmanifold_vertices(mesh: Mesh) -> tuple[Mesh, int]:
    """Give every fan of a vertex its own copy of the vertex (same position)."""
    if mesh.n_faces == 0:
        return mesh, 0
    fans, fan_vertex = _fan_vertices(mesh.faces, np.int64(max(mesh.n_vertices, 1)))
    added = len(fan_vertex) - len(_distinct(mesh.faces))
    if added == 0:
        return mesh, 0
    report = [f"Split {added} pinched points so every point has one fan of triangles"]
    return _replace(mesh, mesh.vertices[fan_vertex], fans.reshape(-1, 3), report), added


def _faces_on_bad_edges(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """Mask of triangles with an edge used by more than two triangles."""
    n = np.int64(max(n_vertices, 1))
    a = faces.astype(np.int64)
    b = np.roll(a, -1, axis=1)
    undirected = (np.minimum(a, b) * n + np.maximum(a, b)).ravel()
    return (_occurrences(undirected) > 2).reshape(-1, 3).any(axis=1)


def _faces_at_pinched_boundaries(faces: np.ndarray) -> np.ndarray:
    """Mask of triangles touching a vertex where several hole boundaries meet."""
    if len(faces) == 0:
        return np.zeros(0, dtype=bool)
    starts = _boundary_edges(faces)[:, 0]
    if starts.size == 0:
        return np.zeros(len(faces), dtype=bool)
    pinched = np.zeros(int(faces.max()) + 1, dtype=bool)
    pinched[starts[_occurrences(starts) > 1]] = True
    return pinched[faces].any(axis=1)


def keep_faces(mesh: Mesh, keep: np.ndarray, report: list[str] | None = None) -> Mesh:
    """The mesh of the triangles where ``keep`` is True, without the points they leave unused."""
    faces = mesh.faces[keep]
    used = np.zeros(mesh.n_vertices, dtype=bool)
    used[faces.ravel()] = True
    remap = np.cumsum(used) - 1
    return _replace(mesh, mesh.vertices[used], remap[faces], report or [])


def _drop_faces(mesh: Mesh, drop: np.ndarray) -> Mesh:
    return keep_faces(mesh, ~drop)


def vertex_components(mesh: Mesh) -> tuple[np.ndarray, int]:
    """Component number of every vertex (edges of the triangles connect vertices)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    faces = mesh.faces
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    n = mesh.n_vertices
    # CSR built directly (one argsort) is ~2.5x faster than scipy's COO conversion
    index_type = np.int32 if len(rows) < 2**31 else np.int64
    order = np.argsort(rows)
    indptr = np.zeros(n + 1, dtype=index_type)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    graph = csr_matrix(
        (np.ones(len(rows), dtype=np.int8), cols[order].astype(index_type), indptr),
        shape=(n, n),
    )
    count, labels = connected_components(graph, directed=True, connection="weak")
    return labels, int(count)


def count_components(mesh: Mesh) -> int:
    """Number of connected pieces (triangles sharing vertices)."""
    if mesh.n_faces == 0:
        return 0
    labels, _ = vertex_components(mesh)
    return len(_distinct(labels[_distinct(mesh.faces)]))


#: Triangles processed at a time by the chunked geometry helpers (bounded temporaries).
_CHUNK = 500_000


def face_signed_volumes(vertices: np.ndarray, faces: np.ndarray, chunk: int = _CHUNK) -> np.ndarray:
    """Signed volume of the tetrahedron (origin, triangle) per face, in bounded memory."""
    result = np.empty(len(faces), dtype=np.float64)
    for start in range(0, len(faces), chunk):
        part = faces[start : start + chunk]
        a, b, c = (vertices[part[:, i]] for i in range(3))
        result[start : start + chunk] = np.einsum("ij,ij->i", a, np.cross(b, c)) / 6.0
    return result


def component_labels(mesh: Mesh) -> tuple[np.ndarray, int]:
    """Component number of every triangle (pieces share vertices) and the number of pieces."""
    labels, count = vertex_components(mesh)
    return labels[mesh.faces[:, 0]], count


@dataclass
class Pieces:
    """Connected pieces of a mesh: piece of every point and triangle, enclosed volumes."""

    of_point: np.ndarray
    of_face: np.ndarray
    count: int
    volumes: np.ndarray  # mm^3, negative for inner cavity surfaces


def pieces(mesh: Mesh) -> Pieces:
    """Label the connected pieces of ``mesh`` and measure the volume each encloses."""
    of_point, count = vertex_components(mesh)
    of_face = of_point[mesh.faces[:, 0]]
    volumes = np.bincount(
        of_face, weights=face_signed_volumes(mesh.vertices, mesh.faces), minlength=count
    )
    return Pieces(of_point, of_face, count, volumes)


def small_pieces(mesh: Mesh, parts: Pieces, min_mm3: float) -> np.ndarray:
    """Per piece: True for closed pieces under ``min_mm3`` and the cavities inside them.

    Inner cavity surfaces (negative enclosed volume) of kept pieces are kept.  With
    6-connected voxel islands meshed at 0.5, each piece is one island, so this equals
    ``islands.remove_small`` measured by the surface's volume, at a fraction of the cost.
    """
    small = (parts.volumes > 0) & (parts.volumes < min_mm3)
    cavities = parts.volumes < 0
    if small.any() and cavities.any():
        small |= _cavities_of(
            mesh, parts.of_face, parts.count, small, cavities, parts.volumes, min_mm3
        )
    return small


def remove_small_components(mesh: Mesh, min_mm3: float) -> tuple[Mesh, int, np.ndarray]:
    """Drop closed pieces enclosing less than ``min_mm3`` (see ``small_pieces``).

    Returns (mesh, pieces removed, piece number of every remaining triangle).
    """
    parts = pieces(mesh)
    if min_mm3 <= 0 or mesh.n_faces == 0:
        return mesh, 0, parts.of_face
    small = small_pieces(mesh, parts, min_mm3)
    removed = int(np.count_nonzero(small & (parts.volumes > 0)))
    if removed == 0:
        return mesh, 0, parts.of_face
    keep = ~small[parts.of_face]
    report = [f"Removed {removed:,} pieces smaller than {min_mm3:g} mm^3"]
    return keep_faces(mesh, keep, report), removed, parts.of_face[keep]


def _piece_bounds(mesh: Mesh, face_labels: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounding box (low, high) of every piece, (count, 3) each (points sorted by piece)."""
    point_piece = np.full(mesh.n_vertices, count, dtype=np.int64)  # unused points: no piece
    point_piece[mesh.faces.ravel()] = np.repeat(face_labels, 3)
    order = np.argsort(point_piece, kind="stable")
    pieces = point_piece[order]
    starts = np.flatnonzero(np.concatenate([[True], pieces[1:] != pieces[:-1]]))
    points = mesh.vertices[order]
    low = np.full((count + 1, 3), np.inf)
    high = np.full((count + 1, 3), -np.inf)
    low[pieces[starts]] = np.minimum.reduceat(points, starts, axis=0)
    high[pieces[starts]] = np.maximum.reduceat(points, starts, axis=0)
    return low[:count], high[:count]


def _cavities_of(
    mesh: Mesh,
    face_labels: np.ndarray,
    count: int,
    removed: np.ndarray,
    cavities: np.ndarray,
    volumes: np.ndarray,
    min_mm3: float,
) -> np.ndarray:
    """Cavity pieces lying (by bounding box) inside a piece that is being removed.

    Removed pieces enclose less than ``min_mm3`` and kept ones more, so when a removed
    piece contains a cavity it is the innermost piece containing it; only cavities
    smaller than ``min_mm3`` can be inside one.
    """
    result = np.zeros(count, dtype=bool)
    candidates = np.flatnonzero(cavities & (-volumes < min_mm3))
    owners = np.flatnonzero(removed)
    if candidates.size == 0 or owners.size == 0:
        return result
    low, high = _piece_bounds(mesh, face_labels, count)
    owner_low, owner_high = low[owners].T.copy(), high[owners].T.copy()  # (3, owners)
    step = max(1, 4_000_000 // len(owners))
    for start in range(0, len(candidates), step):
        chunk = candidates[start : start + step]
        inside = owner_low[0] <= low[chunk, 0][:, None]
        for axis in range(3):
            if axis:
                inside &= owner_low[axis] <= low[chunk, axis][:, None]
            inside &= owner_high[axis] >= high[chunk, axis][:, None]
        result[chunk] = inside.any(axis=1)
    return result


def _boundary_loops(faces: np.ndarray) -> tuple[list[list[int]], int]:
    """Closed loops of boundary edges, each as the hole's vertex cycle to fill (reversed).

    Returns (loops, skipped) where skipped counts boundary edges on ambiguous vertices.
    """
    boundary = _boundary_edges(faces)
    # the filling triangles run along the reversed boundary edges: b -> a
    starts, ends = boundary[:, 1], boundary[:, 0]
    unique_starts, start_counts = np.unique(starts, return_counts=True)
    ambiguous = set(unique_starts[start_counts > 1].tolist())
    following = {int(s): int(e) for s, e in zip(starts, ends, strict=True) if s not in ambiguous}
    loops: list[list[int]] = []
    visited: set[int] = set()
    skipped = 0
    for start in list(following):
        if start in visited:
            continue
        loop = [start]
        visited.add(start)
        current = following[start]
        closed = False
        while True:
            if current == start:
                closed = True
                break
            if current in visited or current not in following:
                break
            loop.append(current)
            visited.add(current)
            current = following[current]
        if closed:
            loops.append(loop)
        else:
            skipped += len(loop)
    return loops, skipped + len(ambiguous)


def fill_holes(mesh: Mesh, max_hole_edges: int) -> tuple[Mesh, list[str]]:
    """Close boundary loops of at most ``max_hole_edges`` edges with a fan of triangles."""
    if mesh.n_faces == 0:
        return mesh, []
    loops, skipped = _boundary_loops(mesh.faces)
    if not loops and not skipped:
        return mesh, []
    vertices = [mesh.vertices]
    new_faces = [mesh.faces]
    next_vertex = mesh.n_vertices
    filled = added = left_open = 0
    for loop in loops:
        if len(loop) > max_hole_edges:
            left_open += 1
            continue
        ring = np.asarray(loop, dtype=np.int64)
        following = np.roll(ring, -1)
        if len(ring) == 3:
            triangles = ring[None, :]
        else:
            vertices.append(mesh.vertices[ring].mean(axis=0, keepdims=True))
            centre = np.full(len(ring), next_vertex, dtype=np.int64)
            triangles = np.stack([ring, following, centre], axis=1)
            next_vertex += 1
        new_faces.append(triangles)
        filled += 1
        added += len(triangles)
    report = []
    if filled:
        report.append(f"Filled {filled} hole(s) with {added} triangles")
    if left_open:
        report.append(f"{left_open} hole(s) larger than {max_hole_edges} edges left open")
    if skipped:
        report.append(f"{skipped} boundary edge(s) on non-manifold points could not be closed")
    if not filled:
        return mesh, report
    return _replace(mesh, np.concatenate(vertices), np.concatenate(new_faces), report), report


#: Rounds of cutting out non-manifold spots and re-closing them.
REPAIR_ROUNDS = 3


def repair(
    mesh: Mesh, max_hole_edges: int = DEFAULT_MAX_HOLE_EDGES, split_vertices: bool = True
) -> tuple[Mesh, list[str]]:
    """Clean, cut out and re-close non-manifold spots, fill small holes, orient outward.

    Triangles on edges shared by more than two triangles (decimation sometimes leaves
    such folds) are removed with their neighbours at pinched hole boundaries, and the
    holes are closed again; inconsistent winding is made consistent; points where
    separate fans of triangles touch are split (unless ``split_vertices`` is False, for
    callers that check ``mesh_statistics`` afterwards and split only when needed).
    Returns the mesh and a report of every change.
    """
    mesh, report = clean(mesh)
    if mesh.n_faces == 0:
        return mesh, report
    cut = 0
    for _ in range(REPAIR_ROUNDS):
        drop = _faces_on_bad_edges(mesh.faces, mesh.n_vertices)
        if not drop.any():
            break
        cut += int(drop.sum())
        mesh = _drop_faces(mesh, drop)
        for _ in range(REPAIR_ROUNDS):
            pinched = _faces_at_pinched_boundaries(mesh.faces)
            if not pinched.any():
                break
            cut += int(pinched.sum())
            mesh = _drop_faces(mesh, pinched)
        mesh, _ = fill_holes(mesh, max_hole_edges)
    if cut:
        report.append(f"Cut out {cut} triangles at non-manifold edges and closed the openings")
    boundary, _, inconsistent = _edge_counts(mesh.faces, mesh.n_vertices)
    if boundary:
        mesh, filled = fill_holes(mesh, max_hole_edges)
        report += filled
        _, _, inconsistent = _edge_counts(mesh.faces, mesh.n_vertices)
    if inconsistent:
        import trimesh

        surface = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
        trimesh.repair.fix_winding(surface)
        mesh = _replace(mesh, surface.vertices, surface.faces, ["Made triangle winding consistent"])
        report.append("Made triangle winding consistent")
    if split_vertices:
        mesh, split = split_nonmanifold_vertices(mesh)
        if split:
            report.append(mesh.report[-1])
    if mesh.n_faces and mesh.signed_volume() < 0:
        mesh = _replace(mesh, mesh.vertices, mesh.faces[:, ::-1], ["Turned the surface outward"])
        report.append("Turned the surface outward (normals were pointing inwards)")
    return mesh, report


@dataclass
class MeshStatistics:
    """What a user checks before printing: size, volume, extent, pieces and closedness."""

    triangles: int
    vertices: int
    volume_mm3: float
    area_mm2: float
    bounds_min: tuple[float, float, float]
    bounds_max: tuple[float, float, float]
    components: int
    watertight: bool
    manifold: bool

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready dictionary."""
        data = asdict(self)
        data["bounds_min"] = list(self.bounds_min)
        data["bounds_max"] = list(self.bounds_max)
        return data


def mesh_statistics(mesh: Mesh) -> MeshStatistics:
    """Triangles, vertices, volume, area, LPS bounds, components, watertight, manifold."""
    low, high = mesh.bounds()
    info = edge_info(mesh)
    return MeshStatistics(
        triangles=mesh.n_faces,
        vertices=mesh.n_vertices,
        volume_mm3=round(mesh.signed_volume(), 3),
        area_mm2=round(mesh.area(), 3),
        bounds_min=tuple(round(float(v), 4) for v in low),  # type: ignore[arg-type]
        bounds_max=tuple(round(float(v), 4) for v in high),  # type: ignore[arg-type]
        components=count_components(mesh),
        watertight=info.watertight and mesh.n_faces > 0,
        manifold=info.manifold and mesh.n_faces > 0,
    )
