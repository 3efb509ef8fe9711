"""Decimation by quadric edge collapse (fast-simplification), in worker processes when large.

This module imports only numpy and the core types, so a worker process started with
forkserver/spawn (from a GUI thread) is ready in a fraction of a second.
"""

from __future__ import annotations

import numpy as np

from workstation.core.errors import MeshError
from workstation.core.mesh import Mesh

#: Meshes with fewer triangles are decimated in this process (a worker costs ~0.1 s).
PARALLEL_MIN_FACES = 200_000

#: fast-simplification's aggressiveness: 8 instead of its default 7 takes 20 % less time
#: for the same accuracy (a 1.9 M triangle CT bone surface decimated by 90 %, measured
#: against the full surface by exact point-to-triangle distances both ways: 99th
#: percentile 0.058 / 0.060 mm at 7 / 8, volume +0.011 / +0.008 %); 9 gains 5 % more time
#: for 0.071 mm, 10 nothing more for 0.106 mm (``tests/benchmarks/bench_mesh.py --quality``).
AGGRESSIVENESS = 8.0

#: (vertices, faces, slab of every face or None, slab, target, preserve_border) per part,
#: read by forked workers (each selects its own slab: no copies in this process).
_FORK_PAYLOAD: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, int, int, bool]] = []


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values (numpy 2.4's plain ``np.unique`` hashes and is ~50x slower)."""
    ordered = np.sort(values, axis=None)
    if ordered.size == 0:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


def merge_vertices(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge vertices at identical positions onto the first of them, keeping vertex order.

    Returns (vertices, faces, merged count).  Only points sharing their x value with
    another are compared in full, so the usual mesh with few or no duplicates costs one
    sort of the x values.
    """
    if len(vertices) == 0:
        return vertices, faces, 0
    x = vertices[:, 0] + 0.0  # -0.0 == 0.0
    by_x = np.argsort(x, kind="stable")
    ordered = x[by_x]
    tied = ordered[1:] == ordered[:-1]
    if not tied.any():
        return vertices, faces, 0
    shares_x = np.zeros(len(vertices), dtype=bool)
    shares_x[by_x[1:][tied]] = True
    shares_x[by_x[:-1][tied]] = True
    candidates = np.flatnonzero(shares_x)
    points = np.ascontiguousarray(vertices[candidates] + 0.0)
    keys = points.view(np.dtype((np.void, points.dtype.itemsize * 3))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    merged = len(candidates) - len(first)
    if merged == 0:
        return vertices, faces, 0
    target = np.arange(len(vertices), dtype=np.int64)
    target[candidates] = candidates[first][inverse.reshape(-1)]  # the first of equal points
    kept = target == np.arange(len(vertices))
    renumber = np.cumsum(kept, dtype=np.int64) - 1
    return vertices[kept], renumber[target][faces], merged


def simplify(
    vertices: np.ndarray, faces: np.ndarray, target: int, preserve_border: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Quadric edge collapse down to ``target`` triangles (int32/int64 faces in, int64 out)."""
    import fast_simplification

    if target >= len(faces):
        return vertices, faces.astype(np.int64)
    points, triangles = fast_simplification.simplify(
        vertices, faces, target_count=target, agg=AGGRESSIVENESS, preserve_border=preserve_border
    )
    return points, triangles.astype(np.int64)


def own_vertices(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Only the vertices ``faces`` use, and the faces renumbered onto them (no sorting)."""
    used = np.zeros(len(vertices), dtype=bool)
    used[faces.ravel()] = True
    index_type = np.int32 if len(vertices) < 2**31 else np.int64
    remap = (np.cumsum(used, dtype=index_type) - 1).astype(index_type, copy=False)
    return vertices[used], remap[faces]


def _slab(
    vertices: np.ndarray, faces: np.ndarray, slabs: np.ndarray | None, slab: int
) -> tuple[np.ndarray, np.ndarray]:
    """The triangles of one slab (all when ``slabs`` is None) on the vertices they use."""
    return own_vertices(vertices, faces if slabs is None else faces[slabs == slab])


def _simplify_part(
    part: int | tuple[np.ndarray, np.ndarray, int, bool],
) -> tuple[np.ndarray, np.ndarray]:
    """Decimate one part: a payload index when forked (the slab and its own vertices are
    picked out here, in parallel), else the part itself, ready."""
    if not isinstance(part, int):
        return simplify(*part)
    vertices, faces, slabs, slab, target, border = _FORK_PAYLOAD[part]
    return simplify(*_slab(vertices, faces, slabs, slab), target, border)


def spatial_slabs(mesh: Mesh, parts: int) -> np.ndarray:
    """Slab number (0..parts-1) of every face: equal triangle counts across the longest extent."""
    low, high = mesh.bounds()
    axis = int(np.argmax(np.asarray(high) - np.asarray(low)))
    position = mesh.vertices[mesh.faces[:, 0], axis]
    cuts = np.quantile(position, np.arange(1, parts) / parts)
    return np.searchsorted(cuts, position).astype(np.int8 if parts < 128 else np.int64)


def _simplify_in_workers(
    mesh: Mesh, target: int, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Decimate in ``workers`` processes, one slab of the mesh each (here when none start).

    Each slab keeps its cut border fixed (``preserve_border``), so the slabs join again
    exactly at the original cut points (a one-triangle-wide seam keeps full detail).
    fast-simplification holds the GIL (no threads) and keeps its working buffers in
    global C++ vectors that are never freed (about 0.4 GB per million triangles), so even
    one slab runs in a worker: the buffers go away with it.  Workers are forked when that
    is safe, else started with forkserver/spawn (from a GUI thread) and sent the arrays.
    """
    from concurrent.futures.process import BrokenProcessPool

    from workstation.core.workers import start_method, start_process_pool

    method = start_method()
    slabs = spatial_slabs(mesh, workers) if workers > 1 else None
    sizes = np.bincount(slabs, minlength=workers) if slabs is not None else [mesh.n_faces]
    payload = [
        (mesh.vertices, mesh.faces, slabs, slab, max(round(target * size / mesh.n_faces), 4))
        for slab, size in enumerate(sizes)
    ]
    border = slabs is not None

    def ready_parts() -> list[int | tuple[np.ndarray, np.ndarray, int, bool]]:
        """Each slab on the vertices it uses, as int32 (less to copy to a worker)."""
        return [
            (*_slab(vertices, faces, slabs, slab), share, border)
            for vertices, faces, _, slab, share in payload
        ]

    pool = start_process_pool(len(payload), initializer=None, method=method)
    results = None
    if pool is not None:
        tasks: list[int | tuple[np.ndarray, np.ndarray, int, bool]]
        if method == "fork":  # the children see the payload in their copy of this process
            _FORK_PAYLOAD[:] = [(*part, border) for part in payload]
            tasks = list(range(len(payload)))
        else:
            tasks = ready_parts()
        try:
            with pool:
                results = list(pool.map(_simplify_part, tasks))
        except (OSError, BrokenProcessPool):
            results = None
        finally:
            _FORK_PAYLOAD.clear()
    if results is None:
        # No process could start (e.g. inside a daemonic batch worker): the same slabs one
        # after another here, so the model is the same bytes as with workers.
        results = [_simplify_part(part) for part in ready_parts()]
    offsets = np.cumsum([0] + [len(points) for points, _ in results[:-1]])
    vertices = np.concatenate([points for points, _ in results])
    faces = np.concatenate([f + offset for (_, f), offset in zip(results, offsets, strict=True)])
    if len(results) > 1:  # join the slabs at their (unmoved) cut points
        vertices, faces, _ = merge_vertices(vertices, faces)
    return vertices, faces


def decimate(
    mesh: Mesh,
    fraction: float | None = None,
    target_triangles: int | None = None,
    workers: int = 0,
) -> Mesh:
    """Remove ``fraction`` (0..1) of the triangles, or reduce to ``target_triangles``.

    Quadric edge collapse (fast-simplification).  ``workers`` 0 decimates in this
    process; ``workers`` >= 1 (meshes of at least ``PARALLEL_MIN_FACES``) uses that many
    processes, each decimating one slab of the mesh, which also keeps the library's
    large, never-freed buffers out of this process.
    """
    if (fraction is None) == (target_triangles is None):
        raise MeshError("Decimation needs either a fraction or a target triangle count.")
    if fraction is not None:
        if not 0.0 <= fraction < 1.0:
            raise MeshError(f"The decimation fraction must be in [0, 1), got {fraction}.")
        if fraction == 0.0:
            return mesh
        target = round(mesh.n_faces * (1.0 - fraction))
    else:
        target = int(target_triangles)  # type: ignore[arg-type]
        if target < 4:
            raise MeshError(f"The triangle target must be at least 4, got {target}.")
    if target >= mesh.n_faces:
        return mesh
    result = None
    if workers >= 1 and mesh.n_faces >= PARALLEL_MIN_FACES:
        result = _simplify_in_workers(mesh, target, workers)
    vertices, faces = result or simplify(mesh.vertices, mesh.faces, target)
    report = [f"Decimated: {mesh.n_faces:,} -> {len(faces):,} triangles"]
    return Mesh(vertices, faces, name=mesh.name, color=mesh.color, report=[*mesh.report, *report])
