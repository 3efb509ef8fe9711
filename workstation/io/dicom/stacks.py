"""Group image file headers into series and build labelled, scored stacks from them."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import replace

from workstation.io.dicom.duplicates import Copies
from workstation.io.dicom.header_geometry import geometry_warnings, orientation_label
from workstation.io.dicom.headers import FileHeader
from workstation.io.dicom.model import FrameRef, Stack
from workstation.io.dicom.stack_kinds import (
    category_warnings,
    stack_confidence,
    stack_kind,
    stack_label,
)
from workstation.io.dicom.stack_split import FrameGroup, FrameItem, split_series
from workstation.io.sources import display_name

#: A part of a series split at a large gap rates at least this much below the largest
#: part of the same series, so the largest part is the best volume.
SPLIT_PART_CONFIDENCE_MARGIN = 0.05


def _rescale_warning(frames: Sequence[FrameRef]) -> str | None:
    pairs = {(frame.rescale_slope, frame.rescale_intercept) for frame in frames}
    if len(pairs) <= 1:
        return None
    slopes = sorted({pair[0] for pair in pairs})
    intercepts = sorted({pair[1] for pair in pairs})
    return (
        f"Rescale values differ between images ({len(pairs)} slope/intercept pairs; "
        f"slope {slopes[0]:g}..{slopes[-1]:g}, intercept {intercepts[0]:g}..{intercepts[-1]:g});"
        " applied per image"
    )


def _rank_split_parts(pairs: Sequence[tuple[FrameGroup, Stack]]) -> None:
    """Rate every part of a split series below its largest part (the best volume)."""
    splits: dict[tuple[str, int], list[Stack]] = defaultdict(list)
    for group, stack in pairs:
        if group.part_of is not None:
            splits[group.part_of[0]].append(stack)
    for parts in splits.values():
        largest = max(parts, key=lambda stack: (stack.loadable_3d, len(stack.frames)))
        ceiling = largest.confidence - SPLIT_PART_CONFIDENCE_MARGIN
        for stack in parts:
            if stack is not largest:
                stack.confidence = round(max(min(stack.confidence, ceiling), 0.01), 3)


def _series_key(header: FileHeader) -> str:
    if header.identity.series_uid:
        return header.identity.series_uid
    # No series UID: every file stands alone, under a UID derived from its location.
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["workstation-scan", header.location])


def _file_warnings(items: Sequence[FrameItem]) -> list[str]:
    seen: dict[str, list[str]] = {}
    for item in items:
        for warning in item.header.warnings:
            files = seen.setdefault(warning, [])
            name = display_name(item.header.location)
            if name not in files:
                files.append(name)
    result = []
    for warning, files in seen.items():
        where = files[0] if len(files) == 1 else f"{files[0]} and {len(files) - 1} more files"
        result.append(f"{where}: {warning}")
    return result


def _make_stack(group: FrameGroup, series_uid: str, extra_warnings: Sequence[str]) -> Stack:
    items = group.items
    header = items[0].header
    frames = [item.frame for item in items]
    kind = stack_kind(group.category, group.unsupported, frames)
    warnings = (
        list(extra_warnings) + category_warnings(group.category, frames) + list(group.warnings)
    )
    if kind == "volume":
        warnings.extend(geometry_warnings(frames))
    rescale = _rescale_warning(frames)
    if rescale:
        warnings.append(rescale)
    warnings.extend(_file_warnings(items))
    warnings = list(dict.fromkeys(warnings))
    identities = [item.header.identity for item in items]
    numbers = sorted(
        {identity.series_number for identity in identities if identity.series_number},
        key=lambda text: (_series_number_value(text), text),
    )
    descriptions = [identity.series_description for identity in identities]
    description = Counter(d for d in descriptions if d).most_common(1)
    stack = Stack(
        stack_id=series_uid,
        identity=replace(
            header.identity,
            series_uid=series_uid,
            series_number=numbers[0] if numbers else "",
            series_description=description[0][0] if description else "",
        ),
        frames=frames,
        kind=kind,
        warnings=warnings,
    )
    stack.confidence = stack_confidence(
        kind, header.identity.modality, frames, orientation_label(frames[0].orientation), warnings
    )
    return stack


def _series_number_value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def build_stacks(headers: Iterable[FileHeader], copies: Copies | None = None) -> list[Stack]:
    """Group image file headers into series and split them into labelled, scored stacks.

    ``copies`` (from ``drop_identical_copies``) adds a note to the series of each kept
    file that had byte-identical copies.

    Returns stacks sorted by patient, study date, series number and then stack number.
    """
    series: dict[tuple[str, str, str], list[FrameItem]] = defaultdict(list)
    notes: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for header in headers:
        if header.skip_reason or not header.frames:
            continue
        key = (header.identity.patient_id, header.identity.study_uid, _series_key(header))
        note = copies.note_for(header.location) if copies is not None else None
        if note:
            notes[key].append(note)
        keys = header.frame_keys or [() for _ in header.frames]
        for frame, dimension_key in zip(header.frames, keys, strict=True):
            series[key].append(FrameItem(frame, header, dimension_key))
    stacks: list[tuple[tuple[object, ...], Stack]] = []
    for key, items in series.items():
        series_uid = key[2]
        groups, series_warnings = split_series(items)
        series_warnings = series_warnings + notes.get(key, [])
        several = len(groups) > 1
        made = []
        for number, group in enumerate(groups, start=1):
            stack = _make_stack(group, series_uid, series_warnings)
            made.append((group, stack))
            if several:
                stack.stack_id = f"{series_uid}.{number}"
            stack.label = stack_label(stack, group.details, several)
            identity = stack.identity
            sort_key = (
                identity.patient_id,
                identity.patient_name,
                identity.study_date,
                identity.study_uid,
                _series_number_value(identity.series_number),
                identity.series_number,
                series_uid,
                number,
            )
            stacks.append((sort_key, stack))
        _rank_split_parts(made)
    stacks.sort(key=lambda pair: pair[0])
    return [stack for _, stack in stacks]
