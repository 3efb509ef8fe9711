"""Compressed-stream mutators: fragment bytes, fragment lengths, JPEG/J2K/RLE headers."""

from __future__ import annotations

import random
import struct

from tests.fuzz.elements import Fragment
from tests.fuzz.mutation import VALUES, Mutation, SourceInfo

RLE_SYNTAX = "1.2.840.10008.1.2.5"
#: JPEG start-of-frame markers (SOF0-SOF15 without DHT/JPG/DAC) and JPEG-LS SOF55.
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}
HUGE_DIMENSIONS = (0, 1, 65535, 40000)


def is_encapsulated(info: SourceInfo) -> bool:
    """True when the file has encapsulated Pixel Data with at least one frame fragment."""
    return info.layout is not None and len(info.layout.fragments) >= 2


def is_rle(info: SourceInfo) -> bool:
    """True for an RLE Lossless file with parsed fragments."""
    return is_encapsulated(info) and info.syntax == RLE_SYNTAX


def is_jpeg_family(info: SourceInfo) -> bool:
    """True for an encapsulated JPEG, JPEG-LS or JPEG 2000 file."""
    return is_encapsulated(info) and info.syntax.startswith("1.2.840.10008.1.2.4.")


def _frames(info: SourceInfo) -> list[Fragment]:
    return [f for f in info.layout.fragments if f.index > 0 and f.length > 0]


def fragment_flip(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Replace 1-16 random bytes inside one frame fragment (may decode to other values)."""
    fragment = rng.choice(_frames(info))
    out = bytearray(data)
    count = rng.choice([1, 4, 16])
    for _ in range(count):
        offset = fragment.value_offset + rng.randrange(fragment.length)
        out[offset] = rng.randrange(256)
    detail = f"{count} bytes replaced in fragment {fragment.index} ({fragment.length} bytes)"
    return Mutation(bytes(out), frozenset({VALUES}), detail)


def fragment_truncate(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Shorten one frame fragment (length field kept consistent): its stream ends early."""
    fragment = rng.choice(_frames(info))
    keep = rng.choice([fragment.length // 10, fragment.length // 2, fragment.length * 9 // 10])
    keep += keep & 1
    start, end = fragment.value_offset, fragment.value_offset + fragment.length
    body = data[:start] + data[start : start + keep] + data[end:]
    out = bytearray(body)
    out[fragment.offset + 4 : fragment.offset + 8] = struct.pack("<I", keep)
    detail = f"fragment {fragment.index} cut from {fragment.length} to {keep} bytes"
    # A JPEG-family stream cut inside (its end marker, in a later fragment, kept) is still
    # well formed: these codecs carry no checksum, so other values may decode unnoticed.
    # A cut last fragment loses the end marker, and RLE segments have exact lengths:
    # those must be caught.
    last = max(f.index for f in _frames(info))
    inside = is_jpeg_family(info) and fragment.index < last
    return Mutation(bytes(out), frozenset({VALUES}) if inside else frozenset(), detail)


def fragment_structure(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Break the item structure: drop the delimiter, huge item length, bad offset table."""
    fragments = info.layout.fragments
    kind = rng.choice(["no-delimiter", "huge-item", "bot-garbage", "zero-item"])
    out = bytearray(data)
    if kind == "no-delimiter":
        last = fragments[-1]
        end = last.value_offset + last.length
        out = out[:end] + out[end + 8 :]
    elif kind == "huge-item":
        fragment = rng.choice(_frames(info))
        out[fragment.offset + 4 : fragment.offset + 8] = struct.pack("<I", 0x7FFFFFF0)
    elif kind == "zero-item":
        fragment = rng.choice(_frames(info))
        out[fragment.offset + 4 : fragment.offset + 8] = struct.pack("<I", 0)
    else:
        table = fragments[0]
        garbage = struct.pack("<I", 0x7FFFFFF0)
        if table.length >= 4:
            out[table.value_offset : table.value_offset + 4] = garbage
        else:
            out[table.offset + 4 : table.offset + 8] = struct.pack("<I", 4)
            out[table.value_offset : table.value_offset] = garbage
    return Mutation(bytes(out), frozenset(), f"encapsulation {kind}")


def _find_sof(data: bytes, start: int, end: int) -> int | None:
    """Offset of the first JPEG/JPEG-LS SOF marker segment in ``data[start:end]``."""
    position = start
    while position < end - 1:
        position = data.find(b"\xff", position, end - 1)
        if position < 0:
            return None
        if data[position + 1] in SOF_MARKERS:
            return position
        position += 1
    return None


def codestream_dimensions(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Make the JPEG SOF / JPEG 2000 SIZ header claim other (huge/zero) dimensions."""
    fragment = _frames(info)[0]
    start, end = fragment.value_offset, fragment.value_offset + fragment.length
    out = bytearray(data)
    siz = data.find(b"\xff\x51", start, end)
    width, height = rng.choice(HUGE_DIMENSIONS), rng.choice(HUGE_DIMENSIONS)
    if siz >= 0 and data[start : start + 2] != b"\xff\xd8":
        field = rng.choice(["both", "size", "components"])
        if field == "components":
            components = rng.choice([0, 3, 255])
            out[siz + 38 : siz + 40] = struct.pack(">H", components)
            return Mutation(bytes(out), frozenset(), f"J2K SIZ components -> {components}")
        size = (width * 1000 + 1, height * 1000 + 1)
        out[siz + 6 : siz + 14] = struct.pack(">II", *size)
        return Mutation(bytes(out), frozenset(), f"J2K SIZ size -> {size[0]}x{size[1]}")
    sof = _find_sof(data, start, end)
    if sof is None:
        return Mutation(data, frozenset(), "no SOF marker found (unchanged)")
    field = rng.choice(["size", "size", "precision", "components"])
    if field == "size":
        out[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    elif field == "precision":
        out[sof + 4] = rng.choice([0, 1, 2, 17, 255])
    else:
        out[sof + 9] = rng.choice([0, 3, 4, 255])
    return Mutation(bytes(out), frozenset(), f"SOF {data[sof + 1]:02X} {field} -> {width}x{height}")


def rle_header(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Corrupt the 64-byte RLE header: segment count or segment offsets."""
    fragment = _frames(info)[0]
    base = fragment.value_offset
    out = bytearray(data)
    kind = rng.choice(["count", "offset-huge", "offset-zero", "offset-backwards", "offset-odd"])
    (count,) = struct.unpack_from("<I", data, base)
    if kind == "count":
        new = rng.choice([0, count + 1, 15, 16, 255, 0xFFFFFFFF])
        out[base : base + 4] = struct.pack("<I", new)
        return Mutation(bytes(out), frozenset(), f"RLE segment count {count} -> {new}")
    index = rng.randrange(1, max(count, 1) + 1)
    (offset,) = struct.unpack_from("<I", data, base + 4 * index)
    new = {
        "offset-huge": 0x7FFFFFF0,
        "offset-zero": 0,
        "offset-backwards": max(offset - 100, 0) if index > 1 else fragment.length + 10,
        "offset-odd": offset + 1,
    }[kind]
    out[base + 4 * index : base + 4 * index + 4] = struct.pack("<I", new)
    return Mutation(bytes(out), frozenset(), f"RLE offset[{index}] {offset} -> {new}")
