"""Synthetic series with known geometry and segments, written as DICOM SEG by the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from tests.support.dicom_factory import write_enhanced_ct, write_series
from workstation.core.coded_concepts import COMMON_TERMS, CodedConcept
from workstation.core.segmentation import Segmentation
from workstation.core.volume import Volume
from workstation.io.dicom.model import Stack
from workstation.io.dicom.source_context import DicomSourceContext, source_context
from workstation.services.loading import load_volume

SHAPE = (8, 12, 14)  # source slices, rows, columns
SPACING = (0.8, 0.7)  # between rows, between columns (mm)


@dataclass
class Case:
    """A loaded synthetic series: its files' positions and SOP UIDs, volume, stack, source."""

    folder: Path
    positions: list[tuple[float, float, float]]  # per source slice, as written
    sop_uids: list[str]  # per source slice, as written
    series_uid: str
    frame_uid: str
    volume: Volume
    stack: Stack
    source: DicomSourceContext


def _load(folder: Path, positions, sop_uids, header) -> Case:
    loaded = load_volume(folder)
    return Case(
        folder,
        positions,
        sop_uids,
        str(header.SeriesInstanceUID),
        str(header.FrameOfReferenceUID),
        loaded.volume,
        loaded.stack,
        source_context(loaded.stack, loaded.volume),
    )


def series_case(folder: Path, positions: list[tuple[float, float, float]], **options) -> Case:
    """Write one file per position (zeros) and load it."""
    array = np.zeros((len(positions), *SHAPE[1:]), dtype=np.int16)
    paths = write_series(
        folder, array, positions=positions, pixel_spacing=SPACING, shuffle=True, **options
    )
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in paths]
    sop_uids = [str(ds.SOPInstanceUID) for ds in headers]
    return _load(folder, positions, sop_uids, headers[0])


def enhanced_case(folder: Path, positions: list[tuple[float, float, float]]) -> Case:
    """One Enhanced CT file with one frame per position, stored out of spatial order."""
    array = np.zeros((len(positions), *SHAPE[1:]), dtype=np.int16)
    order = list(range(len(positions)))[::-1]
    path = write_enhanced_ct(
        folder / "enhanced.dcm",
        array,
        positions=positions,
        pixel_spacing=SPACING,
        frame_order=order,
    )
    header = pydicom.dcmread(path, stop_before_pixels=True)
    return _load(folder, positions, [str(header.SOPInstanceUID)] * len(positions), header)


def box(shape: tuple[int, int, int], slices: slice, rows: slice, cols: slice) -> np.ndarray:
    """A boolean box mask."""
    mask = np.zeros(shape, dtype=bool)
    mask[slices, rows, cols] = True
    return mask


def two_segments(volume: Volume) -> Segmentation:
    """Overlapping segments: a coded, thresholded bone and an uncoded, painted 'Lesion'."""
    segmentation = Segmentation.for_volume(volume)
    shape = volume.shape
    bone_category, bone_type = COMMON_TERMS["Bone"]
    segmentation.add(
        "Mandible bone",
        (0.9, 0.85, 0.7),
        box(shape, slice(1, 5), slice(2, 9), slice(3, 11)),
        category=bone_category,
        type=bone_type,
        threshold_range=(300.0, None),
    )
    segmentation.add(
        "Lesion",
        (0.2, 0.4, 1.0),
        box(shape, slice(3, shape[0] - 1), slice(5, 11), slice(1, 6)),
    )
    segmentation.add("Nothing", (1.0, 0.0, 0.0))  # empty: not written
    return segmentation


def neoplasm() -> tuple[CodedConcept, CodedConcept]:
    """A (category, type) pair that is not the default."""
    return COMMON_TERMS["Neoplasm"]


def frame_facts(path: Path) -> list[dict[str, object]]:
    """Per SEG frame: segment number, position, referenced SOP UID and frame number, pixels."""
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    facts = []
    for number, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        source = item.DerivationImageSequence[0].SourceImageSequence[0]
        facts.append(
            {
                "segment": int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber),
                "position": tuple(
                    float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient
                ),
                "sop_uid": str(source.ReferencedSOPInstanceUID),
                "frame_number": source.get("ReferencedFrameNumber"),
                "pixels": pixels[number].astype(bool),
            }
        )
    return facts
