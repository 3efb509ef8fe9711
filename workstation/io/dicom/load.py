"""Load a scanned stack into one exact Volume: sort, decode, rescale per frame, fix geometry.

The voxels go into ONE preallocated array (int16 when every frame's rescale maps exactly
into int16, else float32).  Uncompressed frames are read by a few threads straight into
their slice of that array; compressed ones are decoded on every core with worker processes
(``decode_pool``).  CT keeps its Hounsfield units whatever the photometric interpretation;
other MONOCHROME1 images are inverted so bright means high.  Uneven spacing or a few
missing slices are resampled onto a regular grid (see ``slice_geometry``); a gap too
large to interpolate raises NotAVolumeError (the scan splits such a series into parts).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workstation.core.errors import DicomReadError, NotAVolumeError
from workstation.core.memory_budget import check_memory
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.volume import Volume
from workstation.io.dicom import decode_pool, pixels
from workstation.io.dicom.header_geometry import geometry_warnings as header_geometry_warnings
from workstation.io.dicom.model import FrameRef, Stack
from workstation.io.dicom.plain_header import read_plain_header
from workstation.io.dicom.slice_geometry import ResamplePlan, SliceGeometry, analyse_frames
from workstation.io.dicom.slice_sources import source_info
from workstation.io.sources import display_name, open_binary

INT16_MIN, INT16_MAX = -32768, 32767
#: Integral rescales up to these keep int64 arithmetic exact (stored values < 2**32).
MAX_INTEGER_SLOPE = 1 << 15
MAX_INTEGER_INTERCEPT = 1 << 31
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: CT values beyond this many HU are no tissue, metal or padding: the rescale is damaged.
MAX_CT_HU = 1e6
#: Padding voxels of CT are set to min(PADDING_HU_CEILING, lowest real HU).
PADDING_HU_CEILING = -1024
MONOCHROME1_WARNING = "Grey values inverted: the images are MONOCHROME1 (bright means low values)"


@dataclass(frozen=True)
class SeriesFacts:
    """Header facts the frame references do not carry, read once from the first file."""

    padding_value: int | None = None
    padding_range_limit: int | None = None
    rescale_type: str = ""


def read_series_facts(frame: FrameRef) -> SeriesFacts:
    """PixelPaddingValue/RangeLimit and RescaleType from the first frame's file header."""
    try:
        with open_binary(frame.location) as handle:
            plain = read_plain_header(handle, handle.seek(0, 2))
            if plain is not None:
                ds: Any = plain[0]
            else:
                import pydicom

                handle.seek(0)
                ds = pydicom.dcmread(handle, stop_before_pixels=True, force=True)
        rescale_type = str(ds.get("RescaleType", "") or "")
        if not rescale_type and "SharedFunctionalGroupsSequence" in ds:
            shared = ds.SharedFunctionalGroupsSequence[0]
            for item in shared.get("PixelValueTransformationSequence", []):
                rescale_type = str(item.get("RescaleType", "") or "")
        return SeriesFacts(
            _stored_int(ds.get("PixelPaddingValue"), frame),
            _stored_int(ds.get("PixelPaddingRangeLimit"), frame),
            rescale_type.strip().upper(),
        )
    except Exception:  # optional facts: a broken header shows up in the pixel decode
        return SeriesFacts()


def _stored_int(value: object, frame: FrameRef) -> int | None:
    """An integer in the stored-value domain; US-encoded negatives become negative."""
    if value is None or value == "":
        return None
    try:
        number = int(value[0] if isinstance(value, list | tuple) else value)  # type: ignore[index,arg-type]
    except (TypeError, ValueError):
        return None
    bits = frame.bits_allocated
    if frame.pixel_representation == 1 and number >= 2 ** (bits - 1):
        number -= 2**bits
    return number


def _integral(value: float) -> bool:
    return math.isfinite(value) and float(value).is_integer()


def _small_integral_rescale(frame: FrameRef) -> bool:
    """Integral slope and intercept small enough that int64 arithmetic cannot overflow."""
    return (
        _integral(frame.rescale_slope)
        and _integral(frame.rescale_intercept)
        and abs(frame.rescale_slope) <= MAX_INTEGER_SLOPE
        and abs(frame.rescale_intercept) <= MAX_INTEGER_INTERCEPT
    )


def choose_dtype(frames: Sequence[FrameRef]) -> np.dtype:
    """int16 when every frame's rescale is small and integral (values checked), else float32."""
    if all(_small_integral_rescale(frame) for frame in frames):
        return np.dtype(np.int16)
    return np.dtype(np.float32)


def stored_range(frame: FrameRef) -> tuple[int, int]:
    """Lowest and highest value Bits Stored and Pixel Representation allow."""
    bits = max(1, min(frame.bits_stored, 64))
    if frame.pixel_representation == 1:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def rescaled_bounds(frame: FrameRef, low: float, high: float) -> tuple[float, float]:
    """Bounds of slope * stored + intercept for stored values in [low, high]."""
    ends = (
        frame.rescale_slope * low + frame.rescale_intercept,
        frame.rescale_slope * high + frame.rescale_intercept,
    )
    return min(ends), max(ends)


def value_range_problem(frame: FrameRef, low: float, high: float, is_ct: bool) -> str | None:
    """Why rescaled values in [low, high] cannot be right, else None."""
    limit = MAX_CT_HU if is_ct else FLOAT32_MAX
    if math.isfinite(low) and math.isfinite(high) and -limit <= low and high <= limit:
        return None
    unit = " HU" if is_ct else ""
    what = f"far outside any CT range (±{MAX_CT_HU:g} HU)" if is_ct else "beyond 32-bit floats"
    return (
        f"Rescale Slope {frame.rescale_slope:g} and Intercept {frame.rescale_intercept:g} of "
        f"{display_name(frame.location)} give values from {low:.3g} to {high:.3g}{unit}, "
        f"{what}: the rescale values are damaged"
    )


def check_value_range(array: np.ndarray, ordered: Sequence[FrameRef], is_ct: bool) -> None:
    """Raise DicomReadError when rescaled values are impossible (checked from the headers).

    Only frames whose whole stored range could leave the plausible range are measured.
    """
    for index, frame in enumerate(ordered):
        if value_range_problem(frame, *rescaled_bounds(frame, *stored_range(frame)), is_ct):
            values = array[index]
            problem = value_range_problem(
                frame, float(np.min(values)), float(np.max(values)), is_ct
            )
            if problem:
                raise DicomReadError(problem)


def _write_rescaled(stored: np.ndarray, frame: FrameRef, dest: np.ndarray) -> np.ndarray | None:
    """Write slope*stored+intercept into ``dest``; return a float32 frame if int16 overflows."""
    slope, intercept = frame.rescale_slope, frame.rescale_intercept
    if dest.dtype == np.float32:
        values = stored.astype(np.float64) * slope + intercept
        if values.size:
            problem = value_range_problem(frame, float(values.min()), float(values.max()), False)
            if problem:
                raise DicomReadError(problem)
        np.copyto(dest, values, casting="unsafe")
        return None
    if slope == 1 and intercept == 0 and stored.dtype == dest.dtype:
        dest[...] = stored
        return None
    if slope == 1 and stored.dtype.itemsize <= 2 and abs(intercept) < 1 << 16:
        # The usual CT case (stored + intercept, e.g. -1024): int32 arithmetic is exact for
        # 16-bit values and such offsets, and the bounds, checked first, fit int16.
        offset = int(intercept)
        if not stored.size or (
            int(stored.min()) + offset >= INT16_MIN and int(stored.max()) + offset <= INT16_MAX
        ):
            np.add(stored, offset, out=dest, dtype=np.int32, casting="unsafe")
            return None
    values = stored.astype(np.int64)
    if slope != 1:
        values *= int(slope)
    if intercept != 0:
        values += int(intercept)
    if values.size and (values.min() < INT16_MIN or values.max() > INT16_MAX):
        return values.astype(np.float32)
    dest[...] = values
    return None


def _read_into_slice(
    decoder: pixels.FrameDecoder, frame: FrameRef, dest: np.ndarray
) -> np.ndarray | None:
    """The frame's stored values read straight into ``dest``'s memory, or None.

    Applies to uncompressed frames whose stored values have ``dest``'s item size (int16
    or uint16 CT into an int16 slice): they are then rescaled in place, with no copy.
    """
    if not decoder.uses_fast_path(frame):
        return None
    stored_type = pixels.stored_dtype(frame)
    if stored_type.itemsize != dest.dtype.itemsize:
        return None
    view = dest.view(stored_type)
    return view if decoder.read_native_into(frame, view) else None


def _padding_mask(stored: np.ndarray, facts: SeriesFacts) -> np.ndarray | None:
    """Packed boolean mask of padding voxels in a stored frame, or None when there are none."""
    if facts.padding_value is None:
        return None
    if facts.padding_range_limit is None:
        mask = stored == facts.padding_value
    else:
        low = min(facts.padding_value, facts.padding_range_limit)
        high = max(facts.padding_value, facts.padding_range_limit)
        mask = (stored >= low) & (stored <= high)
    return np.packbits(mask) if mask.any() else None


@dataclass
class _Decoded:
    """What decoding the sorted frames produced besides the voxels."""

    array: np.ndarray
    padding: dict[int, np.ndarray]


def decode_frames(
    ordered: Sequence[FrameRef],
    facts: SeriesFacts,
    padding_applies: bool,
    progress: ProgressCallback,
    cancel: CancelToken | None,
    workers: int | None = None,
) -> _Decoded:
    """Decode and rescale ``ordered`` frames into one preallocated (n, rows, cols) array.

    Uncompressed little-endian frames are read by threads straight into the array; every
    other frame (compressed, big endian, deflated) is decoded in worker processes, each
    within a time limit and isolated from crashes (``decode_pool``), or in-process without
    a time limit where no pool can start (inside a worker process).
    """
    first = ordered[0]
    out = np.empty((len(ordered), first.rows, first.columns), dtype=choose_dtype(ordered))
    decoder = pixels.FrameDecoder()
    overflow: dict[int, np.ndarray] = {}
    padding: dict[int, np.ndarray] = {}

    def store(index: int, stored: np.ndarray, rescale: bool = True) -> None:
        if padding_applies:
            mask = _padding_mask(stored, facts)
            if mask is not None:
                padding[index] = mask
        if rescale:
            promoted = _write_rescaled(stored, ordered[index], out[index])
            if promoted is not None:
                overflow[index] = promoted

    def load_one(index: int) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        frame = ordered[index]
        in_place = _read_into_slice(decoder, frame, out[index])
        if in_place is None:
            store(index, decoder.decode(frame))
            return
        plain = frame.rescale_slope == 1 and frame.rescale_intercept == 0
        store(index, in_place, rescale=not (plain and in_place.dtype == out.dtype))

    n = len(ordered)
    for frame in ordered:
        pixels.check_monochrome(frame)
    compressed = [index for index in range(n) if not decoder.uses_fast_path(ordered[index])]
    processes = decode_pool.pool_processes([ordered[index] for index in compressed], workers)
    if processes == 0:
        pixels.run_per_frame(range(n), load_one, workers, progress, cancel)
    else:
        skipped = set(compressed)
        native = [index for index in range(n) if index not in skipped]
        split = len(native) / n
        pixels.run_per_frame(native, load_one, workers, sub_progress(progress, 0.0, split), cancel)
        decode_pool.decode_frames_parallel(
            [ordered[index] for index in compressed],
            lambda position, stored: store(compressed[position], stored),
            processes,
            decoder,
            sub_progress(progress, split, 1.0),
            cancel,
        )
    if overflow:
        promoted = np.empty(out.shape, dtype=np.float32)
        for index in range(n):
            promoted[index] = overflow.pop(index) if index in overflow else out[index]
        out = promoted
    return _Decoded(out, padding)


def fill_padding(array: np.ndarray, padding: dict[int, np.ndarray]) -> float | None:
    """Set padding voxels to min(-1024, lowest real value); returns the value used."""
    if not padding:
        return None
    lowest = math.inf
    frame_shape = array.shape[1:]
    size = int(np.prod(frame_shape))
    for index in range(array.shape[0]):
        frame = array[index]
        if index in padding:
            mask = np.unpackbits(padding[index], count=size).view(bool).reshape(frame_shape)
            real = frame[~mask]
            if real.size:
                lowest = min(lowest, float(real.min()))
        else:
            lowest = min(lowest, float(frame.min()))
    fill = (
        float(PADDING_HU_CEILING) if not math.isfinite(lowest) else min(PADDING_HU_CEILING, lowest)
    )
    for index, packed in padding.items():
        mask = np.unpackbits(packed, count=size).view(bool).reshape(frame_shape)
        array[index][mask] = fill
    return fill


def invert_monochrome1(array: np.ndarray) -> float:
    """Invert grey values in place within their own range (min <-> max); returns min + max."""
    total = float(array.min()) + float(array.max())
    for index in range(array.shape[0]):
        frame = array[index]
        if array.dtype == np.float32:
            np.subtract(total, frame, out=frame)
        else:
            frame[...] = (int(total) - frame.astype(np.int32)).astype(array.dtype)
    return total


def resample_slices(
    source: np.ndarray,
    plan: ResamplePlan,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> np.ndarray:
    """Linear interpolation of sorted real slices onto the regular output grid (float32)."""
    n_out = plan.lower.size
    out = np.empty((n_out, *source.shape[1:]), dtype=np.float32)
    for k in range(n_out):
        if cancel is not None:
            cancel.raise_if_cancelled()
        (first, weight), *rest = plan.sources(k)
        if not rest:
            out[k] = source[first]
        else:
            second, second_weight = rest[0]
            np.multiply(source[first], np.float32(weight), out=out[k], casting="unsafe")
            out[k] += source[second] * np.float32(second_weight)
        progress((k + 1) / n_out, f"Resampling slice {k + 1} of {n_out}")
    return out


def load_memory_bytes(ordered: Sequence[FrameRef], geometry: SliceGeometry) -> int:
    """Peak bytes a load allocates: decoded voxels, a float32 copy if values may not fit
    int16, and the resampled grid when slices are resampled."""
    first = ordered[0]
    pixels = first.rows * first.columns
    dtype = choose_dtype(ordered)
    total = len(ordered) * pixels * dtype.itemsize
    if dtype == np.int16 and any(
        not INT16_MIN <= bound <= INT16_MAX
        for frame in ordered
        for bound in rescaled_bounds(frame, *stored_range(frame))
    ):
        total += len(ordered) * pixels * 4
    if geometry.resample is not None:
        total += geometry.n_slices * pixels * 4
    return total


def _unique(messages: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(message for message in messages if message))


def load_stack(
    stack: Stack,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    workers: int | None = None,
) -> Volume:
    """Decode a stack into a Volume with the exact index-to-LPS affine."""
    if not stack.frames:
        raise NotAVolumeError(f"Stack {stack.label or stack.stack_id} has no images")
    geometry: SliceGeometry = analyse_frames(stack.frames)
    ordered = [stack.frames[int(i)] for i in geometry.order]
    check_memory(
        load_memory_bytes(ordered, geometry),
        f"Loading {stack.identity.series_description or stack.stack_id!r} as "
        f"{ordered[0].columns}x{ordered[0].rows}x{geometry.n_slices} voxels",
    )
    facts = read_series_facts(ordered[0])
    is_ct = stack.identity.modality.upper() == "CT" or facts.rescale_type == "HU"
    decode_share = 1.0 if geometry.resample is None else 0.8
    decoded = decode_frames(
        ordered, facts, is_ct, sub_progress(progress, 0.0, decode_share), cancel, workers
    )
    array = decoded.array
    check_value_range(array, ordered, is_ct)
    # The scan's header-level geometry warnings are superseded by the exact analysis here.
    superseded = set(header_geometry_warnings(stack.frames))
    warnings = [w for w in stack.warnings if w not in superseded] + list(geometry.warnings)
    window = next((frame.window for frame in ordered if frame.window is not None), None)
    if is_ct:
        fill_padding(array, decoded.padding)
    elif ordered[0].photometric == "MONOCHROME1":
        total = invert_monochrome1(array)
        warnings.append(MONOCHROME1_WARNING)
        if window is not None:
            window = (total - window[0], window[1])  # the same tissues, now bright-is-high
    if geometry.resample is not None:
        array = resample_slices(
            array, geometry.resample, sub_progress(progress, decode_share, 1.0), cancel
        )
    progress(1.0, "Loaded")
    return Volume(
        array=array,
        affine=geometry.affine,
        units="HU" if is_ct else "raw",
        source=source_info(stack, ordered, geometry.resample),
        warnings=_unique(warnings),
        window=window,
        name=stack.label or stack.identity.series_description or stack.stack_id,
    )
