"""Check one compressed frame's codestream against the DICOM header before any decoder runs.

A decoder trusts its codestream: a JPEG frame header claiming 65535x65535 pixels makes it
allocate gigabytes, and a stream cut short often decodes to garbage without a word.  So
each frame is parsed first (JPEG SOFn, JPEG-LS SOF55, JPEG 2000 / HTJ2K SIZ, the RLE
header) and compared with Rows, Columns, SamplesPerPixel and BitsAllocated; a missing
end marker (EOI, EOC) means the data ends early.  Trailing padding after the end marker
(odd-length codestreams in even-length fragments) is allowed.  RLE frames are decoded
here segment by segment, so a segment of the wrong length is refused instead of making
the pylibjpeg-rle decoder panic.
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

import numpy as np

from workstation.io.dicom.syntax_uids import RLE_LOSSLESS

#: JPEG frame header markers (SOF0-SOF15 without DHT, JPG and DAC) and JPEG-LS SOF55.
JPEG_SOF_MARKERS = frozenset({*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC)}) | {
    0xCD,
    0xCE,
    0xCF,
    0xF7,
}
#: Markers without a length field: TEM, RSTn, SOI, EOI.
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})
J2K_SOC_SIZ = b"\xff\x4f\xff\x51"
END_MARKER = b"\xff\xd9"  # JPEG EOI and JPEG 2000 EOC share the code
#: Bytes of a JP2 header searched for the codestream (the jp2h boxes are small).
JP2_HEADER_SEARCH = 65536
#: Fewer bits per sample than this in a codestream of an image of at least this many bits
#: stored is a damaged header (real files differ from Bits Stored by a few bits only).
MIN_PLAUSIBLE_PRECISION = 8
#: Bytes an encoder may leave after the end marker (fragment padding).
PADDING_BYTES = b"\x00\xff"
#: JPEG-LS lossless and near-lossless (pydicom's JPEGLSTransferSyntaxes).
JPEG_LS_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"})
JPEG_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
        *JPEG_LS_SYNTAXES,
    }
)
#: JPEG 2000 and HTJ2K syntaxes (pydicom's JPEG2000TransferSyntaxes, HTJ2K included).
J2K_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.90",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.92",
        "1.2.840.10008.1.2.4.93",
        "1.2.840.10008.1.2.4.201",
        "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.203",
    }
)


class CodestreamError(ValueError):
    """A frame's compressed data contradicts the DICOM header or is not a valid stream."""


class TruncatedStreamError(CodestreamError):
    """A frame's compressed data ends before its end marker or before all its pixels."""


@dataclass(frozen=True)
class FrameSpec:
    """What the DICOM header says one decoded frame is."""

    rows: int
    columns: int
    samples: int
    bits_allocated: int
    bits_stored: int = 0  # 0: unknown


@dataclass(frozen=True)
class StreamInfo:
    """What a frame's codestream header says about the image."""

    rows: int
    columns: int
    components: int
    precision: int
    signed: bool | None = None  # JPEG 2000 only


def is_checked(syntax: str) -> bool:
    """True when frames of this transfer syntax are parsed by ``check_frame``."""
    return syntax in JPEG_SYNTAXES or syntax in J2K_SYNTAXES or syntax == RLE_LOSSLESS


def check_frame(syntax: str, data: bytes, spec: FrameSpec) -> StreamInfo | None:
    """Parse one frame's codestream and compare it with ``spec``; None for other syntaxes.

    Raises CodestreamError (TruncatedStreamError when the data ends early) with a message
    that completes "frame N ...".
    """
    if syntax in JPEG_SYNTAXES:
        info = _jpeg_info(data)
        kind = "JPEG-LS" if syntax in JPEG_LS_SYNTAXES else "JPEG"
    elif syntax in J2K_SYNTAXES:
        info = _j2k_info(data)
        kind = "JPEG 2000"
    elif syntax == RLE_LOSSLESS:
        _rle_offsets(data, spec)
        return None
    else:
        return None
    _compare(info, spec, kind)
    if not _ends_with_end_marker(data):
        marker = "EOC" if kind == "JPEG 2000" else "EOI"
        raise TruncatedStreamError(f"has no {kind} end marker ({marker}, FFD9)")
    return info


def _compare(info: StreamInfo, spec: FrameSpec, kind: str) -> None:
    # A JPEG height of 0 is defined later by a DNL marker; the decoded size is checked then.
    if info.columns != spec.columns or info.rows not in (spec.rows, 0):
        raise CodestreamError(
            f"is {info.columns}x{info.rows} pixels according to its {kind} header, "
            f"but the DICOM header says {spec.columns}x{spec.rows}"
        )
    if info.components != spec.samples:
        raise CodestreamError(
            f"has {info.components} components according to its {kind} header, "
            f"but the DICOM header says {spec.samples} samples per pixel"
        )
    if not 0 < info.precision <= spec.bits_allocated:
        raise CodestreamError(
            f"has {info.precision}-bit samples according to its {kind} header, "
            f"more than the {spec.bits_allocated} bits allocated per pixel"
        )
    # Precision and Bits Stored often differ by a few bits in real files (16 and 12, 14
    # and 16); a codestream of fewer than 8 bits for an image of 8 or more is damaged.
    if info.precision < min(MIN_PLAUSIBLE_PRECISION, spec.bits_stored):
        raise CodestreamError(
            f"has {info.precision}-bit samples according to its {kind} header, but the "
            f"DICOM header says {spec.bits_stored} bits stored"
        )


def _ends_with_end_marker(data: bytes) -> bool:
    return data.rstrip(PADDING_BYTES).endswith(END_MARKER) or data.endswith(END_MARKER)


def _jpeg_info(data: bytes) -> StreamInfo:
    """The frame header (SOFn or SOF55) of a JPEG or JPEG-LS stream, read before SOS."""
    if data[:2] != b"\xff\xd8":
        raise CodestreamError("is not a JPEG stream (no SOI marker at its start)")
    position = 2
    size = len(data)
    while position < size:
        if data[position] != 0xFF:
            raise CodestreamError(f"has a damaged JPEG header (no marker at byte {position})")
        while position < size and data[position] == 0xFF:  # fill bytes
            position += 1
        if position >= size:
            break
        marker = data[position]
        position += 1
        if marker in JPEG_STANDALONE:
            if marker == 0xD9:
                break
            continue
        if position + 2 > size:
            break
        (length,) = struct.unpack_from(">H", data, position)
        if marker in JPEG_SOF_MARKERS:
            if length < 8 or position + 8 > size:
                break
            precision, rows, columns, components = struct.unpack_from(">BHHB", data, position + 2)
            return StreamInfo(rows, columns, components, precision)
        if marker == 0xDA:  # start of scan without a frame header
            raise CodestreamError("has no JPEG frame header (SOF) before its scan data")
        if length < 2:
            raise CodestreamError(f"has a damaged JPEG header (marker FF{marker:02X})")
        position += length
    raise TruncatedStreamError("ends inside its JPEG header")


def _j2k_info(data: bytes) -> StreamInfo:
    """The SIZ marker segment of a JPEG 2000 codestream (raw, or inside a JP2 header)."""
    position = 0 if data[:4] == J2K_SOC_SIZ else data.find(J2K_SOC_SIZ, 0, JP2_HEADER_SEARCH)
    if position < 0:
        if len(data) < 4 or (data[:2] == b"\xff\x4f" and len(data) < 48):
            raise TruncatedStreamError("ends inside its JPEG 2000 header")
        raise CodestreamError("is not a JPEG 2000 codestream (no SOC and SIZ markers)")
    siz = position + 2
    # SIZ: marker, Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, 4 tile fields, Csiz, Ssiz...
    if siz + 43 > len(data):
        raise TruncatedStreamError("ends inside its JPEG 2000 header")
    width, height, x_offset, y_offset = struct.unpack_from(">IIII", data, siz + 6)
    (components,) = struct.unpack_from(">H", data, siz + 38)
    if components < 1 or siz + 40 + 3 * components > len(data):
        raise CodestreamError("has a damaged JPEG 2000 header (component count)")
    depth = data[siz + 40]
    return StreamInfo(
        max(0, height - y_offset),
        max(0, width - x_offset),
        components,
        (depth & 0x7F) + 1,
        bool(depth & 0x80),
    )


def _rle_offsets(data: bytes, spec: FrameSpec) -> list[int]:
    """Start of each segment of an RLE frame, plus its end; the header checked (PS3.5 G.5)."""
    if len(data) < 64:
        raise TruncatedStreamError(f"is {len(data)} bytes, shorter than the 64-byte RLE header")
    count, *offsets = struct.unpack_from("<16I", data)
    expected = spec.samples * (spec.bits_allocated // 8)
    if count != expected:
        raise CodestreamError(
            f"has {count} RLE segments, but the DICOM header ({spec.samples} samples of "
            f"{spec.bits_allocated} bits) needs {expected}"
        )
    starts = offsets[:count]
    if starts[0] != 64:
        raise CodestreamError(f"has a damaged RLE header (first segment at byte {starts[0]})")
    for earlier, later in itertools.pairwise(starts):
        if later <= earlier:
            raise CodestreamError("has a damaged RLE header (segment offsets not increasing)")
    if starts[-1] >= len(data):
        raise TruncatedStreamError(
            f"is {len(data)} bytes, but its RLE header puts a segment at byte {starts[-1]}"
        )
    return [*starts, len(data)]


def rle_decoder_available() -> bool:
    """True when pylibjpeg-rle's segment decoder can be used by ``decode_rle``."""
    try:
        from rle.rle import decode_segment  # noqa: F401
    except ImportError:
        return False
    return True


def decode_rle(data: bytes, spec: FrameSpec, signed: bool) -> np.ndarray:
    """Decode a one-sample RLE frame to a (rows, columns) array, each segment length checked.

    Segments hold the most significant byte first (PS3.5 G.3.1); a segment that decodes
    to fewer than rows x columns bytes means the data ends early, more means it is damaged.
    """
    from rle.rle import decode_segment

    if spec.samples != 1:
        raise CodestreamError("RLE decoding here is for one sample per pixel only")
    offsets = _rle_offsets(data, spec)
    pixels = spec.rows * spec.columns
    n_bytes = spec.bits_allocated // 8
    out = np.zeros(pixels, dtype=f"<u{n_bytes}")
    planes = out.view(np.uint8).reshape(pixels, n_bytes)
    for segment in range(n_bytes):
        decoded = decode_segment(data[offsets[segment] : offsets[segment + 1]])
        if len(decoded) < pixels:
            raise TruncatedStreamError(
                f"RLE segment {segment + 1} decodes to {len(decoded)} bytes instead of {pixels}"
            )
        if len(decoded) > pixels + 1:  # one byte of segment padding is common
            raise CodestreamError(
                f"RLE segment {segment + 1} decodes to {len(decoded)} bytes instead of {pixels}"
            )
        planes[:, n_bytes - 1 - segment] = np.frombuffer(decoded, np.uint8, pixels)
    values = out.view(f"<i{n_bytes}") if signed else out
    return values.astype(values.dtype.newbyteorder("="), copy=False).reshape(
        spec.rows, spec.columns
    )
