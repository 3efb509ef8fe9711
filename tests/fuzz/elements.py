"""Byte layout of a DICOM file: where each data element, length field and fragment lies."""

from __future__ import annotations

import struct
from dataclasses import dataclass

#: Explicit-VR VRs with a 2-byte reserved field and a 4-byte length.
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
)
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
IMPLICIT_LE = "1.2.840.10008.1.2"
UNPARSED_SYNTAXES = ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")


@dataclass(frozen=True)
class Element:
    """One data element (or item/delimiter) as laid out in the file."""

    tag: int
    vr: bytes | None
    offset: int
    length_offset: int
    length_size: int
    length: int
    value_offset: int
    end: int
    depth: int
    top_tag: int


@dataclass(frozen=True)
class Fragment:
    """One item of encapsulated Pixel Data; index 0 is the Basic Offset Table."""

    index: int
    offset: int
    value_offset: int
    length: int


@dataclass
class Layout:
    """The parsed layout of one file: meta and dataset elements and pixel fragments."""

    elements: list[Element]
    fragments: list[Fragment]
    transfer_syntax: str
    explicit: bool
    parsed_dataset: bool

    def top_level(self) -> list[Element]:
        """Elements at depth 0 (meta and dataset)."""
        return [element for element in self.elements if element.depth == 0]

    def pixel_element(self) -> Element | None:
        """The top-level Pixel Data element, if any."""
        return next((e for e in self.top_level() if e.tag == PIXEL_DATA), None)

    def header_end(self, size: int) -> int:
        """Offset of the Pixel Data element (the file size when there is none)."""
        pixel = self.pixel_element()
        return pixel.offset if pixel is not None else size

    def element_at(self, offset: int) -> Element | None:
        """The innermost element whose bytes contain ``offset``."""
        hits = [e for e in self.elements if e.offset <= offset < e.end]
        return max(hits, key=lambda e: e.depth) if hits else None


class _Walker:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.elements: list[Element] = []
        self.fragments: list[Fragment] = []

    def header(self, pos: int, explicit: bool) -> tuple[int, bytes | None, int, int, int]:
        group, element = struct.unpack_from("<HH", self.data, pos)
        tag = (group << 16) | element
        if group == 0xFFFE:
            (length,) = struct.unpack_from("<I", self.data, pos + 4)
            return tag, None, pos + 4, 4, length
        if explicit:
            vr = self.data[pos + 4 : pos + 6]
            if vr in LONG_VRS:
                (length,) = struct.unpack_from("<I", self.data, pos + 8)
                return tag, vr, pos + 8, 4, length
            (length,) = struct.unpack_from("<H", self.data, pos + 6)
            return tag, vr, pos + 6, 2, length
        (length,) = struct.unpack_from("<I", self.data, pos + 4)
        return tag, None, pos + 4, 4, length

    def walk(self, pos: int, stop: int, explicit: bool, depth: int, top: int | None) -> int:
        """Parse elements from ``pos`` until ``stop`` or a delimiter; returns the end."""
        while pos + 8 <= stop:
            tag, vr, length_offset, size, length = self.header(pos, explicit)
            value = length_offset + size
            top_tag = tag if top is None else top
            if tag in (ITEM_END, SEQUENCE_END):
                self.elements.append(
                    Element(tag, vr, pos, length_offset, size, 0, value, value, depth, top_tag)
                )
                return value
            if length == UNDEFINED:
                if tag == PIXEL_DATA and depth == 0:
                    end = self.fragments_from(value, stop)
                else:
                    end = self.sequence(value, stop, explicit, depth + 1, top_tag)
            else:
                end = value + length
                if vr == b"SQ" or (vr is None and tag == ITEM):
                    inner = self.sequence if vr == b"SQ" else self.walk
                    inner(value, min(end, stop), explicit, depth + 1, top_tag)
            self.elements.append(
                Element(tag, vr, pos, length_offset, size, length, value, end, depth, top_tag)
            )
            if end > stop:
                raise ValueError(f"element {tag:08X} runs past the end")
            pos = end
        return pos

    def sequence(self, pos: int, stop: int, explicit: bool, depth: int, top: int) -> int:
        """Parse items until a sequence delimiter or ``stop``; returns the end."""
        while pos + 8 <= stop:
            tag, _, _, _, length = self.header(pos, explicit)
            if tag == SEQUENCE_END:
                self.elements.append(
                    Element(tag, None, pos, pos + 4, 4, 0, pos + 8, pos + 8, depth, top)
                )
                return pos + 8
            if tag != ITEM:
                raise ValueError(f"expected an item at {pos}")
            value = pos + 8
            if length == UNDEFINED:
                end = self.walk(value, stop, explicit, depth + 1, top)
            else:
                end = value + length
                self.walk(value, min(end, stop), explicit, depth + 1, top)
            self.elements.append(
                Element(ITEM, None, pos, pos + 4, 4, length, value, end, depth, top)
            )
            pos = end
        return pos

    def fragments_from(self, pos: int, stop: int) -> int:
        """Parse encapsulated Pixel Data items; returns the end after the delimiter."""
        index = 0
        while pos + 8 <= stop:
            tag, _, _, _, length = self.header(pos, True)
            if tag == SEQUENCE_END:
                return pos + 8
            if tag != ITEM or length == UNDEFINED:
                raise ValueError(f"bad fragment at {pos}")
            self.fragments.append(Fragment(index, pos, pos + 8, length))
            index += 1
            pos += 8 + length
        return pos


def transfer_syntax_of(data: bytes) -> str:
    """The Transfer Syntax UID in the file meta ('' when it cannot be found)."""
    marker = data.find(b"\x02\x00\x10\x00UI")
    if marker < 0:
        return ""
    (length,) = struct.unpack_from("<H", data, marker + 6)
    return data[marker + 8 : marker + 8 + length].rstrip(b"\x00 ").decode("ascii", "replace")


def layout_of(data: bytes) -> Layout:
    """Parse the layout of a well-formed Part 10 file (raises ValueError when it cannot)."""
    if data[128:132] != b"DICM":
        raise ValueError("no DICM prefix")
    walker = _Walker(data)
    pos = 132
    while pos + 8 <= len(data) and data[pos : pos + 2] == b"\x02\x00":
        pos = _one(walker, pos)
    syntax = transfer_syntax_of(data)
    explicit = syntax != IMPLICIT_LE
    parsed = syntax not in UNPARSED_SYNTAXES
    if parsed:
        walker.walk(pos, len(data), explicit, 0, None)
    return Layout(walker.elements, walker.fragments, syntax, explicit, parsed)


def _one(walker: _Walker, pos: int) -> int:
    """Parse the single explicit-VR meta element at ``pos``; returns its end."""
    tag, vr, length_offset, size, length = walker.header(pos, True)
    end = length_offset + size + length
    walker.elements.append(
        Element(tag, vr, pos, length_offset, size, length, length_offset + size, end, 0, tag)
    )
    return end
