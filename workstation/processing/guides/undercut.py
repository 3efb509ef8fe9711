"""Whether a guide can be lowered onto the bone along its insertion direction.

The guide moves along v (towards the bone) into its seat.  A guide point g collides when
the ray g - s v (s > 0) meets the bone; a bone point b collides when the ray b + s v meets
the guide.  Both are cast with Embree through trimesh; the colliding points are grouped
into a few places (LPS mm) for the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.core.guide_plan import GuidePlan
from workstation.core.mesh import Mesh
from workstation.processing.guides.printability import CONTACT_BAND_MM, all_hits, to_trimesh

#: Rays start this far (mm) along their direction, past grazing contact at the seat.
START_MM = 0.05
#: Colliding points closer than this (mm) form one reported place.
CLUSTER_MM = 5.0
#: At most this many places are reported.
MAX_PLACES = 10


def default_direction(bone: Mesh, plan: GuidePlan) -> np.ndarray:
    """The inward mean normal of the bone inside the region (used when no direction is set)."""
    tri = bone.vertices[bone.faces]
    centroids = tri.mean(axis=1)
    inside = plan.region.contains(centroids)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    total = cross[inside].sum(axis=0) if inside.any() else cross.sum(axis=0)
    norm = float(np.linalg.norm(total))
    return -total / norm if norm > 0 else np.array([0.0, 0.0, -1.0])


def cluster(points: np.ndarray, size: float = CLUSTER_MM, limit: int = MAX_PLACES
            ) -> list[list[float]]:
    """Centres of the most populated ``size``-mm cells holding ``points``."""
    if not len(points):
        return []
    keys = np.floor(points / size).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(-counts)[:limit]
    return [points[inverse == i].mean(axis=0).round(2).tolist() for i in order]


def check_undercut(guide: Mesh, bone: Mesh, plan: GuidePlan, contact: np.ndarray
                   ) -> dict[str, Any]:
    """Report {found, direction_lps, assumed, where_lps, colliding_points}.

    ``contact`` marks the guide's vertices on its contact face (turned towards the bone).
    """
    if plan.insertion_direction_lps is not None:
        v = np.asarray(plan.insertion_direction_lps, dtype=np.float64)
        assumed = False
    else:
        v = default_direction(bone, plan)
        assumed = True
    v = v / np.linalg.norm(v)
    reach = float(np.linalg.norm(np.subtract(*guide.bounds()))) + 10.0
    g = guide.vertices[contact]
    bone_t = to_trimesh(bone)
    guide_t = to_trimesh(guide)
    g_hit = all_hits(bone_t, g - v * START_MM, np.tile(-v, (len(g), 1)), reach)
    lo, hi = guide.bounds()
    inside = np.all((bone.vertices >= lo - 1.0) & (bone.vertices <= hi + 1.0), axis=1)
    b = bone.vertices[inside]
    b_hit = all_hits(guide_t, b + v * START_MM, np.tile(v, (len(b), 1)), reach)
    colliding = np.concatenate([g[g_hit], b[b_hit]])
    return {
        "found": bool(len(colliding)),
        "direction_lps": v.round(6).tolist(),
        "assumed": assumed,
        "where_lps": cluster(colliding),
        "colliding_points": len(colliding),
        "method": "rays along the insertion direction from the guide's contact face "
        f"(vertices within clearance + {CONTACT_BAND_MM} mm of the bone, turned towards it) "
        "and from the bone's vertices in the guide's box",
    }
