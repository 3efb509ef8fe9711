"""Read one zip member lazily and within bounds: a zip bomb never costs more than a limit.

``zipfile`` inflates a member as far as a read asks, and for bzip2 and LZMA it inflates
a whole input block per call whatever its size (bzip2 reaches a ratio above 1,000,000
to 1), so a member that lies about its size can exhaust memory.  ``MemberReader``
therefore decompresses the member itself, a bounded step at a time, never past the
size the archive declares, and checks the CRC when it reaches the end.  Members whose
declared size or compression ratio is absurd are refused before any byte is inflated.

The reader keeps what it inflated, so seeking back is free (pydicom seeks; a zipfile
stream would inflate again from the start), and seeking forward or to the end costs
nothing until something is read there.  Every failure is an ``ArchiveError`` (OSError).
"""

from __future__ import annotations

import bz2
import errno
import io
import lzma
import os
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

#: Largest uncompressed member read from an archive; a DICOM file is rarely near this.
MAX_MEMBER_BYTES = 1 << 30
#: Members larger than this (uncompressed) must not shrink more than MAX_COMPRESSION_RATIO
#: times; deflate itself cannot exceed about 1032 to 1, even on constant data.
RATIO_CHECK_BYTES = 32 << 20
MAX_COMPRESSION_RATIO = 1000
#: Uncompressed bytes produced per step (at least, and at most), compressed bytes per read.
INFLATE_STEP = 256 << 10
MAX_INFLATE_STEP = 8 << 20
RAW_STEP = 64 << 10

LOCAL_HEADER = struct.Struct("<4s5H3L2H")
LOCAL_MAGIC = b"PK\x03\x04"
ENCRYPTED_FLAG = 0x1


class ArchiveError(OSError):
    """A zip member that cannot be read: damaged, refused as too big, or unsupported."""

    def __init__(self, message: str, archive: str, code: int = errno.EIO) -> None:
        super().__init__(code, message, archive)


def format_bytes(count: int) -> str:
    """``count`` bytes as a short human size: 512 bytes, 1.5 KiB, 6 GiB."""
    size, unit = float(count), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, larger
    return f"{size:.0f} {unit}" if size == int(size) else f"{size:.1f} {unit}"


def check_member(info: zipfile.ZipInfo, archive: str) -> None:
    """Raise ArchiveError when a member is too big, a likely bomb, or encrypted."""
    name = info.filename
    if info.flag_bits & ENCRYPTED_FLAG:
        raise ArchiveError(f"member {name} is encrypted (password-protected)", archive)
    if info.file_size > MAX_MEMBER_BYTES:
        raise ArchiveError(
            f"member {name} is {format_bytes(info.file_size)} uncompressed "
            f"(limit {format_bytes(MAX_MEMBER_BYTES)} per file in an archive)",
            archive,
            errno.EFBIG,
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > RATIO_CHECK_BYTES and ratio > MAX_COMPRESSION_RATIO:
        raise ArchiveError(
            f"member {name} would inflate {ratio:,.0f} times "
            f"({format_bytes(info.compress_size)} to {format_bytes(info.file_size)}): "
            "refused as a likely zip bomb",
            archive,
            errno.EFBIG,
        )
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise ArchiveError(f"member {name} is damaged (stored sizes disagree)", archive)


class _Inflater:
    """A zip decompressor behind one interface: ``inflate(raw, limit)`` gives <= ``limit`` bytes."""

    def __init__(self, method: int, name: str, archive: str) -> None:
        self._name, self._archive = name, archive
        self._zlib = method == zipfile.ZIP_DEFLATED
        self._pending = b""  # input zlib has not consumed yet (it hands it back)
        self._lzma_header: bytes | None = b"" if method == zipfile.ZIP_LZMA else None
        self._engine: Any = None  # LZMA's is created once its properties are read
        if self._zlib:
            self._engine = zlib.decompressobj(-zlib.MAX_WBITS)
        elif method == zipfile.ZIP_BZIP2:
            self._engine = bz2.BZ2Decompressor()
        elif method != zipfile.ZIP_LZMA:
            raise ArchiveError(
                f"member {name} uses compression method {method}, which is not supported "
                "(re-create the archive with standard zip compression)",
                archive,
            )

    @property
    def needs_input(self) -> bool:
        """True when more compressed bytes should be fed before asking for output."""
        if self._engine is None:
            return True
        if self._zlib:
            return not self._pending
        return bool(self._engine.needs_input)

    @property
    def finished(self) -> bool:
        """True when the compressed stream has ended (all its output delivered)."""
        return self._engine is not None and bool(self._engine.eof)

    def inflate(self, raw: bytes, limit: int) -> bytes:
        """Feed ``raw`` (may be empty) and return at most ``limit`` uncompressed bytes."""
        if self._engine is None:
            raw = self._start_lzma(raw)
            if self._engine is None:
                return b""
        try:
            if self._zlib:
                data = self._engine.decompress(self._pending + raw, limit)
                self._pending = self._engine.unconsumed_tail
                return bytes(data)
            return bytes(self._engine.decompress(raw, limit))
        except (zlib.error, OSError, EOFError, ValueError, lzma.LZMAError) as error:
            raise self._damaged(error) from error

    def _damaged(self, why: object) -> ArchiveError:
        return ArchiveError(f"member {self._name} is damaged ({why})", self._archive)

    def _start_lzma(self, raw: bytes) -> bytes:
        """Read zip's LZMA header (version, properties size, properties); return the rest."""
        header = (self._lzma_header or b"") + raw
        self._lzma_header = header
        if len(header) < 4 or len(header) < 4 + struct.unpack_from("<H", header, 2)[0]:
            return b""
        (props_size,) = struct.unpack_from("<H", header, 2)
        if props_size != 5:
            raise self._damaged("bad LZMA header")
        bits, dict_size = header[4], struct.unpack_from("<I", header, 5)[0]
        lzma_filter = {
            "id": lzma.FILTER_LZMA1,
            "lc": bits % 9,
            "lp": (bits // 9) % 5,
            "pb": bits // 45,
            "dict_size": dict_size,
        }
        try:
            self._engine = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[lzma_filter])
        except lzma.LZMAError as error:
            raise self._damaged(error) from error
        self._lzma_header = None
        return header[4 + props_size :]


def data_offset(read_at: Callable[[int, int], bytes], info: zipfile.ZipInfo, archive: str) -> int:
    """Where a member's compressed bytes start, from its local header (validated)."""
    header = read_at(LOCAL_HEADER.size, info.header_offset)
    if len(header) != LOCAL_HEADER.size or header[:4] != LOCAL_MAGIC:
        raise ArchiveError(
            f"member {info.filename} is damaged (no file header where the directory says)",
            archive,
        )
    fields = LOCAL_HEADER.unpack(header)
    name_length, extra_length = fields[-2], fields[-1]
    return info.header_offset + LOCAL_HEADER.size + name_length + extra_length


class MemberReader(io.RawIOBase):
    """A seekable, read-only view of one zip member that inflates only what is read.

    Owns ``descriptor`` (the archive opened for reading) and closes it, so readers in
    several threads or forked processes never share a file position.
    """

    def __init__(
        self, descriptor: int, info: zipfile.ZipInfo, archive: str, archive_size: int
    ) -> None:
        super().__init__()
        self._fd = descriptor
        self._info, self._archive = info, archive
        self._size = info.file_size
        self._data = bytearray()
        self._pos = 0
        self._crc = 0
        self._finished = False  # the end was reached and verified
        try:
            check_member(info, archive)
            self._raw_next = data_offset(self._read_at, info, archive)
            if self._raw_next + info.compress_size > archive_size:
                raise ArchiveError(
                    f"member {info.filename} is damaged (it runs past the end of the archive)",
                    archive,
                )
            self._raw_left = info.compress_size
            self._inflater = (
                None
                if info.compress_type == zipfile.ZIP_STORED
                else _Inflater(info.compress_type, info.filename, archive)
            )
        except BaseException:
            self.close()
            raise

    @property
    def inflated(self) -> int:
        """Bytes inflated (and held) so far: what reading this member has cost in memory."""
        return len(self._data)

    # -- io.RawIOBase interface
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        """Move the position; nothing is inflated until a read needs it."""
        self._check_open()
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence ({whence})")
        if base + offset < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = base + offset
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes from the position (all the rest when negative or None)."""
        start, end = self._span(size)
        with memoryview(self._data) as held:
            data = bytes(held[start:end])
        self._pos = max(self._pos, end)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the position; returns the number of bytes copied."""
        with memoryview(buffer) as raw_target:
            target = raw_target.cast("B")
            start, end = self._span(len(target))
            with memoryview(self._data) as held:
                target[: end - start] = held[start:end]
        self._pos = max(self._pos, end)
        return end - start

    def _span(self, size: int | None) -> tuple[int, int]:
        """Inflate enough for a read of ``size`` at the position; its (start, end) in data."""
        self._check_open()
        start = min(self._pos, self._size)
        end = self._size if size is None or size < 0 else min(start + size, self._size)
        if end > start:
            self._fill(end)
        return start, max(start, end)

    def close(self) -> None:
        if not self.closed:
            fd, self._fd = self._fd, -1
            if fd >= 0:
                os.close(fd)
            self._data = bytearray()
        super().close()

    # -- inflating
    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    def _read_at(self, count: int, offset: int) -> bytes:
        if hasattr(os, "pread"):
            return os.pread(self._fd, count, offset)
        os.lseek(self._fd, offset, os.SEEK_SET)  # the descriptor is this reader's own
        return os.read(self._fd, count)

    def _raw(self, count: int) -> bytes:
        """The next ``count`` (at most) compressed bytes of the member."""
        count = min(count, self._raw_left)
        if count <= 0:
            return b""
        raw = self._read_at(count, self._raw_next)
        if not raw:
            self._damaged("the archive ends inside it")
        self._raw_next += len(raw)
        self._raw_left -= len(raw)
        return raw

    def _fill(self, end: int) -> None:
        """Inflate until ``end`` bytes are held (``end`` <= declared size)."""
        while len(self._data) < end:
            have = len(self._data)
            want = min(max(end - have, INFLATE_STEP), MAX_INFLATE_STEP, self._size - have)
            chunk = self._step(want)
            if not chunk:
                self._damaged(f"it ends after {len(self._data)} of its {self._size} bytes")
            self._data += chunk
            self._crc = zlib.crc32(chunk, self._crc)
        if len(self._data) == self._size and end == self._size:
            self._finish()

    def _step(self, want: int) -> bytes:
        """At most ``want`` new uncompressed bytes (empty when the member has no more)."""
        inflater = self._inflater
        if inflater is None:
            return self._raw(want)
        idle = 0
        while not inflater.finished and idle < 2:
            raw = self._raw(RAW_STEP) if inflater.needs_input else b""
            data = inflater.inflate(raw, want)
            if data:
                return data
            idle = idle + 1 if not raw else 0  # no input left and no output twice: done
        return b""

    def _finish(self) -> None:
        """At the declared end: the member must not inflate further, and its CRC must match."""
        if self._finished:
            return
        if self._inflater is not None and not self._inflater.finished and self._step(1):
            self._damaged(f"it inflates beyond its declared {self._size} bytes")
        if self._crc != self._info.CRC:
            self._damaged("its CRC does not match")
        self._finished = True

    def _damaged(self, why: str) -> None:
        raise ArchiveError(f"member {self._info.filename} is damaged ({why})", self._archive)
