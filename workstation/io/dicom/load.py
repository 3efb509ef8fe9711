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

import numpy as np
import pydicom

from workstation.core.errors import NotAVolumeError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.volume import SourceInfo, Volume
from workstation.io.dicom import decode_pool, pixels
from workstation.io.dicom.header_geometry import geometry_warnings as header_geometry_warnings
from workstation.io.dicom.model import FrameRef, Stack
from workstation.io.dicom.slice_geometry import ResamplePlan, SliceGeometry, analyse_frames
from workstation.io.sources import open_binary

INT16_MIN, INT16_MAX = -32768, 32767
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


def choose_dtype(frames: Sequence[FrameRef]) -> np.dtype:
    """int16 when every frame's rescale is integral (values checked while loading), else float32."""
    if all(_integral(f.rescale_slope) and _integral(f.rescale_intercept) for f in frames):
        return np.dtype(np.int16)
    return np.dtype(np.float32)


def _write_rescaled(stored: np.ndarray, frame: FrameRef, dest: np.ndarray) -> np.ndarray | None:
    """Write slope*stored+intercept into ``dest``; return a float32 frame if int16 overflows."""
    slope, intercept = frame.rescale_slope, frame.rescale_intercept
    if dest.dtype == np.float32:
        np.copyto(dest, stored.astype(np.float64) * slope + intercept, casting="unsafe")
        return None
    if slope == 1 and intercept == 0 and stored.dtype == dest.dtype:
        dest[...] = stored
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

    Uncompressed frames are read by threads straight into the array; compressed frames
    (whose decoders hold the GIL) are decoded with worker processes when there are
    enough of them (``decode_pool``).
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
        dest = out[index]
        direct = (
            frame.rescale_slope == 1
            and frame.rescale_intercept == 0
            and decoder.uses_fast_path(frame)
            and pixels.stored_dtype(frame) == out.dtype
            and decoder.read_native_into(frame, dest)
        )
        store(index, dest if direct else decoder.decode(frame), rescale=not direct)

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


def source_info(stack: Stack) -> SourceInfo:
    """SourceInfo of a stack."""
    return SourceInfo(
        patient_id=stack.patient_id,
        patient_name=stack.patient_name,
        study_uid=stack.study_uid,
        study_date=stack.study_date,
        study_description=stack.study_description,
        series_uid=stack.series_uid,
        series_number=stack.series_number,
        series_description=stack.series_description,
        modality=stack.modality,
        frame_of_reference_uid=stack.frame_of_reference_uid,
        n_files=stack.n_files,
    )


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
    facts = read_series_facts(ordered[0])
    is_ct = stack.modality.upper() == "CT" or facts.rescale_type == "HU"
    decode_share = 1.0 if geometry.resample is None else 0.8
    decoded = decode_frames(
        ordered, facts, is_ct, sub_progress(progress, 0.0, decode_share), cancel, workers
    )
    array = decoded.array
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
        source=source_info(stack),
        warnings=_unique(warnings),
        window=window,
        name=stack.label or stack.series_description or stack.stack_id,
    )
