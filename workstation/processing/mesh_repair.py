"""Mesh repair: cut out non-manifold spots, fill holes, fix winding, split pinched points."""

from __future__ import annotations

import numpy as np

from workstation.core.mesh import Mesh
from workstation.processing.decimation import sorted_distinct as _distinct
from workstation.processing.int_sort import occurrences
from workstation.processing.mesh_cleaning import clean
from workstation.processing.mesh_edit import keep_faces, with_arrays
from workstation.processing.mesh_topology import (
    EdgeAnalysis,
    analyse_edges,
    boundary_edges,
    edge_counts,
)

# trimesh is imported inside the functions that use it: every ``workstation`` command
# lists the mesh command, which should not pay its import time.

#: Holes with at most this many boundary edges are filled by ``repair`` by default.
DEFAULT_MAX_HOLE_EDGES = 100


def split_nonmanifold_vertices(
    mesh: Mesh, analysis: EdgeAnalysis | None = None
) -> tuple[Mesh, int]:
    """Give every fan of a vertex its own copy of the vertex (same position).

    ``analysis`` is the mesh's ``analyse_edges`` when the caller already has it.
    """
    if mesh.n_faces == 0:
        return mesh, 0
    analysis = analysis or analyse_edges(mesh.faces, mesh.n_vertices)
    fans, fan_vertex = analysis.fans()
    added = len(fan_vertex) - len(_distinct(mesh.faces))
    if added == 0:
        return mesh, 0
    report = [f"Split {added} pinched points so every point has one fan of triangles"]
    return with_arrays(mesh, mesh.vertices[fan_vertex], fans.reshape(-1, 3), report), added


def _faces_on_bad_edges(analysis: EdgeAnalysis) -> np.ndarray:
    """Mask of triangles with an edge used by more than two triangles."""
    return np.any((analysis.uses() > 2).reshape(-1, 3), axis=1)


def _faces_at_pinched_boundaries(mesh: Mesh) -> tuple[np.ndarray, EdgeAnalysis | None]:
    """Mask of triangles touching a vertex where several hole boundaries meet, and the
    mesh's edge analysis (None for an empty mesh)."""
    faces = mesh.faces
    if len(faces) == 0:
        return np.zeros(0, dtype=bool), None
    analysis = analyse_edges(faces, mesh.n_vertices)
    starts = boundary_edges(faces, analysis)[:, 0]
    if starts.size == 0:
        return np.zeros(len(faces), dtype=bool), analysis
    pinched = np.zeros(int(faces.max()) + 1, dtype=bool)
    pinched[starts[occurrences(starts) > 1]] = True
    return pinched[faces].any(axis=1), analysis


def _drop_faces(mesh: Mesh, drop: np.ndarray) -> Mesh:
    return keep_faces(mesh, ~drop)


def _boundary_loops(
    faces: np.ndarray, analysis: EdgeAnalysis | None = None
) -> tuple[list[list[int]], int]:
    """Closed loops of boundary edges, each as the hole's vertex cycle to fill (reversed).

    Returns (loops, skipped) where skipped counts boundary edges on ambiguous vertices.
    """
    boundary = boundary_edges(faces, analysis)
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


def fill_holes(
    mesh: Mesh, max_hole_edges: int, analysis: EdgeAnalysis | None = None
) -> tuple[Mesh, list[str]]:
    """Close boundary loops of at most ``max_hole_edges`` edges with a fan of triangles.

    ``analysis`` is the mesh's ``analyse_edges`` when the caller already has it.
    """
    if mesh.n_faces == 0:
        return mesh, []
    loops, skipped = _boundary_loops(mesh.faces, analysis)
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
    return with_arrays(mesh, np.concatenate(vertices), np.concatenate(new_faces), report), report


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
    analysis = analyse_edges(mesh.faces, mesh.n_vertices)  # of the mesh as it is now
    cut = 0
    for _ in range(REPAIR_ROUNDS):
        drop = _faces_on_bad_edges(analysis)
        if not drop.any():
            break
        cut += int(drop.sum())
        mesh = _drop_faces(mesh, drop)
        current: EdgeAnalysis | None = None  # of the mesh as it is now, when known
        for _ in range(REPAIR_ROUNDS):
            pinched, current = _faces_at_pinched_boundaries(mesh)
            if not pinched.any():
                break
            cut += int(pinched.sum())
            mesh = _drop_faces(mesh, pinched)
            current = None
        mesh, _ = fill_holes(mesh, max_hole_edges, current)
        analysis = analyse_edges(mesh.faces, mesh.n_vertices)
    if cut:
        report.append(f"Cut out {cut} triangles at non-manifold edges and closed the openings")
    inconsistent = analysis.inconsistent
    if analysis.boundary:
        mesh, filled = fill_holes(mesh, max_hole_edges, analysis)
        report += filled
        inconsistent = edge_counts(mesh.faces, mesh.n_vertices)[2]
    if inconsistent:
        import trimesh

        surface = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
        trimesh.repair.fix_winding(surface)
        mesh = with_arrays(
            mesh, surface.vertices, surface.faces, ["Made triangle winding consistent"]
        )
        report.append("Made triangle winding consistent")
    if split_vertices:
        mesh, split = split_nonmanifold_vertices(mesh)
        if split:
            report.append(mesh.report[-1])
    if mesh.n_faces and mesh.signed_volume() < 0:
        mesh = with_arrays(mesh, mesh.vertices, mesh.faces[:, ::-1], ["Turned the surface outward"])
        report.append("Turned the surface outward (normals were pointing inwards)")
    return mesh, report
