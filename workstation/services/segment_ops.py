"""What each segmentation operation does: one implementation per operation name.

Each implementation reads the segmentation through an ``EditContext`` and returns the
``PendingEdit`` of actions that the editor commits; none changes anything itself.  The
heavy array work lives in ``workstation.processing`` (editing/, islands, morphology).
A new operation is its schema in ``core/operations.py`` plus one function here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from workstation.core.coded_concepts import CodedConcept
from workstation.core.errors import InputPathError, SegmentationError
from workstation.core.segmentation import SEGMENT_COLOURS, Segment
from workstation.core.volume import LabelMap
from workstation.services.segment_editor import (
    FULL,
    AddSegment,
    EditContext,
    MoveSegment,
    PendingEdit,
    Region,
    RemoveSegment,
    UpdateSegment,
    Write,
)

Implementation = Callable[[EditContext], PendingEdit]
_IMPLEMENTATIONS: dict[str, Implementation] = {}

#: Most segments one "split islands" may create (more means a noisy segment: clean it first).
MAX_SPLIT_SEGMENTS = 100


def operation(name: str) -> Callable[[Implementation], Implementation]:
    """Register the implementation of operation ``name``."""

    def register(function: Implementation) -> Implementation:
        _IMPLEMENTATIONS[name] = function
        return function

    return register


def implementation_of(name: str) -> Implementation:
    """The implementation of a (validated) operation name."""
    return _IMPLEMENTATIONS[name]


def implemented_operations() -> list[str]:
    """Every operation name with an implementation."""
    return sorted(_IMPLEMENTATIONS)


def _pending(context: EditContext, description: str, *actions: object) -> PendingEdit:
    return PendingEdit(dict(context.record), description, list(actions))  # type: ignore[arg-type]


def _coded(value: dict[str, str] | None) -> CodedConcept | None:
    return None if value is None else CodedConcept.from_dict(value)


def _free_name(context: EditContext, name: str) -> str:
    if context.segmentation.by_name(name) is not None:
        raise context.fail(f"a segment called {name!r} exists already")
    return name


def _label(context: EditContext, segment: Segment) -> LabelMap:
    return context.segmentation.label_map(segment.segment_id)


# -- segments ---------------------------------------------------------------------------------
@operation("add_segment")
def _add_segment(context: EditContext) -> PendingEdit:
    record = context.record
    name = _free_name(context, record["name"])
    color = tuple(record["color"]) if record["color"] else None
    properties = {"category": _coded(record["category"]), "type": _coded(record["type"])}
    action = AddSegment(context.new_segment_id(), name, color, properties=properties)  # type: ignore[arg-type]
    return _pending(context, f"Add segment {name}", action)


@operation("remove_segment")
def _remove_segment(context: EditContext) -> PendingEdit:
    segment = context.segment(context.record["segment"], writable=False)
    return _pending(context, f"Delete {segment.name}", RemoveSegment(segment.segment_id))


@operation("rename_segment")
def _rename_segment(context: EditContext) -> PendingEdit:
    segment = context.segment(context.record["segment"], writable=False)
    name = context.record["name"]
    if name != segment.name:
        _free_name(context, name)
    action = UpdateSegment(segment.segment_id, {"name": name})
    return _pending(context, f"Rename {segment.name} to {name}", action)


@operation("duplicate_segment")
def _duplicate_segment(context: EditContext) -> PendingEdit:
    segment = context.segment(context.record["segment"], writable=False)
    name = _free_name(context, context.record["name"])
    properties = {"category": segment.category, "type": segment.type, "opacity": segment.opacity}
    action = AddSegment(
        context.new_segment_id(),
        name,
        context.segmentation.next_colour(),
        segment.mask.copy(),
        index=context.segmentation.index_of(segment.segment_id) + 1,
        properties=properties,
    )
    return _pending(context, f"Duplicate {segment.name}", action)


@operation("move_segment")
def _move_segment(context: EditContext) -> PendingEdit:
    segment = context.segment(context.record["segment"], writable=False)
    index = context.record["index"]
    if index >= len(context.segmentation):
        raise context.fail(
            f"index {index} is past the last segment ({len(context.segmentation) - 1})"
        )
    return _pending(context, f"Move {segment.name}", MoveSegment(segment.segment_id, index))


@operation("set_segment")
def _set_segment(context: EditContext) -> PendingEdit:
    record = context.record
    segment = context.segment(record["segment"], writable=False)
    changes: dict[str, object] = {}
    for name in ("visible", "opacity", "locked"):
        if record[name] is not None:
            changes[name] = record[name]
    if record["color"] is not None:
        changes["color"] = tuple(record["color"])
    for name in ("category", "type"):
        if record[name] is not None:
            changes[name] = _coded(record[name])
    return _pending(context, f"Change {segment.name}", UpdateSegment(segment.segment_id, changes))


# -- voxels -------------------------------------------------------------------------------------
@operation("threshold")
def _threshold(context: EditContext) -> PendingEdit:
    from workstation.processing.threshold import threshold_mask

    record = context.record
    segment = context.segment(record["segment"])
    lower, upper = record["lower"], record["upper"]
    values = threshold_mask(context.volume.array, lower, upper)
    action = Write(segment.segment_id, FULL, values, threshold_range=(lower, upper))
    limit = "" if upper is None else f" to {upper:g}"
    return _pending(context, f"Threshold {segment.name} {lower:g}{limit}", action)


def _in_range(
    context: EditContext, region: Region, limits: list[float] | None
) -> np.ndarray | None:
    if limits is None:
        return None
    values = context.volume.array[region]
    return (values >= limits[0]) & (values <= limits[1])


def _dab_block(context: EditContext, point: list[float]) -> tuple[Region, np.ndarray] | None:
    from workstation.processing.editing.brush import brush_block

    record = context.record
    found = brush_block(
        context.segmentation.shape,
        context.segmentation.affine,
        np.asarray(point, float),
        record["radius_mm"],
        record["shape"],
        None if record["plane_normal_lps"] is None else np.asarray(record["plane_normal_lps"]),
    )
    if found is None:
        return None
    region, block = found
    allowed = _in_range(context, region, record["intensity_range"])
    return region, block if allowed is None else block & allowed


def paint_dab(context: EditContext, segment_id: str, point: list[float]) -> Write | None:
    """The write of one brush dab at ``point`` on the segment as it is now (None: no voxel)."""
    found = _dab_block(context, point)
    if found is None:
        return None
    region, block = found
    current = context.segmentation.by_id(segment_id).mask[region]
    values = current & ~block if context.record["erase"] else current | block
    return Write(segment_id, region, values)


def _union_region(regions: list[Region]) -> Region:
    starts = np.min([[part.start for part in region] for region in regions], axis=0)
    stops = np.max([[part.stop for part in region] for region in regions], axis=0)
    return tuple(slice(int(a), int(b)) for a, b in zip(starts, stops, strict=True))  # type: ignore[return-value]


@operation("paint")
def _paint(context: EditContext) -> PendingEdit:
    record = context.record
    segment = context.segment(record["segment"])
    for number, point in enumerate(record["points_lps"]):
        context.index_of(point, f"points_lps[{number}]")
    blocks = [found for point in record["points_lps"] if (found := _dab_block(context, point))]
    verb = "Erase" if record["erase"] else "Paint"
    if not blocks:
        return _pending(context, f"{verb} {segment.name}")
    union = _union_region([region for region, _ in blocks])
    scratch = segment.mask[union].copy()
    for region, block in blocks:
        inner = tuple(
            slice(part.start - outer.start, part.stop - outer.start)
            for part, outer in zip(region, union, strict=True)
        )
        if record["erase"]:
            scratch[inner] &= ~block
        else:
            scratch[inner] |= block
    return _pending(context, f"{verb} {segment.name}", Write(segment.segment_id, union, scratch))


@operation("scissors")
def _scissors(context: EditContext) -> PendingEdit:
    from workstation.processing.editing.scissors import apply_scissors, scissors_regions

    record = context.record
    segment = context.segment(record["segment"])
    inside, slab = scissors_regions(
        context.segmentation.shape,
        context.segmentation.affine,
        np.asarray(record["polygon_lps"], float),
        np.asarray(record["direction_lps"], float),
        record["depth_mm"],
        context.cancel,
    )
    values = apply_scissors(segment.mask, inside, record["mode"], slab)
    description = f"Scissors ({record['mode'].replace('_', ' ')}) on {segment.name}"
    return _pending(context, description, Write(segment.segment_id, FULL, values))


@operation("islands")
def _islands(context: EditContext) -> PendingEdit:
    from workstation.processing import islands

    record = context.record
    segment = context.segment(record["segment"])
    mode = record["mode"]
    if mode == "split":
        return _split(context, segment)
    label = _label(context, segment)
    try:
        if mode == "keep_largest":
            result = islands.keep_largest(label)
        elif mode == "keep_seed":
            context.voxel_of(record["seed_lps"], "seed_lps")
            result = islands.keep_connected_to(label, np.asarray(record["seed_lps"], float))
        else:
            result = islands.remove_small(label, record["min_mm3"])
    except SegmentationError as problem:
        raise context.fail(str(problem)) from None
    words = {
        "keep_largest": "Keep largest island",
        "keep_seed": "Keep island",
        "remove_small": "Remove small islands",
    }
    action = Write(segment.segment_id, FULL, result.array.astype(bool))
    return _pending(context, f"{words[mode]} of {segment.name}", action)


def _split(context: EditContext, segment: Segment) -> PendingEdit:
    from workstation.processing.editing.split import TooManyIslands, split_islands

    minimum = context.record["min_mm3"] or 0.0
    min_voxels = max(1, math.ceil(minimum / context.segmentation.voxel_volume_mm3 - 1e-9))
    try:
        parts = split_islands(segment.mask, min_voxels, limit=MAX_SPLIT_SEGMENTS + 1)
    except TooManyIslands as many:
        raise context.fail(
            f"segment {segment.name!r} has {many.count:,} islands; remove the small ones first "
            f"(at most {MAX_SPLIT_SEGMENTS} new segments)"
        ) from None
    if not parts:
        raise context.fail(f"segment {segment.name!r} has no island to split")
    pending = _pending(context, f"Split islands of {segment.name}")
    pending.actions.append(Write(segment.segment_id, FULL, parts[0]))
    taken = set(context.segmentation.names)
    position = context.segmentation.index_of(segment.segment_id)
    first_colour = len(context.segmentation)
    for number, part in enumerate(parts[1:], start=2):
        name = f"{segment.name} {number}"
        while name in taken:
            name += "'"
        taken.add(name)
        colour = SEGMENT_COLOURS[(first_colour + number - 2) % len(SEGMENT_COLOURS)]
        action = AddSegment(
            context.new_segment_id(), name, colour, part, index=position + number - 1
        )
        pending.actions.append(action)
    pending.notes.append(f"{segment.name}: split into {len(parts)} segments")
    return pending


@operation("grow_from_seeds")
def _grow(context: EditContext) -> PendingEdit:
    from workstation.processing.editing.grow import grow_from_seeds

    record = context.record
    segments = {name: context.segment(name) for name in record["seeds"]}
    seeds = {
        name: [context.voxel_of(point, f"seeds[{name!r}][{i}]") for i, point in enumerate(points)]
        for name, points in record["seeds"].items()
    }
    limits = record["intensity_range"]
    try:
        grown = grow_from_seeds(
            context.volume.array,
            context.segmentation.affine,
            seeds,
            None if limits is None else (limits[0], limits[1]),
            cancel=context.cancel,
            progress=context.progress,
        )
    except ValueError as problem:
        raise context.fail(str(problem)) from None
    actions = [Write(segments[name].segment_id, FULL, grown[name]) for name in record["seeds"]]
    return _pending(context, f"Grow {', '.join(record['seeds'])} from seeds", *actions)


@operation("interpolate")
def _interpolate(context: EditContext) -> PendingEdit:
    from workstation.processing.editing.interpolate import interpolate_slices

    segment = context.segment(context.record["segment"])
    values = interpolate_slices(segment.mask, context.segmentation.affine)
    return _pending(
        context, f"Fill between slices of {segment.name}", Write(segment.segment_id, FULL, values)
    )


@operation("morphology")
def _morphology(context: EditContext) -> PendingEdit:
    from workstation.processing import morphology

    record = context.record
    segment = context.segment(record["segment"])
    functions = {
        "dilate": morphology.dilate,
        "erode": morphology.erode,
        "open": morphology.opening,
        "close": morphology.closing,
    }
    try:
        result = functions[record["operation"]](_label(context, segment), record["radius_mm"])
    except SegmentationError as problem:
        raise context.fail(str(problem)) from None
    action = Write(segment.segment_id, FULL, result.array.astype(bool))
    description = f"{record['operation'].capitalize()} {segment.name} {record['radius_mm']:g} mm"
    return _pending(context, description, action)


@operation("fill_holes")
def _fill_holes(context: EditContext) -> PendingEdit:
    from workstation.processing.morphology import fill_cavities

    segment = context.segment(context.record["segment"])
    try:
        result = fill_cavities(_label(context, segment))
    except SegmentationError as problem:
        raise context.fail(str(problem)) from None
    action = Write(segment.segment_id, FULL, result.array.astype(bool))
    return _pending(context, f"Fill holes of {segment.name}", action)


@operation("smooth")
def _smooth(context: EditContext) -> PendingEdit:
    from workstation.processing.editing.smoothing import smooth_mask

    record = context.record
    segment = context.segment(record["segment"])
    values = smooth_mask(segment.mask, context.segmentation.affine, record["radius_mm"])
    description = f"Smooth {segment.name} {record['radius_mm']:g} mm"
    return _pending(context, description, Write(segment.segment_id, FULL, values))


@operation("logical")
def _logical(context: EditContext) -> PendingEdit:
    record = context.record
    segment = context.segment(record["segment"])
    other = context.segment(record["other"], writable=False)
    operation_name = record["operation"]
    if operation_name == "union":
        values = segment.mask | other.mask
    elif operation_name == "subtract":
        values = segment.mask & ~other.mask
    else:
        values = segment.mask & other.mask
    description = f"{segment.name} {operation_name} {other.name}"
    return _pending(context, description, Write(segment.segment_id, FULL, values))


# -- files ----------------------------------------------------------------------------------------
@operation("import_segmentation")
def _import_segmentation(context: EditContext) -> PendingEdit:
    from pathlib import Path

    from workstation.services import segmentation_import as importing

    record = context.record
    path = Path(record["path"])
    if not path.is_file():
        raise context.fail(f"the segmentation file {path} is missing")
    if importing.file_sha256(path) != record["sha256"]:
        raise context.fail(f"the segmentation file {path} changed since it was imported")
    try:
        result = importing.import_segmentation(
            path,
            context.volume,
            record["label_table"],
            context.progress,
            context.cancel,
            names=record["names"],
        )
    except (SegmentationError, InputPathError) as problem:
        raise context.fail(str(problem)) from None
    pending = _pending(context, f"Import {path.name}")
    taken = set(context.segmentation.names)
    for segment in result.segments:
        name, number = context.segmentation.unique_name(segment.name), 2
        while name in taken:  # taken by a segment added earlier in this import
            name, number = f"{segment.name} {number}", number + 1
        taken.add(name)
        properties = {"category": segment.category, "type": segment.type}
        action = AddSegment(
            context.new_segment_id(), name, segment.color, segment.mask, properties=properties
        )
        pending.actions.append(action)
    pending.notes += result.warnings
    pending.notes.append(f"Imported {len(result.segments)} segment(s) from {path.name}")
    return pending
