"""Decide by content whether a file is DICOM: never by its name or extension.

A DICOM Part 10 file has a 128-byte preamble (anything, even a TIFF header) followed by
``DICM``.  Older files and raw dumps start directly with a data set; those are
recognised by a tolerant parse of the first few data elements: the first element must
be in group 0x0002 (file meta) or 0x0008 (identifying), every element must have a
plausible VR and length, and tags must increase.  Little and big endian, explicit and
implicit VR are all tried.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from workstation.io.sources import open_binary

PREAMBLE_LENGTH = 128
MAGIC = b"DICM"

#: Bytes read from the start of a file to decide; enough for several elements.
HEAD_SIZE = 1024

#: The groups a data set without preamble may start with.
FIRST_GROUPS = (0x0002, 0x0008)

#: Elements that must parse consistently before a preamble-less file counts as DICOM
#: (fewer when the file ends first).
MIN_ELEMENTS = 3

#: A defined element length above this, in the first elements of a file, is implausible.
MAX_EARLY_LENGTH = 1 << 20

UNDEFINED_LENGTH = 0xFFFFFFFF

#: Value representations with a 2-byte reserved field and a 4-byte length (explicit VR).
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
SHORT_VRS = frozenset(
    {
        "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "PN",
        "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US",
    }
)  # fmt: skip
#: VRs that may carry an undefined length.
UNDEFINED_LENGTH_VRS = frozenset({"SQ", "UN", "OB", "OW"})


def has_preamble_magic(head: bytes) -> bool:
    """True when ``DICM`` sits right after the 128-byte preamble."""
    return head[PREAMBLE_LENGTH : PREAMBLE_LENGTH + len(MAGIC)] == MAGIC


def _parse_elements(head: bytes, endian: str, explicit: bool) -> int:
    """Number of consecutive plausible data elements at the start of ``head`` (0 = none)."""
    offset = 0
    previous = -1
    count = 0
    size = len(head)
    while offset + 8 <= size:
        group, element = struct.unpack_from(endian + "HH", head, offset)
        tag = (group << 16) | element
        if count == 0 and group not in FIRST_GROUPS:
            return 0
        if tag <= previous or group == 0xFFFE:
            return count if count >= MIN_ELEMENTS else 0
        if explicit:
            vr_bytes = head[offset + 4 : offset + 6]
            if not vr_bytes.isalpha() or not vr_bytes.isupper():
                return 0
            vr = vr_bytes.decode("ascii")
            if vr in LONG_VRS:
                if offset + 12 > size:
                    break
                (length,) = struct.unpack_from(endian + "I", head, offset + 8)
                header = 12
            elif vr in SHORT_VRS:
                (length,) = struct.unpack_from(endian + "H", head, offset + 6)
                header = 8
            else:
                return 0
            undefined_ok = vr in UNDEFINED_LENGTH_VRS
        else:
            (length,) = struct.unpack_from(endian + "I", head, offset + 4)
            header = 8
            undefined_ok = True
        count += 1
        if length == UNDEFINED_LENGTH:
            # A sequence or encapsulated value: cannot skip it cheaply; what parsed so far
            # is the evidence.
            return count if undefined_ok else 0
        if length > MAX_EARLY_LENGTH:
            return 0
        previous = tag
        offset += header + length
    return count


def looks_like_dataset(head: bytes, file_size: int | None = None) -> bool:
    """True when ``head`` starts with a plausible DICOM data set (no preamble)."""
    whole_file = file_size is not None and file_size <= len(head)
    for endian, explicit in (("<", True), ("<", False), (">", True)):
        count = _parse_elements(head, endian, explicit)
        if count >= MIN_ELEMENTS or (count >= 1 and whole_file):
            return True
    return False


def looks_like_dicom(head: bytes, file_size: int | None = None) -> bool:
    """True when the first bytes of a file are DICOM: ``DICM`` at 128, or a bare data set."""
    if has_preamble_magic(head):
        return True
    return looks_like_dataset(head, file_size)


def read_head(handle: BinaryIO, size: int = HEAD_SIZE) -> tuple[bytes, int | None]:
    """The first ``size`` bytes of an open file and its total size (None when unknown)."""
    head = handle.read(size)
    try:
        total = handle.seek(0, 2)
    except OSError:
        total = None
    handle.seek(0)
    return head, total


def is_dicom(location: str) -> bool:
    """True when the file (or zip member) at ``location`` is DICOM by content."""
    try:
        with open_binary(location) as handle:
            head, total = read_head(handle)
    except OSError:
        return False
    return looks_like_dicom(head, total)
