"""DICOM detection by content: DICM at 128 or a plausible bare data set, never by name."""

from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset

from tests.support.dicom_factory import write_series
from tests.support.shared_data import shared_data_path
from workstation.io.dicom.detect import (
    has_preamble_magic,
    is_dicom,
    looks_like_dataset,
    looks_like_dicom,
)


def _bare_dataset(little_endian: bool, implicit: bool) -> bytes:
    """A small data set without preamble or file meta, in the given encoding."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.3.4"
    ds.StudyDate = "20260101"
    ds.Modality = "CT"
    ds.PatientName = "Test^Bare"
    ds.Rows = 4
    ds.Columns = 4
    buffer = DicomBytesIO()
    buffer.is_little_endian = little_endian
    buffer.is_implicit_VR = implicit
    write_dataset(buffer, ds)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("little_endian", "implicit"), [(True, False), (True, True), (False, False)]
)
def test_bare_dataset_without_preamble_is_dicom(little_endian: bool, implicit: bool) -> None:
    data = _bare_dataset(little_endian, implicit)
    assert not has_preamble_magic(data)
    assert looks_like_dataset(data, len(data))
    assert looks_like_dicom(data, len(data))


def test_preamble_decides_even_with_tiff_header(tmp_path: Path) -> None:
    tiff_preamble = b"II*\x00" + bytes(124)
    data = tiff_preamble + b"DICM" + _bare_dataset(True, False)
    path = tmp_path / "image.tif"
    path.write_bytes(data)
    assert is_dicom(str(path))


def test_real_series_file_with_any_extension(tmp_path: Path) -> None:
    [path] = write_series(tmp_path, np.zeros((1, 4, 4), np.int16), file_names=["scan.txt"])
    assert is_dicom(str(path))


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello world, this is a text file\n" * 10,
        b'{"Modality": "CT", "SeriesNumber": 2}',
        gzip.compress(b"\x00" * 2000),
        struct.pack("<i", 348) + bytes(344),  # a NIfTI-1 header
        bytes(128) + b"DICX" + bytes(100),
        b"DICM" + bytes(300),  # magic at the wrong offset
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        b"\x08\x00\x05\x00" + b"\xff\xff\xff\x7f" + bytes(40),  # implausible length
    ],
    ids=[
        "empty",
        "text",
        "json",
        "gzip",
        "nifti",
        "wrong-magic",
        "magic-at-0",
        "random",
        "huge-length",
    ],
)
def test_non_dicom_content_is_rejected(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "file.dcm"  # the extension must not matter
    path.write_bytes(content)
    assert not is_dicom(str(path))


def test_missing_file_is_not_dicom(tmp_path: Path) -> None:
    assert not is_dicom(str(tmp_path / "absent.dcm"))


def test_zip_member_detected(tmp_path: Path) -> None:
    [path] = write_series(tmp_path / "series", np.zeros((1, 4, 4), np.int16))
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(path, "a/IM0")
        handle.writestr("a/readme.txt", "not an image")
    assert is_dicom(f"{archive}::a/IM0")
    assert not is_dicom(f"{archive}::a/readme.txt")


def test_real_edge_case_files() -> None:
    folder = shared_data_path("pydicom_test_files")
    assert is_dicom(str(folder / "CT_small.dcm"))  # TIFF header in the preamble
    assert is_dicom(str(folder / "ExplVR_BigEndNoMeta.dcm"))
    assert is_dicom(str(folder / "ExplVR_LitEndNoMeta.dcm"))
    assert is_dicom(str(folder / "dicomdirtests" / "DICOMDIR"))
    # no_meta.dcm starts one byte off: no parser can read it, so it is not DICOM to us.
    assert not is_dicom(str(folder / "no_meta.dcm"))
