"""Find words in one 2D image with tesseract, after preparing it the way OCR reads best.

A frame of stored values is windowed to 8 bit (the data set's window, else its 1st–99th
percentile), made dark-on-light (tesseract's LSTM engine reads that best), upscaled 2×
when small, and read with page segmentation mode 11 ("sparse text": overlays are scattered
words, not paragraphs). Words shorter than ``MIN_CHARACTERS``, and words tesseract is
unsure of that stand out only weakly, are ignored; boxes come back in the frame's own
pixel coordinates, padded by ``PADDING``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from workstation.core.errors import DeidentificationError

#: Tesseract's word confidence (0–100) at which a word is kept whatever its contrast.
#: Measured on rendered overlays and ultrasound speckle: texture misread as words scores
#: up to about 70; clean words 90–96.
SURE_CONFIDENCE = 80.0
#: Grey-value spread (2nd to 98th percentile, of 255) within its box at which a word
#: tesseract is unsure of (names with '^' score 0–70) is kept: overlay text spans
#: 200–255, speckle misread as words under 70.
MIN_CONTRAST = 128.0
#: Words shorter than this (after stripping blanks), or without a letter or digit, are
#: ignored: single glyphs and punctuation are what edges and noise are misread as.
MIN_CHARACTERS = 2
#: Pixels added on every side of a found word, so anti-aliased edges are covered too.
PADDING = 3
#: Frames whose smaller side is below this many pixels are upscaled 2× before OCR.
UPSCALE_BELOW = 600
#: Tesseract options: LSTM engine, sparse text.
TESSERACT_CONFIG = "--oem 1 --psm 11"
#: Seconds one frame may take in tesseract before it is given up (and marked for review).
FRAME_TIMEOUT = 60.0
DEBIAN_PACKAGE = "tesseract-ocr"


class OcrUnavailable(DeidentificationError):
    """Tesseract cannot be run, so burned-in text cannot be looked for."""


@dataclass(frozen=True)
class Word:
    """One word tesseract read: its box in frame pixels (padded), text and confidence."""

    x: int
    y: int
    width: int
    height: int
    text: str
    confidence: float


def _pytesseract() -> Any:
    """The pytesseract module (untyped), or OcrUnavailable when it is not installed."""
    try:
        return importlib.import_module("pytesseract")
    except ImportError as error:
        raise OcrUnavailable(
            "Cannot look for burned-in text: the Python package pytesseract is not "
            f"installed (pip install pytesseract; Debian package {DEBIAN_PACKAGE})."
        ) from error


def tesseract_version() -> str:
    """Version of the tesseract program; OcrUnavailable names the package when it is missing."""
    pytesseract = _pytesseract()
    try:
        return str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError) as error:
        raise OcrUnavailable(
            "Cannot look for burned-in text: the tesseract program is not installed or "
            f"not on PATH (install the Debian package {DEBIAN_PACKAGE})."
        ) from error


def window_to_8bit(frame: np.ndarray, window: tuple[float, float] | None = None) -> np.ndarray:
    """A 2D frame of display values as uint8, through ``(center, width)`` or the 1–99 %ile.

    When the percentiles coincide (text on a flat background covers under 1 % of the
    pixels) the full value range is used, so the text is not lost in clipping.
    """
    values = np.asarray(frame, dtype=np.float64)
    if window is not None and window[1] > 1:
        low = window[0] - window[1] / 2.0
        high = window[0] + window[1] / 2.0
    else:
        low, high = (float(v) for v in np.percentile(values, (1.0, 99.0)))
        if high <= low:
            low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def grey_of_rgb(frame: np.ndarray) -> np.ndarray:
    """One grey channel of an RGB frame: the brightest channel, so blue or red text stays bright."""
    return np.asarray(frame).max(axis=2)


def prepare_for_ocr(grey: np.ndarray) -> tuple[Image.Image, int]:
    """Dark-on-light 8-bit image for tesseract and the scale applied (1 or 2)."""
    image = np.asarray(grey, dtype=np.uint8)
    if float(np.median(image)) < 128.0:
        image = 255 - image
    scale = 2 if min(image.shape) < UPSCALE_BELOW else 1
    picture = Image.fromarray(image, mode="L")
    if scale != 1:
        picture = picture.resize(
            (image.shape[1] * scale, image.shape[0] * scale), Image.Resampling.BICUBIC
        )
    return picture, scale


def _word_box(
    left: int, top: int, width: int, height: int, scale: int, shape: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A box of the (scaled) OCR image in frame pixels, padded and clipped to the frame."""
    x0 = max(0, left // scale - PADDING)
    y0 = max(0, top // scale - PADDING)
    x1 = min(shape[1], -(-(left + width) // scale) + PADDING)
    y1 = min(shape[0], -(-(top + height) // scale) + PADDING)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def _tesseract_data(picture: Image.Image, config: str, timeout: float) -> dict[str, list]:
    """pytesseract's image_to_data as a dict; tesseract failures become our errors."""
    pytesseract = _pytesseract()
    try:
        data: dict[str, list] = pytesseract.image_to_data(
            picture, config=config, output_type=pytesseract.Output.DICT, timeout=timeout
        )
    except (pytesseract.TesseractNotFoundError, FileNotFoundError) as error:
        tesseract_version()  # raises the message naming the package
        raise OcrUnavailable(f"Cannot run tesseract ({DEBIAN_PACKAGE}).") from error
    except RuntimeError as error:  # pytesseract's timeout
        raise DeidentificationError(
            f"Tesseract took longer than {timeout:g} s on one image and was stopped."
        ) from error
    except pytesseract.TesseractError as error:
        message = " ".join(str(error).split())[:200]
        raise DeidentificationError(f"Tesseract failed on an image: {message}") from error
    return data


def _looks_like_text(text: str) -> bool:
    return len(text) >= MIN_CHARACTERS and any(character.isalnum() for character in text)


def _contrast(picture: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Spread of grey values (2nd to 98th percentile) in a box of the OCR image."""
    left, top, width, height = box
    patch = picture[max(0, top) : top + height, max(0, left) : left + width]
    if patch.size == 0:
        return 0.0
    low, high = np.percentile(patch, (2.0, 98.0))
    return float(high - low)


def read_words(grey: np.ndarray, timeout: float = FRAME_TIMEOUT) -> list[Word]:
    """Words tesseract reads in an 8-bit grey frame (any polarity), in frame pixels.

    A word is kept when tesseract is sure of it (``SURE_CONFIDENCE``) or when it stands
    out in strong contrast (``MIN_CONTRAST``), as text a device draws does; tesseract
    gives words split out of a longer blob confidence 0, and texture misread as words
    has weak contrast. Raises OcrUnavailable when tesseract is missing,
    DeidentificationError when it fails or takes longer than ``timeout`` seconds.
    """
    picture, scale = prepare_for_ocr(grey)
    data = _tesseract_data(picture, TESSERACT_CONFIG, timeout)
    pixels = np.asarray(picture)
    shape = (int(grey.shape[0]), int(grey.shape[1]))
    words: list[Word] = []
    for index, raw_text in enumerate(data.get("text", [])):
        text = str(raw_text).strip()
        if not _looks_like_text(text):
            continue
        box = (
            int(data["left"][index]),
            int(data["top"][index]),
            int(data["width"][index]),
            int(data["height"][index]),
        )
        confidence = float(data["conf"][index])
        if confidence < SURE_CONFIDENCE and _contrast(pixels, box) < MIN_CONTRAST:
            continue
        x, y, width, height = _word_box(*box, scale, shape)
        if width and height:
            words.append(Word(x, y, width, height, text, confidence))
    return words
