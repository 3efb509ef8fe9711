"""Write synthetic DICOM series with exactly known geometry, for ground-truth tests.

Every helper takes the voxel array in (slice, row, col) order and the geometry in
DICOM terms (row/column direction cosines, pixel spacing, per-slice positions), so a
test states the truth once and compares the loader's output against it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    CTImageStorage,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

Vector = Sequence[float]


def normal_of(row_cosine: Vector, col_cosine: Vector) -> np.ndarray:
    """Unit slice normal cross(row cosine, column cosine)."""
    normal = np.cross(np.asarray(row_cosine, float), np.asarray(col_cosine, float))
    return normal / np.linalg.norm(normal)


def rotation(axis: str, degrees: float) -> np.ndarray:
    """Right-handed 3x3 rotation matrix about the x, y or z axis."""
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    return {
        "x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
        "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
        "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]),
    }[axis]


def positions_along(
    origin: Vector,
    step: Vector | float,
    count: int,
    row_cosine: Vector = (1, 0, 0),
    col_cosine: Vector = (0, 1, 0),
) -> list[np.ndarray]:
    """``count`` evenly spaced positions from ``origin``; a scalar step goes along the normal."""
    if np.isscalar(step):
        step_vector = float(step) * normal_of(row_cosine, col_cosine)
    else:
        step_vector = np.asarray(step, dtype=float)
    return [np.asarray(origin, float) + i * step_vector for i in range(count)]


def expected_affine(
    row_cosine: Vector,
    col_cosine: Vector,
    pixel_spacing: tuple[float, float],
    first_position: Vector,
    slice_step: Vector,
) -> np.ndarray:
    """The index (slice, row, col) -> LPS affine a correct loader must produce."""
    affine = np.eye(4)
    affine[:3, 0] = np.asarray(slice_step, float)
    affine[:3, 1] = np.asarray(col_cosine, float) * pixel_spacing[0]
    affine[:3, 2] = np.asarray(row_cosine, float) * pixel_spacing[1]
    affine[:3, 3] = np.asarray(first_position, float)
    return affine


def sphere_array(
    shape: tuple[int, int, int],
    voxel_to_lps,
    centers: Sequence[Vector],
    radii: Sequence[float],
    inside: int = 1000,
    outside: int = -1000,
) -> np.ndarray:
    """int16 array with balls of given LPS centres/radii; ``voxel_to_lps(s, r, c)`` -> LPS."""
    s, r, c = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    x, y, z = voxel_to_lps(s, r, c)
    array = np.full(shape, outside, dtype=np.int16)
    for centre, radius in zip(centers, radii, strict=True):
        distance2 = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2
        array[distance2 <= radius**2] = inside
    return array


def _base_dataset(
    modality: str,
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    patient_id: str,
    series_description: str,
    series_number: int,
) -> Dataset:
    ds = Dataset()
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic study"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    ds.Modality = modality
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "Synthetic"
    return ds


def _file_meta(sop_class: str, sop_instance: str, transfer_syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = transfer_syntax
    return meta


def write_series(
    folder: str | Path,
    stored: np.ndarray,
    *,
    row_cosine: Vector = (1.0, 0.0, 0.0),
    col_cosine: Vector = (0.0, 1.0, 0.0),
    pixel_spacing: tuple[float, float] = (1.0, 1.0),
    positions: Sequence[Vector] | None = None,
    origin: Vector = (0.0, 0.0, 0.0),
    slice_step: Vector | float = 1.0,
    rescale_slope: float | Sequence[float] = 1.0,
    rescale_intercept: float | Sequence[float] = 0.0,
    modality: str = "CT",
    series_uid: str | None = None,
    study_uid: str | None = None,
    frame_uid: str | None = None,
    patient_id: str = "SYNTH001",
    series_description: str = "Synthetic series",
    series_number: int = 1,
    instance_numbers: Sequence[int] | None = None,
    shuffle: bool = False,
    seed: int = 0,
    gantry_tilt: float | None = None,
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
    transfer_syntax: str = ExplicitVRLittleEndian,
    window: tuple[float, float] | None = (40.0, 400.0),
    file_names: Sequence[str] | None = None,
) -> list[Path]:
    """Write one single-frame file per slice of ``stored`` (int16 or uint16) and return paths.

    Positions default to ``origin + i * slice_step`` (scalar steps go along the normal).
    ``shuffle`` writes files under random names so file order says nothing; rescale
    values may be given per slice.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_slices, rows, cols = stored.shape
    if positions is None:
        positions = positions_along(origin, slice_step, n_slices, row_cosine, col_cosine)
    slopes = list(rescale_slope) if not np.isscalar(rescale_slope) else [rescale_slope] * n_slices
    intercepts = (
        list(rescale_intercept)
        if not np.isscalar(rescale_intercept)
        else [rescale_intercept] * n_slices
    )
    numbers = (
        list(instance_numbers) if instance_numbers is not None else list(range(1, n_slices + 1))
    )
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = frame_uid or generate_uid()
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    names = list(file_names) if file_names is not None else [f"IM{i:04d}" for i in range(n_slices)]
    if shuffle:
        random.Random(seed).shuffle(names)
    signed = stored.dtype.kind == "i"
    paths = []
    for index in range(n_slices):
        ds = _base_dataset(
            modality,
            study_uid,
            series_uid,
            frame_uid,
            patient_id,
            series_description,
            series_number,
        )
        sop_instance = generate_uid()
        ds.file_meta = _file_meta(sop_class, sop_instance, transfer_syntax)
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_instance
        ds.ImageType = list(image_type)
        ds.InstanceNumber = int(numbers[index])
        ds.ImagePositionPatient = [float(v) for v in positions[index]]
        ds.ImageOrientationPatient = [float(v) for v in (*row_cosine, *col_cosine)]
        ds.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]
        ds.SliceThickness = 1.0
        if gantry_tilt is not None:
            ds.GantryDetectorTilt = gantry_tilt
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = cols
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if signed else 0
        ds.RescaleSlope = float(slopes[index])
        ds.RescaleIntercept = float(intercepts[index])
        if modality == "CT":
            ds.RescaleType = "HU"
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = float(window[0]), float(window[1])
        ds.PixelData = np.ascontiguousarray(
            stored[index].astype("<i2" if signed else "<u2")
        ).tobytes()
        path = folder / names[index]
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def write_enhanced_ct(
    path: str | Path,
    stored: np.ndarray,
    *,
    row_cosine: Vector = (1.0, 0.0, 0.0),
    col_cosine: Vector = (0.0, 1.0, 0.0),
    pixel_spacing: tuple[float, float] = (1.0, 1.0),
    positions: Sequence[Vector] | None = None,
    origin: Vector = (0.0, 0.0, 0.0),
    slice_step: Vector | float = 1.0,
    rescale_slope: float = 1.0,
    rescale_intercept: float = -1024.0,
    frame_order: Sequence[int] | None = None,
    series_description: str = "Synthetic enhanced CT",
) -> Path:
    """Write an Enhanced CT multi-frame file; geometry in Shared/Per-frame Functional Groups.

    ``frame_order`` lists which slice goes into each frame (default: in order), so tests
    can store frames out of spatial order.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_slices, rows, cols = stored.shape
    if positions is None:
        positions = positions_along(origin, slice_step, n_slices, row_cosine, col_cosine)
    order = list(frame_order) if frame_order is not None else list(range(n_slices))
    ds = _base_dataset(
        "CT", generate_uid(), generate_uid(), generate_uid(), "SYNTH002", series_description, 2
    )
    sop_instance = generate_uid()
    ds.file_meta = _file_meta(EnhancedCTImageStorage, sop_instance, ExplicitVRLittleEndian)
    ds.SOPClassUID = EnhancedCTImageStorage
    ds.SOPInstanceUID = sop_instance
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.InstanceNumber = 1
    ds.NumberOfFrames = n_slices
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    signed = stored.dtype.kind == "i"
    ds.PixelRepresentation = 1 if signed else 0

    shared = Dataset()
    orientation = Dataset()
    orientation.ImageOrientationPatient = [float(v) for v in (*row_cosine, *col_cosine)]
    shared.PlaneOrientationSequence = DicomSequence([orientation])
    measures = Dataset()
    measures.PixelSpacing = [float(pixel_spacing[0]), float(pixel_spacing[1])]
    measures.SliceThickness = 1.0
    shared.PixelMeasuresSequence = DicomSequence([measures])
    transform = Dataset()
    transform.RescaleSlope = rescale_slope
    transform.RescaleIntercept = rescale_intercept
    transform.RescaleType = "HU"
    shared.PixelValueTransformationSequence = DicomSequence([transform])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])

    per_frame = []
    for frame_number, slice_index in enumerate(order):
        item = Dataset()
        position = Dataset()
        position.ImagePositionPatient = [float(v) for v in positions[slice_index]]
        item.PlanePositionSequence = DicomSequence([position])
        content = Dataset()
        content.StackID = "1"
        content.InStackPositionNumber = slice_index + 1
        content.DimensionIndexValues = [1, slice_index + 1]
        item.FrameContentSequence = DicomSequence([content])
        per_frame.append(item)
        del frame_number
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    frames = np.stack([stored[i] for i in order])
    ds.PixelData = np.ascontiguousarray(frames.astype("<i2" if signed else "<u2")).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def rewrite_transfer_syntax(source: str | Path, target: str | Path, transfer_syntax: str) -> Path:
    """Re-encode one uncompressed little-endian file in another transfer syntax.

    Supports Implicit VR LE, Explicit VR Big Endian, Deflated Explicit VR LE and whatever
    ``Dataset.compress`` can encode here (RLE Lossless; JPEG 2000 Lossless for images of at
    least 32x32).
    """
    from pydicom import dcmread
    from pydicom.filewriter import dcmwrite
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        ImplicitVRLittleEndian,
    )

    target = Path(target)
    ds = dcmread(source)
    if transfer_syntax == ImplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        dcmwrite(target, ds, implicit_vr=True, little_endian=True)
    elif transfer_syntax == ExplicitVRBigEndian:
        values = ds.pixel_array
        ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
        ds.PixelData = values.astype(values.dtype.newbyteorder(">")).tobytes()
        dcmwrite(target, ds, implicit_vr=False, little_endian=False)
    elif transfer_syntax == DeflatedExplicitVRLittleEndian:
        ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
        ds.save_as(target)
    else:
        ds.compress(transfer_syntax)
        ds.save_as(target)
    return target


def append_trailing_padding(path: str | Path, n_bytes: int = 16) -> None:
    """Append a Data Set Trailing Padding element (FFFC,FFFC) after the Pixel Data."""
    n_bytes += n_bytes & 1
    element = b"\xfc\xff\xfc\xffOB\x00\x00" + n_bytes.to_bytes(4, "little") + b"\x00" * n_bytes
    with open(path, "ab") as handle:
        handle.write(element)
