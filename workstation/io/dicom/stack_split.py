"""Split the frames of one series into candidate stacks (hard keys, duplicates, large gaps)."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workstation.io.dicom.header_geometry import (
    POSITION_TOLERANCE_MM,
    has_geometry,
    join_words,
    orientation_label,
)
from workstation.io.dicom.headers import FileHeader
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.slice_geometry import (
    ORIENTATION_TOLERANCE,
    large_gaps,
    split_indices,
    split_warning,
)
from workstation.io.dicom.stack_kinds import frame_category, significant_image_type
from workstation.io.sources import is_zip_location, split_zip_location

#: Two pixel spacings are equal when both values differ by at most this.
PIXEL_SPACING_TOLERANCE_MM = 1e-3
#: A different-orientation group this small, beside a group at least this many times
#: bigger, is a localizer.
LOCALIZER_MAX_FRAMES = 3
LOCALIZER_SIZE_RATIO = 3
#: Series descriptions that name a localizer; small groups with them are localizers.
LOCALIZER_WORDS = re.compile(
    r"\b(LOCALI[SZ]ER|SCOUT|SURVEY|PILOT|TOPOGRAM|SCANOGRAM|3[- ]?PLANE)", re.IGNORECASE
)


@dataclass
class FrameItem:
    """One frame with the facts of the file it came from."""

    frame: FrameRef
    header: FileHeader
    dimension_key: tuple[int, ...] = ()

    @property
    def order_key(self) -> tuple[int | float, str, int]:
        """Stable order: instance number, then file, then frame number."""
        number = self.frame.instance_number
        return (
            number if number is not None else math.inf,
            self.frame.location,
            self.frame.frame_index if self.frame.frame_index is not None else -1,
        )


@dataclass
class FrameGroup:
    """A candidate stack while splitting: its items, kind hints and label detail."""

    items: list[FrameItem]
    category: str = "image"
    details: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unsupported: bool = False
    #: For a part of a group split at large gaps: where that group started, and which part.
    part_of: tuple[tuple[str, int], int] | None = None

    def first_position(self) -> tuple[str, int]:
        """Where the group starts in file order (for stable numbering)."""
        return min((item.frame.location, item.frame.frame_index or 0) for item in self.items)

    def number_key(self) -> tuple[tuple[str, int], int]:
        """Stack numbering order: file order; the parts of a split group together, in order."""
        return self.part_of if self.part_of is not None else (self.first_position(), 0)


def _cluster(values: Sequence[Sequence[float] | None], tolerance: float) -> list[int]:
    """Greedy cluster ids for vectors equal within ``tolerance`` per component (None -> -1)."""
    references: list[np.ndarray] = []
    ids = []
    for value in values:
        if value is None:
            ids.append(-1)
            continue
        vector = np.asarray(value, dtype=np.float64)
        for index, reference in enumerate(references):
            if np.max(np.abs(reference - vector)) <= tolerance:
                ids.append(index)
                break
        else:
            references.append(vector)
            ids.append(len(references) - 1)
    return ids


def _normal_of(items: Sequence[FrameItem]) -> np.ndarray | None:
    for item in items:
        normal = item.frame.normal
        if normal is not None:
            return normal
    return None


def _projections(items: Sequence[FrameItem], normal: np.ndarray) -> np.ndarray:
    positions = np.array([item.frame.position for item in items], dtype=np.float64)
    return positions @ normal


def _locations(projections: np.ndarray) -> list[list[int]]:
    """Indices grouped by slice location (equal projection within tolerance), sorted."""
    order = np.argsort(projections, kind="stable")
    groups: list[list[int]] = []
    previous = None
    for index in order:
        value = projections[index]
        if previous is None or value - previous > POSITION_TOLERANCE_MM:
            groups.append([int(index)])
        else:
            groups[-1].append(int(index))
        previous = value
    return groups


def _split_by(
    groups: Iterable[FrameGroup],
    key: Callable[[FrameItem], object],
    detail: Callable[[FrameItem], str] | None = None,
) -> list[FrameGroup]:
    """Split every group by ``key``; ``detail(first item)`` names each part in labels."""
    result = []
    for group in groups:
        buckets: dict[object, list[FrameItem]] = {}
        for item in group.items:
            buckets.setdefault(key(item), []).append(item)
        for items in buckets.values():
            details = list(group.details)
            if detail is not None and len(buckets) > 1:
                text = detail(items[0])
                if text:
                    details.append(text)
            result.append(
                FrameGroup(items, group.category, details, list(group.warnings), group.unsupported)
            )
    return result


#: How image-type values read in a stack label.
IMAGE_TYPE_WORDS = {
    "M": "magnitude",
    "MAGNITUDE": "magnitude",
    "P": "phase",
    "PHASE": "phase",
    "R": "real",
    "REAL": "real",
    "I": "imaginary",
    "IMAGINARY": "imaginary",
    "FIELD_MAP": "field map",
}


def _image_type_detail(item: FrameItem) -> str:
    key = significant_image_type(item.frame.image_type)
    extra = [IMAGE_TYPE_WORDS.get(part, part.lower()) for part in key[2:]]
    if extra:
        return " ".join(dict.fromkeys(extra))
    return " ".join(key).lower()


def _same_orientation(first: Sequence[float] | None, second: Sequence[float] | None) -> bool:
    if first is None or second is None:
        return first is None and second is None
    return float(np.max(np.abs(np.subtract(first, second)))) <= ORIENTATION_TOLERANCE


def _mark_localizers(groups: list[FrameGroup]) -> list[str]:
    """Small groups in another orientation than the main one become localizers.

    Returns the series-level warning when other, larger orientation groups remain.
    """
    images = [group for group in groups if group.category == "image"]
    if len(images) < 2:
        return []
    main = max(images, key=lambda group: len(group.items))
    main_orientation = main.items[0].frame.orientation
    remaining = []
    for group in images:
        orientation = group.items[0].frame.orientation
        if group is main or _same_orientation(orientation, main_orientation):
            continue
        small = len(group.items) <= LOCALIZER_MAX_FRAMES
        if small and len(main.items) >= LOCALIZER_SIZE_RATIO * len(group.items):
            group.category = "localizer"
        else:
            remaining.append(orientation_label(orientation))
    if not remaining:
        return []
    labels = sorted(set(remaining) | {orientation_label(main_orientation)})
    listed = join_words(labels) if len(labels) > 1 else f"all {labels[0]}"
    return [f"Series has images in several orientations ({listed}); split into separate stacks"]


def _folder(item: FrameItem) -> str:
    location = item.frame.location
    if is_zip_location(location):
        archive, member = split_zip_location(location)
        return str(Path(archive) / Path(member).parent)
    return str(Path(location).parent)


def _soft_keys(items: Sequence[FrameItem]) -> list[tuple[str, Callable[[FrameItem], object]]]:
    """Keys that may separate frames sharing positions, most specific first.

    The folder comes last: copies of one series in several folders (e.g. the same images
    in different transfer syntaxes) separate by where they are stored.
    """
    folders = {_folder(item) for item in items}
    root = os.path.commonpath(sorted(folders)) if len(folders) > 1 else ""

    def folder_key(item: FrameItem) -> str:
        folder = _folder(item)
        return os.path.relpath(folder, root) if root else folder

    return [
        ("time", lambda item: item.frame.temporal_position),
        ("echo", lambda item: item.frame.echo_number),
        ("dimension", lambda item: item.dimension_key),
        ("acquisition", lambda item: item.frame.acquisition_number),
        ("folder", folder_key),
    ]


def _duplicate_free(items: Sequence[FrameItem], normal: np.ndarray) -> bool:
    projections = _projections(items, normal)
    return len(_locations(projections)) == len(items)


def _detail_of(name: str, key: Callable[[FrameItem], object]) -> Callable[[FrameItem], str]:
    """The label detail of a frame split by the soft key ``name``."""
    return lambda item: _soft_detail(name, key(item))


def _soft_detail(name: str, value: object) -> str:
    if isinstance(value, tuple):
        return f"{name} " + ".".join(str(part) for part in value)
    if isinstance(value, float):
        return f"{name} {value:g}"
    return f"{name} {value}"


def _resolve_duplicates(group: FrameGroup) -> list[FrameGroup]:
    """Split or flag a group whose frames share slice locations."""
    items = group.items
    if len(items) < 2 or not all(has_geometry(item.frame) for item in items):
        return [group]
    normal = _normal_of(items)
    if normal is None:
        return [group]
    locations = _locations(_projections(items, normal))
    if len(locations) == len(items):
        return [group]
    if len(locations) == 1:
        group.unsupported = True
        group.warnings.append(
            f"All {len(items)} images share one position: not a 3D volume "
            "(repeated or differently processed images of one slice)"
        )
        return [group]
    combined = []
    for name, key in _soft_keys(items):
        values = {key(item) for item in items}
        if len(values) < 2:
            continue
        combined.append((name, key))
        split = _split_by([group], key, _detail_of(name, key))
        if all(len(part.items) >= 2 and _duplicate_free(part.items, normal) for part in split):
            return split
    if len(combined) > 1:

        def combined_key(item: FrameItem) -> tuple[object, ...]:
            return tuple(key(item) for _, key in combined)

        split = _split_by([group], combined_key)
        if all(len(part.items) >= 2 and _duplicate_free(part.items, normal) for part in split):
            for index, part in enumerate(split, start=1):
                part.details.append(f"part {index}")
            return split
    counts = {len(location) for location in locations}
    if len(counts) == 1:
        copies = counts.pop()
        parts: list[list[FrameItem]] = [[] for _ in range(copies)]
        for location in locations:
            ordered = sorted((items[index] for index in location), key=lambda it: it.order_key)
            for copy, item in enumerate(ordered):
                parts[copy].append(item)
        message = (
            f"{copies} images at every slice position (e.g. repeated acquisitions or echoes "
            f"without distinguishing tags); split into {copies} stacks by instance number"
        )
        return [
            FrameGroup(
                part,
                group.category,
                [*group.details, f"copy {index}"],
                [*group.warnings, message],
                group.unsupported,
            )
            for index, part in enumerate(parts, start=1)
        ]
    duplicated = sum(1 for location in locations if len(location) > 1)
    group.unsupported = True
    group.warnings.append(
        f"Duplicate slice positions: {duplicated} of {len(locations)} positions hold more "
        "than one image and they could not be separated; not loadable as one volume"
    )
    return [group]


def _split_large_gaps(group: FrameGroup) -> list[FrameGroup]:
    """Split a duplicate-free image group where a gap is too large to interpolate."""
    items = group.items
    if group.unsupported or len(items) < 3 or not all(has_geometry(item.frame) for item in items):
        return [group]
    normal = _normal_of(items)
    if normal is None:
        return [group]
    projections = _projections(items, normal)
    order = np.argsort(projections, kind="stable")
    gaps = large_gaps(projections[order])
    if not gaps:
        return [group]
    axial = float(np.max(np.abs(normal - (0.0, 0.0, 1.0)))) <= ORIENTATION_TOLERANCE
    messages = [split_warning(gap, axial) for gap in gaps]
    ranges = split_indices(len(items), gaps)
    start = group.first_position()
    return [
        FrameGroup(
            [items[int(order[index])] for index in part],
            group.category,
            [*group.details, f"part {number} of {len(ranges)}"],
            [*group.warnings, *messages],
            group.unsupported,
            part_of=(start, number),
        )
        for number, part in enumerate(ranges, start=1)
    ]


def _spacing_detail(item: FrameItem) -> str:
    spacing = item.frame.pixel_spacing
    return f"{spacing[0]:g}x{spacing[1]:g} mm pixels" if spacing else "no pixel spacing"


def split_series(items: list[FrameItem]) -> tuple[list[FrameGroup], list[str]]:
    """Split the items of one series into candidate stacks; returns (groups, warnings).

    A series is split into stacks that can each become one volume:

    * **Hard keys** always split: object category (image / secondary capture / localizer /
      unsupported colour, mosaic or segmentation), Rows x Columns, orientation (IOP
      cosines equal within ``ORIENTATION_TOLERANCE``), pixel spacing (within
      ``PIXEL_SPACING_TOLERANCE_MM``), the significant part of the image type
      (ORIGINAL/DERIVED, PRIMARY/SECONDARY, MAGNITUDE/PHASE/FIELD_MAP, ...) and the Enhanced
      StackID.
    * **Soft keys** (temporal position, echo, Enhanced dimension indices, acquisition number)
      split only where they resolve duplicate positions; many CT scanners number every slice
      as its own acquisition, which must not break a volume apart.
    * Remaining duplicates split by count when every position holds the same number of
      images (e.g. two echoes without echo numbers); otherwise they are reported.

    * **Large gaps** split: a gap too large to fill by interpolation (``large_gaps`` in
      ``slice_geometry``: more than MAX_INTERPOLATED_MISSING_SLICES missing slices and more
      than MAX_INTERPOLATED_GAP_MM) separates the parts of a series, each its own stack
      labelled "part i of n" in order along the slice normal and numbered in that order where
      the whole group would have been; the largest part is rated best.
    """
    groups = [FrameGroup(items)]
    groups = _split_by(groups, lambda item: frame_category(item.frame))
    for group in groups:
        group.category = frame_category(group.items[0].frame)
    groups = _split_by(
        groups,
        lambda item: (item.frame.rows, item.frame.columns),
        lambda item: f"{item.frame.columns}x{item.frame.rows}",
    )
    orientation_ids = _cluster([item.frame.orientation for item in items], ORIENTATION_TOLERANCE)
    orientation_of = {
        id(item): cluster for item, cluster in zip(items, orientation_ids, strict=True)
    }
    groups = _split_by(groups, lambda item: orientation_of[id(item)])
    if len(set(orientation_ids)) > 1:
        for group in groups:
            group.details.append(orientation_label(group.items[0].frame.orientation))
    spacing_ids = _cluster([item.frame.pixel_spacing for item in items], PIXEL_SPACING_TOLERANCE_MM)
    spacing_of = {id(item): cluster for item, cluster in zip(items, spacing_ids, strict=True)}
    groups = _split_by(groups, lambda item: spacing_of[id(item)], _spacing_detail)
    groups = _split_by(
        groups, lambda item: significant_image_type(item.frame.image_type), _image_type_detail
    )
    groups = _split_by(
        groups, lambda item: item.frame.stack_id, lambda item: f"stack {item.frame.stack_id}"
    )
    for group in groups:
        description = group.items[0].header.identity.series_description
        if (
            group.category == "image"
            and len(group.items) <= LOCALIZER_MAX_FRAMES
            and LOCALIZER_WORDS.search(description)
        ):
            group.category = "localizer"
    series_warnings = _mark_localizers(groups)
    resolved: list[FrameGroup] = []
    for group in groups:
        if group.category == "image":
            for part in _resolve_duplicates(group):
                resolved.extend(_split_large_gaps(part))
        else:
            resolved.append(group)
    resolved.sort(key=FrameGroup.number_key)
    return resolved, series_warnings
