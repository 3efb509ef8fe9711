"""Write a Segmentation as a DICOM Segmentation (BINARY SEG) on the frames of its source series.

Every SEG frame lies on one source frame: it carries that frame's own Image Position
(Patient) and references that frame's SOP Instance UID (and frame number for a
multi-frame source), so a viewer overlays it on the images it was drawn on.  For a volume
that is the stack itself (gantry tilt included: same frames, sheared affine) frame ``i``
is slice ``i``; for a resampled uneven stack each source frame takes the nearest volume
slice (nearest neighbour through the affine) and empty frames are kept, so a reader
knows every source position and can map slices back exactly.  The plane positions are
passed to highdicom explicitly, one per frame, so its volume helpers (which refuse
sheared grids) are never used.  BINARY, not LABELMAP: Orthanc 1.10 and dciodvfy know
only the former.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from workstation import __version__
from workstation.core.coded_concepts import COMMON_TERMS, TISSUE, CodedConcept
from workstation.core.errors import ExportError
from workstation.core.memory_budget import check_memory
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.segmentation import Segment, Segmentation
from workstation.io.atomic_write import atomic_write
from workstation.io.dicom.headers import read_header
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.source_context import DicomSourceContext
from workstation.io.writers import register_writer

if TYPE_CHECKING:  # both are imported when a SEG is written: not on other exports
    import highdicom as hd
    from pydicom.dataset import Dataset

MANUFACTURER = "Surgical Planning Workstation"
MODEL_NAME = "workstation"
SERIES_DESCRIPTION = "Segmentation"
SERIES_NUMBER = 1000
CONTENT_LABEL = "SEGMENTATION"
ALGORITHM_NAME = "Surgical Planning Workstation threshold"

#: Type attributes highdicom copies from the source; absent ones are written empty.
_TYPE2_COPIED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
)

#: The meaning of an uncoded segment: Tissue / Tissue (as 3D Slicer defaults).
TISSUE_TYPE = CodedConcept("85756007", "SCT", "Tissue")


def _highdicom() -> ModuleType:
    """highdicom, imported when a SEG is written (not when the writers are listed: 0.3 s)."""
    import highdicom

    return highdicom


def segment_terms(segment: Segment) -> tuple[CodedConcept, CodedConcept]:
    """The (category, type) written for ``segment``: its own, a term named alike, or Tissue."""
    if segment.category is not None and segment.type is not None:
        return segment.category, segment.type
    named = COMMON_TERMS.get(segment.name.strip().capitalize())
    if named is not None:
        return segment.category or named[0], segment.type or named[1]
    return segment.category or TISSUE, segment.type or TISSUE_TYPE


def _code(concept: CodedConcept) -> hd.sr.CodedConcept:
    hd = _highdicom()
    return hd.sr.CodedConcept(concept.value, concept.scheme, concept.meaning)


def _lab(color: tuple[float, float, float]) -> hd.color.CIELabColor:
    hd = _highdicom()
    rgb = [min(255.0, max(0.0, float(value) * 255.0)) for value in color]
    return hd.color.CIELabColor.from_rgb(*rgb)


def _description(number: int, segment: Segment) -> hd.seg.SegmentDescription:
    """One SegmentDescription: name, codes, colour, algorithm (threshold: semi-automatic)."""
    hd = _highdicom()
    from pydicom.sr.codedict import codes

    category, kind = segment_terms(segment)
    semiautomatic = segment.threshold_range is not None
    algorithm = None
    if semiautomatic:
        algorithm = hd.AlgorithmIdentificationSequence(
            name=ALGORITHM_NAME, family=codes.cid7162.HistogramAnalysis, version=__version__
        )
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=segment.name[:64] or f"Segment {number}",
        segmented_property_category=_code(category),
        segmented_property_type=_code(kind),
        algorithm_type=(
            hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC
            if semiautomatic
            else hd.seg.SegmentAlgorithmTypeValues.MANUAL
        ),
        algorithm_identification=algorithm,
        tracking_id=segment.segment_id or None,
        tracking_uid=hd.UID() if segment.segment_id else None,
        display_color=_lab(segment.color),
    )


def _frame_axes(frame: FrameRef) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(position, step along a row = next column, step down a column = next row) in LPS mm."""
    if frame.position is None or frame.orientation is None or frame.pixel_spacing is None:
        raise ExportError(
            f"Source frame {frame.sop_instance_uid} has no position, orientation or spacing; "
            "a DICOM SEG cannot be placed on it."
        )
    row_cos = np.asarray(frame.orientation[:3], dtype=np.float64)
    col_cos = np.asarray(frame.orientation[3:], dtype=np.float64)
    between_rows, between_cols = frame.pixel_spacing
    position = np.asarray(frame.position, dtype=np.float64)
    return position, row_cos * between_cols, col_cos * between_rows


def volume_slice_of(frame: FrameRef, affine: np.ndarray, shape: tuple[int, ...]) -> int | None:
    """The volume slice that is ``frame`` itself (same plane, same pixels), else None."""
    inverse = np.linalg.inv(affine)
    position, column_step, row_step = _frame_axes(frame)
    origin = inverse[:3, :3] @ position + inverse[:3, 3]
    nearest = int(np.rint(origin[0]))
    same = (
        (frame.rows, frame.columns) == tuple(shape[1:])
        and np.allclose(inverse[:3, :3] @ column_step, (0, 0, 1), atol=1e-4)
        and np.allclose(inverse[:3, :3] @ row_step, (0, 1, 0), atol=1e-4)
        and np.allclose(origin, (nearest, 0, 0), atol=1e-3)
        and 0 <= nearest < shape[0]
    )
    return nearest if same else None


def frames_are_the_slices(
    frames: tuple[FrameRef, ...], affine: np.ndarray, shape: tuple[int, ...]
) -> bool:
    """True when the volume is the stack itself: frame ``i`` is slice ``i`` (not resampled)."""
    return len(frames) == shape[0] and all(
        volume_slice_of(frame, affine, shape) == number for number, frame in enumerate(frames)
    )


def frame_slices(masks: list[np.ndarray], frame: FrameRef, affine: np.ndarray) -> np.ndarray:
    """The (rows, columns, segments) labels of ``masks`` on ``frame`` (nearest volume voxel)."""
    inverse = np.linalg.inv(affine)
    position, column_step, row_step = _frame_axes(frame)
    origin = inverse[:3, :3] @ position + inverse[:3, 3]
    along_col = inverse[:3, :3] @ column_step
    along_row = inverse[:3, :3] @ row_step
    shape = masks[0].shape
    rows, cols = frame.rows, frame.columns
    nearest = volume_slice_of(frame, affine, shape)
    out = np.zeros((rows, cols, len(masks)), dtype=np.uint8)
    if nearest is not None:
        for number, mask in enumerate(masks):
            out[:, :, number] = mask[nearest]
        return out
    r, c = np.mgrid[0:rows, 0:cols]
    index = [
        np.rint(origin[axis] + c * along_col[axis] + r * along_row[axis]).astype(np.int64)
        for axis in range(3)
    ]
    inside = np.ones((rows, cols), dtype=bool)
    for axis in range(3):
        inside &= (index[axis] >= 0) & (index[axis] < shape[axis])
    picked = tuple(part[inside] for part in index)
    for number, mask in enumerate(masks):
        out[:, :, number][inside] = mask[picked]
    return out


#: Functional groups highdicom reads from the Shared item of a multi-frame source.
_SHARED_GROUPS = ("PixelMeasuresSequence", "PlaneOrientationSequence")


def _filled(header: Dataset) -> Dataset:
    """A copy of a source header as highdicom reads it (the source file is not touched).

    Absent patient/study attributes that highdicom copies are added empty, and a
    multi-frame source that gives pixel measures or orientation per frame (all frames
    alike: checked before) gets them in its Shared Functional Groups as well.
    """
    dataset = copy.copy(header)
    for keyword in _TYPE2_COPIED:
        if keyword not in dataset:
            setattr(dataset, keyword, "")
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    if not per_frame:
        return dataset
    shared_items = dataset.get("SharedFunctionalGroupsSequence")
    from pydicom.dataset import Dataset

    shared = copy.deepcopy(shared_items[0]) if shared_items else Dataset()
    for keyword in _SHARED_GROUPS:
        if keyword not in shared and keyword in per_frame[0]:
            setattr(shared, keyword, copy.deepcopy(per_frame[0][keyword].value))
    dataset.SharedFunctionalGroupsSequence = [shared]
    return dataset


def source_datasets(source: DicomSourceContext) -> list[Dataset]:
    """The header of every distinct source file, in frame order (one for a multi-frame file)."""
    locations = list(dict.fromkeys(frame.location for frame in source.frames))
    multiframe = any(frame.frame_index is not None for frame in source.frames)
    if multiframe and len(locations) > 1:
        raise ExportError(
            "The source stack spans several multi-frame files; a DICOM SEG references one."
        )
    return [_filled(read_header(location)) for location in locations]


def _complete_deidentification(seg: Dataset) -> None:
    """Name the method when the source says its patient identity was removed but not how.

    De-identified sources often leave De-identification Method empty, which makes the
    Patient module invalid (Type 1C); the SEG says what is known instead of copying the gap.
    """
    removed = str(seg.get("PatientIdentityRemoved", "")).upper() == "YES"
    coded = "DeidentificationMethodCodeSequence" in seg
    if removed and not coded and not str(seg.get("DeidentificationMethod", "")).strip():
        seg.DeidentificationMethod = "Not stated in the source images"


def _plane_positions(frames: tuple[FrameRef, ...]) -> list[hd.PlanePositionSequence]:
    hd = _highdicom()
    return [
        hd.PlanePositionSequence(
            hd.CoordinateSystemNames.PATIENT, [float(v) for v in frame.position or (0, 0, 0)]
        )
        for frame in frames
    ]


def write_dicom_seg(
    segmentation: Segmentation,
    path: str | os.PathLike[str],
    source: DicomSourceContext | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """Write the non-empty segments as a BINARY SEG on ``source``'s frames; returns the path."""
    token = cancel or CancelToken()
    if source is None:
        raise ExportError("A DICOM SEG needs the DICOM series the segmentation was made on.")
    if tuple(segmentation.shape) != tuple(source.shape) or not np.allclose(
        segmentation.affine, source.affine, atol=1e-6
    ):
        raise ExportError("The segmentation is not on the grid of the source series' volume.")
    if not source.frame_of_reference_uid:
        raise ExportError(
            "The source images have no Frame of Reference UID, so a DICOM SEG cannot be "
            "placed on them; write .seg.nrrd or .nii.gz instead."
        )
    segments = [segment for segment in segmentation.segments if not segment.empty]
    if not segments:
        raise ExportError("Every segment is empty: a DICOM SEG needs at least one voxel.")
    first = source.frames[0]
    if any(
        (frame.rows, frame.columns, frame.orientation, frame.pixel_spacing)
        != (first.rows, first.columns, first.orientation, first.pixel_spacing)
        for frame in source.frames
    ):
        raise ExportError("The source frames differ in size, orientation or pixel spacing.")
    progress(0.0, "Reading the source headers")
    datasets = source_datasets(source)
    masks = [np.asarray(segment.mask, dtype=bool) for segment in segments]
    # The frames once unpacked, and highdicom's bit-packed copy of them.
    check_memory(
        len(source.frames) * first.rows * first.columns * len(masks) * 2,
        f"writing a DICOM SEG of {len(masks)} segments",
    )
    pixels = np.zeros((len(source.frames), first.rows, first.columns, len(masks)), dtype=np.uint8)
    for number, frame in enumerate(source.frames):
        token.raise_if_cancelled()
        pixels[number] = frame_slices(masks, frame, segmentation.affine)
        progress(0.1 + 0.5 * (number + 1) / len(source.frames), "Placing the frames")
    progress(0.65, "Encoding the DICOM SEG")
    with warnings.catch_warnings():
        # Source names such as "ANONYMOUS" are copied as they are, not "corrected".
        warnings.filterwarnings("ignore", message=".*unlikely to represent the intended person")
        try:
            seg = _encode(datasets, pixels, segments, source, segmentation)
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            raise ExportError(f"Cannot make a DICOM SEG of these source images: {error}") from error
    seg.SeriesDescription = SERIES_DESCRIPTION
    _complete_deidentification(seg)
    token.raise_if_cancelled()
    target = Path(path)
    with atomic_write(target) as handle:
        seg.save_as(handle, enforce_file_format=True)
    progress(1.0, f"Wrote {target.name}")
    return target


def _encode(
    datasets: list[Dataset],
    pixels: np.ndarray,
    segments: list[Segment],
    source: DicomSourceContext,
    segmentation: Segmentation,
) -> hd.seg.Segmentation:
    """The highdicom SEG of ``pixels`` (frames, rows, columns, segments) on the source frames."""
    hd = _highdicom()
    first = source.frames[0]
    between_rows, between_cols = first.pixel_spacing or (1.0, 1.0)
    thickness = first.slice_thickness or None
    return hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(n + 1, s) for n, s in enumerate(segments)],
        series_instance_uid=hd.UID(),
        series_number=SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MODEL_NAME,
        software_versions=__version__,
        device_serial_number="0",
        content_label=CONTENT_LABEL,
        content_description="Segments made in the Surgical Planning Workstation",
        pixel_measures=hd.PixelMeasuresSequence(
            pixel_spacing=[float(between_rows), float(between_cols)],
            slice_thickness=float(thickness) if thickness else None,
        ),
        plane_orientation=hd.PlaneOrientationSequence(
            hd.CoordinateSystemNames.PATIENT, [float(v) for v in first.orientation or ()]
        ),
        plane_positions=_plane_positions(source.frames),
        omit_empty_frames=frames_are_the_slices(source.frames, segmentation.affine, source.shape),
    )


register_writer("segmentation", ".dcm", write_dicom_seg, "DICOM Segmentation", needs_source=True)
