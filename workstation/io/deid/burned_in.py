"""Text burned into pixels: which images need a look, where the text is, and blanking it.

De-identifying the header leaves names and dates that a scanner or a screen capture drew
into the image itself. ``burned_in_reason`` says why an image must be checked (its
header admits annotations, or it is a kind of image that usually has them);
``find_text`` reads every frame with tesseract (see ``ocr``); ``blank_regions`` sets the
found boxes to black and touches no other pixel. The found text is patient information:
report counts and boxes, never the text, outside this process.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.pixels import apply_color_lut, apply_rescale, pixel_array
from pydicom.uid import UID, ExplicitVRLittleEndian
from pydicom.valuerep import VR

from workstation.core.errors import Cancelled, DeidentificationError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.deid.ocr import (
    OcrUnavailable,
    grey_of_rgb,
    read_words,
    tesseract_version,
    window_to_8bit,
)
from workstation.io.dicom.syntax_uids import (
    DEFLATED_EXPLICIT_VR,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
)

__all__ = [
    "OcrUnavailable",
    "TextFindings",
    "TextRegion",
    "blank_regions",
    "burned_in_reason",
    "find_text",
]

#: The Secondary Capture family: SC and the four multi-frame SC SOP classes.
SECONDARY_CAPTURE_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.7": "Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.1": "Multi-frame Single Bit Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.2": "Multi-frame Grayscale Byte Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.3": "Multi-frame Grayscale Word Secondary Capture",
    "1.2.840.10008.5.1.4.1.1.7.4": "Multi-frame True Color Secondary Capture",
}
#: Modalities whose images usually carry annotations drawn by the device.
ANNOTATED_MODALITIES = {
    "US": "ultrasound",
    "ES": "endoscopy",
    "XC": "external-camera photography",
    "GM": "general microscopy",
    "DOC": "document",
    "OT": "other",
}
#: Conversion Type (0008,0064) values of converted images (all but synthetic ones).
CONVERSION_TYPES = {
    "DV": "digitized video",
    "DI": "digital interface",
    "DF": "digitized film",
    "WSD": "workstation",
    "SD": "scanned document",
    "SI": "scanned image",
    "DRW": "drawing",
}
#: Image Type (0008,0008) values that mark captures of a screen or derived pictures.
SCREEN_IMAGE_TYPES = ("SECONDARY", "SCREEN SHOT", "SCREENSHOT")
#: Frames read at most per image; beyond this the image is marked for review instead of
#: taking minutes (a 512×512 frame takes about a second).
MAX_FRAMES = 200
MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
NATIVE_SYNTAXES = (IMPLICIT_VR_LITTLE_ENDIAN, EXPLICIT_VR_LITTLE_ENDIAN, DEFLATED_EXPLICIT_VR)


@dataclass(frozen=True)
class TextRegion:
    """A box of text found in one frame (0-based), in pixels, with what tesseract read."""

    frame: int
    x: int
    y: int
    width: int
    height: int
    text: str
    confidence: float


@dataclass
class TextFindings:
    """What ``find_text`` found in one image, how long it took and what it could not check."""

    regions: list[TextRegion] = field(default_factory=list)
    seconds: float = 0.0
    frames_checked: int = 0
    frames_total: int = 0
    needs_review: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """True when any text was found."""
        return bool(self.regions)

    @property
    def complete(self) -> bool:
        """True when every frame was read and nothing calls for a human look."""
        return self.frames_checked == self.frames_total and not self.needs_review


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element reads as absent
        return ""
    return " ".join(str(value).split()).upper() if value is not None else ""


def _image_types(ds: pydicom.Dataset) -> list[str]:
    try:
        value = ds.get("ImageType")
    except Exception:
        return []
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value)
    return [" ".join(str(item).split()).upper() for item in values]


def burned_in_reason(ds: pydicom.Dataset) -> str | None:
    """Why this image must be checked for burned-in text (all reasons, '; '), or None."""
    reasons: list[str] = []
    if _text(ds, "BurnedInAnnotation") == "YES":
        reasons.append("Burned In Annotation is YES")
    sop_class = _text(ds, "SOPClassUID") or _text(
        ds.get("file_meta", {}), "MediaStorageSOPClassUID"
    )
    if sop_class in SECONDARY_CAPTURE_CLASSES:
        reasons.append(f"it is a {SECONDARY_CAPTURE_CLASSES[sop_class]} image")
    types = _image_types(ds)
    marked = [value for value in types if value in SCREEN_IMAGE_TYPES]
    if marked:
        reasons.append(f"Image Type contains {marked[0]}")
    elif "DERIVED" in types and any("SCREEN" in value for value in types):
        reasons.append("Image Type is a derived screen capture")
    modality = _text(ds, "Modality")
    if modality in ANNOTATED_MODALITIES:
        reasons.append(f"Modality is {modality} ({ANNOTATED_MODALITIES[modality]})")
    conversion = _text(ds, "ConversionType")
    if conversion in CONVERSION_TYPES:
        reasons.append(f"Conversion Type is {conversion} ({CONVERSION_TYPES[conversion]})")
    return "; ".join(reasons) if reasons else None


def _frame_count(ds: pydicom.Dataset) -> int:
    try:
        return max(1, int(ds.get("NumberOfFrames", 1) or 1))
    except (TypeError, ValueError):
        return 1


def _first_number(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0] if len(value) else None
    try:
        return float(value) if value is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _window(ds: pydicom.Dataset) -> tuple[float, float] | None:
    center = _first_number(ds.get("WindowCenter"))
    width = _first_number(ds.get("WindowWidth"))
    if center is None or width is None or width <= 1:
        return None
    return center, width


def _display_grey(ds: pydicom.Dataset, frame: np.ndarray) -> np.ndarray:
    """One decoded frame as an 8-bit grey image for OCR (colour: brightest channel)."""
    photometric = _text(ds, "PhotometricInterpretation")
    if photometric == "PALETTE COLOR":
        frame = apply_color_lut(frame, ds)
        frame = (frame >> 8).astype(np.uint8) if frame.dtype.itemsize > 1 else frame
    if frame.ndim == 3:
        return window_to_8bit(grey_of_rgb(frame))
    if photometric in MONOCHROME:
        frame = apply_rescale(frame, ds)
    return window_to_8bit(frame, _window(ds))


def _decode_frame(ds: pydicom.Dataset, index: int, frames: int) -> np.ndarray:
    try:
        array = pixel_array(ds, index=index if frames > 1 else None)
    except Exception as error:  # every decoder failure: one message
        text = " ".join(str(error).split())[:200] or type(error).__name__
        raise DeidentificationError(
            f"Cannot decode frame {index + 1} to look for burned-in text: {text}"
        ) from error
    return np.asarray(array)


def find_text(
    ds: pydicom.Dataset,
    *,
    max_frames: int = MAX_FRAMES,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> TextFindings:
    """Text tesseract reads in every frame of ``ds`` (at most ``max_frames``; more → review).

    Raises OcrUnavailable when tesseract cannot run, DeidentificationError when a frame
    cannot be decoded. Identical frames are read once.
    """
    start = time.perf_counter()
    findings = TextFindings()
    if "PixelData" not in ds:
        findings.seconds = time.perf_counter() - start
        return findings
    tesseract_version()
    total = _frame_count(ds)
    findings.frames_total = total
    if total > max_frames:
        findings.needs_review.append(
            f"only the first {max_frames} of {total} frames were checked for burned-in text"
        )
    seen: dict[bytes, list[TextRegion]] = {}
    for index in range(min(total, max_frames)):
        if cancel is not None and cancel.cancelled:
            raise Cancelled()
        grey = _display_grey(ds, _decode_frame(ds, index, total))
        digest = hashlib.blake2b(grey.tobytes(), digest_size=16).digest()
        if digest in seen:
            regions = [_moved(region, index) for region in seen[digest]]
        else:
            try:
                words = read_words(grey)
            except DeidentificationError as error:
                if isinstance(error, OcrUnavailable):
                    raise
                findings.needs_review.append(f"frame {index + 1}: {error.message}")
                words = []
            regions = [
                TextRegion(index, w.x, w.y, w.width, w.height, w.text, w.confidence) for w in words
            ]
            seen[digest] = regions
        findings.regions.extend(regions)
        findings.frames_checked += 1
        progress((index + 1) / min(total, max_frames), f"Reading frame {index + 1} of {total}")
    findings.seconds = time.perf_counter() - start
    return findings


def _moved(region: TextRegion, frame: int) -> TextRegion:
    return TextRegion(
        frame, region.x, region.y, region.width, region.height, region.text, region.confidence
    )


def _syntax(ds: pydicom.Dataset) -> UID:
    syntax = ds.get("file_meta", pydicom.Dataset()).get("TransferSyntaxUID", "")
    if not syntax:
        raise DeidentificationError(
            "Cannot blank burned-in text: the data set has no Transfer Syntax UID"
        )
    return UID(str(syntax))


def _bits_allocated(ds: pydicom.Dataset) -> int:
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits not in (8, 16, 32):
        raise DeidentificationError(
            f"Cannot blank burned-in text in {bits}-bit pixels: the image needs a manual review"
        )
    return bits


def _to_native(ds: pydicom.Dataset) -> None:
    """Compressed, big-endian or subsampled pixels become Explicit VR Little Endian, RGB.

    Colour in YCbCr is converted to RGB (Planar Configuration 0); the SOP Instance UID
    is kept (the caller owns the identity of the result).
    """
    syntax = _syntax(ds)
    photometric = _text(ds, "PhotometricInterpretation")
    try:
        if syntax.is_compressed:
            ds.decompress(as_rgb=True, generate_instance_uid=False)
            return
        if syntax in NATIVE_SYNTAXES and photometric != "YBR_FULL_422":
            return
        array = np.asarray(pixel_array(ds))
    except DeidentificationError:
        raise
    except Exception as error:  # every decoder failure: one message
        text = " ".join(str(error).split())[:200] or type(error).__name__
        raise DeidentificationError(
            f"Cannot decode the image to blank burned-in text: {text}"
        ) from error
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    data = little.tobytes()
    if not syntax.is_little_endian:
        for _ in ds.iterall():  # parse every element while its big-endian bytes are known
            pass
        ds.set_original_encoding(False, True, ds.original_character_set)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
    ds["PixelData"].VR = VR.OB if int(ds.BitsAllocated) <= 8 else VR.OW
    if samples > 1:
        if photometric.startswith("YBR"):
            ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0


def _stored_view(ds: pydicom.Dataset, buffer: bytearray) -> np.ndarray:
    """Writable view of native pixel bytes as (frames, rows, columns[, samples])."""
    bits = _bits_allocated(ds)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = _frame_count(ds)
    count = frames * rows * columns * samples
    if len(buffer) < count * dtype.itemsize:
        raise DeidentificationError(
            f"Cannot blank burned-in text: Pixel Data holds {len(buffer)} bytes, "
            f"{count * dtype.itemsize} are needed"
        )
    flat = np.frombuffer(buffer, dtype=dtype, count=count)
    if samples == 1:
        return flat.reshape(frames, rows, columns)
    if int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        return np.moveaxis(flat.reshape(frames, samples, rows, columns), 1, 3)
    return flat.reshape(frames, rows, columns, samples)


def _stored_values(ds: pydicom.Dataset, view: np.ndarray) -> np.ndarray:
    """The values the view holds with bits above Bits Stored cleared or sign-extended."""
    bits = view.dtype.itemsize * 8
    stored = int(ds.get("BitsStored", bits) or bits)
    values = view.astype(np.int64)
    if 0 < stored < bits:
        values &= (1 << stored) - 1
        if view.dtype.kind == "i":
            values = np.where(values >= 1 << (stored - 1), values - (1 << stored), values)
    return values


def fill_value(ds: pydicom.Dataset, view: np.ndarray) -> int | tuple[int, ...]:
    """What blanked pixels become: black in the image's own terms.

    Monochrome: the smallest stored value of the image (the largest for MONOCHROME1, where
    it is black); RGB 0; YBR_FULL (0, mid, mid); palette colour the smallest stored value.
    """
    photometric = _text(ds, "PhotometricInterpretation")
    if view.ndim == 4:
        if photometric == "YBR_FULL":
            stored = int(ds.get("BitsStored", view.dtype.itemsize * 8))
            middle = 1 << (stored - 1)
            return (0, middle, middle)
        return tuple([0] * view.shape[3])
    values = _stored_values(ds, view)
    return int(values.max() if photometric == "MONOCHROME1" else values.min())


def blank_regions(ds: pydicom.Dataset, findings: TextFindings) -> None:
    """Set every found region of ``ds`` to black, in place; no other pixel changes.

    Compressed images are decoded first and stay uncompressed (Explicit VR Little
    Endian; colour in YCbCr becomes RGB). Burned In Annotation becomes NO when text was
    blanked and every frame had been read. Nothing found: ``ds`` is left as it is.
    """
    if not findings.regions:
        return
    if "PixelData" not in ds:
        raise DeidentificationError("Cannot blank burned-in text: the data set has no pixels")
    _bits_allocated(ds)
    _to_native(ds)
    buffer = bytearray(ds.PixelData)
    view = _stored_view(ds, buffer)
    fill = fill_value(ds, view)
    frames, rows, columns = view.shape[:3]
    for region in findings.regions:
        if not 0 <= region.frame < frames:
            raise DeidentificationError(
                f"Cannot blank burned-in text: frame {region.frame + 1} is not in the image"
            )
        x0, y0 = max(0, region.x), max(0, region.y)
        x1, y1 = min(columns, region.x + region.width), min(rows, region.y + region.height)
        if x1 > x0 and y1 > y0:
            view[region.frame, y0:y1, x0:x1] = fill
    ds.PixelData = bytes(buffer)
    if findings.complete:
        ds.BurnedInAnnotation = "NO"
