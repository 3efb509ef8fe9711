"""Group frames into Patient -> Study -> Series, then split each series into Stacks.

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

Geometry warnings (tilt, uneven spacing, gaps) come from the positions projected on the
slice normal; the loader repeats the exact analysis when it builds the volume.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from workstation.core.geometry import orientation_name
from workstation.io.dicom.headers import FileHeader
from workstation.io.dicom.model import FrameRef, Stack
from workstation.io.dicom.pixels import MONOCHROME
from workstation.io.dicom.slice_geometry import (
    DUPLICATE_TOLERANCE_MM,
    ORIENTATION_TOLERANCE,
    SINGLE_IMAGE_WARNING,
    TILT_TOLERANCE_DEGREES,
    large_gaps,
    split_indices,
    split_warning,
)
from workstation.io.sources import display_name, is_zip_location, split_zip_location

#: Two pixel spacings are equal when both values differ by at most this.
PIXEL_SPACING_TOLERANCE_MM = 1e-3
#: Two frames are at the same slice location when their distance along the normal is below.
POSITION_TOLERANCE_MM = DUPLICATE_TOLERANCE_MM
#: A slice step is regular when within max(absolute, relative * median) of the median.
STEP_TOLERANCE_MM = 0.01
STEP_RELATIVE_TOLERANCE = 0.01
#: A different-orientation group this small, beside a group at least this many times
#: bigger, is a localizer.
LOCALIZER_MAX_FRAMES = 3
LOCALIZER_SIZE_RATIO = 3
#: Series descriptions that name a localizer; small groups with them are localizers.
LOCALIZER_WORDS = re.compile(
    r"\b(LOCALI[SZ]ER|SCOUT|SURVEY|PILOT|TOPOGRAM|SCANOGRAM|3[- ]?PLANE)", re.IGNORECASE
)

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
SEGMENTATION_SOP_CLASSES = frozenset(
    {"1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.66.7"}
)

#: Image type values (beyond ORIGINAL/DERIVED and PRIMARY/SECONDARY) that mark a
#: different kind of image and therefore a different stack.
SIGNIFICANT_IMAGE_TYPES = frozenset(
    {
        "LOCALIZER", "SCOUT", "MOSAIC", "M", "MAGNITUDE", "P", "PHASE", "R", "REAL",
        "I", "IMAGINARY", "FIELD_MAP", "B0", "B0MAP", "ADC", "EADC", "TRACE", "FA",
        "DIFFUSION", "MIP", "MINIP", "PROJECTION IMAGE", "MPR", "CPR", "REFORMATTED",
        "T1 MAP", "T2 MAP", "T2_STAR_MAP", "PERFUSION", "SUBTRACTION", "CALC", "WATER",
        "FAT", "IN_PHASE", "OUT_PHASE",
    }
)  # fmt: skip
#: Philips-style image type values "M_FFE", "P_SE": the letter before "_" is the component.
COMPONENT_LETTERS = frozenset({"M", "P", "R", "I"})

KIND_BASE_CONFIDENCE = {
    "volume": 0.55,
    "multi-volume": 0.45,
    "single-slice": 0.2,
    "localizer": 0.08,
    "secondary-capture": 0.05,
    "unsupported": 0.02,
}
#: A part of a series split at a large gap rates at least this much below the largest
#: part of the same series, so the largest part is the best volume.
SPLIT_PART_CONFIDENCE_MARGIN = 0.05


@dataclass
class _Item:
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
class _Group:
    """A candidate stack while splitting: its items, kind hints and label detail."""

    items: list[_Item]
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


@dataclass(frozen=True)
class StackGeometry:
    """Header-level geometry of a stack, in the scan report's order (column, row, slice)."""

    dims: tuple[int, int, int]
    spacing: tuple[float | None, float | None, float | None]
    orientation: str
    steps: tuple[float, ...]
    tilt_degrees: float | None


# ------------------------------------------------------------------ small helpers


def _unit(vector: Sequence[float]) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float64)
    return array / np.linalg.norm(array)


def orientation_label(orientation: Sequence[float] | None) -> str:
    """'axial', 'coronal', 'sagittal' or 'oblique' for an IOP; 'unknown' without one."""
    if orientation is None:
        return "unknown"
    row, col = _unit(orientation[:3]), _unit(orientation[3:])
    normal = np.cross(row, col)
    if np.linalg.norm(normal) < 1e-6:
        return "unknown"
    affine = np.eye(4)
    affine[:3, 0] = normal
    affine[:3, 1] = col
    affine[:3, 2] = row
    return orientation_name(affine)


def significant_image_type(image_type: Sequence[str]) -> tuple[str, ...]:
    """The parts of an image type that distinguish stacks (see SIGNIFICANT_IMAGE_TYPES)."""
    values = [value.upper() for value in image_type]
    key = list(values[:2])
    for value in values[2:]:
        if value in SIGNIFICANT_IMAGE_TYPES:
            key.append(value)
        elif "_" in value and value.split("_", 1)[0] in COMPONENT_LETTERS:
            key.append(value.split("_", 1)[0])
    return tuple(dict.fromkeys(key))


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


def _category(frame: FrameRef) -> str:
    """What sort of object a frame is, for the hard split."""
    if frame.sop_class_uid in SEGMENTATION_SOP_CLASSES or frame.bits_allocated == 1:
        return "unsupported:segmentation"
    if frame.samples_per_pixel != 1 or frame.photometric not in MONOCHROME:
        return "unsupported:colour"
    if "MOSAIC" in frame.image_type:
        return "unsupported:mosaic"
    if frame.sop_class_uid.startswith(SECONDARY_CAPTURE_PREFIX):
        return "secondary-capture"
    if "LOCALIZER" in frame.image_type or "SCOUT" in frame.image_type:
        return "localizer"
    return "image"


def _normal_of(items: Sequence[_Item]) -> np.ndarray | None:
    for item in items:
        normal = item.frame.normal
        if normal is not None:
            return normal
    return None


def _projections(items: Sequence[_Item], normal: np.ndarray) -> np.ndarray:
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


def _has_geometry(item: _Item) -> bool:
    return item.frame.position is not None and item.frame.orientation is not None


def _mm(value: float) -> str:
    return f"{value:.2f}"


def _join(values: Sequence[str]) -> str:
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]


# ---------------------------------------------------------------- geometry facts


def stack_geometry(frames: Sequence[FrameRef]) -> StackGeometry:
    """Dims, spacing, orientation, steps along the normal and tilt of a set of frames."""
    first = frames[0]
    spacing = first.pixel_spacing
    col_spacing = spacing[1] if spacing else None
    row_spacing = spacing[0] if spacing else None
    orientation = orientation_label(first.orientation)
    steps: tuple[float, ...] = ()
    tilt = None
    positioned = [f for f in frames if f.position is not None]
    normal = first.normal
    if normal is not None and len(positioned) >= 2:
        points = np.array([f.position for f in positioned], dtype=np.float64)
        projections = points @ normal
        order = np.argsort(projections, kind="stable")
        sorted_projections = projections[order]
        differences = np.diff(sorted_projections)
        steps = tuple(float(step) for step in differences if step > POSITION_TOLERANCE_MM)
        span = points[order[-1]] - points[order[0]]
        length = float(np.linalg.norm(span))
        if length > POSITION_TOLERANCE_MM:
            cosine = min(abs(float(np.dot(span / length, normal))), 1.0)
            tilt = float(np.degrees(np.arccos(cosine)))
    slice_spacing = float(np.median(steps)) if steps else None
    return StackGeometry(
        dims=(first.columns, first.rows, len(frames)),
        spacing=(col_spacing, row_spacing, slice_spacing),
        orientation=orientation,
        steps=steps,
        tilt_degrees=tilt,
    )


def _step_tolerance(median: float) -> float:
    return max(STEP_TOLERANCE_MM, STEP_RELATIVE_TOLERANCE * median)


def geometry_warnings(frames: Sequence[FrameRef]) -> list[str]:
    """Tilt, missing-slice and uneven-spacing warnings from header positions."""
    geometry = stack_geometry(frames)
    warnings = []
    if geometry.tilt_degrees is not None and geometry.tilt_degrees > TILT_TOLERANCE_DEGREES:
        warnings.append(
            f"Gantry tilt of {geometry.tilt_degrees:.1f}° detected from slice positions "
            "(slices are not stacked along the plane normal)"
        )
    steps = geometry.steps
    if len(steps) < 2:
        return warnings
    median = float(np.median(steps))
    tolerance = _step_tolerance(median)
    normal = frames[0].normal
    projections = sorted(
        float(np.dot(frame.position, normal)) for frame in frames if frame.position is not None
    )
    locations = [projections[0]]
    for value in projections[1:]:
        if value - locations[-1] > POSITION_TOLERANCE_MM:
            locations.append(value)
    gaps, uneven = [], []
    for index, step in enumerate(steps):
        if abs(step - median) <= tolerance:
            continue
        multiple = round(step / median)
        if multiple >= 2 and abs(step - multiple * median) <= tolerance * multiple:
            gaps.append((index, step, multiple - 1))
        else:
            uneven.append(step)
    for index, step, missing in gaps[:3]:
        warnings.append(
            f"Missing slice{'s' if missing > 1 else ''}: gap of {_mm(step)} mm after the "
            f"slice at {_mm(locations[index])} mm along the normal (slice {index + 1} of "
            f"{len(locations)}; expected {_mm(median)} mm, about {missing} slice"
            f"{'s' if missing > 1 else ''} missing)"
        )
    if len(gaps) > 3:
        warnings.append(f"{len(gaps) - 3} more gaps in the slice positions")
    if uneven:
        distinct = sorted({round(step, 2) for step in steps})
        shown = [_mm(value) for value in distinct[:6]]
        if len(distinct) > 6:
            shown.append("...")
        warnings.append(
            f"Uneven slice spacing: steps of {_join(shown)} mm along the normal "
            f"(median {_mm(median)} mm)"
        )
    return warnings


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


# ------------------------------------------------------------------- splitting


def _split_by(
    groups: Iterable[_Group],
    key: Callable[[_Item], object],
    detail: Callable[[_Item], str] | None = None,
) -> list[_Group]:
    """Split every group by ``key``; ``detail(first item)`` names each part in labels."""
    result = []
    for group in groups:
        buckets: dict[object, list[_Item]] = {}
        for item in group.items:
            buckets.setdefault(key(item), []).append(item)
        for items in buckets.values():
            details = list(group.details)
            if detail is not None and len(buckets) > 1:
                text = detail(items[0])
                if text:
                    details.append(text)
            result.append(
                _Group(items, group.category, details, list(group.warnings), group.unsupported)
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


def _image_type_detail(item: _Item) -> str:
    key = significant_image_type(item.frame.image_type)
    extra = [IMAGE_TYPE_WORDS.get(part, part.lower()) for part in key[2:]]
    if extra:
        return " ".join(dict.fromkeys(extra))
    return " ".join(key).lower()


def _same_orientation(first: Sequence[float] | None, second: Sequence[float] | None) -> bool:
    if first is None or second is None:
        return first is None and second is None
    return float(np.max(np.abs(np.subtract(first, second)))) <= ORIENTATION_TOLERANCE


def _mark_localizers(groups: list[_Group]) -> list[str]:
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
    listed = _join(labels) if len(labels) > 1 else f"all {labels[0]}"
    return [f"Series has images in several orientations ({listed}); split into separate stacks"]


def _folder(item: _Item) -> str:
    location = item.frame.location
    if is_zip_location(location):
        archive, member = split_zip_location(location)
        return str(Path(archive) / Path(member).parent)
    return str(Path(location).parent)


def _soft_keys(items: Sequence[_Item]) -> list[tuple[str, Callable[[_Item], object]]]:
    """Keys that may separate frames sharing positions, most specific first.

    The folder comes last: copies of one series in several folders (e.g. the same images
    in different transfer syntaxes) separate by where they are stored.
    """
    folders = {_folder(item) for item in items}
    root = os.path.commonpath(sorted(folders)) if len(folders) > 1 else ""

    def folder_key(item: _Item) -> str:
        folder = _folder(item)
        return os.path.relpath(folder, root) if root else folder

    return [
        ("time", lambda item: item.frame.temporal_position),
        ("echo", lambda item: item.frame.echo_number),
        ("dimension", lambda item: item.dimension_key),
        ("acquisition", lambda item: item.frame.acquisition_number),
        ("folder", folder_key),
    ]


def _duplicate_free(items: Sequence[_Item], normal: np.ndarray) -> bool:
    projections = _projections(items, normal)
    return len(_locations(projections)) == len(items)


def _soft_detail(name: str, value: object) -> str:
    if isinstance(value, tuple):
        return f"{name} " + ".".join(str(part) for part in value)
    if isinstance(value, float):
        return f"{name} {value:g}"
    return f"{name} {value}"


def _resolve_duplicates(group: _Group) -> list[_Group]:
    """Split or flag a group whose frames share slice locations."""
    items = group.items
    if len(items) < 2 or not all(_has_geometry(item) for item in items):
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
        split = _split_by(
            [group], key, lambda item, name=name, key=key: _soft_detail(name, key(item))
        )
        if all(len(part.items) >= 2 and _duplicate_free(part.items, normal) for part in split):
            return split
    if len(combined) > 1:

        def combined_key(item: _Item) -> tuple[object, ...]:
            return tuple(key(item) for _, key in combined)

        split = _split_by([group], combined_key)
        if all(len(part.items) >= 2 and _duplicate_free(part.items, normal) for part in split):
            for index, part in enumerate(split, start=1):
                part.details.append(f"part {index}")
            return split
    counts = {len(location) for location in locations}
    if len(counts) == 1:
        copies = counts.pop()
        parts: list[list[_Item]] = [[] for _ in range(copies)]
        for location in locations:
            ordered = sorted((items[index] for index in location), key=lambda it: it.order_key)
            for copy, item in enumerate(ordered):
                parts[copy].append(item)
        message = (
            f"{copies} images at every slice position (e.g. repeated acquisitions or echoes "
            f"without distinguishing tags); split into {copies} stacks by instance number"
        )
        return [
            _Group(
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


def _split_large_gaps(group: _Group) -> list[_Group]:
    """Split a duplicate-free image group where a gap is too large to interpolate."""
    items = group.items
    if group.unsupported or len(items) < 3 or not all(_has_geometry(item) for item in items):
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
        _Group(
            [items[int(order[index])] for index in part],
            group.category,
            [*group.details, f"part {number} of {len(ranges)}"],
            [*group.warnings, *messages],
            group.unsupported,
            part_of=(start, number),
        )
        for number, part in enumerate(ranges, start=1)
    ]


def _rank_split_parts(pairs: Sequence[tuple[_Group, Stack]]) -> None:
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


# ---------------------------------------------------------------- stack building


def _series_key(header: FileHeader) -> str:
    if header.series_uid:
        return header.series_uid
    # No series UID: every file stands alone, under a UID derived from its location.
    return generate_uid(entropy_srcs=["workstation-scan", header.location])


def _file_warnings(items: Sequence[_Item]) -> list[str]:
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


def _kind(group: _Group) -> str:
    if group.category == "secondary-capture":
        return "secondary-capture"
    if group.category == "localizer":
        return "localizer"
    if group.category.startswith("unsupported") or group.unsupported:
        return "unsupported"
    if len(group.items) == 1:
        return "single-slice"
    if not all(_has_geometry(item) for item in group.items):
        return "unsupported"
    return "volume"


def _category_warnings(group: _Group) -> list[str]:
    frames = [item.frame for item in group.items]
    warnings = []
    if group.category == "unsupported:mosaic":
        warnings.append(
            "Siemens MOSAIC images (many slices tiled in one image) are not supported as volumes"
        )
    elif group.category == "unsupported:colour":
        photometric = frames[0].photometric
        warnings.append(f"Colour images ({photometric}) cannot be loaded as a volume")
    elif group.category == "unsupported:segmentation":
        warnings.append("Segmentation objects are not loaded as images")
    elif group.category == "secondary-capture":
        warnings.append("Secondary capture (screenshot-like image): not for 3D use")
    elif group.category == "localizer":
        warnings.append("Localizer (scout) image: not for 3D use")
    missing = sum(1 for item in group.items if not _has_geometry(item))
    if missing and group.category != "unsupported:mosaic":
        warnings.append(
            f"Missing geometry: {missing} of {len(frames)} images have no "
            "Image Position/Orientation (Patient)"
        )
    if len(frames) == 1 and group.category == "image":
        warnings.append(SINGLE_IMAGE_WARNING)
    return warnings


def _confidence(
    kind: str, modality: str, frames: Sequence[FrameRef], orientation: str, warnings: Sequence[str]
) -> float:
    score = KIND_BASE_CONFIDENCE.get(kind, 0.02)
    if kind in ("volume", "multi-volume"):
        if modality in ("CT", "MR"):
            score += 0.1
        image_type = frames[0].image_type
        if image_type[:2] == ("ORIGINAL", "PRIMARY"):
            score += 0.1
        elif image_type[:1] == ("DERIVED",):
            score -= 0.1
        score += 0.15 * min(len(frames), 100) / 100.0
        if orientation == "axial":
            score += 0.05
        score -= min(0.05 * len(warnings), 0.2)
        if not warnings:
            score += 0.05
    return round(min(max(score, 0.01), 1.0), 3)


def _make_stack(group: _Group, series_uid: str, extra_warnings: Sequence[str]) -> Stack:
    items = group.items
    header = items[0].header
    frames = [item.frame for item in items]
    kind = _kind(group)
    warnings = list(extra_warnings) + _category_warnings(group) + list(group.warnings)
    if kind == "volume":
        warnings.extend(geometry_warnings(frames))
    rescale = _rescale_warning(frames)
    if rescale:
        warnings.append(rescale)
    warnings.extend(_file_warnings(items))
    warnings = list(dict.fromkeys(warnings))
    geometry = stack_geometry(frames)
    numbers = sorted(
        {item.header.series_number for item in items if item.header.series_number},
        key=lambda text: (_series_number_value(text), text),
    )
    descriptions = [item.header.series_description for item in items]
    description = Counter(d for d in descriptions if d).most_common(1)
    stack = Stack(
        stack_id=series_uid,
        series_uid=series_uid,
        study_uid=header.study_uid,
        patient_id=header.patient_id,
        patient_name=header.patient_name,
        study_date=header.study_date,
        study_description=header.study_description,
        series_number=numbers[0] if numbers else "",
        series_description=description[0][0] if description else "",
        modality=header.modality,
        frame_of_reference_uid=header.frame_of_reference_uid,
        frames=frames,
        kind=kind,
        warnings=warnings,
    )
    stack.confidence = _confidence(kind, header.modality, frames, geometry.orientation, warnings)
    return stack


def _label(stack: Stack, details: Sequence[str], several: bool) -> str:
    first = stack.frames[0]
    head = " ".join(part for part in (stack.modality, stack.series_number) if part) or "?"
    text = f"{head}: {stack.series_description or '(no description)'}"
    text += f" ({first.columns}x{first.rows}x{len(stack.frames)})"
    if several and details:
        text += f" [{', '.join(details)}]"
    elif several and stack.kind in ("localizer", "secondary-capture"):
        text += f" [{stack.kind}]"
    return text


def _series_number_value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def _spacing_detail(item: _Item) -> str:
    spacing = item.frame.pixel_spacing
    return f"{spacing[0]:g}x{spacing[1]:g} mm pixels" if spacing else "no pixel spacing"


def _split_series(items: list[_Item]) -> tuple[list[_Group], list[str]]:
    """Split the items of one series into candidate stacks; returns (groups, warnings)."""
    groups = [_Group(items)]
    groups = _split_by(groups, lambda item: _category(item.frame))
    for group in groups:
        group.category = _category(group.items[0].frame)
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
        description = group.items[0].header.series_description
        if (
            group.category == "image"
            and len(group.items) <= LOCALIZER_MAX_FRAMES
            and LOCALIZER_WORDS.search(description)
        ):
            group.category = "localizer"
    series_warnings = _mark_localizers(groups)
    resolved: list[_Group] = []
    for group in groups:
        if group.category == "image":
            for part in _resolve_duplicates(group):
                resolved.extend(_split_large_gaps(part))
        else:
            resolved.append(group)
    resolved.sort(key=_Group.number_key)
    return resolved, series_warnings


def build_stacks(headers: Iterable[FileHeader]) -> list[Stack]:
    """Group image file headers into series and split them into labelled, scored stacks.

    Returns stacks sorted by patient, study date, series number and then stack number.
    """
    series: dict[tuple[str, str, str], list[_Item]] = defaultdict(list)
    for header in headers:
        if header.skip_reason or not header.frames:
            continue
        key = (header.patient_id, header.study_uid, _series_key(header))
        keys = header.frame_keys or [() for _ in header.frames]
        for frame, dimension_key in zip(header.frames, keys, strict=True):
            series[key].append(_Item(frame, header, dimension_key))
    stacks: list[tuple[tuple[object, ...], Stack]] = []
    for (_, _, series_uid), items in series.items():
        groups, series_warnings = _split_series(items)
        several = len(groups) > 1
        made = []
        for number, group in enumerate(groups, start=1):
            stack = _make_stack(group, series_uid, series_warnings)
            made.append((group, stack))
            if several:
                stack.stack_id = f"{series_uid}.{number}"
            stack.label = _label(stack, group.details, several)
            sort_key = (
                stack.patient_id,
                stack.patient_name,
                stack.study_date,
                stack.study_uid,
                _series_number_value(stack.series_number),
                stack.series_number,
                series_uid,
                number,
            )
            stacks.append((sort_key, stack))
        _rank_split_parts(made)
    stacks.sort(key=lambda pair: pair[0])
    return [stack for _, stack in stacks]
