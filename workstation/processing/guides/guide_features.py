"""Drill sleeves and saw-slot housings of a guide as manifold3d solids in LPS mm.

Each feature gives what is added (tube, housing) and what is cut (hole, slot); heights
are measured from the base's outer surface (where the axis leaves d = c + t).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import manifold3d
import numpy as np

from workstation.core.guide_plan import Sleeve, Slot
from workstation.processing.guides.distance_field import DistanceField

#: Segments of a sleeve's circles (the hole polygon is circumscribed: never narrower).
CIRCLE_SEGMENTS = 64


@dataclass
class Feature:
    """One sleeve or slot: the solid added, the solid cut, and its measured frame."""

    kind: str
    name: str
    add: manifold3d.Manifold
    cut: manifold3d.Manifold
    info: dict[str, Any]
    depth_into_bone_mm: float


def _frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors completing ``axis`` to a right-handed frame."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


def _place(solid: manifold3d.Manifold, x: np.ndarray, y: np.ndarray, z: np.ndarray,
           origin: np.ndarray) -> manifold3d.Manifold:
    """Map a solid's local x, y, z axes onto the given unit vectors at ``origin``."""
    matrix = np.column_stack([x, y, z, origin]).astype(np.float64)
    return solid.transform(matrix)


def cylinder(start: np.ndarray, end: np.ndarray, radius: float) -> manifold3d.Manifold:
    """A closed cylinder from ``start`` to ``end``."""
    axis = end - start
    length = float(np.linalg.norm(axis))
    axis = axis / length
    u, v = _frame(axis)
    solid = manifold3d.Manifold.cylinder(length, radius, radius, CIRCLE_SEGMENTS)
    return _place(solid, u, v, axis, start)


def box(center: np.ndarray, axes: tuple[np.ndarray, np.ndarray, np.ndarray],
        size: tuple[float, float, float]) -> manifold3d.Manifold:
    """A closed box centred at ``center`` with edges along the unit ``axes``."""
    solid = manifold3d.Manifold.cube(size, True)
    return _place(solid, axes[0], axes[1], axes[2], np.asarray(center, dtype=np.float64))


def outer_exit(distance: DistanceField, point: np.ndarray, direction: np.ndarray,
               level: float, reach: float) -> float:
    """Distance along ``direction`` from ``point`` where d first rises through ``level``."""
    steps = np.linspace(0.0, reach, max(int(reach / 0.05), 2) + 1)
    d = distance.signed(point + steps[:, None] * direction)
    above = np.nonzero(d >= level)[0]
    if not len(above):
        return float(level)
    i = int(above[0])
    if i == 0:
        return 0.0
    d0, d1 = d[i - 1], d[i]
    return float(steps[i - 1] + (level - d0) / (d1 - d0) * (steps[i] - steps[i - 1]))


def lowest_crossing(distance: DistanceField, starts: np.ndarray, direction: np.ndarray,
                    level: float, reach: float, step: float = 0.1) -> float | None:
    """Deepest first crossing of d = level along parallel lines going ``direction``.

    Each line starts at one of ``starts`` (above the guide) and walks down by sphere
    tracing: d is 1-Lipschitz, so a step of d - level cannot pass the level; steps are
    at least ``step``, so a crossing is found at most that far past it.  The largest
    distance at which a line first reaches d <= level is returned (None when no line
    reaches it within ``reach``).
    """
    starts = np.asarray(starts, dtype=np.float64).reshape(-1, 3)
    s = np.zeros(len(starts))
    first = np.full(len(starts), np.nan)
    active = np.arange(len(starts))
    while len(active):
        d = distance.signed(starts[active] + s[active, None] * direction)
        hit = d <= level
        first[active[hit]] = s[active[hit]]
        active = active[~hit]
        s[active] += np.maximum(d[~hit] - level, step)
        active = active[s[active] <= reach + step]
    if np.isnan(first).all():
        return None
    return float(np.nanmax(first))


def bone_normal(distance: DistanceField, point: np.ndarray, step: float = 0.25) -> np.ndarray:
    """Outward unit normal of the bone near ``point`` (central differences of d)."""
    grad = np.zeros(3)
    eye = np.eye(3) * step
    d = distance.signed(np.concatenate([point + eye, point - eye]))
    grad = (d[:3] - d[3:]) / (2 * step)
    norm = float(np.linalg.norm(grad))
    if norm < 1e-9:
        return np.array([0.0, 0.0, 1.0])
    return np.asarray(grad / norm)


def sleeve_feature(sleeve: Sleeve, distance: DistanceField, clearance: float,
                   thickness: float, index: int) -> Feature:
    """The tube (outer diameter) and its hole (inner diameter) along entry → target."""
    entry = np.asarray(sleeve.entry_lps, dtype=np.float64)
    axis = sleeve.axis
    outward = -axis
    r_out, r_in = sleeve.outer_diameter_mm / 2, sleeve.inner_diameter_mm / 2
    level = clearance + thickness
    exit_s = outer_exit(distance, entry, outward, level, 4 * level + 10.0)
    top = entry + outward * (exit_s + sleeve.height_mm)
    u, v = _frame(axis)
    angles = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    ring = np.outer(np.cos(angles), u) + np.outer(np.sin(angles), v)
    starts = top + np.vstack([np.zeros(3), r_out * ring, 0.5 * r_out * ring])
    reach = exit_s + sleeve.height_mm + 2 * r_out + level + 2.0
    lowest = lowest_crossing(distance, starts, axis, clearance + thickness / 2, reach)
    depth = (lowest if lowest is not None else reach) + 0.5 - exit_s - sleeve.height_mm
    bottom = entry + axis * depth
    hole_r = r_in / math.cos(math.pi / CIRCLE_SEGMENTS)
    tube = cylinder(bottom, top, r_out)
    hole = cylinder(bottom + axis * 1.0, top + outward * 1.0, hole_r)
    name = sleeve.name or f"sleeve-{index + 1}"
    info: dict[str, Any] = {
        "name": name,
        "entry_lps": entry.tolist(),
        "axis_lps": axis.tolist(),
        "top_lps": top.tolist(),
        "base_surface_mm": exit_s,
        "inner_diameter_mm": sleeve.inner_diameter_mm,
        "outer_diameter_mm": sleeve.outer_diameter_mm,
        "height_mm": sleeve.height_mm,
    }
    return Feature("sleeve", name, tube, hole, info, max(depth, 0.0) + 1.0)


def slot_feature(slot: Slot, distance: DistanceField, clearance: float,
                 thickness: float, index: int) -> Feature:
    """The housing (slot + walls) and the slot cut, both in the cut plane at the point."""
    point = np.asarray(slot.point_lps, dtype=np.float64)
    normal = np.asarray(slot.normal_lps, dtype=np.float64)
    normal = normal / np.linalg.norm(normal)
    bone_n = bone_normal(distance, point)
    up = bone_n - np.dot(bone_n, normal) * normal
    if np.linalg.norm(up) < 1e-6:  # the plane is tangent to the bone: any in-plane axis
        up = _frame(normal)[0]
    up /= np.linalg.norm(up)
    along = np.cross(normal, up)
    level = clearance + thickness
    exit_s = outer_exit(distance, point, up, level, 4 * level + 10.0)
    wall = thickness
    top = exit_s + slot.depth_mm
    across = np.linspace(-0.5, 0.5, 5) * (slot.width_mm + 2 * wall)
    lengthwise = np.linspace(-0.5, 0.5, 13) * (slot.length_mm + 2 * wall)
    starts = np.array([point + up * top + a * normal + b * along
                       for a in across for b in lengthwise])
    reach = top + slot.length_mm / 2 + wall + level + 2.0
    lowest = lowest_crossing(distance, starts, -up, clearance + thickness / 2, reach)
    depth_in = (lowest if lowest is not None else reach) + 0.5 - top
    height = top + depth_in
    mid = point + up * (top - depth_in) / 2
    housing = box(mid, (normal, along, up),
                  (slot.width_mm + 2 * wall, slot.length_mm + 2 * wall, height))
    cut_mid = point + up * (top + 1.0 - depth_in - 1.0) / 2
    cut = box(cut_mid, (normal, along, up), (slot.width_mm, slot.length_mm, height + 2.0))
    name = slot.name or f"slot-{index + 1}"
    info: dict[str, Any] = {
        "name": name,
        "point_lps": point.tolist(),
        "normal_lps": normal.tolist(),
        "depth_direction_lps": (-up).tolist(),
        "length_direction_lps": along.tolist(),
        "top_lps": (point + up * top).tolist(),
        "bottom_lps": (point - up * (depth_in + 1.0)).tolist(),
        "base_surface_mm": exit_s,
        "width_mm": slot.width_mm,
        "length_mm": slot.length_mm,
        "depth_mm": slot.depth_mm,
    }
    return Feature("slot", name, housing, cut, info, depth_in + 2.0)
