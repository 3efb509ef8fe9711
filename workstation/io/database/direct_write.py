"""Write a new blob with direct I/O (``O_DIRECT``): from the caller's bytes to the disk.

A buffered write first copies every byte into newly allocated page-cache pages, and
on a virtual machine whose free memory goes back to the host, allocating those pages
costs more than hashing the bytes.  Direct I/O moves the data to the disk from one
reused, page-aligned buffer per thread instead.  The whole blocks of a file go this
way; its last partial block is written normally.  A filesystem or device that refuses
direct I/O gets a plain buffered write.  Durability is unchanged: the caller still
syncs (``fsync`` or ``syncfs``) before it renames the file into place.
"""

from __future__ import annotations

import errno
import mmap
import os
import threading

#: Offset, length and memory alignment of direct writes (covers 512 and 4096 byte sectors).
ALIGN = 4096
#: Bytes moved per direct write (the size of each thread's buffer).
BUFFER_BYTES = 4 << 20
#: Files smaller than this are written normally (a few blocks: nothing to gain).
DIRECT_MIN_BYTES = 64 << 10

O_DIRECT: int = getattr(os, "O_DIRECT", 0)

_local = threading.local()
#: Folders where direct I/O was refused (EINVAL): not tried there again.
_refused: set[str] = set()


def _buffer() -> mmap.mmap:
    buffer: mmap.mmap | None = getattr(_local, "buffer", None)
    if buffer is None or len(buffer) < BUFFER_BYTES:
        buffer = mmap.mmap(-1, BUFFER_BYTES)  # anonymous maps are page-aligned
        _local.buffer = buffer
    return buffer


def _write_all(descriptor: int, data: memoryview) -> None:
    while data:
        written = os.write(descriptor, data)
        data = data[written:]


def is_direct(descriptor: int) -> bool:
    """True when the descriptor was opened for direct I/O."""
    if not O_DIRECT:
        return False
    import fcntl  # Unix only, as O_DIRECT is

    return bool(fcntl.fcntl(descriptor, fcntl.F_GETFL) & O_DIRECT)


def stop_direct(descriptor: int) -> None:
    """Turn direct I/O off on an open descriptor (later writes go through the page cache)."""
    if not O_DIRECT:
        return
    import fcntl

    flags = fcntl.fcntl(descriptor, fcntl.F_GETFL)
    if flags & O_DIRECT:
        fcntl.fcntl(descriptor, fcntl.F_SETFL, flags & ~O_DIRECT)


def _write_direct(descriptor: int, data: memoryview) -> int:
    """Write the whole blocks of ``data`` directly; returns how many bytes went."""
    buffer = _buffer()
    window = memoryview(buffer)
    done = 0
    whole = len(data) - len(data) % ALIGN
    try:
        while done < whole:
            size = min(BUFFER_BYTES, whole - done)
            window[:size] = data[done : done + size]
            written = os.write(descriptor, window[:size])
            done += written
            if written != size:  # a short write leaves the rest unaligned
                break
    finally:
        window.release()
    return done


def refuse(folder: str) -> None:
    """Remember that ``folder``'s filesystem refused direct I/O."""
    _refused.add(folder)


def open_for_direct(folder: str) -> int:
    """The ``os.open`` flag that asks for direct I/O in ``folder`` (0 when not to try)."""
    return O_DIRECT if O_DIRECT and folder not in _refused else 0


def write_new_file(descriptor: int, data: bytes, folder: str, direct: bool) -> None:
    """Write all of ``data`` to a new, empty file opened with ``open_for_direct``'s flag.

    ``direct`` tells whether the descriptor was opened with ``O_DIRECT``; it is cleared
    before the last partial block (or everything, when direct I/O is refused).
    """
    view = memoryview(data).cast("B")
    done = 0
    if direct and len(view) >= DIRECT_MIN_BYTES:
        try:
            done = _write_direct(descriptor, view)
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            refuse(folder)  # e.g. a sector larger than ALIGN: write it normally
            os.lseek(descriptor, 0, os.SEEK_SET)
            os.ftruncate(descriptor, 0)
            done = 0
    if direct:
        stop_direct(descriptor)
    _write_all(descriptor, view[done:])
