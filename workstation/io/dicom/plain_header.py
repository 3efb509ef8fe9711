"""Read the header of a plain classic image file without pydicom: the scan's fast path.

Nearly every file of a CT or MR folder is a classic image in implicit or explicit VR
little endian (or an encapsulated syntax, whose data set is explicit VR little endian).
pydicom takes about 0.2 s to import and a millisecond per file to parse one; this reader
walks the top-level elements with ``struct``, keeps the few a scan uses (``ELEMENTS``)
and converts them exactly as pydicom 3 does (``values.py``: text split on backslashes,
trailing padding removed, binary numbers unpacked).

It answers only for the plain case and returns None for everything else, which the
caller then parses with pydicom as before: no ``DICM`` preamble, big endian or deflated
data, tags out of order, a VR that is not the dictionary's, a value not in its VR's
format, a person name with component groups, a character set other than the default,
Latin-1 or UTF-8 with text beyond ASCII, an element past what was read, functional
groups (Enhanced objects) and directory records, and a value pydicom warns about as it
reads it (``VALUE_RULES``: text too long, a UID not in UID form), so that a user is shown
the same library warnings whichever path read the file.  ``headers.read_plain_file_header``
leaves derived objects and DICOMDIRs to pydicom as well.  Equivalence with the pydicom
path is tested on every shared-data collection and the fuzz corpus.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from typing import Any, BinaryIO

from workstation.io.dicom.detect import LONG_VRS, SHORT_VRS, UNDEFINED_LENGTH
from workstation.io.dicom.pixel_extent import PixelExtent, read_pixel_extent
from workstation.io.dicom.syntax_uids import (
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
    JPEG_FAMILY_PREFIX,
    RLE_LOSSLESS,
)

#: Bytes read first; most headers end (at Pixel Data) well within this.
FIRST_READ = 1 << 14
#: A header longer than this goes to pydicom (large private blocks): the fast path is
#: for the common case only, and the cap bounds its time and memory.
MAX_HEADER_BYTES = 1 << 20
#: Nesting of undefined-length sequences skipped at most.
MAX_SEQUENCE_DEPTH = 16

PIXEL_DATA_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD

#: Elements whose presence means the file is not a plain classic image.
NOT_PLAIN_TAGS = frozenset(
    {
        0x00041220,  # DirectoryRecordSequence: a DICOMDIR
        0x52009229,  # SharedFunctionalGroupsSequence: Enhanced multi-frame
        0x52009230,  # PerFrameFunctionalGroupsSequence
    }
)

#: The file meta elements kept: tag -> (keyword, VR).
META_ELEMENTS = {
    0x00020002: ("MediaStorageSOPClassUID", "UI"),
    0x00020010: ("TransferSyntaxUID", "UI"),
}

#: The data set elements kept (everything a scan and a load read): tag -> (keyword, VR).
#: "xs" is the dictionary's "US or SS", resolved by Pixel Representation as pydicom does.
ELEMENTS = {
    0x00080005: ("SpecificCharacterSet", "CS"),
    0x00080008: ("ImageType", "CS"),
    0x00080016: ("SOPClassUID", "UI"),
    0x00080018: ("SOPInstanceUID", "UI"),
    0x00080020: ("StudyDate", "DA"),
    0x00080060: ("Modality", "CS"),
    0x00081030: ("StudyDescription", "LO"),
    0x0008103E: ("SeriesDescription", "LO"),
    0x00100010: ("PatientName", "PN"),
    0x00100020: ("PatientID", "LO"),
    0x00120062: ("PatientIdentityRemoved", "CS"),
    0x00180050: ("SliceThickness", "DS"),
    0x00181030: ("ProtocolName", "LO"),
    0x00181120: ("GantryDetectorTilt", "DS"),
    0x00181164: ("ImagerPixelSpacing", "DS"),
    0x00181210: ("ConvolutionKernel", "SH"),
    0x00180086: ("EchoNumbers", "IS"),
    0x0020000D: ("StudyInstanceUID", "UI"),
    0x0020000E: ("SeriesInstanceUID", "UI"),
    0x00200011: ("SeriesNumber", "IS"),
    0x00200012: ("AcquisitionNumber", "IS"),
    0x00200013: ("InstanceNumber", "IS"),
    0x00200032: ("ImagePositionPatient", "DS"),
    0x00200037: ("ImageOrientationPatient", "DS"),
    0x00200052: ("FrameOfReferenceUID", "UI"),
    0x00200100: ("TemporalPositionIdentifier", "IS"),
    0x00280002: ("SamplesPerPixel", "US"),
    0x00280004: ("PhotometricInterpretation", "CS"),
    0x00280008: ("NumberOfFrames", "IS"),
    0x00280010: ("Rows", "US"),
    0x00280011: ("Columns", "US"),
    0x00280030: ("PixelSpacing", "DS"),
    0x00280100: ("BitsAllocated", "US"),
    0x00280101: ("BitsStored", "US"),
    0x00280103: ("PixelRepresentation", "US"),
    0x00280120: ("PixelPaddingValue", "xs"),
    0x00280121: ("PixelPaddingRangeLimit", "xs"),
    0x00281050: ("WindowCenter", "DS"),
    0x00281051: ("WindowWidth", "DS"),
    0x00281052: ("RescaleIntercept", "DS"),
    0x00281053: ("RescaleSlope", "DS"),
    0x00281054: ("RescaleType", "LO"),
}

#: pydicom's decoding of each character set it shares with this reader.
CHARACTER_SETS = {
    "": "latin-1",
    "ISO_IR 6": "latin-1",
    "ISO_IR 100": "latin-1",
    "ISO_IR 192": "utf-8",
}
#: VRs whose values are decoded with the character set (the rest with the default).
TEXT_VRS = frozenset({"SH", "LO", "PN"})
#: Valid IS and DS values (PS3.5 6.2), as pydicom accepts them without a warning.
INTEGER_STRING = re.compile(r" *[+-]?\d+ *\Z")
DECIMAL_STRING = re.compile(r" *[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)? *\Z")
#: The checks pydicom makes (and warns about) while it converts a value it reads:
#: convert_text, UID, IS and PersonName; code strings, dates and decimals go unchecked.
#: VR -> (maximum characters of one value, pattern of a valid non-empty value or None);
#: the IS pattern is NUMBER_PATTERNS', checked first.
VALUE_RULES: dict[str, tuple[int, re.Pattern[str] | None]] = {
    "IS": (12, None),
    "LO": (64, None),
    "PN": (64, None),
    "SH": (16, None),
    "UI": (64, re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*\Z")),
}
NUMBER_PATTERNS = {"IS": INTEGER_STRING, "DS": DECIMAL_STRING}
BINARY_FORMATS = {"US": "H", "SS": "h"}
ESCAPE = 0x1B


class NotPlain(Exception):
    """The file is outside the plain case: pydicom must read it."""


class NeedMoreBytes(Exception):
    """The header runs past the bytes read so far."""


class PlainHeader:
    """The kept elements of one header, converted as pydicom converts them.

    Answers ``get(keyword)`` and ``keyword in header`` like a pydicom Dataset, so the
    tolerant readers of ``headers.py`` use it unchanged.  ``file_meta`` holds the meta
    elements; ``original_encoding`` is (implicit VR, little endian) as pydicom gives it.
    """

    def __init__(
        self,
        values: dict[str, Any],
        file_meta: PlainHeader | None = None,
        implicit: bool = False,
    ) -> None:
        self._values = values
        self.file_meta = file_meta
        self.original_encoding = (implicit, True)

    def get(self, keyword: str, default: Any = None) -> Any:
        """The converted value of ``keyword``, or ``default`` when the file lacks it."""
        return self._values.get(keyword, default)

    def __contains__(self, keyword: object) -> bool:
        return keyword in self._values


# ----------------------------------------------------------------------- walking


def _element_header(data: bytes, position: int, explicit: bool) -> tuple[int, str, int, int]:
    """(tag, VR or "", value length, header size) of the element at ``position``."""
    if position + 8 > len(data):
        raise NeedMoreBytes
    group, element, length = struct.unpack_from("<HHI", data, position)
    tag = (group << 16) | element
    if not explicit or group == 0xFFFE:
        return tag, "", length, 8
    vr = data[position + 4 : position + 6].decode("latin-1")
    if vr in SHORT_VRS:
        return tag, vr, length >> 16, 8
    if vr in LONG_VRS:
        if position + 12 > len(data):
            raise NeedMoreBytes
        return tag, vr, struct.unpack_from("<I", data, position + 8)[0], 12
    raise NotPlain(f"unknown VR {vr!r}")


def _skip_sequence(data: bytes, position: int, explicit: bool, depth: int = 0) -> int:
    """Offset after the undefined-length sequence whose items start at ``position``."""
    if depth > MAX_SEQUENCE_DEPTH:
        raise NotPlain("sequences nested too deep")
    while True:
        tag, _, length, size = _element_header(data, position, False)
        position += size
        if tag == SEQUENCE_END:
            return position
        if tag != ITEM:
            raise NotPlain("sequence without items")
        if length != UNDEFINED_LENGTH:
            position += length
            continue
        while True:  # an undefined-length item: its elements up to the item end
            tag, vr, length, size = _element_header(data, position, explicit)
            if tag == ITEM_END:
                position += size
                break
            if tag >> 16 == 0xFFFE:
                raise NotPlain("misplaced item tag")
            position += size
            if length == UNDEFINED_LENGTH:
                nested_explicit = explicit and vr == "SQ"
                if explicit and vr not in ("SQ", "UN"):
                    raise NotPlain("undefined length outside a sequence")
                position = _skip_sequence(data, position, nested_explicit, depth + 1)
            else:
                position += length


def _walk(
    data: bytes,
    position: int,
    explicit: bool,
    wanted: dict[int, tuple[str, str]],
    meta: bool = False,
) -> tuple[dict[int, tuple[str, bytes]], int]:
    """The wanted elements (tag -> (VR, value bytes)) and where Pixel Data starts.

    For the file ``meta`` the walk stops at the first element of another group and
    returns its offset instead.
    """
    found: dict[int, tuple[str, bytes]] = {}
    previous = -1
    while True:
        if meta and data[position : position + 2] != b"\x02\x00":
            if position + 2 > len(data):
                raise NeedMoreBytes
            return found, position
        tag, vr, length, size = _element_header(data, position, explicit)
        if tag in PIXEL_DATA_TAGS:
            return found, position
        if tag <= previous or tag < 0x00020000 or tag >> 16 == 0xFFFE:
            raise NotPlain("tags out of order or junk")
        if tag in NOT_PLAIN_TAGS:
            raise NotPlain("functional groups or directory records")
        previous = tag
        start = position + size
        if length == UNDEFINED_LENGTH:
            if tag in wanted or (explicit and vr not in ("SQ", "UN")):
                raise NotPlain("undefined length outside a sequence")
            position = _skip_sequence(data, start, explicit and vr == "SQ")
            continue
        position = start + length
        if tag in wanted:
            if position > len(data):
                raise NeedMoreBytes
            found[tag] = (vr, data[start:position])


# --------------------------------------------------------------------- converting


def _check_values(vr: str, items: list[str]) -> None:
    """NotPlain when pydicom would warn about one of ``items`` (the values it validates)."""
    if vr not in VALUE_RULES:
        return
    max_length, pattern = VALUE_RULES[vr]
    for item in items:
        if (max_length and len(item) > max_length) or (
            pattern is not None and item and not pattern.match(item)
        ):
            raise NotPlain(f"a {vr} value pydicom warns about")


def _split(text: str, vr: str) -> str | list[str]:
    items = text.split("\\")
    _check_values(vr, items)
    return items[0] if len(items) == 1 else items


def _numbers_text(raw: bytes, vr: str) -> str | list[str]:
    """IS/DS: the stripped text of each value (float() of it is pydicom's number)."""
    text = raw.decode("latin-1").rstrip(" \x00")
    if not text:
        return ""
    items = text.split("\\")
    if not all(NUMBER_PATTERNS[vr].match(item) for item in items):
        raise NotPlain("a number not in its VR's format")
    _check_values(vr, items)
    return items[0] if len(items) == 1 else items


def _binary(raw: bytes, code: str) -> int | list[int] | None:
    if not raw:
        return None
    if len(raw) % 2:
        raise NotPlain("odd binary length")
    numbers = list(struct.unpack(f"<{len(raw) // 2}{code}", raw))
    return numbers[0] if len(numbers) == 1 else numbers


def _text(raw: bytes, vr: str, encoding: str) -> str | list[str]:
    """Text values as pydicom's convert_text / convert_PN / multi_string give them."""
    if vr in TEXT_VRS:
        if vr == "PN":
            raw = raw.rstrip(b"\x00 ")
        try:
            decoded = raw.decode(encoding)
        except UnicodeDecodeError as error:
            raise NotPlain("text not in its character set") from error
        if vr == "PN" and "=" in decoded:
            raise NotPlain("person name component groups")
        padded = decoded.split("\\")
        _check_values(vr, padded)  # pydicom validates them before removing the padding
        items = [item.rstrip("\x00 ") for item in padded]
        return items[0] if len(items) == 1 else items
    text = raw.decode("latin-1")
    if vr == "UI":
        text = text.rstrip("\x00 ")
    return _split(text.rstrip(" \x00"), vr)


def _encoding(raw: tuple[str, bytes] | None, texts: Iterable[bytes]) -> str:
    """The decoding pydicom applies to text values under this Specific Character Set."""
    name = raw[1].decode("latin-1").strip(" \x00") if raw is not None else ""
    if "\\" in name:
        raise NotPlain("code extensions")
    if name in CHARACTER_SETS:
        return CHARACTER_SETS[name]
    if all(text.isascii() and ESCAPE not in text for text in texts):
        return "ascii"  # every other character set reads ASCII bytes as ASCII
    raise NotPlain(f"character set {name}")


def _convert(
    found: dict[int, tuple[str, bytes]], table: dict[int, tuple[str, str]], implicit: bool
) -> dict[str, Any]:
    """Keyword -> value for each found element, as pydicom's ``Dataset.get`` returns it."""
    text_bytes = [raw for tag, (_, raw) in found.items() if table[tag][1] in TEXT_VRS]
    encoding = _encoding(found.get(0x00080005), text_bytes)
    representation = found.get(0x00280103)
    values: dict[str, Any] = {}
    for tag, (file_vr, raw) in found.items():
        keyword, vr = table[tag]
        if vr == "xs":
            if not implicit:
                if file_vr not in BINARY_FORMATS:
                    raise NotPlain("US or SS element of another VR")
                vr = file_vr
            elif representation is None:
                raise NotPlain("US or SS without Pixel Representation")
            else:
                vr = "SS" if representation[1][:2] == b"\x01\x00" else "US"
        elif not implicit and file_vr != vr:
            raise NotPlain(f"{keyword} stored as {file_vr}")
        if vr in BINARY_FORMATS:
            values[keyword] = _binary(raw, BINARY_FORMATS[vr])
        elif vr in ("IS", "DS"):
            values[keyword] = _numbers_text(raw, vr)
        else:
            values[keyword] = _text(raw, vr, encoding)
    return values


# ------------------------------------------------------------------------ reading


def _syntax_is_implicit(transfer_syntax: str) -> bool:
    """True for implicit VR LE, False for explicit VR LE data sets; NotPlain otherwise."""
    if transfer_syntax == IMPLICIT_VR_LITTLE_ENDIAN:
        return True
    # Encapsulated syntaxes (the JPEG family, RLE) have explicit VR little endian data sets.
    if transfer_syntax in (EXPLICIT_VR_LITTLE_ENDIAN, RLE_LOSSLESS) or transfer_syntax.startswith(
        JPEG_FAMILY_PREFIX
    ):
        return False
    raise NotPlain(f"transfer syntax {transfer_syntax!r}")


def _parse(data: bytes) -> tuple[PlainHeader, int]:
    """The header of a file starting with ``data`` and the offset of its Pixel Data tag."""
    if data[128:132] != b"DICM":
        raise NotPlain("no preamble")
    found_meta, start = _walk(data, 132, True, META_ELEMENTS, meta=True)
    meta = PlainHeader(_convert(found_meta, META_ELEMENTS, False))
    implicit = _syntax_is_implicit(str(meta.get("TransferSyntaxUID", "")))
    if implicit and data[start + 4 : start + 6].decode("latin-1") in SHORT_VRS | LONG_VRS:
        raise NotPlain("explicit VR data set under an implicit transfer syntax")
    found, pixels = _walk(data, start, not implicit, ELEMENTS)
    return PlainHeader(_convert(found, ELEMENTS, implicit), meta, implicit), pixels


def read_plain_header(handle: BinaryIO, size: int) -> tuple[PlainHeader, PixelExtent] | None:
    """The header and Pixel Data extent of a plain classic image file; None otherwise.

    ``handle`` is the open file (at any position) and ``size`` its length in bytes.
    """
    amount = FIRST_READ
    while True:
        handle.seek(0)
        data = handle.read(min(amount, size))
        try:
            header, pixels = _parse(data)
        except NeedMoreBytes:
            if len(data) >= min(size, MAX_HEADER_BYTES):
                return None
            amount *= 4
            continue
        except (NotPlain, struct.error, ValueError):  # ValueError: undecodable text too
            return None
        handle.seek(pixels)
        return header, read_pixel_extent(handle, header.original_encoding[0], True, size)
