"""Benchmark: every mesh tool on a 500 k-triangle bone and the real head-CT skull (not collected).

The bone is the bumpy ball of ``bench_guide`` (radius 60 mm, about 500,000 triangles); a
second copy moved 30 mm to the left is the other operand of the booleans.  Printed (never
asserted), for each tool: wall clock and CPU time of all threads, triangles in and out,
and the check of the result (watertight, manifold, pieces):

- cut by two planes (axial and sagittal through the centre), union / subtract /
  intersect of the two balls, offset +2 / -2 mm, hollow to a 2 mm wall with one drain
  hole, mirror across the mid-sagittal plane, a rigid move (30 degrees about S, shifted);
- accuracy: the offset's vertices measured with an exact distance to the input (mean and
  largest error from the set distance); the hollow's wall the same way; offsets of an
  icosphere of radius 50 mm (327,680 triangles) against the analytic sphere;
- the real skull (``workstation mesh`` of ct_head_ge_gantry_tilt_dcmqa from the shared
  data), offset, hollow, cut and mirror, when that data is present.
  Target: offset and hollow of a 500 k-triangle skull within a few seconds each.

Run: .venv/bin/python tests/benchmarks/bench_mesh_tools.py [--triangles 500000]
[--skip-ball] [--skip-skull] [--spacing MM]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "benchmarks"))

from bench_guide import bumpy_ball  # noqa: E402

from workstation.core.mesh import Mesh  # noqa: E402
from workstation.processing.guides.booleans import boolean  # noqa: E402
from workstation.processing.guides.distance_field import (  # noqa: E402
    DistanceField,
    offset_surface,
)
from workstation.processing.guides.hollow import DrainHole, hollow  # noqa: E402
from workstation.processing.guides.manifold_bridge import check_solid  # noqa: E402
from workstation.processing.guides.mirror import mirror_mesh  # noqa: E402
from workstation.processing.guides.plane_cut import Plane, cut_by_planes  # noqa: E402
from workstation.processing.guides.rigid_transform import (  # noqa: E402
    compose,
    rotation_matrix,
    transform_mesh,
    translation_matrix,
)

SKULL_DATA = REPO.parent / "shared" / "data" / "ct_head_ge_gantry_tilt_dcmqa"


def timed(label: str, triangles_in: int, run: Callable[[], object]) -> object:
    """Run ``run`` once; print wall and CPU seconds, triangles in/out and the solid check."""
    began, cpu = time.perf_counter(), time.process_time()
    result = run()
    wall, cpu_s = time.perf_counter() - began, time.process_time() - cpu
    meshes = _meshes(result)
    out = sum(m.n_faces for m in meshes)
    checks = [check_solid(m) for m in meshes]
    solid = all(c.watertight and c.manifold for c in checks)
    pieces = sum(c.components for c in checks)
    print(
        f"  {label:<26} {wall:7.2f} s (CPU {cpu_s:6.2f} s)  triangles {triangles_in:>9,} -> "
        f"{out:>9,}  {'watertight+manifold' if solid else 'NOT SOLID'}, {pieces} piece(s)"
    )
    for mesh in meshes:
        for line in mesh.report:
            if "spacing" in line:
                print(f"  {'':<26} {line}")
    return result


def _meshes(result: object) -> list[Mesh]:
    if isinstance(result, Mesh):
        return [result]
    if isinstance(result, tuple):  # cut_by_planes: (pieces, warnings)
        return [piece.mesh for piece in result[0]]
    return [result.mesh]  # type: ignore[attr-defined]


def distance_error(bone: DistanceField, mesh: Mesh, level: float) -> str:
    """Mean and largest |d(vertex) - level| (mm) of ``mesh``'s vertices to the input."""
    error = np.abs(bone.signed(mesh.vertices) - level)
    return f"mean {error.mean():.4f} mm, max {error.max():.4f} mm"


def tools(bone: Mesh, spacing: float | None, other: Mesh | None) -> None:
    """Every mesh tool on ``bone`` (and ``other`` for the booleans); figures printed."""
    n = bone.n_faces
    lo, hi = bone.bounds()
    centre = (lo + hi) / 2
    planes = [Plane.of(centre, (0, 0, 1)), Plane.of(centre, (1, 0, 0))]
    timed("cut by two planes", n, lambda: cut_by_planes(bone, planes))
    if other is not None:
        pair = [bone, other]
        for operation in ("union", "subtract", "intersect"):
            timed(operation, n + other.n_faces, lambda op=operation: boolean(pair, op))
    exact = DistanceField(bone)
    for distance in (2.0, -2.0):
        grown = timed(f"offset {distance:+g} mm", n,
                      lambda d=distance: offset_surface(bone, d, spacing))
        error = distance_error(exact, grown, distance)  # type: ignore[arg-type]
        print(f"  {'':<26} distance to the input: {error}")
    top = np.array([centre[0], centre[1], hi[2] + 5.0])
    hole = DrainHole.of(top, (0, 0, -1), 5.0)
    hollowed = timed("hollow 2 mm, 1 drain hole", n, lambda: hollow(bone, 2.0, [hole], spacing))
    result = hollowed.mesh  # type: ignore[attr-defined]
    depth = exact.signed(result.vertices)
    error = np.abs(depth[depth < -1.0] + 2.0)  # the cavity's vertices (not the hole's wall)
    opens = [h["opens"] for h in hollowed.holes]  # type: ignore[attr-defined]
    print(f"  {'':<26} cavity vs the 2 mm wall: mean {error.mean():.4f} mm, "
          f"max {error.max():.4f} mm; drain hole opens {opens}")
    timed("mirror (mid-sagittal)", n, lambda: mirror_mesh(bone, centre, (1, 0, 0)))
    move = compose(translation_matrix((5.0, -3.0, 2.0)), rotation_matrix("S", 30.0, centre))
    timed("rigid move", n, lambda: transform_mesh(bone, move))


def sphere_accuracy(spacing: float | None) -> None:
    """Offsets of a 327,680-triangle icosphere (r = 50 mm) against the analytic sphere."""
    import trimesh

    ico = trimesh.creation.icosphere(subdivisions=7, radius=50.0)
    ball = Mesh(np.asarray(ico.vertices), np.asarray(ico.faces), name="Sphere")
    print(f"sphere: {ball.n_faces:,} triangles, radius 50 mm")
    for distance in (2.0, -2.0):
        grown = timed(f"offset {distance:+g} mm", ball.n_faces,
                      lambda d=distance: offset_surface(ball, d, spacing))
        radii = np.linalg.norm(grown.vertices, axis=1)  # type: ignore[attr-defined]
        error = np.abs(radii - (50.0 + distance))
        print(f"  {'':<26} vs the analytic sphere: mean {error.mean():.4f} mm, "
              f"max {error.max():.4f} mm")


def real_skull() -> Mesh | None:
    """The bone model of the tilted head CT (our own pipeline), or None without the data."""
    if not SKULL_DATA.exists():
        print(f"skull: skipped, no data at {SKULL_DATA}")
        return None
    from workstation.services.loading import load_volume
    from workstation.services.modeling import ModelOptions, make_model_from_volume

    began = time.perf_counter()
    volume = load_volume(SKULL_DATA).volume
    mesh = make_model_from_volume(volume, ModelOptions(workers=0)).mesh
    print(f"skull: {mesh.n_faces:,} triangles (made in {time.perf_counter() - began:.1f} s)")
    return mesh


def main() -> int:
    """Build the bones, run every tool, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triangles", type=int, default=500_000)
    parser.add_argument("--spacing", type=float, default=None, help="grid spacing (mm)")
    parser.add_argument("--skip-ball", action="store_true")
    parser.add_argument("--skip-skull", action="store_true")
    parser.add_argument("--skip-sphere", action="store_true")
    args = parser.parse_args()
    if not args.skip_ball:
        bone = bumpy_ball(args.triangles)
        other = transform_mesh(bone, translation_matrix((30.0, 0.0, 0.0)))
        other.name = "Moved ball"
        print(f"bumpy ball: {bone.n_faces:,} triangles, {bone.n_vertices:,} vertices")
        tools(bone, args.spacing, other)
    if not args.skip_sphere:
        sphere_accuracy(args.spacing)
    if not args.skip_skull:
        skull = real_skull()
        if skull is not None:
            tools(skull, args.spacing, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
