"""Independent checks of a built guide: seat, overlap, sleeves, walls, solidity."""

from __future__ import annotations

import numpy as np

from workstation.core.guide_plan import GuidePlan
from workstation.core.mesh import Mesh
from workstation.processing.guides.distance_field import DistanceField
from workstation.processing.guides.guide_builder import GuideResult
from workstation.processing.guides.manifold_bridge import check_solid, to_manifold
from workstation.processing.guides.printability import (
    contact_vertices,
    first_hits,
    to_trimesh,
    wall_thickness,
)

#: The contact face sits at the clearance within this (mm), as the issue asks.
SEAT_TOLERANCE_MM = 0.05
#: The base wall is at least the thickness less this (mm; marching cubes at 0.3 mm).
WALL_TOLERANCE_MM = 0.1


def contact_mask(result: GuideResult, bone: Mesh, plan: GuidePlan) -> np.ndarray:
    """The guide's contact vertices (near the bone at the clearance, turned towards it)."""
    return contact_vertices(result.guide, DistanceField(bone), plan.clearance_mm, plan.region)[1]


def seat_distances(result: GuideResult, bone: Mesh, plan: GuidePlan) -> np.ndarray:
    """Signed distance to the bone of the guide's contact vertices (freshly measured)."""
    distance = DistanceField(bone)
    d, contact = contact_vertices(result.guide, distance, plan.clearance_mm, plan.region)
    assert contact.sum() > 100
    return d[contact]


def assert_one_solid(result: GuideResult) -> None:
    check = check_solid(result.guide)
    assert check.watertight and check.manifold, check.reasons
    assert check.components == 1
    assert result.report["watertight"] and result.report["components"] == 1


def assert_no_overlap(result: GuideResult, bone: Mesh) -> None:
    overlap = (to_manifold(result.guide) ^ to_manifold(bone)).volume()
    assert overlap < 1e-3 * result.report["volume_mm3"] + 1e-6


def assert_sleeves_clear_and_walled(result: GuideResult, plan: GuidePlan) -> None:
    """Axis rays miss the guide; a ring between hole and tube wall lies inside the guide."""
    guide_t = to_trimesh(result.guide)
    inside = DistanceField(result.guide)
    for sleeve, info in zip(plan.sleeves, result.report["sleeves"], strict=True):
        assert info["open"]
        axis = sleeve.axis
        top = np.asarray(info["top_lps"])
        entry = np.asarray(sleeve.entry_lps)
        start = top - axis * 2.0
        hit = first_hits(guide_t, start[None], axis[None])[0]
        assert hit > np.dot(entry - start, axis) + plan.clearance_mm  # not before the bone
        radius = (sleeve.inner_diameter_mm + sleeve.outer_diameter_mm) / 4
        helper = np.array([1.0, 0, 0]) if abs(axis[0]) < 0.9 else np.array([0, 1.0, 0])
        u = np.cross(axis, helper)
        u /= np.linalg.norm(u)
        v = np.cross(axis, u)
        angles = np.linspace(0, 2 * np.pi, 12, endpoint=False)
        ring = radius * (np.outer(np.cos(angles), u) + np.outer(np.sin(angles), v))
        base_top = entry - axis * info["base_surface_mm"]
        for height in np.linspace(0.5, sleeve.height_mm - 0.5, 5):
            points = base_top - axis * height + ring
            assert (inside.signed(points) < 0).all(), height
        above = base_top - axis * (sleeve.height_mm + 0.3) + ring
        assert (inside.signed(above) > 0).all()  # the tube ends at its height


def assert_wall_at_least(result: GuideResult, bone: Mesh, plan: GuidePlan,
                         keep_out: list[tuple[np.ndarray, float]]) -> None:
    """Rays from contact faces inward cross at least the thickness (away from rims/holes)."""
    guide = result.guide
    distance = DistanceField(bone)
    _, contact = contact_vertices(guide, distance, plan.clearance_mm, plan.region)
    faces = contact[guide.faces].all(axis=1)
    centroids = guide.vertices[guide.faces].mean(axis=1)
    center, radius = plan.region.spheres[0]
    faces &= np.linalg.norm(centroids - np.asarray(center), axis=1) < radius - 3.0
    for point, clear in keep_out:
        faces &= np.linalg.norm(centroids - point, axis=1) > clear
    assert faces.sum() > 50
    walls = wall_thickness(guide, to_trimesh(guide))[faces]
    assert walls.min() >= plan.thickness_mm - WALL_TOLERANCE_MM


def sweep_collisions(guide: Mesh, bone: Mesh, direction: np.ndarray, spacing: float = 0.3,
                     approach_mm: float = 10.0, center: np.ndarray | None = None,
                     half_width: float = 3.0) -> np.ndarray:
    """Voxel sweep: guide points whose column along ``direction`` holds bone behind them.

    Guide and bone are sampled on a grid aligned with the insertion direction v (inside:
    signed distance < 0, pseudonormal signs, no rays).  The guide moves along +v, so it
    collides in a column when a bone sample lies before (smaller v) one of its own samples
    by more than one cell.  With ``center`` only the columns within ``half_width`` of it
    (across v) are swept.  Returns the LPS centres of the colliding guide samples.
    """
    v = np.asarray(direction, dtype=np.float64)
    v /= np.linalg.norm(v)
    helper = np.array([1.0, 0, 0]) if abs(v[0]) < 0.9 else np.array([0, 1.0, 0])
    a = np.cross(v, helper)
    a /= np.linalg.norm(a)
    b = np.cross(v, a)
    frame = np.stack([a, b, v])  # rows: column axes and the sweep axis
    local = guide.vertices @ frame.T
    lo, hi = local.min(axis=0), local.max(axis=0)
    lo[2] -= approach_mm
    if center is not None:
        across = np.asarray(center, dtype=np.float64) @ frame.T
        lo[:2] = np.maximum(lo[:2], across[:2] - half_width)
        hi[:2] = np.minimum(hi[:2], across[:2] + half_width)
    axes = [np.arange(lo[i], hi[i] + spacing, spacing) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1)
    points = grid.reshape(-1, 3) @ frame
    inside_guide = (DistanceField(guide).signed(points) < 0).reshape(grid.shape[:3])
    near = np.all((bone.vertices >= points.min(axis=0) - 5) &
                  (bone.vertices <= points.max(axis=0) + 5), axis=1)
    faces = bone.faces[near[bone.faces].all(axis=1)]
    used, inverse = np.unique(faces, return_inverse=True)
    crop = Mesh(bone.vertices[used], inverse.reshape(-1, 3))
    inside_bone = (DistanceField(crop).signed(points) < 0).reshape(grid.shape[:3])
    # a cropped (open) bone is only trusted near the guide; it is closed well within 5 mm
    k = np.arange(len(axes[2]))
    first_bone = np.where(inside_bone, k, len(k)).min(axis=2)
    hits = inside_guide & (k[None, None, :] > first_bone[:, :, None] + 1)
    return np.asarray(grid[hits] @ frame)
