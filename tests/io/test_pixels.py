"""Frame decoding: fast raw path, every transfer syntax, signedness and clean failures."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from tests.support.dicom_factory import (
    append_trailing_padding,
    rewrite_transfer_syntax,
    write_enhanced_ct,
    write_series,
)
from tests.support.shared_data import shared_data_path
from workstation.core.errors import Cancelled, DicomReadError
from workstation.core.progress import CancelToken
from workstation.io.dicom.headers import frames_from_dataset, read_header
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.pixels import FrameDecoder, decode_frame, decode_stack, run_per_frame


def frames_of(path: Path | str) -> list[FrameRef]:
    return frames_from_dataset(read_header(str(path)), str(path))


def stored_values(shape=(3, 40, 48), dtype=np.int16) -> np.ndarray:
    info = np.iinfo(dtype)
    values = np.arange(np.prod(shape), dtype=np.int64) * 7919 % (int(info.max) - int(info.min))
    return (values + int(info.min)).reshape(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16])
def test_fast_path_reads_explicit_and_implicit_le(tmp_path, dtype):
    stored = stored_values(dtype=dtype)
    paths = write_series(tmp_path / "explicit", stored)
    implicit = [
        rewrite_transfer_syntax(p, tmp_path / f"implicit{i}.dcm", ImplicitVRLittleEndian)
        for i, p in enumerate(paths)
    ]
    decoder = FrameDecoder()
    for source in (paths, implicit):
        for index, path in enumerate(source):
            (frame,) = frames_of(path)
            dest = np.empty((frame.rows, frame.columns), dtype=dtype)
            assert decoder.read_native_into(frame, dest)
            np.testing.assert_array_equal(dest, stored[index])
            np.testing.assert_array_equal(decode_frame(frame), pydicom.dcmread(path).pixel_array)


def test_fast_path_survives_trailing_elements(tmp_path):
    stored = stored_values((1, 40, 48))
    (path,) = write_series(tmp_path, stored)
    append_trailing_padding(path, 30)
    (frame,) = frames_of(path)
    dest = np.empty((40, 48), dtype=np.int16)
    assert FrameDecoder().read_native_into(frame, dest)
    np.testing.assert_array_equal(dest, stored[0])


def test_bits_stored_below_allocated_matches_pydicom(tmp_path):
    stored = stored_values((1, 40, 48), np.int16)
    (path,) = write_series(tmp_path, stored)
    ds = pydicom.dcmread(path)
    ds.BitsStored, ds.HighBit = 12, 11  # upper 4 bits now unused: must be sign-extended
    ds.save_as(path)
    (frame,) = frames_of(path)
    decoded = decode_frame(frame)
    reference = pydicom.dcmread(path).pixel_array
    np.testing.assert_array_equal(decoded, reference)
    assert decoded.min() >= -2048 and decoded.max() <= 2047


@pytest.mark.parametrize(
    "syntax",
    [ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian, RLELossless, JPEG2000Lossless],
    ids=["big-endian", "deflated", "rle", "j2k-lossless"],
)
def test_other_syntaxes_decode_identically(tmp_path, syntax):
    stored = stored_values((2, 40, 48))
    paths = write_series(tmp_path / "src", stored)
    for index, path in enumerate(paths):
        target = rewrite_transfer_syntax(path, tmp_path / f"out{index}.dcm", syntax)
        (frame,) = frames_of(target)
        assert frame.transfer_syntax_uid == syntax
        decoded = decode_frame(frame)
        assert decoded.dtype == np.dtype("=i2")
        np.testing.assert_array_equal(decoded, stored[index])


def test_decode_stack_threads_into_one_array(tmp_path):
    stored = stored_values((7, 40, 48))
    paths = write_series(tmp_path, stored)
    frames = [frames_of(path)[0] for path in paths]
    result = decode_stack(frames, workers=3)
    np.testing.assert_array_equal(result, stored)


def test_enhanced_multiframe_native_frames(tmp_path):
    stored = stored_values((5, 40, 48))
    path = write_enhanced_ct(tmp_path / "mf.dcm", stored, frame_order=[4, 2, 0, 1, 3])
    frames = frames_of(path)
    assert [frame.frame_index for frame in frames] == [0, 1, 2, 3, 4]
    decoder = FrameDecoder()
    for frame, slice_index in zip(frames, [4, 2, 0, 1, 3], strict=True):
        np.testing.assert_array_equal(decoder.decode(frame), stored[slice_index])


def test_truncated_pixel_data_is_a_clear_error(tmp_path):
    (path,) = write_series(tmp_path, stored_values((1, 40, 48)))
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    (frame,) = frames_of(path)
    with pytest.raises(DicomReadError, match=r"IM0000.*Explicit VR Little Endian"):
        decode_frame(frame)


def test_compressed_multiframe_decodes_each_frame(tmp_path):
    path = shared_data_path("pydicom_data_store/emri_small_RLE.dcm")
    reference = pydicom.dcmread(shared_data_path("pydicom_data_store/emri_small.dcm")).pixel_array
    frames = frames_of(path)
    assert len(frames) == 10
    decoder = FrameDecoder()
    for frame in frames:
        np.testing.assert_array_equal(decoder.decode(frame), reference[frame.frame_index])


def test_transfer_syntax_files_decode_identically():
    files = [shared_data_path(f"transfer_syntax_dcmqa_ts/dicom/{n}.dcm") for n in range(1, 10)]
    arrays = [decode_frame(frames_of(path)[0]) for path in files]
    syntaxes = {frames_of(path)[0].transfer_syntax_uid for path in files}
    assert len(syntaxes) == 7
    for array in arrays[1:]:
        np.testing.assert_array_equal(array, arrays[0])


@pytest.mark.parametrize(
    "relative",
    [
        "pylibjpeg_ct_codecs/JPEG2000Lossless/TOSHIBA_J2K_SIZ0_PixRep1.dcm",
        "pylibjpeg_ct_codecs/JPEG2000Lossless/TOSHIBA_J2K_SIZ1_PixRep0.dcm",
        "pylibjpeg_ct_codecs/JPEG2000Lossless/TOSHIBA_J2K_OpenJPEGv2Regression.dcm",
        "pydicom_test_files/J2K_pixelrep_mismatch.dcm",
        "pylibjpeg_ct_codecs/JPEGLS/CT1_JLSN.dcm",
        "pylibjpeg_ct_codecs/JPEG2000/ELSCINT1_JP2vsJ2K.dcm",
    ],
)
def test_signed_ct_codecs_give_air_near_minus_1000(relative):
    (frame,) = frames_of(shared_data_path(relative))
    hu = decode_frame(frame) * frame.rescale_slope + frame.rescale_intercept
    assert hu.max() < 4000
    # Air around or inside the body is there (padding outside the circle is lower still);
    # a signedness error would put it near +64000 instead.
    air = np.count_nonzero((hu > -1100) & (hu < -900))
    assert air > 0.002 * hu.size


def test_j2k_signed_codestream_with_unsigned_header_becomes_signed():
    (frame,) = frames_of(
        shared_data_path("pylibjpeg_ct_codecs/JPEG2000Lossless/TOSHIBA_J2K_SIZ1_PixRep0.dcm")
    )
    assert frame.pixel_representation == 0
    decoded = decode_frame(frame)
    assert decoded.dtype == np.int16
    partner = frames_of(
        shared_data_path("pylibjpeg_ct_codecs/JPEG2000Lossless/TOSHIBA_J2K_SIZ0_PixRep1.dcm")
    )[0]
    np.testing.assert_array_equal(decoded, decode_frame(partner))


def test_deflated_image_frame_compression_is_a_clear_error():
    frames = frames_of(shared_data_path("pydicom_data_store/liver_deflate.dcm"))
    with pytest.raises(DicomReadError) as caught:
        decode_frame(frames[0])
    message = str(caught.value)
    assert "liver_deflate.dcm" in message
    assert "Deflated Image Frame Compression" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "relative",
    [
        "pydicom_test_files/JPEG2000-embedded-sequence-delimiter.dcm",
        "pydicom_test_files/JPEG-lossy.dcm",
        "pydicom_test_files/MR_truncated.dcm",
    ],
)
def test_corrupt_real_files_raise_dicom_read_error(relative):
    path = shared_data_path(relative)
    (frame,) = frames_of(path)
    with pytest.raises(DicomReadError) as caught:
        decode_frame(frame)
    assert path.name in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "relative",
    [
        "pydicom_test_files/SC_rgb_jpeg_dcmtk.dcm",
        "pydicom_test_files/examples_palette.dcm",
        "pydicom_data_store/HTJ2KLossless_08_RGB.dcm",
    ],
)
def test_colour_images_refused(relative):
    (frame,) = frames_of(shared_data_path(relative))[:1]
    with pytest.raises(DicomReadError, match="colour images cannot be loaded as a volume"):
        decode_frame(frame)


def test_run_per_frame_reports_each_frame_once_and_in_order():
    seen: list[int] = []
    reports: list[float] = []
    run_per_frame(
        range(50), seen.append, workers=3, progress=lambda fraction, text: reports.append(fraction)
    )
    assert sorted(seen) == list(range(50))
    assert reports == [k / 50 for k in range(1, 51)]


def test_run_per_frame_cancel_and_errors():
    token = CancelToken()
    seen: list[int] = []

    def cancel_early(fraction: float, text: str) -> None:
        if fraction >= 0.1:
            token.cancel()

    def slow(index: int) -> None:
        time.sleep(0.002)
        seen.append(index)

    with pytest.raises(Cancelled):
        run_per_frame(range(200), slow, workers=2, progress=cancel_early, cancel=token)
    assert len(seen) < 200

    def fail_on_7(index: int) -> None:
        if index == 7:
            raise DicomReadError("frame 7 is broken")

    with pytest.raises(DicomReadError, match="frame 7"):
        run_per_frame(range(20), fail_on_7, workers=3)
