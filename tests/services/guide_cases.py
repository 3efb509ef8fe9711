"""Analytic bones and guide plans shared by the guide service and command tests."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from workstation.core.mesh import Mesh
from workstation.io.mesh_export import export_mesh

#: The skull stand-in: a ball of this radius (mm) around CENTER (LPS mm).
RADIUS = 30.0
CENTER = (10.0, -20.0, 40.0)

#: Every key the report documents (README, ``workstation guide``).
REPORT_KEYS = {
    "watertight",
    "manifold",
    "components",
    "volume_mm3",
    "bounds_lps",
    "triangles",
    "min_wall_mm",
    "clearance_mm",
    "sleeves",
    "slots",
    "undercut",
    "warnings",
    "timings_s",
}


def ball(center: tuple[float, float, float] = CENTER, radius: float = RADIUS) -> Mesh:
    """A closed, outward-wound ball (an icosphere of 5,120 triangles)."""
    solid = trimesh.creation.icosphere(subdivisions=4, radius=radius)
    solid.apply_translation(center)
    return Mesh(np.asarray(solid.vertices), np.asarray(solid.faces), name="Skull")


def _on_top(dx: float = 0.0) -> list[float]:
    """The point of the ball's surface above CENTER + (dx, 0, 0) (largest S)."""
    x, y, z = CENTER
    return [x + dx, y, z + math.sqrt(RADIUS**2 - dx**2)]


def plan_record(bone: Any = "BONE.stl", **changes: Any) -> dict[str, Any]:
    """A plan on top of the ball: a 15 mm region, one sleeve into the bone, one slot."""
    top = _on_top()
    record: dict[str, Any] = {
        "bone": bone,
        "region": {"sphere": {"center_lps": top, "radius_mm": 15.0}},
        "thickness_mm": 3.0,
        "clearance_mm": 0.25,
        "insertion_direction_lps": [0.0, 0.0, -1.0],
        "sleeves": [
            {
                "entry_lps": top,
                "target_lps": [top[0], top[1], top[2] - 12.0],
                "inner_diameter_mm": 2.2,
                "outer_diameter_mm": 5.0,
                "height_mm": 8.0,
                "name": "Pilot",
            }
        ],
        "slots": [
            {
                "point_lps": _on_top(8.0),
                "normal_lps": [1.0, 0.0, 0.0],
                "width_mm": 1.2,
                "length_mm": 10.0,
                "depth_mm": 6.0,
                "name": "Cut",
            }
        ],
    }
    for key, value in changes.items():
        if value is None:
            record.pop(key, None)
        else:
            record[key] = value
    return record


def write_case(folder: Path, record: dict[str, Any] | str | None = None, coords: str = "lps"):
    """BONE.stl and PLAN.json in ``folder`` (the plan given as a dict or as raw text)."""
    folder.mkdir(parents=True, exist_ok=True)
    export_mesh(ball(), folder / "BONE.stl", coords=coords)
    plan = folder / "PLAN.json"
    body = record if isinstance(record, str) else json.dumps(record or plan_record())
    plan.write_text(body, encoding="utf-8")
    return plan
