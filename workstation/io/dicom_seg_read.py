"""Read a DICOM Segmentation (BINARY or FRACTIONAL SEG) onto the grid of its own frames.

The grid is built from the frames' plane positions, not from a volume helper: the slice
step is the vector between neighbouring positions (sheared grids from tilted scans are
kept exact), frames omitted because they were empty become empty slices, and every
segment keeps its name, colour (CIELab to RGB) and coded category and type.  Frames that
are not on one evenly spaced line of positions are placed on the nearest slice of a grid
at the smallest step, with a warning.  Fractional segments count where the value is at
least half the maximum.
"""

from __future__ import annotations

import os
import warnings as python_warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from workstation.core.coded_concepts import CodedConcept
from workstation.core.errors import SegmentationError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.readers import ImportedSegmentation, ImportedStructure, register_reader

#: SOP Class UIDs of Segmentation Storage (binary/fractional) and Label Map Segmentation.
SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
LABELMAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"

#: Positions closer than this (mm) along the normal are one slice.
POSITION_TOLERANCE_MM = 1e-3


def _first(ds: Dataset | None, keyword: str) -> Dataset | None:
    sequence = ds.get(keyword) if ds is not None else None
    return sequence[0] if sequence else None


def _concept(item: Dataset | None) -> CodedConcept | None:
    if item is None:
        return None
    return CodedConcept(
        str(item.get("CodeValue", "")),
        str(item.get("CodingSchemeDesignator", "")),
        str(item.get("CodeMeaning", "")),
    )


def lab_to_rgb(value: list[int] | tuple[int, ...]) -> tuple[float, float, float] | None:
    """An RGB colour (0..1) of a DICOM CIELab value, or None when it has none or is invalid."""
    import highdicom as hd

    try:
        colour = hd.color.CIELabColor.from_dicom_value([int(v) for v in value])
        rgb = colour.to_rgb(clip=True)
    except (ValueError, TypeError):
        return None
    return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0)


def _structure(item: Dataset, layer: int) -> ImportedStructure:
    number = int(item.SegmentNumber)
    colour = item.get("RecommendedDisplayCIELabValue")
    return ImportedStructure(
        name=str(item.get("SegmentLabel", "")) or f"Segment {number}",
        layer=layer,
        label=1,
        color=lab_to_rgb(list(colour)) if colour is not None else None,
        segment_id=str(item.get("TrackingID", "")),
        category=_concept(_first(item, "SegmentedPropertyCategoryCodeSequence")),
        type=_concept(_first(item, "SegmentedPropertyTypeCodeSequence")),
    )


def _functional(ds: Dataset, index: int, keyword: str) -> Dataset | None:
    """Item of ``keyword`` for frame ``index``: per-frame first, then shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and index < len(per_frame):
        found = _first(per_frame[index], keyword)
        if found is not None:
            return found
    return _first(_first(ds, "SharedFunctionalGroupsSequence"), keyword)


def _frame_geometry(
    ds: Dataset, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(positions (count, 3), row cosine, column cosine, spacing (rows, columns)) of the frames."""
    positions = []
    orientations = []
    spacings = []
    for index in range(count):
        plane = _functional(ds, index, "PlanePositionSequence")
        frame_orientation = _functional(ds, index, "PlaneOrientationSequence")
        measures = _functional(ds, index, "PixelMeasuresSequence")
        if plane is None or frame_orientation is None or measures is None:
            raise SegmentationError(
                "The DICOM SEG has frames without a plane position, orientation or pixel "
                "spacing; it cannot be placed in patient space."
            )
        positions.append([float(v) for v in plane.ImagePositionPatient])
        orientations.append([float(v) for v in frame_orientation.ImageOrientationPatient])
        spacings.append([float(v) for v in measures.PixelSpacing])
    orientation = np.array(orientations, dtype=np.float64)
    spacing = np.array(spacings, dtype=np.float64)
    if orientation.shape != (count, 6) or spacing.shape != (count, 2):
        raise SegmentationError("The DICOM SEG has malformed orientation or pixel spacing values.")
    if not (
        np.allclose(orientation, orientation[0], atol=1e-5)
        and np.allclose(spacing, spacing[0], atol=1e-6)
    ):
        raise SegmentationError(
            "The frames of the DICOM SEG differ in orientation or pixel spacing."
        )
    orientation, spacing = orientation[0], spacing[0]
    return np.array(positions), orientation[:3], orientation[3:], spacing


@dataclass
class SliceGrid:
    """Where the frames go: first position, slice step, depth, the slices each frame fills."""

    first: np.ndarray
    step: np.ndarray
    depth: int
    slices: list[np.ndarray]  # per frame: the grid slices it fills
    warnings: list[str]


def slice_grid(positions: np.ndarray, normal: np.ndarray) -> SliceGrid:
    """The regular grid of the frames' positions.

    Evenly spaced positions (gaps of omitted empty frames allowed) give one slice each.
    Unevenly spaced ones (a SEG made on an uneven stack) span a grid at the smallest gap
    from the first to the last position, each slice taking the frames at the nearest
    position (nearest neighbour along the stack), with a warning.
    """
    distance = positions @ normal
    order = np.argsort(distance, kind="stable")
    keep = np.concatenate([[True], np.diff(distance[order]) > POSITION_TOLERANCE_MM])
    levels = distance[order[keep]]  # distinct positions along the normal, ascending
    level_of = np.searchsorted(levels, distance - POSITION_TOLERANCE_MM)
    distinct = positions[order[keep]]
    first = distinct[0]
    if len(distinct) == 1:
        return SliceGrid(first, normal.copy(), 1, [np.array([0])] * len(positions), [])
    gaps = np.diff(distinct, axis=0)
    step = gaps[int(np.argmin(np.linalg.norm(gaps, axis=1)))]
    along = float(step @ normal)
    index = np.rint((levels - levels[0]) / along).astype(np.int64)
    expected = first + index[:, None] * step
    tolerance = max(1e-3, 1e-3 * float(np.linalg.norm(step)))
    if np.max(np.abs(distinct - expected)) <= tolerance:
        slices = [index[level : level + 1] for level in level_of]
        return SliceGrid(first, step, int(index[-1]) + 1, slices, [])
    depth = int(np.rint((levels[-1] - levels[0]) / along)) + 1
    step = (distinct[-1] - first) / (depth - 1)
    centres = levels[0] + np.arange(depth) * float(step @ normal)
    nearest = np.abs(centres[:, None] - levels[None, :]).argmin(axis=1)
    by_level = [np.flatnonzero(nearest == level) for level in range(len(levels))]
    warning = (
        f"the SEG frames are unevenly spaced: each slice of a {float(step @ normal):.3g} mm "
        "grid takes the nearest frame"
    )
    return SliceGrid(first, step, depth, [by_level[level] for level in level_of], [warning])


def _pixels(ds: Dataset) -> np.ndarray:
    """The frames as a boolean (frames, rows, columns) array."""
    try:
        array = np.asarray(ds.pixel_array)
    except Exception as error:  # pydicom raises many kinds for bad pixel data
        raise SegmentationError(f"Cannot decode the DICOM SEG's pixel data: {error}") from error
    if array.ndim == 2:
        array = array[np.newaxis]
    if str(ds.get("SegmentationType", "BINARY")).upper() == "FRACTIONAL":
        maximum = float(ds.get("MaximumFractionalValue", 255) or 255)
        return array >= maximum / 2.0
    return array > 0


def _read_dataset(path: Path) -> Dataset:
    try:
        with python_warnings.catch_warnings():
            python_warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError) as error:
        raise SegmentationError(f"{path.name} is not a readable DICOM file: {error}") from error
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class == LABELMAP_SOP_CLASS:
        raise SegmentationError(
            f"{path.name} is a label map DICOM SEG; only binary and fractional SEG are read."
        )
    if sop_class != SEG_SOP_CLASS:
        raise SegmentationError(
            f"{path.name} is not a DICOM Segmentation (its SOP class is {sop_class or 'missing'}); "
            "only DICOM SEG files can be imported as segments."
        )
    return ds


def read_dicom_seg(
    path: str | os.PathLike[str],
    label_table: object | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ImportedSegmentation:
    """The segments of a DICOM SEG on the grid of its frames (``label_table`` is not used)."""
    token = cancel or CancelToken()
    source = Path(path)
    progress(0.0, f"Reading {source.name}")
    ds = _read_dataset(source)
    descriptions = list(ds.get("SegmentSequence", []))
    if not descriptions:
        raise SegmentationError(f"{source.name} describes no segments.")
    pixels = _pixels(ds)
    count, rows, cols = pixels.shape
    try:
        positions, row_cos, col_cos, spacing = _frame_geometry(ds, count)
    except (AttributeError, ValueError, TypeError, IndexError) as error:
        raise SegmentationError(f"{source.name} has a malformed frame geometry: {error}") from error
    if positions.shape != (count, 3) or not np.all(np.isfinite(positions)):
        raise SegmentationError(f"{source.name} has malformed plane positions.")
    normal = np.cross(row_cos, col_cos)
    normal /= np.linalg.norm(normal)
    grid = slice_grid(positions, normal)
    first, step, depth, warnings = grid.first, grid.step, grid.depth, grid.warnings
    affine = np.eye(4)
    affine[:3, 0] = step
    affine[:3, 1] = col_cos * spacing[0]
    affine[:3, 2] = row_cos * spacing[1]
    affine[:3, 3] = first
    numbers = [int(item.SegmentNumber) for item in descriptions]
    masks = {number: np.zeros((depth, rows, cols), dtype=bool) for number in numbers}
    for frame in range(count):
        token.raise_if_cancelled()
        identification = _functional(ds, frame, "SegmentIdentificationSequence")
        number = int(identification.ReferencedSegmentNumber) if identification else numbers[0]
        if number in masks:
            masks[number][grid.slices[frame]] |= pixels[frame]
    progress(0.8, f"Reading {source.name}")
    layers: list[np.ndarray] = []
    structures: list[ImportedStructure] = []
    for item in descriptions:
        mask = masks[int(item.SegmentNumber)]
        target = next(
            (
                n
                for n, layer in enumerate(layers)
                if int(layer.max(initial=0)) < 255 and not np.any(layer[mask])
            ),
            None,
        )
        if target is None:
            layers.append(np.zeros((depth, rows, cols), dtype=np.uint8))
            target = len(layers) - 1
        label = int(layers[target].max(initial=0)) + 1
        layers[target][mask] = label
        structure = _structure(item, target)
        structure.label = label
        structures.append(structure)
    progress(1.0, f"Read {source.name}")
    return ImportedSegmentation(
        shape=(depth, rows, cols),
        affine=affine,
        layers=layers,
        structures=structures,
        source="DICOM Segmentation",
        warnings=warnings,
    )


register_reader("segmentation", ".dcm", read_dicom_seg, "DICOM Segmentation")
