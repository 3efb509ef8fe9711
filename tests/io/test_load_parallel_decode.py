"""Compressed frames decoded by worker processes: same voxels, progress, cancel, fallbacks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import RLELossless

from tests.support.dicom_factory import rewrite_transfer_syntax, write_series
from workstation.core import workers
from workstation.core.errors import Cancelled, DicomReadError
from workstation.core.progress import CancelToken
from workstation.core.provenance import SeriesIdentity
from workstation.io.dicom import decode_pool
from workstation.io.dicom.headers import frames_from_dataset, read_header
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.model import FrameRef, Stack
from workstation.io.dicom.pixels import FrameDecoder

SHAPE = (20, 24, 28)  # slices, rows, columns: 5 chunks of 4 frames


def _hu() -> np.ndarray:
    s, r, c = np.meshgrid(*(np.arange(n) for n in SHAPE), indexing="ij")
    return (-1000 + 40 * s + 3 * r + c).astype(np.int16)


@pytest.fixture(scope="module")
def rle_series(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[FrameRef], np.ndarray]:
    """A 20-slice RLE-compressed CT series (shuffled names) and its HU values."""
    folder = tmp_path_factory.mktemp("rle")
    hu = _hu()
    sources = write_series(folder / "raw", hu, slice_step=1.5, shuffle=True, seed=3)
    frames = []
    for index, path in enumerate(sources):
        target = rewrite_transfer_syntax(path, folder / f"rle{index:02d}", RLELossless)
        frames.extend(frames_from_dataset(read_header(str(target)), str(target)))
    return frames, hu


def _stack(frames: list[FrameRef]) -> Stack:
    identity = SeriesIdentity(
        patient_id="P",
        patient_name="P",
        study_uid="1.2",
        study_date="20260101",
        series_uid="1.2.3",
        series_number="1",
        series_description="RLE",
        modality="CT",
        frame_of_reference_uid="1.2.4",
    )
    return Stack("1.2.3", identity, frames)


@pytest.fixture(autouse=True)
def chunks_of_four(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tasks of 4 small test frames, as 512x512 frames get: 5 chunks for the series."""
    monkeypatch.setattr(decode_pool, "CHUNK_PIXELS", 4 * SHAPE[1] * SHAPE[2])


@pytest.fixture
def pool_for_small_frames(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record every pool started."""
    started: list[object] = []
    real = decode_pool.start_process_pool

    def spy(count: int, *args: object, **kwargs: object) -> object:
        executor = real(count, *args, **kwargs)
        started.append(executor)
        return executor

    monkeypatch.setattr(decode_pool, "start_process_pool", spy)
    return started


def test_pool_processes_for_every_compressed_stack(rle_series, monkeypatch) -> None:
    frames, _ = rle_series
    assert decode_pool.pool_processes(frames, workers=2) == 2  # 5 chunks, 2 cores
    assert decode_pool.pool_processes(frames[:1], workers=4) == 1  # one image: one worker
    assert decode_pool.pool_processes(frames, workers=1) == 1
    assert decode_pool.pool_processes([], workers=4) == 0
    monkeypatch.setattr(decode_pool, "processes_allowed", lambda: False)  # in a worker
    assert decode_pool.pool_processes(frames, workers=4) == 0


def test_worker_processes_give_identical_volume_from_a_thread(rle_series, pool_for_small_frames):
    frames, hu = rle_series
    result: dict[str, object] = {}
    reports: list[float] = []

    def job() -> None:  # as the GUI does: load from a worker thread (no fork there)
        result["method"] = workers.start_method()
        result["volume"] = load_stack(_stack(frames), progress=lambda f, t: reports.append(f))

    thread = threading.Thread(target=job)
    thread.start()
    thread.join(timeout=120)
    assert result["method"] == workers.START_METHOD != "fork"
    [executor] = pool_for_small_frames
    assert executor is not None
    volume = result["volume"]
    np.testing.assert_array_equal(volume.array, hu)
    assert volume.array.dtype == np.int16 and volume.units == "HU"
    assert reports == sorted(reports) and reports[-1] == 1.0
    assert len(reports) >= SHAPE[0]


class _CountingDecoder(FrameDecoder):
    """Counts the frames decoded in this process."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def decode(self, frame: FrameRef) -> np.ndarray:
        self.count += 1
        return super().decode(frame)


@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "worker-thread"])
def test_workers_decode_every_frame(rle_series, in_thread):
    frames, hu = rle_series
    local = _CountingDecoder()
    decoded: dict[int, np.ndarray] = {}

    def consume(index: int, array: np.ndarray) -> None:
        decoded[index] = array
        time.sleep(0.01)  # a slow caller still leaves every frame to the workers

    def run() -> None:
        decode_pool.decode_frames_parallel(frames, consume, 1, local)

    if in_thread:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join(timeout=120)
    else:
        run()
    assert sorted(decoded) == list(range(len(frames)))
    assert local.count == 0  # isolated: the calling process decoded nothing
    for index, frame in enumerate(frames):
        slice_index = int(np.argmin([abs(frame.position[2] - 1.5 * k) for k in range(SHAPE[0])]))
        np.testing.assert_array_equal(decoded[index], hu[slice_index])


def test_worker_processes_from_the_main_thread(rle_series, pool_for_small_frames):
    frames, hu = rle_series
    volume = load_stack(_stack(frames), workers=2)
    assert pool_for_small_frames and pool_for_small_frames[0] is not None
    np.testing.assert_array_equal(volume.array, hu)


def test_pool_that_cannot_start_decodes_in_process(rle_series, monkeypatch):
    frames, hu = rle_series
    monkeypatch.setattr(decode_pool, "start_process_pool", lambda *args, **kwargs: None)
    volume = load_stack(_stack(frames), workers=2)
    np.testing.assert_array_equal(volume.array, hu)


class _BrokenPool:
    """An executor whose every task fails as if its worker process had died."""

    def __init__(self) -> None:
        self.submitted = 0
        self.shut_down = False

    def submit(self, function, *args):
        self.submitted += 1
        future: Future = Future()
        future.set_exception(BrokenProcessPool("a worker died"))
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        self.shut_down = True


def test_broken_pool_falls_back_to_in_process(rle_series, monkeypatch):
    frames, hu = rle_series
    pool = _BrokenPool()
    monkeypatch.setattr(decode_pool, "start_process_pool", lambda *args, **kwargs: pool)
    volume = load_stack(_stack(frames), workers=2)
    np.testing.assert_array_equal(volume.array, hu)
    assert pool.submitted >= 1 and pool.shut_down


def test_cancel_stops_parallel_decoding(rle_series, pool_for_small_frames):
    frames, _ = rle_series
    token = CancelToken()
    consumed: list[int] = []

    def progress(fraction: float, text: str) -> None:
        if fraction >= 0.25:
            token.cancel()

    with pytest.raises(Cancelled):
        decode_pool.decode_frames_parallel(
            frames, lambda i, a: consumed.append(i), 1, progress=progress, cancel=token
        )
    assert 0 < len(consumed) < len(frames)


@pytest.mark.filterwarnings("ignore:End of file reached")
def test_decode_error_in_a_worker_is_clear(tmp_path, rle_series, pool_for_small_frames):
    frames, _ = rle_series
    broken = []
    for index, frame in enumerate(frames):
        data = Path(frame.location).read_bytes()
        target = tmp_path / f"broken{index:02d}"
        target.write_bytes(data[: len(data) - 200])  # cut into the RLE segments
        broken.append(FrameRef(**{**frame.__dict__, "location": str(target)}))
    with pytest.raises(DicomReadError, match=r"Cannot decode broken\d\d \(RLE Lossless\)"):
        decode_pool.decode_frames_parallel(broken, lambda i, a: None, 1)


def test_in_process_only_matches_decoder(rle_series):
    frames, _ = rle_series
    decoded: dict[int, np.ndarray] = {}
    decode_pool.decode_frames_parallel(frames, decoded.__setitem__, 0)
    decoder = FrameDecoder()
    assert sorted(decoded) == list(range(len(frames)))
    for index, frame in enumerate(frames):
        np.testing.assert_array_equal(decoded[index], decoder.decode(frame))
