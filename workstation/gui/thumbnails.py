"""Thumbnails of stacks: the middle frame, windowed to 8 bits, decoded off the UI thread."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage

from workstation.core.display_presets import window_to_gray
from workstation.core.errors import DicomReadError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.dicom.model import FrameRef, ScanResult, Stack

THUMBNAIL_SIZE = 64


def middle_frame(stack: Stack) -> FrameRef:
    """The frame in the middle of the stack along its slice normal (by position)."""
    frames = list(stack.frames)
    normal = frames[0].normal
    if normal is not None and all(frame.position is not None for frame in frames):
        frames.sort(key=lambda frame: float(np.dot(frame.position, normal)))
    return frames[len(frames) // 2]


def decode_frame_values(frame: FrameRef) -> np.ndarray:
    """Stored pixel values of one frame (the loader's decoder)."""
    from workstation.io.dicom.pixels import decode_frame

    return np.asarray(decode_frame(frame))


def window_to_uint8(values: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """Map values to 0..255 with (center, width), or the 1st..99th percentiles without one."""
    if window is None or window[1] <= 0:
        low, high = (float(v) for v in np.percentile(values, [1, 99]))
        if high <= low:
            high = low + 1.0
        window = ((low + high) / 2.0, high - low)
    return window_to_gray(values, *window).astype(np.uint8)


def shrink(image: np.ndarray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Fit a 2D image into ``size`` x ``size`` by block averaging, keeping its aspect."""
    rows, cols = image.shape
    factor = max(1, int(np.ceil(max(rows, cols) / size)))
    rows_cut, cols_cut = rows - rows % factor, cols - cols % factor
    if rows_cut == 0 or cols_cut == 0:
        return image
    blocks = image[:rows_cut, :cols_cut].reshape(
        rows_cut // factor, factor, cols_cut // factor, factor
    )
    return blocks.mean(axis=(1, 3)).astype(np.uint8)


def make_thumbnail(
    stack: Stack, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
) -> np.ndarray:
    """An 8-bit grey thumbnail (at most THUMBNAIL_SIZE square) of the stack's middle frame."""
    frame = middle_frame(stack)
    values = decode_frame_values(frame)
    if values.ndim != 2:
        raise DicomReadError(f"Cannot make a grey thumbnail of {frame.location}: not greyscale.")
    values = values.astype(np.float32) * frame.rescale_slope + frame.rescale_intercept
    if frame.photometric == "MONOCHROME1":
        values = values.max() - values
    return np.ascontiguousarray(shrink(window_to_uint8(values, frame.window)))


def make_thumbnails(
    scan: ScanResult, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
) -> dict[str, np.ndarray]:
    """Thumbnails of every stack of a scan by stack id; stacks that fail are left out."""
    thumbnails = {}
    total = max(len(scan.stacks), 1)
    for number, stack in enumerate(scan.stacks):
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            thumbnails[stack.stack_id] = make_thumbnail(stack)
        except Exception:
            continue
        progress((number + 1) / total, "Thumbnails")
    return thumbnails


def to_qimage(image: np.ndarray) -> QImage:
    """A QImage (grey 8-bit) owning a copy of ``image``."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    rows, cols = image.shape
    return QImage(image.data, cols, rows, cols, QImage.Format.Format_Grayscale8).copy()
