"""Printability measurements of a guide: solid check, walls, seating clearance, open axes.

Walls are measured by ray casting (Embree through trimesh): from every face's centroid
along the inward normal to the first other wall.  Sleeves and slots are open when rays
parallel to their axis, through the hole or the slot, touch no guide triangle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import trimesh

from workstation.core.guide_plan import GuidePlan, Region
from workstation.core.mesh import Mesh
from workstation.processing.guides.distance_field import DistanceField
from workstation.processing.guides.manifold_bridge import check_solid

if TYPE_CHECKING:
    from workstation.processing.guides.guide_features import Feature

#: Guide vertices within the clearance plus this band (mm) of the bone, on faces turned
#: towards it, are its contact face.
CONTACT_BAND_MM = 0.1
#: A contact vertex's normal and the bone's outward normal are at least this opposed.
CONTACT_FACING = 0.9
#: Contact vertices lie at least this far (mm) inside the region.
RIM_MM = 0.3
#: Walls thinner than this (mm) are a warning.
THIN_WALL_MM = 1.0
#: The reported minimum wall is this quantile of the face area (sharp rims excluded).
WALL_AREA_QUANTILE = 0.005
#: A ray's far face is an opposite wall when its normal is within this angle of the ray.
OPPOSITE_WALL_DEG = 60.0
#: Hits closer than this (mm) are the ray's own face (Embree works in single precision).
SELF_HIT_MM = 1e-3


def to_trimesh(mesh: Mesh) -> trimesh.Trimesh:
    """A trimesh view of ``mesh`` without merging or reordering (ray casting only)."""
    return trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)


def first_hits(target: trimesh.Trimesh, origins: np.ndarray, directions: np.ndarray,
               min_distance: float = SELF_HIT_MM) -> np.ndarray:
    """Distance along each ray to the first hit beyond ``min_distance`` (inf when none)."""
    return first_hit_faces(target, origins, directions, min_distance)[0]


def first_hit_faces(target: trimesh.Trimesh, origins: np.ndarray, directions: np.ndarray,
                    min_distance: float = SELF_HIT_MM) -> tuple[np.ndarray, np.ndarray]:
    """Distance along each ray to its first hit (inf when none) and the face hit (-1)."""
    origins = np.asarray(origins, dtype=np.float64).reshape(-1, 3)
    directions = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    out = np.full(len(origins), np.inf)
    face = np.full(len(origins), -1, dtype=np.int64)
    if not len(origins):
        return out, face
    start = origins + directions * min_distance
    locations, rays, tris = target.ray.intersects_location(
        start, directions, multiple_hits=False
    )
    if len(rays):
        dist = np.einsum("ij,ij->i", locations - start[rays], directions[rays]) + min_distance
        order = np.argsort(-dist)  # the nearest hit of a ray is written last
        out[rays[order]] = dist[order]
        face[rays[order]] = tris[order]
    return out, face


def all_hits(target: trimesh.Trimesh, origins: np.ndarray, directions: np.ndarray,
             length: float) -> np.ndarray:
    """True for each ray that meets ``target`` within ``length`` of its origin."""
    origins = np.asarray(origins, dtype=np.float64).reshape(-1, 3)
    directions = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    locations, rays, _ = target.ray.intersects_location(origins, directions, multiple_hits=True)
    hit = np.zeros(len(origins), dtype=bool)
    if len(rays):
        dist = np.einsum("ij,ij->i", locations - origins[rays], directions[rays])
        hit[rays[(dist >= 0) & (dist <= length)]] = True
    return hit


def wall_thickness(mesh: Mesh, tmesh: trimesh.Trimesh) -> np.ndarray:
    """Per face: the distance from its centroid along the inward normal to the next wall."""
    return wall_measurements(mesh, tmesh)[0]


def wall_measurements(mesh: Mesh, tmesh: trimesh.Trimesh) -> tuple[np.ndarray, np.ndarray]:
    """Per face: wall thickness along the inward normal, and whether the far face is a wall.

    The far face is an opposite wall when it is within OPPOSITE_WALL_DEG of facing the
    ray back; a ray leaving through a rim or an edge's rounding at a grazing angle
    measures the corner, not a wall.
    """
    centroids = mesh.vertices[mesh.faces].mean(axis=1)
    normals = np.asarray(tmesh.face_normals)
    dist, far = first_hit_faces(tmesh, centroids, -normals)
    opposite = np.zeros(len(dist), dtype=bool)
    hit = far >= 0
    cos = np.einsum("ij,ij->i", normals[far[hit]], -normals[hit])
    opposite[hit] = cos >= np.cos(np.radians(OPPOSITE_WALL_DEG))
    return dist, opposite


def _quantile_by_area(values: np.ndarray, areas: np.ndarray, q: float) -> float | None:
    """The value below which a fraction ``q`` of the total area lies (None: no walls)."""
    finite = np.isfinite(values)
    if not finite.any():
        return None
    order = np.argsort(values[finite])
    cum = np.cumsum(areas[finite][order])
    idx = int(np.searchsorted(cum, q * cum[-1]))
    return float(values[finite][order][min(idx, len(order) - 1)])


def _ring(center: np.ndarray, axis: np.ndarray, radius: float, count: int) -> np.ndarray:
    """Points on a circle of ``radius`` around ``axis`` through ``center``."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    return center + radius * (np.outer(np.cos(angles), u) + np.outer(np.sin(angles), v))


def sleeve_open(tmesh: trimesh.Trimesh, info: dict[str, Any], clearance: float) -> bool:
    """Rays along the axis (centre and a ring at 0.9 x inner radius) meet no guide face."""
    axis = np.asarray(info["axis_lps"])
    top = np.asarray(info["top_lps"]) - axis * 1.0
    entry = np.asarray(info["entry_lps"])
    length = float(np.dot(entry - top, axis)) + clearance + 0.5
    r = 0.9 * info["inner_diameter_mm"] / 2
    origins = np.vstack([top, _ring(top, axis, r, 16)])
    return not bool(all_hits(tmesh, origins, np.tile(axis, (len(origins), 1)), length).any())


def slot_open(tmesh: trimesh.Trimesh, info: dict[str, Any]) -> bool:
    """Rays along the depth direction across the slot's footprint meet no guide face."""
    down = np.asarray(info["depth_direction_lps"])
    normal = np.asarray(info["normal_lps"])
    along = np.asarray(info["length_direction_lps"])
    top = np.asarray(info["top_lps"]) - down * 1.0
    bottom = np.asarray(info["bottom_lps"])
    length = float(np.dot(bottom - top, down))
    across = np.linspace(-0.4, 0.4, 3) * info["width_mm"]
    lengthwise = np.linspace(-0.45, 0.45, 9) * info["length_mm"]
    grid = [top + a * normal + b * along for a in across for b in lengthwise]
    origins = np.array(grid)
    return not bool(all_hits(tmesh, origins, np.tile(down, (len(origins), 1)), length).any())


def contact_vertices(guide: Mesh, distance: DistanceField, clearance: float,
                     region: Region | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance of every guide vertex to the bone, and which vertices are contact.

    Contact: within ``clearance + CONTACT_BAND_MM`` of the bone, with the vertex normal
    turned towards the bone (so sleeve walls are not counted) and, given the region, at
    least RIM_MM inside it (the rim, where the region's sphere cuts the wall at a glancing
    angle, is an edge of the guide, not its seat).
    """
    d, outward = distance.signed_and_direction(guide.vertices)
    normals = np.asarray(to_trimesh(guide).vertex_normals)
    facing = np.einsum("ij,ij->i", normals, outward) <= -CONTACT_FACING
    contact = facing & (d <= clearance + CONTACT_BAND_MM)
    if region is not None:
        from workstation.processing.guides.contact_base import region_field

        foot = guide.vertices - d[:, None] * outward  # the closest bone point
        contact &= region_field(region, foot) <= -RIM_MM
    return d, contact


def measure_guide(
    guide: Mesh,
    plan: GuidePlan,
    distance: DistanceField,
    clearance: np.ndarray,
    contact: np.ndarray,
    features: list[Feature],
    timings: dict[str, float],
) -> dict[str, Any]:
    """The printability report of ``guide`` (keys documented in the README)."""
    import time

    start = time.perf_counter()
    check = check_solid(guide)
    tmesh = to_trimesh(guide)
    walls, opposite = wall_measurements(guide, tmesh)
    areas = np.asarray(tmesh.area_faces)
    c = plan.clearance_mm
    seat = clearance[contact]
    lo, hi = guide.bounds()
    report: dict[str, Any] = {
        "watertight": check.watertight,
        "manifold": check.manifold,
        "components": check.components,
        "volume_mm3": check.volume_mm3,
        "bounds_lps": [lo.tolist(), hi.tolist()],
        "triangles": guide.n_faces,
        "min_wall_mm": _quantile_by_area(
            np.where(opposite, walls, np.inf), areas, WALL_AREA_QUANTILE
        ),
        "min_wall_raw_mm": float(np.min(walls[np.isfinite(walls)])) if np.isfinite(walls).any()
        else None,
        "wall_method": (
            "ray from each face centroid along the inward normal to the next wall; "
            f"min_wall_mm is the {WALL_AREA_QUANTILE:.1%} area quantile of the rays that "
            f"meet an opposite wall (within {OPPOSITE_WALL_DEG:g} degrees of facing back), "
            "so rims and rounded edges do not count; min_wall_raw_mm is every ray's minimum"
        ),
        "clearance_mm": {
            "min": float(seat.min()) if len(seat) else None,
            "median": float(np.median(seat)) if len(seat) else None,
            "max": float(seat.max()) if len(seat) else None,
            "contact_vertices": len(seat),
            "contact_band_mm": CONTACT_BAND_MM,
        },
        "sleeves": [],
        "slots": [],
        "warnings": [],
    }
    for f in features:
        entry = dict(f.info)
        if f.kind == "sleeve":
            entry["open"] = sleeve_open(tmesh, f.info, c)
            report["sleeves"].append(entry)
        else:
            entry["open"] = slot_open(tmesh, f.info)
            report["slots"].append(entry)
        if not entry["open"]:
            report["warnings"].append(f"{f.name} is blocked along its axis")
    warnings = report["warnings"]
    if not check.watertight or not check.manifold:
        warnings.append("the guide is not a closed manifold solid: " + "; ".join(check.reasons))
    if check.components != 1:
        warnings.append(f"the guide has {check.components} separate pieces")
    if report["min_wall_mm"] is not None and report["min_wall_mm"] < THIN_WALL_MM:
        warnings.append(f"walls down to {report['min_wall_mm']:.2f} mm (under {THIN_WALL_MM} mm)")
    if len(seat) == 0:
        warnings.append("no part of the guide touches the bone at the clearance")
    timings["report"] = round(time.perf_counter() - start, 4)
    return report
