"""Thumbnails of stacks: the middle frame, windowed to 8 bits, decoded off the UI thread."""

from __future__ import annotations

import contextlib

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


def decode_middle_frames(
    frames: list[FrameRef], cancel: CancelToken | None = None
) -> list[np.ndarray | None]:
    """Stored values of each frame, None where it cannot be decoded.

    Uncompressed frames are read here; compressed ones are decoded in one worker process
    (``decode_pool.decode_each``), so a damaged file that crashes or hangs its decoder
    cannot take the window down.
    """
    from pydicom.uid import UID

    from workstation.io.dicom import decode_pool
    from workstation.io.dicom.pixels import decode_frame

    def compressed(frame: FrameRef) -> bool:
        syntax = frame.transfer_syntax_uid
        return bool(syntax) and UID(syntax).is_encapsulated

    values: list[np.ndarray | None] = [None] * len(frames)
    in_worker = [compressed(frame) for frame in frames]
    isolated = [index for index, flag in enumerate(in_worker) if flag]
    for index, array in zip(
        isolated, decode_pool.decode_each([frames[i] for i in isolated], cancel), strict=True
    ):
        values[index] = array
    for index, frame in enumerate(frames):
        if not in_worker[index]:
            try:
                values[index] = decode_frame(frame)
            except DicomReadError:
                continue
    return values


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


def thumbnail_of(frame: FrameRef, values: np.ndarray) -> np.ndarray:
    """An 8-bit grey thumbnail (at most THUMBNAIL_SIZE square) of a frame's stored values."""
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
    frames = [middle_frame(stack) for stack in scan.stacks]
    decoded = decode_middle_frames(frames, cancel)
    thumbnails = {}
    total = max(len(scan.stacks), 1)
    for number, (stack, frame, values) in enumerate(zip(scan.stacks, frames, decoded, strict=True)):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if values is not None:
            # An odd image gets no thumbnail; the browser still lists it.
            with contextlib.suppress(Exception):
                thumbnails[stack.stack_id] = thumbnail_of(frame, values)
        progress((number + 1) / total, "Thumbnails")
    return thumbnails


def to_qimage(image: np.ndarray) -> QImage:
    """A QImage (grey 8-bit) owning a copy of ``image``."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    rows, cols = image.shape
    return QImage(image.data, cols, rows, cols, QImage.Format.Format_Grayscale8).copy()
