"""Mesh cleaning: merge duplicate points, drop degenerate, duplicate triangles, unused points."""

from __future__ import annotations

import numpy as np

from workstation.core.mesh import Mesh
from workstation.processing.decimation import merge_vertices as _merge_vertices
from workstation.processing.int_sort import key_groups
from workstation.processing.mesh_edit import with_arrays


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
    return with_arrays(mesh, vertices, faces, report), report


#: Codes ``9*p0 + 3*p1 + p2`` of the even permutations of (0, 1, 2).
_EVEN_PERMUTATIONS = (5, 15, 19)


def _unique_faces(faces: np.ndarray) -> np.ndarray:
    """Mask keeping one copy of repeated triangles; opposite-wound pairs (double walls) go."""
    order = np.argsort(faces, axis=1)
    ordered = np.take_along_axis(faces, order, axis=1).astype(np.int64)
    n = int(ordered[:, 2].max()) + 1
    if n < 2**21:  # one int64 key per triangle: sorting it is ~5x faster than void keys
        triangle_keys = (ordered[:, 0] * n + ordered[:, 1]) * n + ordered[:, 2]
        sorted_keys = np.sort(triangle_keys)
        if not np.any(sorted_keys[1:] == sorted_keys[:-1]):  # the usual case: no repeats
            return np.ones(len(faces), dtype=bool)
        first, inverse, counts = key_groups(triangle_keys)
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
