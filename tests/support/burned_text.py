"""Synthetic DICOM images with text burned in at known boxes, for the burned-in text tests.

Text is rendered with Pillow's DejaVu Sans into the pixels; every helper returns the data
set (as read back from a real file) and the box of each text in frame pixels, so a test
compares what OCR found and what blanking changed against the truth.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    generate_uid,
)

FONT_PATH = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
MULTIFRAME_GREY_BYTE_SC = "1.2.840.10008.5.1.4.1.1.7.2"

#: (x, y, text) placed on every image kind below; sizes come from the image's helper.
DEFAULT_TEXTS = (
    (12, 10, "DOE^JOHN"),
    (12, 40, "ID 12345678"),
)

Box = tuple[int, int, int, int, int]  # frame, x, y, width, height


@dataclass
class BurnedImage:
    """A data set with burned-in text and the true box of every text (frame, x, y, w, h)."""

    dataset: Dataset
    boxes: list[Box]
    texts: list[str]
    ink: np.ndarray  # (frames, rows, columns) True where text covers a pixel by 25 % or more


def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at ``size`` pixels (the tests skip when the font is missing)."""
    return ImageFont.truetype(str(FONT_PATH), size)


def text_mask(
    shape: tuple[int, int], texts, size: int, frame: int = 0
) -> tuple[np.ndarray, list[Box]]:
    """Anti-aliased coverage (0..1) of ``texts`` [(x, y, text)] and the box of each."""
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(canvas)
    typeface = font(size)
    boxes: list[Box] = []
    for x, y, text in texts:
        draw.text((x, y), text, fill=255, font=typeface)
        left, top, right, bottom = draw.textbbox((x, y), text, font=typeface)
        boxes.append((frame, left, top, right - left, bottom - top))
    return np.asarray(canvas, dtype=np.float64) / 255.0, boxes


def _meta(sop_class: str, sop_instance: str, syntax: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = syntax
    return meta


def _base(sop_class: str, modality: str, syntax: str = ExplicitVRLittleEndian) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = _meta(sop_class, ds.SOPInstanceUID, syntax)
    ds.PatientName = "Doe^John"
    ds.PatientID = "12345678"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.InstanceNumber = 1
    return ds


def _round_trip(ds: Dataset) -> Dataset:
    """The data set as a reader sees it after writing it to a file."""
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer)


def _anatomy(shape: tuple[int, int], seed: int) -> np.ndarray:
    """0..1 blob-like picture with texture: what lies under the annotations."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    cy, cx = shape[0] * 0.6, shape[1] * 0.5
    radius = min(shape) * 0.3
    disc = np.clip(1.0 - np.hypot(rows - cy, cols - cx) / radius, 0.0, 1.0) ** 0.5
    return np.clip(0.6 * disc + rng.normal(0.0, 0.03, shape) * (disc > 0), 0.0, 1.0)


def secondary_capture(
    texts=DEFAULT_TEXTS, shape: tuple[int, int] = (300, 400), size: int = 20, seed: int = 0
) -> BurnedImage:
    """MONOCHROME2 16-bit (12 stored) Secondary Capture, text at the top value 4095."""
    coverage, boxes = text_mask(shape, texts, size)
    picture = _anatomy(shape, seed) * 2000.0 + 50.0
    pixels = np.rint(picture * (1 - coverage) + 4095.0 * coverage).astype(np.uint16)
    ds = _base(SecondaryCaptureImageStorage, "OT")
    ds.ConversionType = "WSD"
    _grey_pixels(ds, pixels, bits=16, stored=12)
    return BurnedImage(_round_trip(ds), boxes, [text for _, _, text in texts], _ink(coverage))


def _ink(*coverages: np.ndarray) -> np.ndarray:
    return np.stack([coverage >= 0.25 for coverage in coverages])


def _grey_pixels(ds: Dataset, pixels: np.ndarray, bits: int, stored: int) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.BitsAllocated = bits
    ds.BitsStored = stored
    ds.HighBit = stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype(f"<u{bits // 8}").tobytes()


def multiframe_capture(shape: tuple[int, int] = (240, 320), text_frame: int = 1) -> BurnedImage:
    """Three-frame 8-bit grey Secondary Capture with text in ``text_frame`` only."""
    frames = []
    boxes: list[Box] = []
    coverages = []
    for index in range(3):
        picture = _anatomy(shape, index) * 150.0 + 10.0
        coverage = np.zeros(shape)
        if index == text_frame:
            coverage, boxes = text_mask(shape, [(10, 12, "SMITH^ANNA")], 22, frame=index)
            picture = picture * (1 - coverage) + 255.0 * coverage
        coverages.append(coverage)
        frames.append(np.rint(picture).astype(np.uint8))
    ds = _base(MULTIFRAME_GREY_BYTE_SC, "OT")
    ds.NumberOfFrames = 3
    _grey_pixels(ds, np.stack(frames), bits=8, stored=8)
    return BurnedImage(_round_trip(ds), boxes, ["SMITH^ANNA"], _ink(*coverages))


def _ultrasound_rgb(shape: tuple[int, int], texts, size: int, seed: int):
    coverage, boxes = text_mask(shape, texts, size)
    grey = _anatomy(shape, seed) * 200.0
    rgb = np.repeat(grey[:, :, None], 3, axis=2)
    yellow = np.array([255.0, 230.0, 40.0])
    rgb = rgb * (1 - coverage[:, :, None]) + yellow * coverage[:, :, None]
    return np.rint(rgb).astype(np.uint8), boxes, coverage


def _colour_dataset(rows: int, columns: int, photometric: str, syntax: str) -> Dataset:
    ds = _base(UltrasoundImageStorage, "US", syntax)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    return ds


def ultrasound(
    texts=DEFAULT_TEXTS, shape: tuple[int, int] = (480, 640), size: int = 20, seed: int = 1
) -> BurnedImage:
    """RGB 8-bit Ultrasound image (uncompressed) with yellow text."""
    rgb, boxes, coverage = _ultrasound_rgb(shape, texts, size, seed)
    ds = _colour_dataset(shape[0], shape[1], "RGB", ExplicitVRLittleEndian)
    ds.BurnedInAnnotation = "YES"
    ds.PixelData = rgb.tobytes()
    return BurnedImage(_round_trip(ds), boxes, [text for _, _, text in texts], _ink(coverage))


def ultrasound_jpeg(
    texts=DEFAULT_TEXTS, shape: tuple[int, int] = (240, 320), size: int = 18, seed: int = 2
) -> BurnedImage:
    """JPEG baseline (YBR_FULL_422, 4:2:2) Ultrasound image, as scanners store them."""
    rgb, boxes, coverage = _ultrasound_rgb(shape, texts, size, seed)
    stream = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(stream, format="JPEG", quality=95, subsampling=1)
    ds = _colour_dataset(shape[0], shape[1], "YBR_FULL_422", JPEGBaseline8Bit)
    ds.BurnedInAnnotation = "YES"
    ds.LossyImageCompression = "01"
    ds.PixelData = encapsulate([stream.getvalue()])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return BurnedImage(_round_trip(ds), boxes, [text for _, _, text in texts], _ink(coverage))


def plain_ct(shape: tuple[int, int] = (256, 256), seed: int = 3) -> Dataset:
    """A CT-like int16 slice in HU (body, bone ring, noise) with no text at all."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    distance = np.hypot(rows - shape[0] / 2, cols - shape[1] / 2)
    hu = np.full(shape, -1000.0)
    hu[distance < shape[0] * 0.42] = 40.0
    hu[(distance > shape[0] * 0.30) & (distance < shape[0] * 0.34)] = 900.0
    hu += rng.normal(0.0, 15.0, shape)
    ds = _base(CTImageStorage, "CT")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = 1
    ds.RescaleIntercept = 0
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    ds.PixelData = np.rint(hu).astype("<i2").tobytes()
    return _round_trip(ds)
