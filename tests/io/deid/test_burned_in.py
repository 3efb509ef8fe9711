"""Burned-in text: which images are checked, OCR finds rendered text, blanking is exact."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import pixel_array
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit

from tests.support import burned_text
from workstation.core.errors import Cancelled, DeidentificationError
from workstation.core.progress import CancelToken
from workstation.io.deid import ocr
from workstation.io.deid.burned_in import (
    TextFindings,
    TextRegion,
    blank_regions,
    burned_in_reason,
    find_text,
)

pytestmark = pytest.mark.skipif(
    not burned_text.FONT_PATH.exists(), reason=f"font {burned_text.FONT_PATH} is not installed"
)


def _copy(ds: Dataset) -> Dataset:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def _region_mask(findings: TextFindings, frames: int, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros((frames, *shape), dtype=bool)
    for region in findings.regions:
        mask[
            region.frame, region.y : region.y + region.height, region.x : region.x + region.width
        ] = True
    return mask


def _overlaps(box: tuple[int, int, int, int, int], region: TextRegion) -> bool:
    frame, x, y, width, height = box
    return (
        frame == region.frame
        and x < region.x + region.width
        and region.x < x + width
        and y < region.y + region.height
        and region.y < y + height
    )


@pytest.fixture(scope="module")
def capture():
    image = burned_text.secondary_capture()
    return image, find_text(image.dataset)


@pytest.fixture(scope="module")
def ultrasound():
    image = burned_text.ultrasound()
    return image, find_text(image.dataset)


@pytest.fixture(scope="module")
def jpeg():
    image = burned_text.ultrasound_jpeg()
    return image, find_text(image.dataset)


@pytest.fixture(scope="module")
def multiframe():
    image = burned_text.multiframe_capture()
    return image, find_text(image.dataset)


# --- which images must be checked -------------------------------------------------------


def _plain() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    return ds


@pytest.mark.parametrize(
    ("keyword", "value", "expected"),
    [
        ("BurnedInAnnotation", "YES", "Burned In Annotation is YES"),
        ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7", "Secondary Capture"),
        ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7.1", "Single Bit Secondary Capture"),
        ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7.2", "Grayscale Byte Secondary Capture"),
        ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7.3", "Grayscale Word Secondary Capture"),
        ("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7.4", "True Color Secondary Capture"),
        ("ImageType", ["DERIVED", "SECONDARY"], "Image Type contains SECONDARY"),
        ("ImageType", ["DERIVED", "PRIMARY", "SCREEN SHOT"], "Image Type contains SCREEN SHOT"),
        ("ImageType", ["DERIVED", "SCREENSHOT"], "Image Type contains SCREENSHOT"),
        ("ImageType", ["DERIVED", "PRIMARY", "SCREEN CAPTURE"], "derived screen capture"),
        ("Modality", "US", "Modality is US"),
        ("Modality", "ES", "Modality is ES"),
        ("Modality", "XC", "Modality is XC"),
        ("Modality", "DOC", "Modality is DOC"),
        ("Modality", "OT", "Modality is OT"),
        ("ConversionType", "WSD", "Conversion Type is WSD"),
        ("ConversionType", "SD", "Conversion Type is SD"),
        ("ConversionType", "SI", "Conversion Type is SI"),
        ("ConversionType", "DV", "Conversion Type is DV"),
        ("ConversionType", "DF", "Conversion Type is DF"),
    ],
)
def test_each_trigger_gives_its_reason(keyword, value, expected):
    ds = _plain()
    setattr(ds, keyword, value)
    reason = burned_in_reason(ds)
    assert reason is not None and expected in reason


def test_plain_ct_needs_no_check_and_reasons_accumulate():
    assert burned_in_reason(_plain()) is None
    ds = _plain()
    ds.BurnedInAnnotation = "NO"
    ds.ConversionType = "SYN"
    assert burned_in_reason(ds) is None
    ds.BurnedInAnnotation = "YES"
    ds.Modality = "US"
    assert burned_in_reason(ds) == "Burned In Annotation is YES; Modality is US (ultrasound)"


def test_sop_class_from_file_meta_when_the_data_set_lacks_it():
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    assert "Secondary Capture" in (burned_in_reason(ds) or "")


# --- finding text -----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["capture", "ultrasound", "jpeg", "multiframe"])
def test_rendered_text_is_found_where_it_was_drawn(case, request):
    image, findings = request.getfixturevalue(case)
    assert findings.seconds > 0
    assert findings.complete
    for box in image.boxes:
        assert any(_overlaps(box, region) for region in findings.regions), box
    frames = findings.frames_total
    shape = (int(image.dataset.Rows), int(image.dataset.Columns))
    covered = _region_mask(findings, frames, shape)
    # Every pixel the text covers lies inside a found (padded) region.
    assert covered[image.ink].all()
    # And the regions are about the text, not the whole image.
    assert covered.sum() < 3 * sum(w * h for _, _, _, w, h in image.boxes)


def test_the_digits_are_read(capture):
    _, findings = capture
    assert any("12345678" in region.text for region in findings.regions)


def test_multiframe_text_is_found_only_in_its_frame(multiframe):
    _, findings = multiframe
    assert findings.frames_checked == findings.frames_total == 3
    assert {region.frame for region in findings.regions} == {1}


def test_a_plain_ct_slice_has_no_text():
    findings = find_text(burned_text.plain_ct())
    assert findings.regions == []
    assert findings.complete and findings.seconds > 0


def test_speckle_alone_is_not_taken_for_text():
    image = burned_text.ultrasound(texts=())
    assert find_text(image.dataset).regions == []


def test_frames_beyond_the_limit_are_left_for_review():
    image = burned_text.multiframe_capture(text_frame=2)
    findings = find_text(image.dataset, max_frames=2)
    assert findings.frames_checked == 2 and findings.frames_total == 3
    assert not findings.complete
    assert any("2 of 3 frames" in reason for reason in findings.needs_review)


def test_no_pixel_data_means_nothing_to_find():
    findings = find_text(_plain())
    assert findings.regions == [] and findings.frames_total == 0


def test_cancel_stops_the_reading():
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        find_text(burned_text.plain_ct(), cancel=token)


def test_missing_tesseract_names_the_debian_package(monkeypatch):
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    with pytest.raises(ocr.OcrUnavailable) as caught:
        find_text(burned_text.plain_ct())
    assert isinstance(caught.value, DeidentificationError)
    assert "tesseract-ocr" in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 16


def test_window_keeps_small_text_when_percentiles_coincide():
    frame = np.zeros((100, 100), dtype=np.uint16)
    frame[10:14, 10:20] = 4000  # 0.4 % of the pixels: the 99th percentile is 0
    grey = ocr.window_to_8bit(frame)
    assert grey[10:14, 10:20].min() == 255 and grey.max() == 255 and grey[50, 50] == 0
    windowed = ocr.window_to_8bit(np.array([[-200.0, 60.0, 240.0, 3000.0]]), (40.0, 400.0))
    assert windowed.tolist() == [[0, 140, 255, 255]]  # (60 + 160) * 255 / 400


# --- blanking ---------------------------------------------------------------------------


def _raw(ds: Dataset) -> np.ndarray:
    """The stored pixels of a native data set as they are in the file."""
    return np.asarray(pixel_array(ds))


def test_blanking_a_capture_changes_exactly_the_found_pixels(capture):
    image, findings = capture
    ds = _copy(image.dataset)
    before_bytes = bytes(ds.PixelData)
    before = np.frombuffer(before_bytes, dtype="<u2").reshape(ds.Rows, ds.Columns)
    blank_regions(ds, findings)
    written = _copy(ds)
    after = np.frombuffer(written.PixelData, dtype="<u2").reshape(ds.Rows, ds.Columns)
    mask = _region_mask(findings, 1, after.shape)[0]
    assert (after[mask] == before.min()).all()
    assert np.array_equal(after[~mask], before[~mask])
    assert len(written.PixelData) == len(before_bytes)
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert written.BurnedInAnnotation == "NO"
    assert written.SOPInstanceUID == image.dataset.SOPInstanceUID
    # What was blanked reads as no text any more.
    assert find_text(written).regions == []


def test_blanking_rgb_ultrasound_sets_black_and_keeps_the_rest(ultrasound):
    image, findings = ultrasound
    ds = _copy(image.dataset)
    before = _raw(ds).copy()
    blank_regions(ds, findings)
    after = _raw(_copy(ds))
    mask = _region_mask(findings, 1, before.shape[:2])[0]
    assert (after[mask] == 0).all()
    assert np.array_equal(after[~mask], before[~mask])
    assert ds.PhotometricInterpretation == "RGB" and ds.PlanarConfiguration == 0


def test_blanking_jpeg_decompresses_to_valid_explicit_little_endian_rgb(jpeg):
    image, findings = jpeg
    ds = _copy(image.dataset)
    assert ds.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    decoded = _raw(ds).copy()  # the reference: what any reader shows of the input
    blank_regions(ds, findings)
    written = _copy(ds)
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert written.PhotometricInterpretation == "RGB"
    assert written.PlanarConfiguration == 0
    assert len(written.PixelData) == written.Rows * written.Columns * 3
    assert written.SOPInstanceUID == image.dataset.SOPInstanceUID
    assert written.BurnedInAnnotation == "NO"
    after = _raw(written)
    mask = _region_mask(findings, 1, after.shape[:2])[0]
    assert (after[mask] == 0).all()
    assert np.array_equal(after[~mask], decoded[~mask])


def test_blanking_one_frame_of_a_multiframe_leaves_the_others(multiframe):
    image, findings = multiframe
    ds = _copy(image.dataset)
    before = _raw(ds).copy()
    blank_regions(ds, findings)
    after = _raw(_copy(ds))
    mask = _region_mask(findings, 3, before.shape[1:])
    assert (after[mask] == before.min()).all()
    assert np.array_equal(after[~mask], before[~mask])
    assert np.array_equal(after[0], before[0]) and np.array_equal(after[2], before[2])


def _small(photometric: str, **elements) -> Dataset:
    ds = Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.Rows, ds.Columns = 6, 8
    ds.PhotometricInterpretation = photometric
    ds.BurnedInAnnotation = "YES"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def _findings(*boxes: tuple[int, int, int, int, int], review: bool = False) -> TextFindings:
    regions = [TextRegion(f, x, y, w, h, "XX", 90.0) for f, x, y, w, h in boxes]
    return TextFindings(regions, 0.01, 1, 1, ["only part was checked"] if review else [])


def test_monochrome1_blanks_to_its_largest_value_and_high_bits_stay_elsewhere():
    values = np.arange(48, dtype="<u2").reshape(6, 8) + 100
    values[0, 0] |= 0xF000  # bits above Bits Stored (12): kept where not blanked
    ds = _small(
        "MONOCHROME1",
        SamplesPerPixel=1,
        BitsAllocated=16,
        BitsStored=12,
        HighBit=11,
        PixelRepresentation=0,
        PixelData=values.tobytes(),
    )
    blank_regions(ds, _findings((0, 2, 1, 3, 2)))
    after = np.frombuffer(ds.PixelData, dtype="<u2").reshape(6, 8)
    assert (after[1:3, 2:5] == 147).all()  # largest stored value: black in MONOCHROME1
    expected = values.copy()
    expected[1:3, 2:5] = 147
    assert np.array_equal(after, expected)
    assert ds.BurnedInAnnotation == "NO"


def test_signed_pixels_blank_to_their_smallest_value():
    values = (np.arange(48, dtype="<i2").reshape(6, 8) - 20) * 10
    ds = _small(
        "MONOCHROME2",
        SamplesPerPixel=1,
        BitsAllocated=16,
        BitsStored=16,
        HighBit=15,
        PixelRepresentation=1,
        PixelData=values.tobytes(),
    )
    blank_regions(ds, _findings((0, 6, 4, 5, 5)))  # clipped at the image's edge
    after = np.frombuffer(ds.PixelData, dtype="<i2").reshape(6, 8)
    expected = values.copy()
    expected[4:6, 6:8] = -200
    assert np.array_equal(after, expected)


def test_planar_rgb_blanks_every_plane_at_the_same_pixels():
    planes = np.arange(3 * 48, dtype=np.uint8).reshape(3, 6, 8) + 1
    ds = _small(
        "RGB",
        SamplesPerPixel=3,
        PlanarConfiguration=1,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        PixelData=planes.tobytes(),
    )
    blank_regions(ds, _findings((0, 1, 2, 2, 3)))
    after = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(3, 6, 8)
    expected = planes.copy()
    expected[:, 2:5, 1:3] = 0
    assert np.array_equal(after, expected)
    assert ds.PlanarConfiguration == 1


def test_nothing_found_leaves_the_data_set_alone_and_review_keeps_the_flag():
    values = np.arange(48, dtype=np.uint8).reshape(6, 8)
    elements = dict(
        SamplesPerPixel=1,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        PixelData=values.tobytes(),
    )
    ds = _small("MONOCHROME2", **elements)
    blank_regions(ds, TextFindings([], 0.01, 1, 1, []))
    assert ds.PixelData == values.tobytes() and ds.BurnedInAnnotation == "YES"
    ds = _small("MONOCHROME2", **elements)
    blank_regions(ds, _findings((0, 0, 0, 2, 2), review=True))
    assert ds.PixelData != values.tobytes() and ds.BurnedInAnnotation == "YES"


def test_a_region_outside_the_frames_is_refused():
    ds = _small(
        "MONOCHROME2",
        SamplesPerPixel=1,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        PixelData=bytes(48),
    )
    with pytest.raises(DeidentificationError, match="frame 3"):
        blank_regions(ds, _findings((2, 0, 0, 2, 2)))


def test_big_endian_pixels_become_explicit_little_endian_with_the_same_values():
    values = (np.arange(48, dtype=np.uint16).reshape(6, 8) * 37) + 5
    ds = _small(
        "MONOCHROME2",
        SamplesPerPixel=1,
        BitsAllocated=16,
        BitsStored=16,
        HighBit=15,
        PixelRepresentation=0,
        PixelData=values.astype(">u2").tobytes(),
    )
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRBigEndian
    ds = _copy(ds)
    blank_regions(ds, _findings((0, 0, 0, 3, 2)))
    written = _copy(ds)
    assert written.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    after = np.frombuffer(written.PixelData, dtype="<u2").reshape(6, 8)
    expected = values.copy()
    expected[0:2, 0:3] = 5
    assert np.array_equal(after, expected)


def test_native_ybr_full_blanks_to_black_in_ycbcr():
    pixels = np.full((6, 8, 3), (200, 90, 160), dtype=np.uint8)
    ds = _small(
        "YBR_FULL",
        SamplesPerPixel=3,
        PlanarConfiguration=0,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        PixelData=pixels.tobytes(),
    )
    blank_regions(ds, _findings((0, 4, 1, 2, 2)))
    after = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(6, 8, 3)
    expected = pixels.copy()
    expected[1:3, 4:6] = (0, 128, 128)
    assert np.array_equal(after, expected)
    assert ds.PhotometricInterpretation == "YBR_FULL"


def test_dark_text_on_a_light_page_is_found():
    coverage, boxes = burned_text.text_mask((200, 400), [(20, 30, "Patient 4711 Vienna")], 20)
    page = np.rint(235.0 * (1 - coverage) + 10.0 * coverage).astype(np.uint8)
    ds = _small(
        "MONOCHROME2",
        SamplesPerPixel=1,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        PixelData=page.tobytes(),
    )
    ds.Rows, ds.Columns = page.shape
    findings = find_text(ds)
    assert any(_overlaps(boxes[0], region) for region in findings.regions)
    assert _region_mask(findings, 1, page.shape)[0][coverage >= 0.25].all()
    blank_regions(ds, findings)
    after = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(page.shape)
    assert (after[coverage >= 0.25] == page.min()).all()


def test_ocr_unavailable_is_offered_where_the_service_imports_from():
    from workstation.io.deid import burned_in

    assert burned_in.OcrUnavailable is ocr.OcrUnavailable
    assert issubclass(ocr.OcrUnavailable, DeidentificationError)


def test_native_ybr_full_422_becomes_full_rgb():
    rows, columns = 6, 8
    pairs = np.tile(np.array([200, 180, 90, 160], dtype=np.uint8), rows * columns // 2)
    ds = _small(
        "YBR_FULL_422",
        SamplesPerPixel=3,
        PlanarConfiguration=0,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        PixelData=pairs.tobytes(),
    )
    shown = _raw(ds).copy()  # pydicom's conversion: the reference
    blank_regions(ds, _findings((0, 2, 2, 2, 2)))
    written = _copy(ds)
    assert written.PhotometricInterpretation == "RGB" and written.PlanarConfiguration == 0
    assert len(written.PixelData) == rows * columns * 3
    after = np.frombuffer(written.PixelData, dtype=np.uint8).reshape(rows, columns, 3)
    expected = shown.copy()
    expected[2:4, 2:4] = 0
    assert np.array_equal(after, expected)
