"""Hostile and broken header values: each class gives a clear answer or the exact truth.

Every case starts from a synthetic series of known geometry and values, damages one
header value the way a tester found in the wild, and checks the outcome: the damaged
file skipped with its reason, the load refused with a message that says why, or the
volume equal to the ground truth (with a warning where something was corrected).
"""

from __future__ import annotations

import struct
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, RLELossless

from tests.support.dicom_factory import expected_affine, rewrite_transfer_syntax, write_series
from workstation.core.errors import DicomReadError, MemoryLimitError, NotAVolumeError
from workstation.io.dicom import deflate_check
from workstation.io.dicom.scan import scan_path
from workstation.services.loading import load_volume

SHAPE = (8, 32, 32)
SPACING = (0.5, 0.5)
STEP = 2.0
ORIGIN = (10.0, 20.0, 30.0)
TRUTH = expected_affine((1, 0, 0), (0, 1, 0), SPACING, ORIGIN, (0, 0, STEP))


def _stored() -> np.ndarray:
    return (np.arange(np.prod(SHAPE)).reshape(SHAPE) % 2000).astype(np.int16)


def _series(folder: Path, modality: str = "CT") -> list[Path]:
    return write_series(
        folder, _stored(), pixel_spacing=SPACING, slice_step=STEP, origin=ORIGIN,
        modality=modality,
    )  # fmt: skip


def _edit(paths: list[Path], change: Callable[[pydicom.Dataset], None]) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        change(ds)
        ds.save_as(path, enforce_file_format=False)


def _skip_reasons(folder: Path) -> dict[str, str]:
    scan = scan_path(folder, workers=1)
    return {Path(item.path).name: item.reason for item in scan.skipped}


def test_huge_number_of_frames_is_refused_before_any_frame_is_described(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    _edit(paths[3:4], lambda ds: setattr(ds, "NumberOfFrames", 2147483647))
    reasons = _skip_reasons(tmp_path)
    assert "2147483647 frames" in reasons[paths[3].name]
    assert "1 whole frame" in reasons[paths[3].name]


def test_rows_columns_beyond_the_pixel_data_are_refused(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    _edit(paths[2:3], lambda ds: (setattr(ds, "Rows", 65535), setattr(ds, "Columns", 65535)))
    reason = _skip_reasons(tmp_path)[paths[2].name]
    assert "65535x65535" in reason and "8.6 GB" in reason


def test_bits_stored_larger_than_allocated_is_refused(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    _edit(paths[:1], lambda ds: setattr(ds, "BitsStored", 17))
    assert "Bits Stored 17" in _skip_reasons(tmp_path)[paths[0].name]


@pytest.mark.parametrize(
    ("keyword", "value"), [("RescaleSlope", "1e30"), ("RescaleIntercept", "1e30")]
)
def test_huge_rescale_is_a_clear_error(tmp_path: Path, keyword: str, value: str) -> None:
    paths = _series(tmp_path)
    _edit(paths, lambda ds: setattr(ds, keyword, value))
    with pytest.raises(DicomReadError, match="the rescale values are damaged"):
        load_volume(tmp_path)


def test_large_integral_slope_never_wraps_around(tmp_path: Path) -> None:
    slope = float(2**40)  # stored * slope overflows int16 and, for larger slopes, int64
    paths = _series(tmp_path, modality="MR")
    _edit(paths, lambda ds: setattr(ds, "RescaleSlope", f"{slope:.0f}"))
    volume = load_volume(tmp_path).volume
    assert volume.array.dtype == np.float32
    truth = _stored().astype(np.float64) * slope
    assert np.allclose(volume.array, truth, rtol=1e-6)
    assert volume.array.max() > 2**63 / 1e6  # far beyond int16: no wrap to small values


def test_integral_slope_beyond_int64_is_float_not_wrapped(tmp_path: Path) -> None:
    paths = _series(tmp_path, modality="MR")
    _edit(paths, lambda ds: setattr(ds, "RescaleSlope", "1e16"))  # 1999 * 1e16 > 2**63
    volume = load_volume(tmp_path).volume
    assert float(volume.array.max()) == pytest.approx(1999e16, rel=1e-6)


def test_tiny_pixel_spacing_is_refused_with_the_reason(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    _edit(paths, lambda ds: setattr(ds, "PixelSpacing", ["1e-30", "1e-30"]))
    with pytest.raises(NotAVolumeError, match=r"outside the physical range 0\.001-1000 mm"):
        load_volume(tmp_path)


def test_one_file_with_tiny_spacing_is_kept_apart(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    _edit(paths[3:4], lambda ds: setattr(ds, "PixelSpacing", ["1e-30", "1e-30"]))
    loaded = load_volume(tmp_path)
    assert loaded.volume.affine == pytest.approx(TRUTH)
    assert len(loaded.stack.frames) == 7
    assert any("interpolation" in warning for warning in loaded.volume.warnings)


def test_slightly_long_orientation_is_normalised_to_the_truth(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    _edit(paths, lambda ds: setattr(ds, "ImageOrientationPatient", [1.0005, 0, 0, 0, 1, 0]))
    volume = load_volume(tmp_path).volume
    assert volume.affine == pytest.approx(TRUTH, abs=1e-12)
    assert any("Image Orientation (Patient) corrected" in w for w in volume.warnings)


def test_slightly_sheared_orientation_is_made_perpendicular(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    angle = 4e-4
    iop = [1, 0, 0, float(np.sin(angle)), float(np.cos(angle)), 0]
    _edit(paths, lambda ds: setattr(ds, "ImageOrientationPatient", iop))
    volume = load_volume(tmp_path).volume
    steps = volume.affine[:3, :3]
    assert abs(steps[:, 1] @ steps[:, 2]) < 1e-12  # rows and columns perpendicular
    assert np.linalg.norm(steps[:, 2]) == pytest.approx(SPACING[1], abs=1e-12)
    assert any("corrected" in warning for warning in volume.warnings)


@pytest.mark.parametrize(
    ("iop", "words"),
    [([1.01, 0, 0, 0, 1.01, 0], "not unit length"), ([1, 0, 0, 0.05, 0.99875, 0], "sheared")],
)
def test_orientation_beyond_tolerance_is_refused(tmp_path: Path, iop: list, words: str) -> None:
    paths = _series(tmp_path)
    _edit(paths, lambda ds: setattr(ds, "ImageOrientationPatient", iop))
    with pytest.raises(NotAVolumeError, match=words):
        load_volume(tmp_path)
    [stack] = scan_path(tmp_path, workers=1).stacks
    assert stack.kind == "unsupported"
    assert any(words in warning for warning in stack.warnings)


def _pixel_data_offset(raw: bytes) -> int:
    return raw.rindex(b"\xe0\x7f\x10\x00")


def test_zeros_after_the_header_are_an_incomplete_file(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    raw = paths[2].read_bytes()
    paths[2].write_bytes(raw[: _pixel_data_offset(raw)] + bytes(4_000_000))
    assert _skip_reasons(tmp_path)[paths[2].name] == "incomplete file: zero bytes after the header"


def test_zeros_after_the_file_meta_are_an_incomplete_file(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    raw = paths[2].read_bytes()
    (meta_length,) = struct.unpack("<I", raw[140:144])
    paths[2].write_bytes(raw[: 144 + meta_length] + bytes(4_000_000))
    reason = _skip_reasons(tmp_path)[paths[2].name]
    assert reason == "incomplete file: zero bytes after the file meta information"


def test_element_length_beyond_the_file_allocates_nothing_large(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    ds = pydicom.dcmread(paths[1])
    ds.add_new(0x00091010, "LO", "MARKER")
    ds.add_new(0x00091011, "OB", b"\x01" * 16)
    ds.save_as(paths[1], enforce_file_format=False)
    raw = bytearray(paths[1].read_bytes())
    where = raw.index(b"\x09\x00\x11\x10OB\x00\x00")
    raw[where + 8 : where + 12] = struct.pack("<I", 0xFFFFFFF0)  # about 4 GiB claimed
    paths[1].write_bytes(bytes(raw))
    tracemalloc.start()
    try:
        reasons = _skip_reasons(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "truncated" in reasons[paths[1].name]
    assert peak < 50 * 1024 * 1024


def _deflate_with_zeros(path: Path, meta_padding: int = 0) -> None:
    """Rewrite ``path`` as Deflated Explicit VR with 3 MB of zeros in its data set."""
    ds = pydicom.dcmread(path)
    ds.add_new(0x00091011, "OB", bytes(3_000_000))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    if meta_padding:
        ds.file_meta.PrivateInformationCreatorUID = "1.2.3"
        ds.file_meta.PrivateInformation = b"\x01" * meta_padding
    ds.save_as(path, enforce_file_format=True)


def test_deflated_data_set_that_inflates_without_bound_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _series(tmp_path)
    _deflate_with_zeros(paths[0])
    assert paths[0].stat().st_size < 100_000  # zeros deflate very well
    monkeypatch.setattr(deflate_check, "MAX_INFLATED_BYTES", 1_000_000)
    assert "deflated data set larger than" in _skip_reasons(tmp_path)[paths[0].name]
    monkeypatch.setattr(deflate_check, "MAX_INFLATED_BYTES", 10_000_000)
    assert paths[0].name not in _skip_reasons(tmp_path)


def test_byte_identical_copy_is_ignored_with_a_note(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    copy = tmp_path / "copy_of_slice_3.dcm"
    copy.write_bytes(paths[3].read_bytes())
    scan = scan_path(tmp_path, workers=1)
    assert {Path(item.path).name: item.reason for item in scan.skipped} == {
        copy.name: f"byte-identical copy of {paths[3].name}"
    }
    loaded = load_volume(tmp_path)
    assert loaded.volume.affine == pytest.approx(TRUTH)
    assert np.array_equal(loaded.volume.array, _stored())
    assert f"1 byte-identical copy of {paths[3].name} ignored ({copy.name})" in (
        loaded.volume.warnings
    )


def test_same_uid_with_different_content_is_not_taken_for_a_copy(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    ds = pydicom.dcmread(paths[3])
    ds.PixelData = (_stored()[3] + 1).tobytes()
    ds.save_as(tmp_path / "altered_slice_3.dcm", enforce_file_format=False)
    scan = scan_path(tmp_path, workers=1)
    assert scan.skipped == []
    with pytest.raises(NotAVolumeError):
        load_volume(tmp_path)


def test_memory_limit_refuses_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _series(tmp_path)
    monkeypatch.setenv("WORKSTATION_MEMORY_LIMIT", "10K")
    with pytest.raises(MemoryLimitError) as caught:
        load_volume(tmp_path)
    assert "32x32x8 voxels" in caught.value.message
    assert "needs about 16.4 kB" in caught.value.message
    monkeypatch.setenv("WORKSTATION_MEMORY_LIMIT", "1M")
    assert load_volume(tmp_path).volume.shape == SHAPE


def test_compressed_item_running_past_the_file_end_is_refused(tmp_path: Path) -> None:
    paths = _series(tmp_path)
    rewrite_transfer_syntax(paths[4], paths[4], RLELossless)
    raw = bytearray(paths[4].read_bytes())
    table = raw.index(b"\xfe\xff\x00\xe0", _pixel_data_offset(bytes(raw)))  # offset table
    (table_length,) = struct.unpack_from("<I", raw, table + 4)
    fragment = table + 8 + table_length
    assert raw[fragment : fragment + 4] == b"\xfe\xff\x00\xe0"
    raw[fragment + 4 : fragment + 8] = struct.pack("<I", 0x7FFFFFF0)
    paths[4].write_bytes(bytes(raw))
    reason = _skip_reasons(tmp_path)[paths[4].name]
    assert "fragment 1 of the compressed image data claims 2147483632 bytes" in reason


def test_deflate_check_finds_the_syntax_in_a_long_file_meta(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _series(tmp_path)
    _deflate_with_zeros(paths[0], meta_padding=4000)  # the meta no longer fits the first 1 kB
    monkeypatch.setattr(deflate_check, "MAX_INFLATED_BYTES", 1_000_000)
    assert "deflated data set larger than" in _skip_reasons(tmp_path)[paths[0].name]
