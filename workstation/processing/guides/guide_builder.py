"""Build a patient-specific guide from a plan and a bone: base, sleeves, slots, report.

The base is the shell {c < d < c + t} of the bone inside the region (d: signed distance
to the bone), so its contact face sits at the clearance by construction (its vertices are
then projected onto that level set exactly).  Sleeve tubes and slot housings are cut
back to the middle of the base's wall (the bone grown by c + t/2), so nothing reaches
into the bone, then unioned; holes and slots are subtracted through everything.
Booleans are manifold3d's.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import manifold3d
import numpy as np

from workstation.core.errors import GuidePlanError, MeshToolError
from workstation.core.guide_plan import GuidePlan
from workstation.core.mesh import Mesh
from workstation.core.progress import (
    CancelToken,
    ProgressCallback,
    no_progress,
    sub_progress,
)
from workstation.processing.guides.contact_base import (
    HIDDEN_REACH_MM,
    bone_layer,
    build_base,
    crop_to_box,
    facing_gaps,
    project_seat,
    region_touches_bone,
    seated_pieces,
    without_faces,
)
from workstation.processing.guides.distance_field import DistanceField
from workstation.processing.guides.guide_features import Feature, sleeve_feature, slot_feature
from workstation.processing.guides.manifold_bridge import from_manifold, to_manifold
from workstation.processing.guides.printability import (
    CONTACT_BAND_MM,
    THIN_WALL_MM,
    contact_vertices,
    measure_guide,
)
from workstation.processing.guides.undercut import check_undercut

#: Grid spacing of the base (mm): the contact face's accuracy follows it.
DEFAULT_SPACING_MM = 0.3
#: Largest base grid (nodes) before the default spacing is coarsened.
MAX_GRID_NODES = 40_000_000
#: Grid spacing of the layer that trims sleeves and housings (inside the wall; coarser).
LAYER_SPACING_MM = 0.5
#: Pieces smaller than this (mm^3) are marching-cubes debris and are dropped.
DEBRIS_MM3 = 1.0
#: The bone is cropped to the guide's reach plus this (mm): distances within it stay exact.
CROP_MARGIN_MM = 10.0
GUIDE_COLOR = (0.35, 0.75, 0.95)


@dataclass
class GuideResult:
    """The guide mesh, its report, and each guide vertex's signed distance to the bone."""

    guide: Mesh
    report: dict[str, Any]
    clearance_mm: np.ndarray = field(default_factory=lambda: np.zeros(0))


class _Timer:
    """Seconds per named step, for the report."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.times[name] = round(time.perf_counter() - start, 4)


def _validate(plan: GuidePlan) -> None:
    """Sleeve entries and slot points must lie inside the region."""
    for i, sleeve in enumerate(plan.sleeves):
        if not plan.region.contains(np.asarray(sleeve.entry_lps))[0]:
            label = sleeve.name or f"sleeve {i + 1}"
            raise GuidePlanError(f"Guide plan: the entry of {label} lies outside the region.")
    for i, slot in enumerate(plan.slots):
        if not plan.region.contains(np.asarray(slot.point_lps))[0]:
            label = slot.name or f"slot {i + 1}"
            raise GuidePlanError(f"Guide plan: the point of {label} lies outside the region.")


def _reach(plan: GuidePlan) -> float:
    """How far (mm) beyond the region box any part of the guide or its trimming may go."""
    c, t = plan.clearance_mm, plan.thickness_mm
    extra = [0.0]
    for s in plan.sleeves:
        extra.append(s.height_mm + 2 * s.outer_diameter_mm + 2.0)
    for slot in plan.slots:
        extra.append(slot.depth_mm + slot.length_mm + 2 * t + slot.width_mm + 3.0)
    return c + t + max(extra) + 3.0


def build_guide(
    plan: GuidePlan,
    bone: Mesh,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    spacing_mm: float | None = None,
) -> GuideResult:
    """Build the guide for ``plan`` on ``bone`` (LPS mm); GuidePlanError if it cannot be."""
    timer = _Timer()
    c, t = float(plan.clearance_mm), float(plan.thickness_mm)
    _validate(plan)
    progress(0.0, "Preparing the bone")
    lower, upper = plan.region.bounds()
    reach = _reach(plan)
    coarsened = False
    if spacing_mm is None:
        spacing = DEFAULT_SPACING_MM
        nodes = float(np.prod((upper - lower) / spacing + 1))
        if nodes > MAX_GRID_NODES:  # a very large region: bound the grid's memory
            spacing *= (nodes / MAX_GRID_NODES) ** (1 / 3)
            coarsened = True
    else:
        spacing = float(spacing_mm)
    with timer.step("crop_bone"):
        local = crop_to_box(bone, lower - reach - CROP_MARGIN_MM, upper + reach + CROP_MARGIN_MM)
    if not local.n_faces:
        raise GuidePlanError("Guide plan: the region holds no bone surface.")
    with timer.step("distance_field"):
        distance = DistanceField(local)
    if not region_touches_bone(plan.region, distance):
        raise GuidePlanError("Guide plan: the region holds no bone surface.")
    if cancel is not None:
        cancel.raise_if_cancelled()
    with timer.step("hidden_surfaces"):
        gaps = facing_gaps(local, local, lower - c - t - 1.0, upper + c + t + 1.0)
        hidden = gaps <= HIDDEN_REACH_MM
        slit = gaps <= 2 * c + THIN_WALL_MM  # a wall between both clearances would be thin
        open_surface = DistanceField(without_faces(local, hidden)) if hidden.any() else None
        hidden_surface = without_faces(local, ~hidden) if hidden.any() else None
        slit_surface = without_faces(local, ~slit) if slit.any() else None
    with timer.step("base"):
        try:
            base = build_base(distance, plan.region, c, t, spacing,
                              sub_progress(progress, 0.02, 0.45), cancel, open_surface,
                              hidden_surface, slit_surface)
        except MeshToolError:
            raise GuidePlanError(
                "Guide plan: the region holds no bone surface a guide can reach."
            ) from None
        base, far_pieces = seated_pieces(base, plan.region, c + t + 4 * spacing)
    with timer.step("seat_projection"):
        base, _ = project_seat(base, distance, c, CONTACT_BAND_MM, local)
    features: list[Feature] = []
    with timer.step("features"):
        for i, sleeve in enumerate(plan.sleeves):
            features.append(sleeve_feature(sleeve, distance, c, t, i))
        for i, slot in enumerate(plan.slots):
            features.append(slot_feature(slot, distance, c, t, i))
    progress(0.5, "Combining the parts")
    with timer.step("boolean_base_to_solid"):
        solid = to_manifold(base)
    if features:
        with timer.step("boolean_union_features"):
            adds = _done(manifold3d.Manifold.batch_boolean(
                [f.add for f in features], manifold3d.OpType.Add
            ))
        box_lo, box_hi = _bounds(adds)
        depth = max(f.depth_into_bone_mm for f in features)
        with timer.step("layer"):
            try:
                layer: Mesh | None = bone_layer(
                    distance, c + t / 2, depth, box_lo - 1.0, box_hi + 1.0,
                    max(spacing, LAYER_SPACING_MM), sub_progress(progress, 0.5, 0.75), cancel,
                )
            except MeshToolError:  # no bone under the features: nothing to trim
                layer = None
        with timer.step("boolean_trim_features"):
            if layer is not None:
                adds = _done(adds - to_manifold(layer))
        with timer.step("boolean_add_features"):
            solid = _done(solid + adds)
        with timer.step("boolean_cut_holes_slots"):
            cuts = manifold3d.Manifold.batch_boolean(
                [f.cut for f in features], manifold3d.OpType.Add
            )
            solid = _done(solid - cuts)
    if cancel is not None:
        cancel.raise_if_cancelled()
    with timer.step("pieces"):
        solid, dropped = _drop_debris(solid)
        guide = from_manifold(solid, name="Guide")
    guide.color = GUIDE_COLOR
    progress(0.8, "Measuring the guide")
    with timer.step("clearance"):
        clearance, contact = contact_vertices(guide, distance, c, plan.region)
    report = measure_guide(guide, plan, distance, clearance, contact, features, timer.times)
    with timer.step("undercut"):
        report["undercut"] = check_undercut(guide, local, plan, contact)
    if report["undercut"]["found"]:
        report["warnings"].append(
            "the guide cannot be lowered onto the bone along the insertion direction "
            f"(collisions near {len(report['undercut']['where_lps'])} place(s))"
        )
    if far_pieces:
        report["warnings"].append(
            f"{far_pieces} part(s) of the base away from the region's centre (the far side "
            "of a thin bone) left out"
        )
    if dropped:
        report["warnings"].append(f"{dropped} tiny piece(s) under {DEBRIS_MM3:g} mm^3 dropped")
    if coarsened:
        report["warnings"].append(
            f"the region is very large: the grid was coarsened to {spacing:.2f} mm"
        )
    report["grid_spacing_mm"] = spacing
    report["timings_s"] = timer.times
    guide.report = [f"guide from a signed distance field, grid spacing {spacing:g} mm"]
    progress(1.0, "Guide done")
    return GuideResult(guide=guide, report=report, clearance_mm=clearance)


def _done(solid: manifold3d.Manifold) -> manifold3d.Manifold:
    """Force manifold3d's lazy boolean to run now (so its time is its own step's)."""
    solid.num_tri()
    return solid


def _bounds(solid: manifold3d.Manifold) -> tuple[np.ndarray, np.ndarray]:
    """LPS (min, max) of a solid's vertices."""
    points = np.asarray(solid.to_mesh64().vert_properties)[:, :3]
    return points.min(axis=0), points.max(axis=0)


def _drop_debris(solid: manifold3d.Manifold) -> tuple[manifold3d.Manifold, int]:
    """Remove pieces under DEBRIS_MM3 (but never the only one); how many were removed."""
    pieces = solid.decompose()
    if len(pieces) <= 1:
        return solid, 0
    keep = [p for p in pieces if p.volume() >= DEBRIS_MM3]
    if not keep:
        return solid, 0
    if len(keep) == len(pieces):
        return solid, 0
    return manifold3d.Manifold.compose(keep), len(pieces) - len(keep)
