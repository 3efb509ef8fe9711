"""Decode compressed frames on every core: worker processes beside the calling thread.

The pylibjpeg decoders hold the GIL, so threads decode compressed frames one at a time.
For a stack with enough such frames (``pool_processes``), ``decode_frames_parallel``
hands chunks of frames to ``cpus - 1`` worker processes (see ``workers``) while the
calling thread decodes chunks itself; it alone receives the results, reports progress
and checks cancellation between chunks.  If the pool cannot start or breaks, the
remaining frames are decoded in-process: the result is the same either way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.workers import available_cpus, start_process_pool
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.pixels import FrameDecoder

#: Fewer compressed pixels than this (16 frames of 512x512, about 0.4 s of JPEG 2000
#: decoding) decode in-process: a worker that is not forked needs about 0.3 s to start.
POOL_MIN_PIXELS = 16 * 512 * 512
#: Frames per task: enough to amortise the hand-over, few enough for smooth progress.
CHUNK_FRAMES = 4
#: Seconds the calling thread waits for a worker result when it has nothing to decode.
WAIT_SECONDS = 0.1

#: The decoder of a worker process: caches datasets of multi-frame files across tasks.
_worker_decoder: FrameDecoder | None = None


def decode_chunk(frames: Sequence[FrameRef]) -> list[np.ndarray]:
    """Worker task: the stored values of each frame (runs in a worker process)."""
    global _worker_decoder
    if _worker_decoder is None:
        _worker_decoder = FrameDecoder()
    return [_worker_decoder.decode(frame) for frame in frames]


def pool_processes(frames: Sequence[FrameRef], workers: int | None = None) -> int:
    """Worker processes worth starting to decode ``frames`` (0 = decode in-process).

    ``workers`` is the total number of decoding cores wanted (the calling thread counts
    as one); None means every available CPU.
    """
    pixels = sum(frame.rows * frame.columns for frame in frames)
    if pixels < POOL_MIN_PIXELS:
        return 0
    total = workers if workers is not None else available_cpus()
    return max(0, min(total - 1, len(frames) // CHUNK_FRAMES - 1))


def decode_frames_parallel(
    frames: Sequence[FrameRef],
    consume: Callable[[int, np.ndarray], None],
    processes: int,
    decoder: FrameDecoder | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> None:
    """Decode every frame and call ``consume(index, stored values)`` on the calling thread.

    ``processes`` worker processes help (0 decodes in-process only).  Progress is reported
    per frame from the calling thread; a set ``cancel`` stops at the next chunk boundary
    with ``Cancelled``; the first decoding error is raised as the in-process one would be.
    """
    local = decoder or FrameDecoder()
    total = len(frames)
    pending = deque(
        list(range(start, min(start + CHUNK_FRAMES, total)))
        for start in range(0, total, CHUNK_FRAMES)
    )
    in_flight: dict[Future[list[np.ndarray]], list[int]] = {}
    done = 0

    def finish(chunk: list[int], arrays: Sequence[np.ndarray]) -> None:
        nonlocal done
        for index, array in zip(chunk, arrays, strict=True):
            consume(index, array)
            done += 1
            progress(done / total, f"Decoding image {done} of {total}")

    def check() -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()

    executor = start_process_pool(processes) if processes > 0 else None
    try:
        while pending or in_flight:
            check()
            # Keep each worker busy with one chunk and one queued behind it.
            while executor is not None and pending and len(in_flight) < 2 * processes:
                chunk = pending.popleft()
                try:
                    future = executor.submit(decode_chunk, [frames[i] for i in chunk])
                except (OSError, RuntimeError, BrokenProcessPool):
                    pending.appendleft(chunk)
                    _abandon(executor, in_flight, pending)
                    executor = None
                    break
                in_flight[future] = chunk
            for future in [future for future in in_flight if future.done()]:
                chunk = in_flight.pop(future)
                try:
                    arrays = future.result()
                except (BrokenProcessPool, OSError):
                    pending.appendleft(chunk)
                    if executor is not None:
                        _abandon(executor, in_flight, pending)
                    executor = None
                    break
                finish(chunk, arrays)
            if pending:
                chunk = pending.pop()  # from the far end: workers take the near end
                finish(chunk, [local.decode(frames[i]) for i in chunk])
            elif in_flight:
                wait(list(in_flight), timeout=WAIT_SECONDS, return_when=FIRST_COMPLETED)
        check()
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _abandon(
    executor: Executor,
    in_flight: dict[Future[list[np.ndarray]], list[int]],
    pending: deque[list[int]],
) -> None:
    """Give up a broken pool: its unfinished chunks go back to be decoded in-process."""
    for future, chunk in list(in_flight.items()):
        future.cancel()
        pending.appendleft(chunk)
    in_flight.clear()
    executor.shutdown(wait=False, cancel_futures=True)
