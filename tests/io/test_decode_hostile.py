"""Broken and hostile pixel data: a clear DicomReadError in bounded time and memory."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, get_frame
from pydicom.uid import ExplicitVRBigEndian, JPEG2000Lossless, RLELossless

from tests.support.dicom_factory import rewrite_transfer_syntax, write_series
from tests.support.shared_data import shared_data_path
from workstation.core.errors import Cancelled, DicomReadError
from workstation.core.progress import CancelToken
from workstation.io.dicom import codestreams, decode_pool, pixels
from workstation.io.dicom.headers import frames_from_dataset, read_header
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.pixels import FrameDecoder, decode_frame, find_pixel_data

ROWS, COLUMNS = 40, 48


def frames_of(path: Path | str) -> list[FrameRef]:
    return frames_from_dataset(read_header(str(path)), str(path))


def stored(n: int = 1) -> np.ndarray:
    values = np.arange(n * ROWS * COLUMNS, dtype=np.int64) * 37 % 3000 - 1000
    return values.reshape(n, ROWS, COLUMNS).astype(np.int16)


@pytest.fixture(scope="module")
def compressed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One synthetic slice as RLE and as JPEG 2000 Lossless."""
    folder = tmp_path_factory.mktemp("hostile")
    (source,) = write_series(folder / "raw", stored())
    return {
        "rle": rewrite_transfer_syntax(source, folder / "rle.dcm", RLELossless),
        "j2k": rewrite_transfer_syntax(source, folder / "j2k.dcm", JPEG2000Lossless),
    }


def with_codestream(source: Path, target: Path, codestream: bytes) -> FrameRef:
    """A copy of ``source`` whose one frame is ``codestream``, properly encapsulated."""
    ds = pydicom.dcmread(source)
    ds.PixelData = encapsulate([codestream])
    ds["PixelData"].is_undefined_length = True
    ds.save_as(target)
    (frame,) = frames_of(target)
    return frame


def codestream_of(path: Path) -> bytes:
    return get_frame(pydicom.dcmread(path).PixelData, 0, number_of_frames=1)


def rle_frame(segments: list[bytes]) -> bytes:
    offsets = [64]
    for segment in segments[:-1]:
        offsets.append(offsets[-1] + len(segment))
    header = struct.pack("<16I", len(segments), *offsets, *[0] * (15 - len(offsets)))
    return header + b"".join(segments)


def replicate_runs(count: int) -> bytes:
    """``count`` RLE replicate runs of 128 zero bytes each."""
    return b"\x81\x00" * count


PIXELS = ROWS * COLUMNS  # 1920 = 15 runs of 128


# --- panics and other decoder failures --------------------------------------------------


def test_rle_segment_too_long_is_refused_without_a_panic(tmp_path, compressed):
    frame = with_codestream(
        compressed["rle"], tmp_path / "long.dcm", rle_frame([replicate_runs(15)] * 2)
    )
    np.testing.assert_array_equal(decode_frame(frame), np.zeros((ROWS, COLUMNS)))
    frame = with_codestream(
        compressed["rle"], tmp_path / "long.dcm", rle_frame([replicate_runs(20)] * 2)
    )
    with pytest.raises(DicomReadError, match=r"long\.dcm \(RLE Lossless\).*frame 1 RLE segment"):
        decode_frame(frame)


def test_rle_decoder_panic_becomes_dicom_read_error(tmp_path, compressed, monkeypatch):
    # Through pydicom and pylibjpeg-rle, whose Rust code panics (BaseException) here.
    monkeypatch.setattr(codestreams, "rle_decoder_available", lambda: False)
    frame = with_codestream(
        compressed["rle"], tmp_path / "panic.dcm", rle_frame([replicate_runs(20)] * 2)
    )
    with pytest.raises(DicomReadError, match=r"Cannot decode panic\.dcm \(RLE Lossless\)"):
        decode_frame(frame)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, SystemExit, Cancelled])
def test_stop_requests_are_not_turned_into_read_errors(compressed, monkeypatch, stop):
    def interrupted(*args, **kwargs):
        raise stop()

    monkeypatch.setattr("pydicom.pixels.pixel_array", interrupted)
    (frame,) = frames_of(compressed["j2k"])
    with pytest.raises(stop):
        decode_frame(frame)


def test_any_base_exception_of_a_plugin_becomes_dicom_read_error(compressed, monkeypatch):
    class PanicException(BaseException):  # as pyo3 defines it
        pass

    def panics(*args, **kwargs):
        raise PanicException("index out of bounds")

    monkeypatch.setattr("pydicom.pixels.pixel_array", panics)
    (frame,) = frames_of(compressed["j2k"])
    with pytest.raises(DicomReadError, match=r"j2k\.dcm \(JPEG 2000 .*index out of bounds"):
        decode_frame(frame)


# --- codestream headers against the DICOM header ---------------------------------------


def test_rle_segment_count_must_match_the_header(tmp_path, compressed):
    frame = with_codestream(compressed["rle"], tmp_path / "one.dcm", rle_frame([b"\x00" * 8]))
    with pytest.raises(DicomReadError, match=r"1 RLE segments.*needs 2"):
        decode_frame(frame)


def test_rle_segment_offset_beyond_the_fragment_is_refused(tmp_path, compressed):
    data = bytearray(codestream_of(compressed["rle"]))
    struct.pack_into("<I", data, 8, len(data) + 1000)
    frame = with_codestream(compressed["rle"], tmp_path / "offset.dcm", bytes(data))
    with pytest.raises(DicomReadError, match=r"ends early.*truncated or damaged"):
        decode_frame(frame)


def test_rle_segment_that_ends_early_is_refused(tmp_path, compressed):
    frame = with_codestream(
        compressed["rle"], tmp_path / "short.dcm", rle_frame([replicate_runs(10)] * 2)
    )
    with pytest.raises(DicomReadError) as caught:
        decode_frame(frame)
    message = str(caught.value)
    assert "short.dcm" in message and "frame 1 ends early" in message
    assert "1280 bytes instead of 1920" in message


def _j2k_with_size(data: bytes, width: int, height: int) -> bytes:
    siz = data.index(b"\xff\x4f\xff\x51") + 2
    patched = bytearray(data)
    struct.pack_into(">II", patched, siz + 6, width, height)
    return bytes(patched)


def test_j2k_size_mismatch_is_refused_before_decoding(tmp_path, compressed, monkeypatch):
    calls: list[object] = []
    monkeypatch.setattr("pydicom.pixels.pixel_array", lambda *a, **k: calls.append(a))
    data = _j2k_with_size(codestream_of(compressed["j2k"]), 65535, 65535)
    frame = with_codestream(compressed["j2k"], tmp_path / "huge.dcm", data)
    with pytest.raises(DicomReadError) as caught:
        decode_frame(frame)
    assert "65535x65535" in str(caught.value) and f"{COLUMNS}x{ROWS}" in str(caught.value)
    assert calls == []  # refused before any decoder ran


def test_j2k_without_eoc_ends_early(tmp_path, compressed):
    data = codestream_of(compressed["j2k"]).rstrip(b"\x00")
    cut = data[: len(data) * 3 // 4]
    frame = with_codestream(compressed["j2k"], tmp_path / "cut.dcm", cut)
    with pytest.raises(DicomReadError, match=r"cut\.dcm .*frame 1 ends early .*EOC.*truncated"):
        decode_frame(frame)


def test_j2k_padding_after_eoc_is_allowed(tmp_path, compressed):
    data = codestream_of(compressed["j2k"]).rstrip(b"\x00") + b"\x00\x00\x00"
    frame = with_codestream(compressed["j2k"], tmp_path / "padded.dcm", data)
    np.testing.assert_array_equal(decode_frame(frame), stored()[0])


def test_j2k_more_components_than_samples_is_refused(tmp_path, compressed):
    data = bytearray(codestream_of(compressed["j2k"]))
    siz = data.index(b"\xff\x4f\xff\x51") + 2
    struct.pack_into(">H", data, siz + 38, 3)
    frame = with_codestream(compressed["j2k"], tmp_path / "rgb.dcm", bytes(data))
    with pytest.raises(DicomReadError, match=r"3 components"):
        decode_frame(frame)


JPEG_LOSSLESS = "transfer_syntax_dcmqa_ts/dicom/5.dcm"


def test_jpeg_frame_header_of_65535_pixels_is_refused(tmp_path):
    source = shared_data_path(JPEG_LOSSLESS)
    data = bytearray(codestream_of(source))
    sof = next(i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xC3)
    struct.pack_into(">HH", data, sof + 5, 65535, 65535)
    frame = with_codestream(source, tmp_path / "huge.dcm", bytes(data))
    started = time.perf_counter()
    with pytest.raises(DicomReadError) as caught:
        decode_frame(frame)
    assert time.perf_counter() - started < 2
    assert "huge.dcm" in str(caught.value) and "65535x65535" in str(caught.value)
    assert "384x384" in str(caught.value)


def test_jpeg_without_eoi_ends_early(tmp_path):
    source = shared_data_path(JPEG_LOSSLESS)
    data = codestream_of(source)
    frame = with_codestream(source, tmp_path / "cut.dcm", data[: len(data) // 2])
    with pytest.raises(DicomReadError, match=r"frame 1 ends early \(has no JPEG end marker"):
        decode_frame(frame)


def test_real_jpeg_with_padding_still_decodes(tmp_path):
    source = shared_data_path(JPEG_LOSSLESS)
    data = codestream_of(source)
    assert data.rstrip(b"\x00").endswith(b"\xff\xd9")
    frame = with_codestream(source, tmp_path / "same.dcm", data)
    (original,) = frames_of(source)
    np.testing.assert_array_equal(decode_frame(frame), decode_frame(original))


# --- native data whose header lies -----------------------------------------------------


def _lying_rows(source: Path, target: Path, rows: int, columns: int) -> FrameRef:
    ds = pydicom.dcmread(source)
    ds.Rows, ds.Columns = rows, columns
    ds.save_as(target)
    (frame,) = frames_of(target)
    return frame


@pytest.mark.parametrize("syntax", ["explicit", ExplicitVRBigEndian])
def test_native_frame_larger_than_its_pixel_data_is_refused(tmp_path, syntax):
    (source,) = write_series(tmp_path / "raw", stored())
    if syntax != "explicit":
        source = rewrite_transfer_syntax(source, tmp_path / "be.dcm", syntax)
    frame = _lying_rows(source, tmp_path / "liar.dcm", 65535, 65535)
    with pytest.raises(DicomReadError) as caught:
        decode_frame(frame)
    message = str(caught.value)
    assert "liar.dcm" in message and f"holds {2 * PIXELS} bytes" in message
    assert f"need {65535 * 65535 * 2}" in message


def test_file_far_larger_than_its_images_is_not_parsed(tmp_path):
    (source,) = write_series(tmp_path / "raw", stored())
    path = tmp_path / "sparse.dcm"
    path.write_bytes(Path(source).read_bytes())
    with path.open("r+b") as handle:  # a sparse 20 GB file: no disk used
        handle.truncate(20 << 30)
    (frame,) = frames_of(source)
    frame = dataclasses.replace(frame, location=str(path))
    started = time.perf_counter()
    with pytest.raises(DicomReadError, match=r"sparse\.dcm: the file is 21474836480 bytes"):
        decode_frame(frame)
    assert time.perf_counter() - started < 5


class _CountingReader:
    """A file wrapper counting the bytes read."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.read_bytes = 0

    def seek(self, *args):
        return self.handle.seek(*args)

    def read(self, size=-1):
        data = self.handle.read(size)
        self.read_bytes += len(data)
        return data


def test_find_pixel_data_reads_a_bounded_amount(tmp_path, monkeypatch):
    monkeypatch.setattr(pixels, "MAX_SEARCH_BYTES", 1 << 20)
    path = tmp_path / "zeros"
    with path.open("wb") as handle:
        handle.truncate(64 << 20)
    with path.open("rb") as handle:
        counting = _CountingReader(handle)
        assert find_pixel_data(counting, True, 4096) is None
    assert counting.read_bytes <= (1 << 20) + 64


@pytest.mark.parametrize("chunk", [5, 7, 13, 4096])
def test_find_pixel_data_finds_a_tag_across_chunk_boundaries(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(pixels, "SEARCH_CHUNK", chunk)
    payload = bytes(range(256)) * 4
    element = b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", len(payload)) + payload
    decoy = b"\xe0\x7f\x10\x00OB\x00\x00" + struct.pack("<I", 3)  # a wrong length
    trailer = (
        b"\xfc\xff\xfc\xffOB\x00\x00" + struct.pack("<I", 10) + b"\xe0\x7f\x10\x00" * 2 + b"ab"
    )
    data = b"\x01" * 101 + element + decoy + trailer
    path = tmp_path / "layout"
    path.write_bytes(data)
    with path.open("rb") as handle:
        assert find_pixel_data(handle, True, len(payload)) == 101 + 12


# --- worker processes: time limit, crashes, cancel --------------------------------------


def sleep_forever(frame: FrameRef) -> np.ndarray:
    """Worker decode that never finishes (a decoder looping on damaged data)."""
    time.sleep(600)
    raise AssertionError("not reached")


def crash_on_second(frame: FrameRef) -> np.ndarray:
    """Worker decode that segfaults on the file named ``...01``."""
    if frame.location.endswith("01"):
        os.kill(os.getpid(), signal.SIGSEGV)
    return np.zeros((frame.rows, frame.columns), np.int16)


def panic_like(frame: FrameRef) -> np.ndarray:
    """Worker decode raising a BaseException subclass, as a Rust panic does."""

    class PanicException(BaseException):
        pass

    raise PanicException("attempt to subtract with overflow")


@pytest.fixture
def series(tmp_path) -> list[FrameRef]:
    paths = write_series(tmp_path / "raw", stored(6))
    return [
        frames_of(rewrite_transfer_syntax(path, tmp_path / f"slice{index:02d}", RLELossless))[0]
        for index, path in enumerate(paths)
    ]


@pytest.fixture(autouse=True)
def _children_before() -> Iterator[None]:
    """The processes earlier tests left running (a GUI test's background job still
    finishing), so that a test here looks only at the workers its own call started."""
    _EARLIER.clear()
    _EARLIER.update(child.pid for child in multiprocessing.active_children())
    yield


_EARLIER: set[int | None] = set()


def _own_workers() -> list[multiprocessing.process.BaseProcess]:
    return [child for child in multiprocessing.active_children() if child.pid not in _EARLIER]


def _no_workers_left() -> bool:
    """True once every worker process the decode call started has ended."""
    deadline = time.monotonic() + 5
    while _own_workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _own_workers()


def test_decode_timeout_kills_the_workers_and_names_the_file(series, monkeypatch):
    monkeypatch.setenv(decode_pool.TIMEOUT_VARIABLE, "0.5")
    started = time.perf_counter()
    with pytest.raises(DicomReadError) as caught:
        decode_pool.decode_frames_parallel(
            series[:1], lambda i, a: None, 1, worker_decode=sleep_forever
        )
    assert time.perf_counter() - started < 10
    message = str(caught.value)
    assert "slice00 (RLE Lossless)" in message
    assert "took longer than 0.5 s; the data is probably damaged" in message
    assert _no_workers_left()


def test_worker_crash_names_the_file_and_does_not_retry_in_process(series):
    local = FrameDecoder()
    with pytest.raises(DicomReadError) as caught:
        decode_pool.decode_frames_parallel(
            series, lambda i, a: None, 2, local, worker_decode=crash_on_second
        )
    message = str(caught.value)
    assert "slice01" in message and "crashed" in message and "signal 11" in message
    assert _no_workers_left()


def test_panic_in_a_worker_comes_back_as_dicom_read_error(series):
    with pytest.raises(DicomReadError, match=r"slice00 \(RLE Lossless\): attempt to subtract"):
        decode_pool.decode_frames_parallel(
            series[:1], lambda i, a: None, 1, worker_decode=panic_like
        )


def test_damaged_rle_in_a_worker_is_a_clear_error(tmp_path, series):
    broken = with_codestream(
        Path(series[0].location), tmp_path / "bad.dcm", rle_frame([replicate_runs(20)] * 2)
    )
    with pytest.raises(DicomReadError, match=r"bad\.dcm \(RLE Lossless\): frame 1 RLE segment"):
        decode_pool.decode_frames_parallel([*series[1:], broken], lambda i, a: None, 2)


def test_cancel_stops_a_stuck_worker_quickly(series, monkeypatch):
    # A worker still starting when Cancel comes (forkserver workers after Qt was imported
    # can take longer than 0.5 s) is not in the decoder yet, so it is left to the reaper,
    # which kills it after the decode time-out: keep that short here.
    monkeypatch.setenv(decode_pool.TIMEOUT_VARIABLE, "2")
    token = CancelToken()
    threading.Timer(0.5, token.cancel).start()
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        decode_pool.decode_frames_parallel(
            series, lambda i, a: None, 2, cancel=token, worker_decode=sleep_forever
        )
    assert time.perf_counter() - started < 5
    assert _no_workers_left()


@pytest.mark.parametrize(
    ("text", "seconds"), [("", 30.0), ("2.5", 2.5), ("abc", 30.0), ("0", 30.0), ("-1", 30.0)]
)
def test_decode_timeout_from_the_environment(monkeypatch, text, seconds):
    monkeypatch.setattr(decode_pool, "DECODE_TIMEOUT_SECONDS", 30.0)
    monkeypatch.setenv(decode_pool.TIMEOUT_VARIABLE, text)
    assert decode_pool.decode_timeout() == seconds


def test_codestream_precision_far_below_bits_stored_is_refused(tmp_path, compressed):
    data = bytearray(codestream_of(compressed["j2k"]))
    siz = data.index(b"\xff\x4f\xff\x51") + 2
    data[siz + 40] = (data[siz + 40] & 0x80) | (2 - 1)  # Ssiz: 2-bit samples, sign kept
    frame = with_codestream(compressed["j2k"], tmp_path / "two_bits.dcm", bytes(data))
    with pytest.raises(DicomReadError, match=r"2-bit samples .* 16 bits stored"):
        decode_frame(frame)


def big_result(frame: FrameRef) -> np.ndarray:
    """Worker decoder whose results take a while to send (large arrays, little work)."""
    return np.ones((768, 768), dtype=np.int16)


CANCEL_WHILE_SENDING = """
import random, sys, threading
from tests.io.test_decode_hostile import big_result
from workstation.core.errors import Cancelled
from workstation.core.progress import CancelToken
from workstation.io.dicom import decode_pool
from workstation.io.dicom.scan import scan_path

frames = [f for stack in scan_path(sys.argv[1]).stacks for f in stack.frames] * 8
random.seed(5)
for attempt in range(12):
    token = CancelToken()
    threading.Timer(random.uniform(0.02, 0.4), token.cancel).start()
    try:
        decode_pool.decode_frames_parallel(frames, lambda i, a: None, 2, cancel=token,
                                           worker_decode=big_result)
    except Cancelled:
        pass
print("done", flush=True)
"""


@pytest.mark.slow
def test_cancel_while_results_are_sent_never_hangs_the_exit(tmp_path):
    """Cancelling while workers send results must not leave the process unable to exit."""
    folder = tmp_path / "raw"
    write_series(folder, stored(6))
    result = subprocess.run(
        [sys.executable, "-c", CANCEL_WHILE_SENDING, str(folder)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-2000:]
