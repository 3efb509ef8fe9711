"""Hollow a closed model to a wall thickness, with optional drain holes that open the cavity.

The inner surface is the model offset inwards by the wall (a distance field on a grid,
whose spacing the result's report states); the cavity is subtracted exactly and each
drain hole is a cylinder from a point along a direction, through the wall into the cavity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import manifold3d
import numpy as np

from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.processing.guides.manifold_bridge import from_manifold, to_manifold
from workstation.processing.guides.mirror import point3, unit_normal
from workstation.processing.mesh_components import count_components

#: Segments around a drain hole's circle.
HOLE_SEGMENTS = 48

#: How far (mm) a drain hole starts outside the model and reaches into the cavity.
HOLE_OVERSHOOT_MM = 1.0


@dataclass(frozen=True)
class DrainHole:
    """A drain hole: from ``point_lps`` along ``direction_lps`` (into the model), a diameter."""

    point_lps: tuple[float, float, float]
    direction_lps: tuple[float, float, float]
    diameter_mm: float

    @classmethod
    def of(
        cls, point_lps: Sequence[float], direction_lps: Sequence[float], diameter_mm: float
    ) -> DrainHole:
        """A checked drain hole (unit direction, positive diameter) or MeshToolError."""
        point = point3(point_lps, "drain hole point")
        direction = unit_normal(direction_lps, "drain hole direction")
        if not np.isfinite(diameter_mm) or diameter_mm <= 0:
            raise MeshToolError(f"A drain hole's diameter must be positive, not {diameter_mm:g}.")
        return cls(
            (float(point[0]), float(point[1]), float(point[2])),
            (float(direction[0]), float(direction[1]), float(direction[2])),
            float(diameter_mm),
        )


@dataclass
class HollowResult:
    """The hollowed model, what each drain hole did, and warnings."""

    mesh: Mesh
    holes: list[dict[str, object]]
    warnings: list[str]


def cylinder_between(start: np.ndarray, end: np.ndarray, diameter_mm: float) -> manifold3d.Manifold:
    """A closed cylinder of ``diameter_mm`` whose axis runs from ``start`` to ``end``."""
    axis = end - start
    length = float(np.linalg.norm(axis))
    direction = axis / length
    z = np.array([0.0, 0.0, 1.0])
    cross = np.cross(z, direction)
    sine, cosine = float(np.linalg.norm(cross)), float(z @ direction)
    if sine < 1e-12:
        rotation = np.eye(3) if cosine > 0 else np.diag([1.0, -1.0, -1.0])
    else:
        k = cross / sine
        skew = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
        rotation = np.eye(3) + sine * skew + (1.0 - cosine) * (skew @ skew)
    cylinder = manifold3d.Manifold.cylinder(
        length, diameter_mm / 2.0, diameter_mm / 2.0, HOLE_SEGMENTS
    )
    placement = np.hstack([rotation, start.reshape(3, 1)])
    return cylinder.transform(placement)


def _hits(
    solid: manifold3d.Manifold, origin: np.ndarray, far: np.ndarray
) -> list[tuple[float, bool]]:
    """(distance mm from ``origin``, entering the solid?) of each crossing of the segment."""
    direction = far - origin
    length = float(np.linalg.norm(direction))
    result = []
    for hit in solid.ray_cast(tuple(origin), tuple(far)):
        entering = float(np.dot(hit.normal, direction)) < 0
        result.append((float(hit.distance) * length, entering))
    return result


def _hole_axis(
    hole: DrainHole, outer: manifold3d.Manifold, inner: manifold3d.Manifold, wall_mm: float
) -> tuple[np.ndarray, np.ndarray] | str:
    """The drain hole's axis (start outside the model, end inside the cavity), or why none."""
    point = np.asarray(hole.point_lps)
    direction = np.asarray(hole.direction_lps)
    box = np.asarray(outer.bounding_box(), dtype=np.float64)
    low, high = box[:3], box[3:]
    reach = float(np.linalg.norm(high - low)) + float(np.linalg.norm(point - low)) + wall_mm
    back = wall_mm + 2.0 * HOLE_OVERSHOOT_MM
    origin, far = point - back * direction, point + reach * direction
    entries = [d for d, entering in _hits(outer, origin, far) if entering]
    if not entries:
        return "its line does not meet the model"
    enter = entries[0]
    crossings = [(d, entering) for d, entering in _hits(inner, origin, far) if d > enter]
    if not crossings or not crossings[0][1]:
        return "its line does not reach the cavity"
    cavity_in = crossings[0][0]
    cavity_out = crossings[1][0] if len(crossings) > 1 else cavity_in + 2 * HOLE_OVERSHOOT_MM
    start = origin + (enter - HOLE_OVERSHOOT_MM) * direction
    end = origin + (cavity_in + min(HOLE_OVERSHOOT_MM, (cavity_out - cavity_in) / 2)) * direction
    return start, end


def hollow(
    mesh: Mesh,
    wall_mm: float,
    drain_holes: Sequence[DrainHole] = (),
    spacing_mm: float | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> HollowResult:
    """Hollow ``mesh`` to ``wall_mm``; each drain hole is checked to open the cavity."""
    from workstation.processing.guides.distance_field import offset_surface

    if not np.isfinite(wall_mm) or wall_mm <= 0:
        raise MeshToolError(f"The wall thickness must be positive, not {wall_mm:g} mm.")
    token = cancel or CancelToken()
    outer = to_manifold(mesh)
    progress(0.0, "Offsetting the surface inwards")
    thin = MeshToolError(
        f"'{mesh.name}' is nowhere thicker than twice the {wall_mm:g} mm wall: "
        "nothing is left to hollow out."
    )
    try:
        inner_mesh = offset_surface(
            mesh, -wall_mm, spacing_mm, sub_progress(progress, 0.0, 0.7), token
        )
    except MeshToolError as error:
        if "empty" in str(error):
            raise thin from None
        raise MeshToolError(f"Hollowing '{mesh.name}': {error}") from None
    if inner_mesh.n_faces == 0:
        raise thin
    inner_mesh.name = f"{mesh.name} cavity"
    inner = to_manifold(inner_mesh) ^ outer  # the grid offset can graze the outer surface
    token.raise_if_cancelled()
    progress(0.75, "Subtracting the cavity")
    shell = outer - inner
    label = f"{mesh.name} hollow"
    shell_mesh = from_manifold(shell, label)
    shells = count_components(shell_mesh)
    cut_mesh = shell_mesh
    holes: list[dict[str, object]] = []
    warnings: list[str] = []
    cutters = []
    for number, hole in enumerate(drain_holes, start=1):
        token.raise_if_cancelled()
        progress(0.8 + 0.15 * (number - 1) / max(len(drain_holes), 1), f"Drain hole {number}")
        record: dict[str, object] = {"number": number, **_hole_record(hole)}
        axis = _hole_axis(hole, outer, inner, wall_mm)
        if isinstance(axis, str):
            record.update(opens=False, reason=axis)
            warnings.append(f"drain hole {number} does not open the cavity: {axis}")
        else:
            cutter = cylinder_between(axis[0], axis[1], hole.diameter_mm)
            cut_mesh = from_manifold(shell - cutter, label)
            opens = count_components(cut_mesh) < shells
            record.update(
                opens=opens,
                start_lps=[float(v) for v in axis[0]],
                end_lps=[float(v) for v in axis[1]],
                length_mm=float(np.linalg.norm(axis[1] - axis[0])),
            )
            if not opens:
                record["reason"] = "the hole does not connect the cavity with the outside"
                warnings.append(f"drain hole {number} does not open the cavity")
            cutters.append(cutter)
        holes.append(record)
    if len(cutters) > 1:
        solid = manifold3d.Manifold.batch_boolean([shell, *cutters], manifold3d.OpType.Subtract)
        result = from_manifold(solid, label)
    else:  # the shell, or the shell less its one hole, already built for the check
        result = cut_mesh
    result.color = mesh.color
    result.report += [
        *inner_mesh.report,
        f"Hollowed to a {wall_mm:g} mm wall with {len(drain_holes)} drain hole(s)",
    ]
    progress(1.0, "Done")
    return HollowResult(result, holes, warnings)


def _hole_record(hole: DrainHole) -> dict[str, object]:
    return {
        "point_lps": list(hole.point_lps),
        "direction_lps": list(hole.direction_lps),
        "diameter_mm": hole.diameter_mm,
    }
