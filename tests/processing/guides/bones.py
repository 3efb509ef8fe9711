"""Analytic bones for the guide tests (LPS mm) and the real skull from the shared data."""

from __future__ import annotations

import functools

import manifold3d
import numpy as np
import trimesh

from tests.support.shared_data import shared_data_path
from workstation.core.guide_plan import BoneReference, GuidePlan, Region, Sleeve, Slot
from workstation.core.mesh import Mesh

SHAFT_RADIUS = 12.0
SKULL_RADIUS = 80.0
BAR_RADIUS = 8.0  # cross-section of the curved bar
BAR_BEND = 40.0  # radius of the bar's centre line (in the x-y plane)


def shaft(sections: int = 256, length: float = 120.0) -> Mesh:
    """A long-bone shaft: a closed cylinder of radius 12 mm along z (long thin triangles)."""
    cyl = trimesh.creation.cylinder(radius=SHAFT_RADIUS, height=length, sections=sections)
    return Mesh(cyl.vertices, cyl.faces, name="Shaft")


def skull(subdivisions: int = 5) -> Mesh:
    """A skull: a sphere of radius 80 mm centred at the origin."""
    ball = trimesh.creation.icosphere(subdivisions=subdivisions, radius=SKULL_RADIUS)
    return Mesh(ball.vertices, ball.faces, name="Skull")


def mandible(segments: int = 128) -> Mesh:
    """A mandible: a circle of radius 8 swept along a 120 degree arc of radius 40 (z up)."""
    circle = manifold3d.CrossSection.circle(BAR_RADIUS, 48).translate((BAR_BEND, 0.0))
    solid = manifold3d.Manifold.revolve(circle, segments, 120.0)
    mesh = solid.to_mesh64()
    # copies: manifold3d's arrays are read-only views
    vertices = np.array(mesh.vert_properties, dtype=np.float64)[:, :3]
    return Mesh(vertices, np.array(mesh.tri_verts, dtype=np.int64), name="Bar")


def bar_distance(points: np.ndarray) -> np.ndarray:
    """Analytic signed distance to the torus section of ``mandible`` (away from its ends)."""
    points = np.asarray(points, dtype=np.float64)
    ring = np.hypot(points[:, 0], points[:, 1]) - BAR_BEND
    return np.hypot(ring, points[:, 2]) - BAR_RADIUS


@functools.lru_cache(maxsize=1)
def real_skull() -> Mesh:
    """The bone model of the real tilted head CT, made by our own pipeline (or a skip)."""
    from workstation.services.loading import load_volume
    from workstation.services.modeling import ModelOptions, make_model_from_volume

    folder = shared_data_path("ct_head_ge_gantry_tilt_dcmqa")
    loaded = load_volume(folder)
    result = make_model_from_volume(loaded.volume, ModelOptions(workers=0))
    return result.mesh


def plan(
    center: np.ndarray,
    radius: float,
    sleeves: tuple[Sleeve, ...] = (),
    slots: tuple[Slot, ...] = (),
    thickness: float = 3.0,
    clearance: float = 0.25,
    direction: tuple[float, float, float] | None = None,
) -> GuidePlan:
    """A guide plan with one spherical region."""
    return GuidePlan(
        bone=BoneReference(path="bone.stl"),
        region=Region(((tuple(float(x) for x in center), float(radius)),)),
        thickness_mm=thickness,
        clearance_mm=clearance,
        insertion_direction_lps=direction,
        sleeves=sleeves,
        slots=slots,
    )


def sleeve(entry: np.ndarray, inward: np.ndarray, inner: float = 2.2, outer: float = 5.0,
           height: float = 8.0) -> Sleeve:
    """A sleeve from ``entry`` 10 mm along ``inward``."""
    entry = np.asarray(entry, dtype=np.float64)
    target = entry + 10.0 * np.asarray(inward, dtype=np.float64)
    return Sleeve(tuple(entry.tolist()), tuple(target.tolist()), inner, outer, height)


def _union_of_boxes(boxes: list[tuple[tuple[float, float, float], tuple[float, float, float]]],
                    name: str, max_edge: float = 1.0) -> Mesh:
    """The union of axis-aligned boxes ((lower), (upper)), closed, edges under ``max_edge``.

    Small triangles, as a bone model from a CT has: the guide tells faces that face open
    space from hidden ones triangle by triangle.
    """
    solid = None
    for lower, upper in boxes:
        size = np.subtract(upper, lower)
        part = manifold3d.Manifold.cube(tuple(size.tolist())).translate(tuple(lower))
        solid = part if solid is None else solid + part
    assert solid is not None
    mesh = solid.to_mesh64()
    vertices = np.array(mesh.vert_properties, dtype=np.float64)[:, :3]
    vertices, faces = trimesh.remesh.subdivide_to_size(
        vertices, np.array(mesh.tri_verts, dtype=np.int64), max_edge
    )
    merged = trimesh.Trimesh(vertices, faces, process=True)  # the shared edges' new points
    return Mesh(np.array(merged.vertices), np.array(merged.faces, dtype=np.int64), name=name)


def step_block() -> Mesh:
    """A floor (top z = 0) and a wall (face x = 0, x > 0, up to z = 10): a concave crease."""
    return _union_of_boxes([((-20.0, -20.0, -20.0), (20.0, 20.0, 0.0)),
                            ((0.0, -20.0, -1.0), (20.0, 20.0, 10.0))], "Step")


def step_distance(points: np.ndarray) -> np.ndarray:
    """Analytic distance to ``step_block`` in the crease's open quadrant (x < 0 < z < 10)."""
    points = np.asarray(points, dtype=np.float64)
    return np.minimum(points[:, 2], -points[:, 0])


#: The slit between the front plate and the back wall of ``slit_plate`` (y from, to).
SLIT = (3.0, 3.8)


def slit_plate() -> Mesh:
    """A 3 mm plate (front y = 0, top z = 0) with a 0.8 mm slit behind it and a taller wall."""
    return _union_of_boxes([((-15.0, 0.0, -15.0), (15.0, SLIT[0], 0.0)),
                            ((-15.0, SLIT[1], -15.0), (15.0, 12.0, 8.0)),
                            ((-15.0, 0.0, -18.0), (15.0, 12.0, -14.0))], "Slit")
