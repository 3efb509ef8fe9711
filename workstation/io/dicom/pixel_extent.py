"""How much image data a file really holds: the Pixel Data element's length or fragments.

Read right after the header (the handle stands on the Pixel Data tag), without reading
the pixels: native data has a defined length; encapsulated (compressed) data is a
sequence of items whose headers are walked with seeks, so the number of fragments is
known.  Header values that drive allocation (Rows, Columns, Number of Frames) are
checked against this before anything is allocated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from workstation.io.dicom.detect import LONG_VRS, UNDEFINED_LENGTH

ITEM_TAG = (0xFFFE, 0xE000)
#: Fragments counted at most: far above any real multi-frame object, bounds the walk.
MAX_FRAGMENTS = 1_000_000


@dataclass(frozen=True)
class PixelExtent:
    """What the Pixel Data element holds.

    ``length`` is the byte length of native data (None when encapsulated);
    ``fragments`` the number of compressed fragments after the Basic Offset Table
    (None for native data).
    """

    length: int | None
    fragments: int | None
    #: Why the encapsulated data cannot be whole (an item running past the file end).
    damage: str | None = None


def _element_length(handle: BinaryIO, implicit: bool, little: bool) -> int | None:
    """Length of the element whose tag was just read, or None when it cannot be read."""
    order = "<" if little else ">"
    if implicit:
        raw = handle.read(4)
        return struct.unpack(order + "I", raw)[0] if len(raw) == 4 else None
    head = handle.read(4)
    if len(head) < 4:
        return None
    if head[:2].decode("ascii", "replace") in LONG_VRS:
        raw = handle.read(4)
        return struct.unpack(order + "I", raw)[0] if len(raw) == 4 else None
    return struct.unpack(order + "H", head[2:4])[0]


def _count_fragments(handle: BinaryIO, end: int) -> tuple[int, str | None]:
    """Items of an encapsulated value after its Basic Offset Table (always little endian),
    and why they cannot all be there when an item claims more bytes than the file has."""
    items = 0
    while items <= MAX_FRAGMENTS:
        start = handle.tell()
        raw = handle.read(8)
        if len(raw) < 8:
            break
        group, element, length = struct.unpack("<HHI", raw)
        if (group, element) != ITEM_TAG or length == UNDEFINED_LENGTH:
            break
        if start + 8 + length > end:
            what = "the offset table" if items == 0 else f"fragment {items}"
            return max(0, items - 1), (
                f"{what} of the compressed image data claims {length} bytes, but the file "
                f"ends {end - start - 8} bytes after its start"
            )
        items += 1
        handle.seek(start + 8 + length)
    return max(0, items - 1), None


def read_pixel_extent(handle: BinaryIO, implicit: bool, little: bool, size: int) -> PixelExtent:
    """The extent of the Pixel Data element at the handle's position (a tag must stand there).

    ``size`` is the file size; the handle position afterwards is unspecified.
    """
    start = handle.tell()
    handle.seek(start + 4)
    length = _element_length(handle, implicit, little)
    if length is None:
        return PixelExtent(0, None)
    data_start = handle.tell()
    if length == UNDEFINED_LENGTH:
        return PixelExtent(None, *_count_fragments(handle, size))
    return PixelExtent(min(length, max(0, size - data_start)), None)
