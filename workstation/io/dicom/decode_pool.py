"""Decode compressed frames in worker processes, each frame within a time limit.

The pylibjpeg decoders hold the GIL and run C or Rust code that cannot be interrupted,
so whenever processes may be used (``pool_processes``) every compressed frame is decoded
in a worker process: several cores work at once, a decoder that crashes (segfault) cannot
take the caller down, and one that loops on damaged data is killed after
``decode_timeout()`` seconds per frame.  Both end as a DicomReadError naming the file.
The calling thread only hands out chunks of frames, receives the results, reports
progress and checks cancellation.  Where no pool can start (inside a worker process, or
the platform refuses), frames are decoded in-process and no time limit applies.
"""

from __future__ import annotations

import contextlib
import functools
import math
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np

from workstation.core.errors import DicomReadError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.workers import (
    available_cpus,
    processes_allowed,
    quiet_worker,
    start_method,
    start_process_pool,
)
from workstation.io.dicom.model import FrameRef
from workstation.io.dicom.pixels import PASS_THROUGH, FrameDecoder, one_line, transfer_syntax_name
from workstation.io.sources import display_name

#: Seconds one frame may take to decode before its worker is killed (a 512x512 JPEG 2000
#: frame takes about 0.03 s); the environment variable overrides it.
DECODE_TIMEOUT_SECONDS = 30.0
TIMEOUT_VARIABLE = "WORKSTATION_DECODE_TIMEOUT"
#: Pixels per task: enough to amortise the hand-over, few enough for smooth progress.
CHUNK_PIXELS = 4 * 512 * 512
#: Most frames in one task.
MAX_CHUNK_FRAMES = 64
#: Seconds the calling thread waits for results between cancel and deadline checks.
WAIT_SECONDS = 0.1
#: Tasks queued per worker: one running and one ready, so no worker waits for the caller.
TASKS_PER_WORKER = 2
#: Doubles per worker in the shared status array: pid, start time, frame position.
_SLOT = 3

#: The decoder of a worker process: caches datasets of multi-frame files across tasks.
_worker_decoder: FrameDecoder | None = None
#: In a worker: the shared status array and this worker's slot in it.
_status: Any = None
_slot = -1


def decode_timeout() -> float:
    """Seconds allowed per frame: ``WORKSTATION_DECODE_TIMEOUT`` if a positive number."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    try:
        value = float(text) if text else DECODE_TIMEOUT_SECONDS
    except ValueError:
        return DECODE_TIMEOUT_SECONDS
    return value if value > 0 and math.isfinite(value) else DECODE_TIMEOUT_SECONDS


def _init_worker(status: Any, counter: Any) -> None:
    """Worker initializer: silence tolerated-oddity warnings and claim a status slot."""
    global _status, _slot
    quiet_worker()
    with counter.get_lock():
        _slot = counter.value
        counter.value += 1
    _status = status
    if (_slot + 1) * _SLOT <= len(status):
        status[_slot * _SLOT] = os.getpid()
        status[_slot * _SLOT + 2] = -1


def _mark(position: int) -> None:
    """Record in the shared status which frame this worker decodes now (-1: none)."""
    if _status is not None and _slot >= 0 and (_slot + 1) * _SLOT <= len(_status):
        _status[_slot * _SLOT + 1] = time.monotonic()  # before the position: see _running
        _status[_slot * _SLOT + 2] = position


def decode_chunk(
    positions: Sequence[int],
    frames: Sequence[FrameRef],
    decode: Callable[[FrameRef], np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Worker task: the stored values of each frame (``decode`` replaces the decoder in tests)."""
    global _worker_decoder
    if decode is None:
        if _worker_decoder is None:
            _worker_decoder = FrameDecoder()
        decode = _worker_decoder.decode
    arrays = []
    try:
        for position, frame in zip(positions, frames, strict=True):
            _mark(position)
            try:
                arrays.append(decode(frame))
            except PASS_THROUGH:
                raise
            except BaseException as error:  # a panic, or anything that would not pickle
                message = f"Cannot decode {_describe(frame)}: {one_line(error)}"
                raise DicomReadError(message) from None
    finally:
        _mark(-1)
    return arrays


def decode_or_empty(frame: FrameRef) -> np.ndarray:
    """A worker decoder that answers a frame it cannot decode with an empty array.

    For callers that want every frame they can get and none of the errors (thumbnails);
    a crash or a time-out still stops the whole call.
    """
    try:
        return FrameDecoder().decode(frame)
    except DicomReadError:
        return np.empty((0, 0), dtype=np.uint8)


def decode_each(
    frames: Sequence[FrameRef], cancel: CancelToken | None = None
) -> list[np.ndarray | None]:
    """Every frame that decodes (None for the others), isolated in one worker process.

    A frame that fails is left out; a decoder that crashes or hangs ends the call with
    the frames decoded so far.  Where no worker process can start, frames are decoded
    in-process.
    """
    results: list[np.ndarray | None] = [None] * len(frames)

    def keep(index: int, array: np.ndarray) -> None:
        if array.size:
            results[index] = array

    processes = pool_processes(frames, 1)
    if processes == 0:
        for index, frame in enumerate(frames):
            keep(index, decode_or_empty(frame))
        return results
    with contextlib.suppress(DicomReadError):  # a crash or time-out: earlier frames stay
        decode_frames_parallel(
            frames, keep, processes, cancel=cancel, worker_decode=decode_or_empty
        )
    return results


def pool_processes(frames: Sequence[FrameRef], workers: int | None = None) -> int:
    """Worker processes to decode compressed ``frames`` (0 = in-process: no pool possible).

    ``workers`` is the number of decoding cores wanted; None means every available CPU.
    """
    if not frames or not processes_allowed():
        return 0
    total = workers if workers is not None else available_cpus()
    return max(1, min(total, len(_chunks(frames))))


def _chunks(frames: Sequence[FrameRef]) -> list[list[int]]:
    """Positions of ``frames`` in tasks of about ``CHUNK_PIXELS`` pixels."""
    pixels = max(1, max(frame.rows * frame.columns for frame in frames))
    size = max(1, min(MAX_CHUNK_FRAMES, CHUNK_PIXELS // pixels))
    starts = range(0, len(frames), size)
    return [list(range(start, min(start + size, len(frames)))) for start in starts]


def decode_frames_parallel(
    frames: Sequence[FrameRef],
    consume: Callable[[int, np.ndarray], None],
    processes: int,
    decoder: FrameDecoder | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    worker_decode: Callable[[FrameRef], np.ndarray] | None = None,
) -> None:
    """Decode every frame and call ``consume(index, stored values)`` on the calling thread.

    ``processes`` worker processes decode (0, or a pool that cannot start: in-process,
    without a time limit).  Progress is reported per frame from the calling thread; a set
    ``cancel`` stops within ``WAIT_SECONDS`` with ``Cancelled`` (queued work is dropped;
    running tasks end on their own, see ``_WorkerPool.stop``).  A
    frame that takes longer than ``decode_timeout()`` or crashes its worker raises
    DicomReadError naming its file; any other decoding error is raised as in-process.
    ``worker_decode`` (a picklable function) replaces the workers' decoder, for tests.
    """
    total = len(frames)
    done = 0

    def finish(chunk: Sequence[int], arrays: Sequence[np.ndarray]) -> None:
        nonlocal done
        for index, array in zip(chunk, arrays, strict=True):
            consume(index, array)
            done += 1
            progress(done / total, f"Decoding image {done} of {total}")

    pending = deque(_chunks(frames)) if frames else deque()
    pool = _WorkerPool.start(processes) if processes > 0 and pending else None
    if pool is not None:
        try:
            pending = pool.run(frames, pending, finish, cancel, worker_decode)
        except BaseException:
            pool.stop()
            raise
        pool.close()
    local = decoder or FrameDecoder()
    while pending:
        if cancel is not None:
            cancel.raise_if_cancelled()
        chunk = pending.popleft()
        finish(chunk, [local.decode(frames[index]) for index in chunk])
    if cancel is not None:
        cancel.raise_if_cancelled()


class _WorkerPool:
    """A process pool with a shared status array telling which frame each worker decodes."""

    def __init__(self, executor: Any, status: Any, processes: int) -> None:
        self.executor = executor
        self.status = status
        self.processes = processes
        self.known: dict[int, multiprocessing.process.BaseProcess] = {}
        self.in_flight: dict[Future[list[np.ndarray]], list[int]] = {}

    @classmethod
    def start(cls, processes: int) -> _WorkerPool | None:
        """A pool of ``processes`` workers, or None when processes cannot be used."""
        try:
            context = multiprocessing.get_context(start_method())
            status = context.RawArray("d", [0.0, 0.0, -1.0] * processes)  # all idle
            counter = context.Value("i", 0)
        except (OSError, ValueError, RuntimeError, ImportError):
            return None
        initializer = functools.partial(_init_worker, status, counter)
        executor = start_process_pool(processes, initializer)
        return None if executor is None else cls(executor, status, processes)

    def run(
        self,
        frames: Sequence[FrameRef],
        pending: deque[list[int]],
        finish: Callable[[Sequence[int], Sequence[np.ndarray]], None],
        cancel: CancelToken | None,
        worker_decode: Callable[[FrameRef], np.ndarray] | None,
    ) -> deque[list[int]]:
        """Decode the pending chunks; returns those left to decode in-process (pool broke
        before decoding anything)."""
        in_flight = self.in_flight
        timeout = decode_timeout()
        while pending or in_flight:
            if cancel is not None:
                cancel.raise_if_cancelled()
            while pending and len(in_flight) < TASKS_PER_WORKER * self.processes:
                chunk = pending[0]
                try:
                    future = self.executor.submit(
                        decode_chunk, chunk, [frames[i] for i in chunk], worker_decode
                    )
                except (OSError, RuntimeError, BrokenProcessPool):
                    return self._broken(frames, pending, in_flight)
                pending.popleft()
                in_flight[future] = chunk
            self._remember_processes()
            finished, _ = wait(list(in_flight), timeout=WAIT_SECONDS, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    arrays = future.result()
                except (BrokenProcessPool, OSError):
                    return self._broken(frames, pending, in_flight)
                finish(in_flight.pop(future), arrays)
            self._check_deadlines(frames, timeout)
        return pending

    def _remember_processes(self) -> None:
        """Keep the worker process objects: after a crash they tell which one died."""
        self.known.update(getattr(self.executor, "_processes", None) or {})

    def _running(self) -> list[tuple[int, int, float]]:
        """(pid, frame position, seconds since it started) of each worker decoding now."""
        now = time.monotonic()
        running = []
        for slot in range(len(self.status) // _SLOT):
            base = slot * _SLOT
            position = self.status[base + 2]
            started = self.status[base + 1]
            # The worker writes the time before the position: a pair read twice alike holds.
            if position >= 0 and self.status[base + 2] == position:
                running.append((int(self.status[base]), int(position), now - started))
        return running

    def _check_deadlines(self, frames: Sequence[FrameRef], timeout: float) -> None:
        for pid, position, elapsed in self._running():
            if elapsed > timeout:
                self._kill([pid])
                self.stop()
                frame = frames[position]
                raise DicomReadError(
                    f"Cannot decode {_describe(frame)}: decoding took longer than "
                    f"{timeout:g} s; the data is probably damaged (the limit per image is "
                    f"set by {TIMEOUT_VARIABLE})"
                )

    def _broken(
        self,
        frames: Sequence[FrameRef],
        pending: deque[list[int]],
        in_flight: dict[Future[list[np.ndarray]], list[int]],
    ) -> deque[list[int]]:
        """A worker died: name the frame it was decoding; if none was, decode in-process."""
        running = self._running()
        self._remember_processes()
        self._await_exit_status([pid for pid, _position, _ in running])
        crashed = [item for item in running if self._crashed(item[0])] or running
        self.stop()
        if running:
            names = sorted({_describe(frames[position]) for _pid, position, _ in crashed})
            raise DicomReadError(
                f"Cannot decode {' or '.join(names[:3])}: the decoder crashed "
                f"({self._how_it_ended(crashed[0][0])}); the data is probably damaged"
            )
        return deque([*in_flight.values(), *pending])

    def _await_exit_status(self, pids: list[int], timeout: float = 1.0) -> None:
        """Wait briefly for the exit status of workers that may have died: the pool can
        notice a death before the status can be read, and the message names the signal."""
        deadline = time.monotonic() + timeout
        for pid in pids:
            process = self.known.get(pid)
            if process is not None and process.exitcode is None:
                process.join(max(0.0, deadline - time.monotonic()))

    def _crashed(self, pid: int) -> bool:
        """True when the worker ``pid`` died by itself (not ended by the broken pool)."""
        process = self.known.get(pid)
        code = process.exitcode if process is not None else None
        return code is not None and code not in (0, -15)  # -15: SIGTERM from the pool

    def _how_it_ended(self, pid: int) -> str:
        process = self.known.get(pid)
        code = process.exitcode if process is not None else None
        if code is not None and code < 0:
            return f"its process was killed by signal {-code}"
        return "its process ended abruptly"

    def _decoding(self, pid: int) -> bool:
        """True when worker ``pid`` is inside the decoder (its status names a frame)."""
        for slot in range(len(self.status) // _SLOT):
            if int(self.status[slot * _SLOT]) == pid:
                return self.status[slot * _SLOT + 2] >= 0
        return False

    def _kill(self, pids: Sequence[int] | None = None) -> None:
        """Kill the workers (all, or ``pids``) that are inside the decoder now.

        A worker killed half-way through sending a result would leave a partial message
        that the pool's reader thread waits on for ever (the process could then never
        exit).  So each worker is paused first and killed only when its status says it
        is decoding (it marks itself idle before it returns a result); otherwise it goes
        on.  A decoder stuck in C code ignores anything less than SIGKILL.
        """
        self._remember_processes()
        chosen = self.known if pids is None else {p: self.known[p] for p in pids if p in self.known}
        for pid, process in chosen.items():
            if process.exitcode is not None:
                continue
            if not hasattr(signal, "SIGSTOP"):
                process.kill()  # no pausing here: the reaper in ``stop`` is the safety net
                continue
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue
            if self._decoding(pid):
                process.kill()
            else:
                # a worker that had already died can be reaped by the pool meanwhile
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def stop(self) -> None:
        """Stop early: drop queued tasks, kill workers stuck in the decoder, let others end.

        A task still running after ``decode_timeout()`` has its worker killed by a
        background thread, so the pool always ends and the process can exit.
        """
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._kill()
        for process in list(self.known.values()):
            process.join(timeout=2.0)
        running = [future for future in self.in_flight if not future.done()]
        if running:
            reaper = threading.Thread(
                target=self._reap, args=(running,), name="decode-pool-reaper", daemon=True
            )
            reaper.start()

    def _reap(self, running: list[Future[list[np.ndarray]]]) -> None:
        _done, stuck = wait(running, timeout=decode_timeout())
        if stuck:
            self._kill()

    def close(self) -> None:
        """Normal end: every task is done, the workers exit."""
        self.executor.shutdown(wait=True)


def _describe(frame: FrameRef) -> str:
    """'FILE (syntax)' or 'frame N of FILE (syntax)' for a message."""
    where = display_name(frame.location)
    if frame.frame_index is not None:
        where = f"frame {frame.frame_index + 1} of {where}"
    return f"{where} ({transfer_syntax_name(frame.transfer_syntax_uid)})"
