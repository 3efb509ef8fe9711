"""Byte-level mutators: header flips, truncation, zero runs, element lengths and VRs."""

from __future__ import annotations

import random
import struct

from tests.fuzz.elements import ITEM_END, PIXEL_DATA, SEQUENCE_END, Element
from tests.fuzz.mutation import Mutation, SourceInfo, aspects_of_tag

#: VRs a VR change may put in place of the original.
REPLACEMENT_VRS = (
    b"UN",
    b"OB",
    b"OW",
    b"SQ",
    b"US",
    b"UL",
    b"FD",
    b"DS",
    b"IS",
    b"LO",
    b"UT",
    b"XX",
)
MAX_ZEROS = 8 * 1024 * 1024


def _header_end(data: bytes, info: SourceInfo) -> int:
    if info.layout is not None and info.layout.parsed_dataset:
        return info.layout.header_end(len(data))
    for marker in (b"\xe0\x7f\x10\x00", b"\x7f\xe0\x00\x10"):
        found = data.rfind(marker)
        if found > 0:
            return found
    return len(data)


def header_flip(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Replace 1-4 random bytes between the preamble and the Pixel Data element."""
    end = _header_end(data, info)
    out = bytearray(data)
    touched: set[str] = set()
    hits = []
    for _ in range(rng.randint(1, 4)):
        offset = rng.randrange(128, max(end, 129))
        out[offset] = rng.choice(
            [0x00, 0xFF, out[offset] ^ (1 << rng.randrange(8)), rng.randrange(256)]
        )
        element = info.layout.element_at(offset) if info.layout else None
        if element is not None:
            touched |= aspects_of_tag(element.top_tag)
            hits.append(f"{offset}@{element.top_tag:08X}")
        else:
            touched |= {"values"} | {"orientation", "position", "spacing", "thickness"}
            hits.append(str(offset))
    return Mutation(bytes(out), frozenset(touched), "bytes " + ",".join(hits))


def truncate(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Cut the file at a random point anywhere."""
    cut = rng.randrange(0, len(data))
    return Mutation(data[:cut], frozenset(), f"cut at {cut} of {len(data)}")


def truncate_pixels(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Cut the file inside the Pixel Data (a few bytes short up to most of it)."""
    start = min(_header_end(data, info), len(data) - 1)
    cut = rng.choice([len(data) - 1, len(data) - 2, rng.randrange(start, len(data))])
    return Mutation(data[:cut], frozenset(), f"cut at {cut} of {len(data)} (pixels from {start})")


def header_then_zeros(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Keep the header up to Pixel Data and follow it with a long run of zeros."""
    end = _header_end(data, info)
    count = rng.choice([4096, 1024 * 1024, MAX_ZEROS])
    return Mutation(data[:end] + bytes(count), frozenset(), f"header of {end} + {count} zeros")


def append_zeros(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Append a run of zeros after the end of the file."""
    count = rng.choice([1, 2, 7, 4096, 1024 * 1024])
    return Mutation(data + bytes(count), frozenset(), f"{count} zeros appended")


def _pick_element(info: SourceInfo, rng: random.Random, pixels_weight: float) -> Element:
    elements = [
        e for e in info.layout.elements if e.tag not in (ITEM_END, SEQUENCE_END) and e.offset >= 132
    ]
    pixel = [e for e in elements if e.tag == PIXEL_DATA and e.depth == 0]
    if pixel and rng.random() < pixels_weight:
        return pixel[0]
    return rng.choice(elements)


def _element_touches(element: Element) -> frozenset[str]:
    return frozenset() if element.top_tag == PIXEL_DATA else aspects_of_tag(element.top_tag)


def element_length(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Change one element's length field: 0, 1, odd, doubled, beyond the file, undefined."""
    element = _pick_element(info, rng, 0.3)
    if element.length_size == 2:
        new = rng.choice([0, 1, element.length + 1, element.length + 2, 0xFFFF])
        new &= 0xFFFF
        packed = struct.pack("<H", new)
    else:
        new = rng.choice(
            [
                0,
                1,
                element.length + 1,
                element.length * 2 + 2,
                len(data) * 4,
                0x7FFFFFFF,
                0xFFFFFFFE,
                0xFFFFFFFF,
            ]
        )
        new &= 0xFFFFFFFF
        packed = struct.pack("<I", new)
    out = bytearray(data)
    out[element.length_offset : element.length_offset + element.length_size] = packed
    detail = f"length of {element.tag:08X} (in {element.top_tag:08X}) {element.length} -> {new}"
    return Mutation(bytes(out), _element_touches(element), detail)


def vr_change(data: bytes, rng: random.Random, info: SourceInfo) -> Mutation:
    """Replace one element's explicit VR by another VR (or an invalid one)."""
    candidates = [e for e in info.layout.elements if e.vr is not None and e.offset >= 132]
    element = rng.choice(candidates)
    new = rng.choice([vr for vr in REPLACEMENT_VRS if vr != element.vr])
    out = bytearray(data)
    out[element.offset + 4 : element.offset + 6] = new
    detail = f"VR of {element.tag:08X} {element.vr.decode()} -> {new.decode()}"
    return Mutation(bytes(out), _element_touches(element), detail)


def is_explicit_parsed(info: SourceInfo) -> bool:
    """True when the file's dataset was parsed and uses explicit VR."""
    return info.layout is not None and info.layout.parsed_dataset and info.layout.explicit


def is_parsed(info: SourceInfo) -> bool:
    """True when the file's layout could be parsed."""
    return info.layout is not None and info.layout.parsed_dataset
