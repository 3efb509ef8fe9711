"""Fuzz sources: synthetic series with exact ground truth, and real files from shared data."""

from __future__ import annotations

import io
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ImplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from tests.fuzz.mutation import SourceInfo
from tests.fuzz.mutators import source_info
from tests.support.dicom_factory import (
    expected_affine,
    positions_along,
    rewrite_transfer_syntax,
    rotation,
    write_enhanced_ct,
    write_series,
)
from tests.support.shared_data import SHARED_DATA

UID_ROOT = "1.2.826.0.1.3680043.10.1414"
SHAPE = (8, 32, 32)
INTERCEPT = -1024.0


@dataclass
class Truth:
    """What a correct ``info --json`` must report: affine [column,row,slice,1] -> LPS, dims, HU."""

    affine: np.ndarray
    dims: tuple[int, int, int]
    intensity: dict[str, float] | None  # None: several stacks, which one info picks may vary
    slice_stats: np.ndarray | None = None  # per slice: min, max, sum, count (HU)


@dataclass
class Source:
    """Pristine files of one input and, when known, its ground truth."""

    name: str
    files: dict[str, bytes]
    single: bool
    synthetic: bool
    truth: Truth | None = None
    mesh_args: tuple[str, ...] = ("--threshold", "300")
    infos: dict[str, SourceInfo] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.infos = {name: source_info(data) for name, data in self.files.items()}


def stored_volume(shape: tuple[int, int, int] = SHAPE) -> np.ndarray:
    """Stored (uint16) values: air with a per-slice offset and an off-centre 'bone' block."""
    n, _rows, cols = shape
    stored = np.empty(shape, dtype=np.uint16)
    for s in range(n):
        stored[s] = 24 + 3 * s + (np.arange(cols) % 5)[None, :]
    stored[2:6, 8:24, 6:20] = 1524
    stored[3, 10:12, 7:9] = 2024 + 7
    return stored


def truth_from(stored: np.ndarray, affine_srf: np.ndarray) -> Truth:
    """Ground truth from stored values (HU = stored + INTERCEPT) and the slice,row,col affine."""
    hu = stored.astype(np.float64) + INTERCEPT
    flat = hu.reshape(hu.shape[0], -1)
    stats = np.stack([flat.min(1), flat.max(1), flat.sum(1), np.full(len(flat), flat.shape[1])], 1)
    intensity = {"min": float(hu.min()), "max": float(hu.max()), "mean": float(hu.mean())}
    n, rows, cols = stored.shape
    return Truth(affine_srf[:, [2, 1, 0, 3]], (cols, rows, n), intensity, stats)


def _fix_uids(data: bytes, index: int, name: str) -> bytes:
    """Give a written file deterministic SOP Instance UIDs so layouts repeat run to run."""
    ds = pydicom.dcmread(io.BytesIO(data))
    prefix = _uid_of(name)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = prefix + ".1", prefix + ".2"
    ds.FrameOfReferenceUID = prefix + ".3"
    uid = f"{prefix}.4.{index + 1}"
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def _uid_of(name: str) -> str:
    """A deterministic UID prefix for one source."""
    return f"{UID_ROOT}.{zlib.crc32(name.encode())}"


def _series(name: str, folder: Path, orient: np.ndarray, step: float, syntax: str | None) -> Source:
    stored = stored_volume()
    row, col = orient[:, 0], orient[:, 1]
    spacing = (0.7, 0.8)
    origin = (-10.5, 5.25, 3.0)
    uid = _uid_of(name)
    paths = write_series(
        folder / name,
        stored,
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=spacing,
        origin=origin,
        slice_step=step,
        rescale_intercept=INTERCEPT,
        series_uid=uid + ".2",
        study_uid=uid + ".1",
        frame_uid=uid + ".3",
    )
    files = {}
    for index, path in enumerate(paths):
        if syntax is not None:
            rewrite_transfer_syntax(path, path, syntax)
        files[path.name] = _fix_uids(path.read_bytes(), index, name)
    positions = positions_along(origin, step, SHAPE[0], row, col)
    affine = expected_affine(row, col, spacing, positions[0], positions[1] - positions[0])
    return Source(name, files, single=False, synthetic=True, truth=truth_from(stored, affine))


def _enhanced(folder: Path) -> Source:
    stored = stored_volume()
    orient = rotation("y", 12.0)
    row, col = orient[:, 0], orient[:, 1]
    spacing, origin, step = (0.9, 0.6), (4.0, -3.0, 20.0), 1.25
    path = write_enhanced_ct(
        folder / "enhanced.dcm",
        stored,
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=spacing,
        origin=origin,
        slice_step=step,
        rescale_intercept=INTERCEPT,
    )
    positions = positions_along(origin, step, SHAPE[0], row, col)
    affine = expected_affine(row, col, spacing, positions[0], positions[1] - positions[0])
    data = _fix_uids(path.read_bytes(), 0, "synth_enhanced")
    return Source("synth_enhanced", {"enhanced.dcm": data}, True, True, truth_from(stored, affine))


def synthetic_sources() -> list[Source]:
    """Small synthetic inputs (8 x 32 x 32) in several encodings, with exact ground truth."""
    oblique = rotation("z", 20.0) @ rotation("x", 15.0)
    with tempfile.TemporaryDirectory(prefix="fuzz-src-") as tmp:
        folder = Path(tmp)
        return [
            _series("synth_axial", folder, np.eye(3), 1.5, None),
            _series("synth_oblique_implicit", folder, oblique, 2.0, ImplicitVRLittleEndian),
            _series("synth_rle", folder, np.eye(3), 1.5, RLELossless),
            _series("synth_j2k", folder, oblique, 2.0, JPEG2000Lossless),
            _enhanced(folder),
        ]


#: Real series: (name, paths relative to the shared data, mesh arguments).
REAL_SERIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "real_ct_head",
        tuple(f"ct_head_slicer_64px/CTHead{i}.dcm" for i in range(40, 52)),
        ("--threshold", "1300"),
    ),
    (
        "real_enhanced_siemens",
        tuple(f"enhanced_mr_dcmqa_enh/dicom/Siemens_XA10/6_{i}.dcm" for i in range(1, 5)),
        ("--preset", "mr-bright"),
    ),
)
#: Real single compressed images, each stacked into a short series around its own pixel data.
REAL_IMAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("real_ts_rle", "transfer_syntax_dcmqa_ts/dicom/4.dcm", ("--preset", "mr-bright")),
    ("real_ts_jpeg14", "transfer_syntax_dcmqa_ts/dicom/5.dcm", ("--preset", "mr-bright")),
    ("real_ts_jpegls", "transfer_syntax_dcmqa_ts/dicom/7.dcm", ("--preset", "mr-bright")),
    ("real_ts_j2k", "transfer_syntax_dcmqa_ts/dicom/9.dcm", ("--preset", "mr-bright")),
    ("real_ts_big_endian", "transfer_syntax_dcmqa_ts/dicom/3.dcm", ("--preset", "mr-bright")),
    (
        "real_jpeg_extended",
        "pylibjpeg_ct_codecs/JPEGExtended/JPEGExtended_1s_1f_u_16_12.dcm",
        ("--threshold", "300"),
    ),
    ("real_jpeg_ls_near", "pylibjpeg_ct_codecs/JPEGLS/CT1_JLSN.dcm", ("--threshold", "300")),
    (
        "real_j2k_toshiba",
        "pylibjpeg_ct_codecs/JPEG2000Lossless/TOSHIBA_J2K_SIZ1_PixRep0.dcm",
        ("--threshold", "300"),
    ),
)
STACKED_SLICES = 3


def stack_image(data: bytes, name: str, count: int = STACKED_SLICES) -> dict[str, bytes]:
    """``count`` axial slices 1 mm apart sharing the image's own (possibly compressed) pixels."""
    files = {}
    for index in range(count):
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.remove_private_tags()
        ds.SOPClassUID = (
            "1.2.840.10008.5.1.4.1.1.2"
            if ds.get("Modality") == "CT"
            else ("1.2.840.10008.5.1.4.1.1.4")
        )
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [-50.0, -40.0, 10.0 + index]
        ds.PixelSpacing = ds.get("PixelSpacing") or [0.5, 0.5]
        ds.SliceThickness = 1
        ds.InstanceNumber = index + 1
        ds.SeriesDescription = name
        for keyword in ("NumberOfFrames", "ImagesInAcquisition"):
            if keyword in ds:
                del ds[keyword]
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=False)
        files[f"{name}_{index}.dcm"] = _fix_uids(out.getvalue(), index, name)
    return files


def real_sources(root: Path = SHARED_DATA) -> list[Source]:
    """The real inputs present under ``root`` (none when the collection is absent)."""
    sources = []
    for name, paths, mesh_args in REAL_SERIES:
        files = [root / relative for relative in paths]
        if all(path.is_file() for path in files):
            contents = {path.name: path.read_bytes() for path in files}
            sources.append(Source(name, contents, False, False, None, mesh_args))
    for name, relative, mesh_args in REAL_IMAGES:
        path = root / relative
        if path.is_file():
            files = stack_image(path.read_bytes(), name)
            sources.append(Source(name, files, False, False, None, mesh_args))
    return sources
