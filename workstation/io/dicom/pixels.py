"""Decode DICOM frames to 2D arrays of stored values, with a fast path for raw little-endian data.

Fast path (uncompressed little-endian, explicit or implicit VR): the Pixel Data element
(7FE0,0010) is found from the end of the file and validated (explicit VR 'OW'/'OB', zero
reserved bytes and a 4-byte length, or implicit 4-byte length, equal to the expected
frame bytes); the frame is then read straight into the caller's array with one
``readinto``.  Anything else (compressed, big endian, deflated, odd layouts) goes through
pydicom and the pylibjpeg plugins.  Every failure becomes a ``DicomReadError`` naming the
file and the transfer syntax.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from workstation.core.errors import DicomReadError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.workers import available_cpus
from workstation.io.dicom import codestreams
from workstation.io.dicom.codestreams import CodestreamError, TruncatedStreamError
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.syntax_uids import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    RLE_LOSSLESS,
)
from workstation.io.sources import display_name, is_zip_location, open_binary

if TYPE_CHECKING:  # pydicom is imported when a frame needs it: uncompressed reads do not
    import pydicom

#: pydicom's JPEG-LS plugin: CharLS decodes a 512x512 CT frame in 5 ms, libjpeg in 18 ms.
JPEG_LS_PLUGIN = "pyjpegls"
PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"
#: Uncompressed little-endian syntaxes read by the fast path, and whether VR is explicit.
NATIVE_LITTLE_ENDIAN: dict[str, bool] = {
    EXPLICIT_VR_LITTLE_ENDIAN: True,
    IMPLICIT_VR_LITTLE_ENDIAN: False,
}
#: Names of transfer syntaxes pydicom does not know.
EXTRA_SYNTAX_NAMES = {
    "1.2.840.10008.1.2.8.1": "Deflated Image Frame Compression",
}
#: How many candidate (7FE0,0010) byte matches the backward search validates at most.
MAX_TAG_CANDIDATES = 8
#: Bytes read at a time, and at most in all, by the backward search for Pixel Data.
SEARCH_CHUNK = 1 << 20
MAX_SEARCH_BYTES = 64 << 20
MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
#: A file read by pydicom may hold at most this many times its images' native size (a
#: compressed frame is rarely larger than native) plus this many bytes of other elements.
MAX_SIZE_FACTOR = 4
MAX_OTHER_BYTES = 256 << 20
#: Never turned into a DicomReadError: a wish to stop, or one of our own errors.
PASS_THROUGH = (KeyboardInterrupt, SystemExit, GeneratorExit, WorkstationError)


def transfer_syntax_name(uid: str) -> str:
    """Human name of a transfer syntax UID (the UID itself when unknown)."""
    if uid in EXTRA_SYNTAX_NAMES:
        return EXTRA_SYNTAX_NAMES[uid]
    from pydicom.uid import UID

    name = UID(uid).name if uid else ""
    return name if name and name != uid else f"transfer syntax {uid or 'unknown'}"


def stored_dtype(frame: FrameRef) -> np.dtype:
    """Native-endian numpy dtype of the stored values according to the header."""
    if frame.bits_allocated not in (8, 16, 32):
        raise DicomReadError(
            f"{display_name(frame.location)}: {frame.bits_allocated}-bit pixels are not supported"
        )
    kind = "i" if frame.pixel_representation == 1 else "u"
    return np.dtype(f"={kind}{frame.bits_allocated // 8}")


def check_monochrome(frame: FrameRef) -> None:
    """Raise DicomReadError for colour frames, which cannot become a grey-value volume."""
    if frame.samples_per_pixel != 1 or frame.photometric not in MONOCHROME:
        raise DicomReadError(
            f"{display_name(frame.location)} is a {frame.photometric} image: "
            "colour images cannot be loaded as a volume"
        )


def _frame_bytes(frame: FrameRef) -> int:
    return frame.rows * frame.columns * (frame.bits_allocated // 8)


def _candidate_offset(
    header: bytes, explicit: bool, expected: int, position: int, size: int
) -> int | None:
    """Data offset when ``header`` (bytes at ``position``) is a valid Pixel Data element."""
    if header[:4] != PIXEL_DATA_TAG:
        return None
    if explicit:
        if len(header) < 12 or header[4:6] not in (b"OW", b"OB") or header[6:8] != b"\0\0":
            return None
        (length,) = struct.unpack("<I", header[8:12])
        start = position + 12
    else:
        if len(header) < 8:
            return None
        (length,) = struct.unpack("<I", header[4:8])
        start = position + 8
    if length not in (expected, expected + (expected & 1)) or start + expected > size:
        return None
    return start


def _last_element_positions(size: int, expected: int, header_size: int) -> list[int]:
    """Where a last element of ``expected`` bytes (or one more, padded to even) starts."""
    lengths = sorted({expected, expected + (expected & 1)})
    return [size - length - header_size for length in lengths if size - length - header_size >= 0]


def find_pixel_data(handle: BinaryIO, explicit: bool, expected: int) -> int | None:
    """Offset of native Pixel Data of ``expected`` bytes in an open file, or None.

    First tries the usual layout (Pixel Data is the last element), reading 12 bytes;
    otherwise searches backwards for the tag in chunks of ``SEARCH_CHUNK`` bytes, from the
    last place the element could start, through at most ``MAX_SEARCH_BYTES`` (a huge or
    sparse file is never read whole).
    """
    size = handle.seek(0, os.SEEK_END)
    header_size = 12 if explicit else 8
    for position in _last_element_positions(size, expected, header_size):
        handle.seek(position)
        start = _candidate_offset(handle.read(header_size), explicit, expected, position, size)
        if start is not None:
            return start
    end = size - expected - header_size + len(PIXEL_DATA_TAG)  # the tag ends by here
    if end < len(PIXEL_DATA_TAG):
        return None
    floor = max(0, end - MAX_SEARCH_BYTES)
    candidates = 0
    while end > floor and candidates < MAX_TAG_CANDIDATES:
        begin = max(floor, end - SEARCH_CHUNK)
        handle.seek(begin)
        # header_size - 1 bytes beyond ``end`` so a header straddling chunks is whole.
        data = handle.read(end - begin + header_size - len(PIXEL_DATA_TAG))
        limit = end - begin
        while candidates < MAX_TAG_CANDIDATES:
            found = data.rfind(PIXEL_DATA_TAG, 0, limit)
            if found < 0:
                break
            candidates += 1
            header = data[found : found + header_size]
            start = _candidate_offset(header, explicit, expected, begin + found, size)
            if start is not None:
                return start
            limit = found + len(PIXEL_DATA_TAG) - 1
        # The next chunk overlaps by 3 bytes so a tag split across chunks is found.
        end = begin + len(PIXEL_DATA_TAG) - 1 if begin > floor else floor
    return None


def _pread_last_element(path: str, explicit: bool, expected: int, view: memoryview) -> bool:
    """One ``preadv`` of element header + data, assuming Pixel Data is the last element.

    Fills ``view`` and returns True when the header read with it validates; otherwise
    ``view`` holds garbage and the caller falls back to searching.
    """
    header_size = 12 if explicit else 8
    header = bytearray(header_size)
    descriptor = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(descriptor).st_size
        for position in _last_element_positions(size, expected, header_size):
            count = os.preadv(descriptor, [header, view], position)
            start = _candidate_offset(bytes(header), explicit, expected, position, size)
            if count >= header_size + expected and start == position + header_size:
                return True
    finally:
        os.close(descriptor)
    return False


def _correct_unused_bits(array: np.ndarray, frame: FrameRef) -> None:
    """Clear (unsigned) or sign-extend (signed) bits above BitsStored, in place, as pydicom."""
    shift = frame.bits_allocated - frame.bits_stored
    if 0 < shift < frame.bits_allocated:
        np.left_shift(array, shift, out=array)
        np.right_shift(array, shift, out=array)


def one_line(error: BaseException) -> str:
    """An exception's text on one line of at most 240 characters, for a message."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 240 else text[:237] + "..."


def unreadable_error(frame: FrameRef, error: OSError) -> DicomReadError:
    """The error for an image file that can no longer be opened or read."""
    return DicomReadError(
        f"Cannot read {frame.location}: {error.strerror or error} "
        "(was it moved, deleted or changed since the scan? scan again)"
    )


class FrameDecoder:
    """Decodes frames of a stack; thread-safe; caches per-file facts for multi-frame files."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offsets: dict[str, int | None] = {}
        self._datasets: dict[str, pydicom.Dataset] = {}
        self._file_locks: dict[str, threading.Lock] = {}

    def uses_fast_path(self, frame: FrameRef) -> bool:
        """True when the frame's syntax and layout qualify for the raw-read fast path."""
        return (
            frame.transfer_syntax_uid in NATIVE_LITTLE_ENDIAN
            and frame.bits_allocated in (8, 16, 32)
            and frame.samples_per_pixel == 1
        )

    def read_native_into(self, frame: FrameRef, dest: np.ndarray) -> bool:
        """Read the frame's stored values straight into ``dest`` (fast path).

        ``dest`` must be C-contiguous, shaped (rows, columns), of ``stored_dtype(frame)``.
        Returns False (``dest`` untouched or to be overwritten) when the fast path does not
        apply or the file layout does not validate; the caller then uses ``decode``.
        """
        if not self.uses_fast_path(frame) or dest.dtype != stored_dtype(frame):
            return False
        if dest.shape != (frame.rows, frame.columns) or not dest.flags.c_contiguous:
            return False
        explicit = NATIVE_LITTLE_ENDIAN[frame.transfer_syntax_uid]
        frame_bytes = _frame_bytes(frame)
        n_frames = max(frame.number_of_frames, 1) if frame.frame_index is not None else 1
        index = frame.frame_index or 0
        if index >= n_frames:
            return False
        view = dest.data.cast("B")
        try:
            single_file = n_frames == 1 and not is_zip_location(frame.location)
            if single_file and _pread_last_element(frame.location, explicit, frame_bytes, view):
                _correct_unused_bits(dest, frame)
                return True
            with open_binary(frame.location) as handle:
                start = self._offsets.get(frame.location, -1)
                if start == -1:
                    start = find_pixel_data(handle, explicit, frame_bytes * n_frames)
                    if n_frames > 1 or is_zip_location(frame.location):
                        with self._lock:
                            self._offsets[frame.location] = start
                if start is None:
                    return False
                handle.seek(start + index * frame_bytes)
                # Files and zip members both read into a buffer; BinaryIO does not say so.
                count = handle.readinto(view)  # type: ignore[attr-defined]
        except OSError as error:
            raise unreadable_error(frame, error) from error
        if count != frame_bytes:
            return False
        _correct_unused_bits(dest, frame)
        return True

    def decode(self, frame: FrameRef) -> np.ndarray:
        """Stored values of one frame as a new 2D native-endian array."""
        check_monochrome(frame)
        if frame.rows <= 0 or frame.columns <= 0:
            raise DicomReadError(f"{display_name(frame.location)} has no image (no Rows/Columns)")
        if self.uses_fast_path(frame):
            array = np.empty((frame.rows, frame.columns), dtype=stored_dtype(frame))
            if self.read_native_into(frame, array):
                return array
        return self._decode_with_pydicom(frame)

    @staticmethod
    def _dataset(frame: FrameRef) -> pydicom.Dataset:
        import pydicom
        from pydicom.uid import UID

        with open_binary(frame.location) as handle:
            _check_file_size(handle, frame)
            dataset = pydicom.dcmread(handle, force=True)
        if "TransferSyntaxUID" not in dataset.file_meta and frame.transfer_syntax_uid:
            # No file meta (or no syntax in it): use the syntax the header reader worked out.
            dataset.file_meta.TransferSyntaxUID = UID(frame.transfer_syntax_uid)
        return dataset

    def _multi_frame_dataset(self, frame: FrameRef) -> tuple[pydicom.Dataset, threading.Lock]:
        location = frame.location
        with self._lock:
            lock = self._file_locks.setdefault(location, threading.Lock())
        with lock:
            if location not in self._datasets:
                self._datasets[location] = self._dataset(frame)
            return self._datasets[location], lock

    def _decode_with_pydicom(self, frame: FrameRef) -> np.ndarray:
        from pydicom.uid import AllTransferSyntaxes

        syntax = frame.transfer_syntax_uid
        name = display_name(frame.location)
        if syntax and syntax not in AllTransferSyntaxes and syntax not in NATIVE_LITTLE_ENDIAN:
            raise DicomReadError(
                f"Cannot decode {name}: {transfer_syntax_name(syntax)} ({syntax}) is not supported"
            )
        what = f"{name} ({transfer_syntax_name(syntax)})"
        number = (frame.frame_index or 0) + 1
        try:
            if frame.frame_index is None:
                dataset = self._dataset(frame)
                array = _decode_dataset(dataset, frame)
            else:
                dataset, lock = self._multi_frame_dataset(frame)
                with lock:
                    array = _decode_dataset(dataset, frame)
        except PASS_THROUGH:
            raise
        except OSError as error:
            raise unreadable_error(frame, error) from error
        except NotImplementedError as error:
            raise DicomReadError(
                f"Cannot decode {name}: {transfer_syntax_name(syntax)} ({syntax}) is not supported",
                details=one_line(error),
            ) from error
        except TruncatedStreamError as error:
            raise DicomReadError(
                f"Cannot decode {what}: the compressed data of frame {number} ends early "
                f"({error}): the file is truncated or damaged"
            ) from error
        except CodestreamError as error:
            raise DicomReadError(
                f"Cannot decode {what}: frame {number} {error}: "
                "the file is damaged or its header is wrong"
            ) from error
        except BaseException as error:  # every decoder failure, Rust panics too: one message
            raise DicomReadError(f"Cannot decode {what}: {one_line(error)}") from error
        if array.ndim != 2:
            raise DicomReadError(
                f"{name}: decoded image has shape {array.shape}; "
                "colour images cannot be loaded as a volume"
            )
        if array.shape != (frame.rows, frame.columns):
            raise DicomReadError(
                f"{name}: decoded image is {array.shape[1]}x{array.shape[0]}, "
                f"header says {frame.columns}x{frame.rows}"
            )
        if array.dtype.kind not in "iu":
            raise DicomReadError(f"{name}: {array.dtype} pixel data is not supported")
        return array.astype(array.dtype.newbyteorder("="), copy=False)


def _check_file_size(handle: BinaryIO, frame: FrameRef) -> None:
    """Refuse to parse a file far larger than its images can fill (pydicom reads it whole)."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    image = frame.rows * frame.columns * max(1, frame.samples_per_pixel)
    image *= max(1, (frame.bits_allocated + 7) // 8) * max(1, frame.number_of_frames)
    limit = MAX_SIZE_FACTOR * image + MAX_OTHER_BYTES
    if size > limit:
        raise DicomReadError(
            f"Cannot decode {display_name(frame.location)}: the file is {size} bytes, more "
            f"than {limit} bytes that its {max(1, frame.number_of_frames)} image(s) of "
            f"{frame.columns}x{frame.rows} pixels and other elements could need: "
            "it is damaged; it was not read"
        )


def _extended_offsets(dataset: pydicom.Dataset) -> tuple[bytes, bytes] | None:
    if "ExtendedOffsetTable" in dataset and "ExtendedOffsetTableLengths" in dataset:
        return dataset.ExtendedOffsetTable, dataset.ExtendedOffsetTableLengths
    return None


def _check_native_length(dataset: pydicom.Dataset, frame: FrameRef) -> None:
    """Refuse native Pixel Data shorter than the header's frames need, before allocating."""
    n_frames = max(1, int(dataset.get("NumberOfFrames", 1) or 1))
    bits = frame.rows * frame.columns * frame.samples_per_pixel * frame.bits_allocated
    expected = (bits * n_frames + 7) // 8
    actual = len(dataset.PixelData)
    if actual < expected:
        raise DicomReadError(
            f"Cannot decode {display_name(frame.location)} "
            f"({transfer_syntax_name(frame.transfer_syntax_uid)}): its Pixel Data holds "
            f"{actual} bytes, but {n_frames} frame(s) of {frame.columns}x{frame.rows} pixels "
            f"of {frame.bits_allocated} bits need {expected}: the file is truncated "
            "or its header is wrong"
        )


def _decode_dataset(dataset: pydicom.Dataset, frame: FrameRef) -> np.ndarray:
    """One frame of a read dataset; compressed frames are checked against the header first."""
    from pydicom.encaps import get_frame
    from pydicom.pixels import pixel_array
    from pydicom.uid import UID

    syntax = dataset.file_meta.get("TransferSyntaxUID", "")
    if "PixelData" not in dataset:
        return pixel_array(dataset, index=frame.frame_index)  # pydicom's own message
    if not UID(syntax).is_encapsulated:
        _check_native_length(dataset, frame)
        return pixel_array(dataset, index=frame.frame_index)
    options: dict[str, Any] = {}
    if codestreams.is_checked(syntax):
        spec = codestreams.FrameSpec(
            frame.rows,
            frame.columns,
            frame.samples_per_pixel,
            frame.bits_allocated,
            frame.bits_stored,
        )
        data = get_frame(
            dataset.PixelData,
            frame.frame_index or 0,
            number_of_frames=max(1, int(dataset.get("NumberOfFrames", 1) or 1)),
            extended_offsets=_extended_offsets(dataset),
        )
        info = codestreams.check_frame(syntax, data, spec)
        if syntax == RLE_LOSSLESS and _own_rle(spec):
            array = codestreams.decode_rle(data, spec, frame.pixel_representation == 1)
            _correct_unused_bits(array, frame)
            return array
        if info is not None and info.signed and int(dataset.get("PixelRepresentation", 0)) == 0:
            # The codestream says signed while the header says unsigned: the values were
            # written signed (CT air stays near -1000 instead of wrapping to ~64000).
            options["pixel_representation"] = 1
    if syntax in codestreams.JPEG_LS_SYNTAXES:
        options["decoding_plugin"] = JPEG_LS_PLUGIN
    return pixel_array(dataset, index=frame.frame_index, **options)


def _own_rle(spec: codestreams.FrameSpec) -> bool:
    """True when ``codestreams.decode_rle`` decodes this RLE frame (else pydicom does)."""
    return (
        spec.samples == 1
        and spec.bits_allocated in (8, 16, 32)
        and codestreams.rle_decoder_available()
    )


def decode_frame(frame: FrameRef) -> np.ndarray:
    """Decode one frame to a 2D array of stored values (signedness per DICOM rules)."""
    return FrameDecoder().decode(frame)


def default_workers() -> int:
    """Threads used for reading: one per core (at least 2, at most 8).

    Reading from the page cache is memory copying and page faults, which gain nothing
    from more threads than cores (measured in tests/benchmarks/bench_load.py).
    """
    return min(8, max(2, available_cpus()))


def decode_stack(
    frames: Sequence[FrameRef],
    *,
    workers: int | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Stored values of ``frames`` in the given order as one (n, rows, columns) array.

    Uncompressed frames are read in parallel straight into the preallocated result.
    """
    if not frames:
        raise DicomReadError("No images to decode")
    decoder = FrameDecoder()
    first = decoder.decode(frames[0])
    out = np.empty((len(frames), *first.shape), dtype=first.dtype)
    out[0] = first

    def read(index: int) -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        frame = frames[index]
        if (frame.rows, frame.columns) != first.shape:
            raise DicomReadError(f"{display_name(frame.location)} has a different image size")
        if not decoder.read_native_into(frame, out[index]):
            np.copyto(out[index], decoder.decode(frame), casting="unsafe")

    run_per_frame(range(1, len(frames)), read, workers, progress, cancel, "Reading image")
    return out


def run_per_frame(
    indices: Sequence[int],
    work: Callable[[int], None],
    workers: int | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    label: str = "Loading image",
) -> None:
    """Call ``work(index)`` for every index on a few threads; progress and cancel per frame.

    The calling thread works too and is the only one that calls ``progress`` (once per
    finished frame, whichever thread finished it) and checks ``cancel``; helper threads
    claim indices from a shared iterator.  The first error of any thread is re-raised.
    """
    total = len(indices)
    claim = iter(indices)
    lock = threading.Lock()
    done = [0]
    reported = [0]
    errors: list[BaseException] = []
    stop = threading.Event()

    def next_index() -> int | None:
        with lock:
            return next(claim, None)

    def report_finished() -> None:
        with lock:
            finished = done[0]
        for count in range(reported[0] + 1, finished + 1):
            progress(count / total, f"{label} {count} of {total}")
        reported[0] = max(reported[0], finished)

    def work_until_done(is_caller: bool) -> None:
        while not stop.is_set():
            index = next_index()
            if index is None:
                return
            try:
                work(index)
            except BaseException as error:  # handed to the calling thread
                errors.append(error)
                stop.set()
                return
            with lock:
                done[0] += 1
            if is_caller:
                report_finished()
                if cancel is not None and cancel.cancelled:
                    stop.set()

    helpers = [
        threading.Thread(target=work_until_done, args=(False,), name=f"dicom-read-{n}")
        for n in range(max(0, min(workers or default_workers(), total) - 1))
    ]
    for thread in helpers:
        thread.start()
    try:
        work_until_done(True)
    finally:
        stop.set()  # helpers finish their current frame, then stop claiming
        for thread in helpers:
            thread.join()
    if errors:
        raise errors[0]
    if cancel is not None:
        cancel.raise_if_cancelled()
    report_finished()
