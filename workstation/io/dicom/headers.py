"""Read DICOM headers (never pixels) and turn them into per-frame facts (FrameRef).

``read_header`` parses a file up to its Pixel Data element.  ``frames_from_dataset``
yields one FrameRef per 2D frame: classic single-frame objects from top-level tags,
Enhanced / legacy-converted multi-frame objects from the Per-frame Functional Groups
falling back to the Shared ones.  ``read_file_header`` adds the per-file facts the
grouping needs (patient, study, series) and decides whether the file holds an image.

Every value is read defensively: a malformed number is treated as missing and recorded
as a warning, so one odd file never stops a scan.

``read_file_header`` first tries ``plain_header`` (no pydicom, a fraction of the time) and
parses with pydicom only the files it declines; pydicom itself is imported only then.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias, cast

from workstation.core.errors import DicomReadError
from workstation.core.provenance import SeriesIdentity
from workstation.io.dicom.bounded_reader import BoundedReader, HeaderTimeLimitExceeded
from workstation.io.dicom.deflate_check import check_inflated_size
from workstation.io.dicom.derived import KIND_NAMES, derived_from_dataset, derived_kind
from workstation.io.dicom.detect import has_preamble_magic, looks_like_dicom, read_head
from workstation.io.dicom.header_checks import (
    SPACING_RANGE_MM,
    bits_problem,
    check_orientation,
    check_position,
    check_spacing,
    frames_problem,
)
from workstation.io.dicom.model import DerivedObject, FrameRef
from workstation.io.dicom.pixel_extent import PixelExtent, read_pixel_extent
from workstation.io.dicom.plain_header import PlainHeader, read_plain_header
from workstation.io.dicom.syntax_uids import (
    DEFLATED_EXPLICIT_VR,
    EXPLICIT_VR_BIG_ENDIAN,
    EXPLICIT_VR_LITTLE_ENDIAN,
    IMPLICIT_VR_LITTLE_ENDIAN,
)
from workstation.io.sources import display_name, open_binary

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.tag import BaseTag

#: What the tolerant readers below accept: pydicom's data set, or the fast path's header.
Header: TypeAlias = "Dataset | PlainHeader"

#: Pixel Data, Float Pixel Data and Double Float Pixel Data, as (group, element).
PIXEL_DATA_TAGS = ((0x7FE0, 0x0010), (0x7FE0, 0x0008), (0x7FE0, 0x0009))

#: The same tags as integers, for the per-element stop test of the header parse.
PIXEL_DATA_TAG_VALUES = frozenset((group << 16) | element for group, element in PIXEL_DATA_TAGS)

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
UNDEFINED_LENGTH = 0xFFFFFFFF
#: Zero bytes that, where a data element should start, mark an incomplete file.
ZERO_RUN_PROBE = 64
#: (0002,0000) UL right after ``DICM``, as explicit VR little endian writes it.
META_GROUP_LENGTH = b"\x02\x00\x00\x00UL"
#: File meta read at most to find its transfer syntax (real ones are a few hundred bytes).
MAX_META_BYTES = 1 << 16

#: Functional-group sequences whose item carries FrameType, in the order tried.
FRAME_TYPE_SEQUENCES = (
    "MRImageFrameTypeSequence",
    "CTImageFrameTypeSequence",
    "PETFrameTypeSequence",
    "XRay3DFrameTypeSequence",
)

#: Philips private per-frame item (2005,140F) that repeats classic tags per frame.
PHILIPS_PRIVATE_CREATOR = "Philips MR Imaging DD 005"
PHILIPS_PER_FRAME_ELEMENT = 0x0F

#: Image Position (Patient) and Image Orientation (Patient) values.
Position = tuple[float, float, float]
Orientation = tuple[float, float, float, float, float, float]

#: Dimension index pointers that describe the in-stack position, not a separate volume:
#: Stack ID, In-Stack Position Number and Image Position (Patient).
POSITION_DIMENSIONS = frozenset({0x00209056, 0x00209057, 0x00200032})


@dataclass
class FileHeader:
    """Per-file facts for grouping (``identity``: patient, study, series) plus its frames.

    ``skip_reason`` is set (and ``frames`` empty) when the file holds no image;
    ``derived`` is set as well for a DICOM SEG or Encapsulated STL (``derived.py``).
    ``frame_keys`` has one entry per frame: the Enhanced dimension index values that are
    not in-stack position (e.g. echo, image type, b-value), used to split stacks.
    """

    location: str
    sop_class_uid: str = ""
    identity: SeriesIdentity = field(default_factory=SeriesIdentity)
    mosaic: bool = False
    frames: list[FrameRef] = field(default_factory=list)
    frame_keys: list[tuple[int, ...]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skip_reason: str | None = None
    derived: DerivedObject | None = None


# ----------------------------------------------------------------------------- reading


def _pixel_tag_at(handle: BinaryIO) -> bool:
    """True when the bytes at the handle's position are a Pixel Data tag (either endian)."""
    position = handle.tell()
    tag = handle.read(4)
    handle.seek(position)
    if len(tag) < 4:
        return False
    little = struct.unpack("<HH", tag)
    big = struct.unpack(">HH", tag)
    return little in PIXEL_DATA_TAGS or big in PIXEL_DATA_TAGS


def _stop_at_pixels_or_junk(tag: BaseTag, vr: str | None, length: int) -> bool:
    """Stop the header parse at Pixel Data, or at a group-0000 tag (zero bytes, junk).

    Group 0000 never belongs in a stored data set; a run of zero bytes after a header
    (a partial or preallocated download) parses as such tags, 8 bytes at a time.
    """
    return tag in PIXEL_DATA_TAG_VALUES or tag < 0x00010000


def _zero_run_after(handle: BinaryIO, position: int) -> bool:
    """True when the bytes at ``position`` start a run of zeros (no data element there)."""
    handle.seek(position)
    return handle.read(ZERO_RUN_PROBE) == bytes(ZERO_RUN_PROBE)


def truncation_problem(ds: Dataset) -> str | None:
    """Why a parsed header looks cut short (file ends inside an element), else None."""
    from pydicom.dataelem import RawDataElement

    tags = list(ds.keys())
    if not tags:
        return "no data elements after the file meta information"
    last = ds.get_item(tags[-1])
    if (
        isinstance(last, RawDataElement)
        and isinstance(last.value, bytes)
        and last.length != UNDEFINED_LENGTH
        and len(last.value) < last.length
    ):
        return f"file ends inside element {last.tag} ({len(last.value)} of {last.length} bytes)"
    return None


def _meta_end(reader: BinaryIO, head: bytes) -> tuple[int, str] | None:
    """Offset where the data set starts and the transfer syntax, from the file meta.

    Found from ``DICM`` and the File Meta Information Group Length (0002,0000) as UL, as
    every conforming file has them; None otherwise.
    """
    if not has_preamble_magic(head) or head[132:138] != META_GROUP_LENGTH:
        return None
    (length,) = struct.unpack_from("<I", head, 140)
    start = 144 + length
    if start <= len(head):
        meta = head[132:start]
    else:  # a long file meta: read it (bounded), it names the transfer syntax
        reader.seek(132)
        meta = reader.read(min(start - 132, MAX_META_BYTES))
    syntax = DEFLATED_EXPLICIT_VR if DEFLATED_EXPLICIT_VR.encode() in meta else ""
    return start, syntax


def _check_before_parse(reader: BinaryIO, head: bytes, location: str) -> None:
    """Refuse, before pydicom runs, data sets that are zeros or inflate without bound."""
    meta = _meta_end(reader, head)
    if meta is None:
        return
    start, syntax = meta
    if _zero_run_after(reader, start):
        raise DicomReadError(
            f"Cannot read {display_name(location)}: zero bytes where the data set should "
            "start (an incomplete or preallocated file)",
            "incomplete file: zero bytes after the file meta information",
        )
    if syntax == DEFLATED_EXPLICIT_VR:
        reader.seek(start)
        check_inflated_size(reader, location)
    reader.seek(0)


def _read_dataset(reader: BinaryIO) -> Dataset:
    """pydicom's parse up to Pixel Data (or junk), tolerant of a missing preamble."""
    from pydicom.errors import InvalidDicomError
    from pydicom.filereader import read_partial

    try:
        return read_partial(reader, stop_when=_stop_at_pixels_or_junk)
    except InvalidDicomError:
        reader.seek(0)
        return read_partial(reader, stop_when=_stop_at_pixels_or_junk, force=True)


def _extent_after_header(
    reader: BinaryIO, ds: Dataset, size: int | None, location: str
) -> PixelExtent | None:
    """The Pixel Data extent where the parse stopped; None when the file has no pixels."""
    if _pixel_tag_at(reader):
        implicit, little = ds.original_encoding
        if size is None:
            return PixelExtent(None, None)
        return read_pixel_extent(reader, bool(implicit), bool(little), size)
    position = reader.tell()
    if "Rows" in ds and size is not None and _zero_run_after(reader, position):
        raise DicomReadError(
            f"Cannot read {display_name(location)}: the header is followed by zero bytes "
            f"from offset {position} on, where the image data should be (an incomplete "
            "or preallocated file)",
            "incomplete file: zero bytes after the header",
        )
    if transfer_syntax_of(ds) == DEFLATED_EXPLICIT_VR and "Rows" in ds and "Columns" in ds:
        # pydicom inflated the data set into its own buffer: our handle says nothing.
        return PixelExtent(None, None)
    return None


def _parse(handle: BinaryIO, location: str) -> tuple[Dataset, PixelExtent | None]:
    """Parse the header from an open handle; returns (dataset, extent of its pixel data)."""
    head, size = read_head(handle)
    if not looks_like_dicom(head, size):
        raise DicomReadError(f"{display_name(location)} is not a DICOM file", "not a DICOM file")
    reader: BinaryIO = BoundedReader(handle, size) if size is not None else handle  # type: ignore[assignment]
    try:
        _check_before_parse(reader, head, location)
        ds = _read_dataset(reader)
        extent = _extent_after_header(reader, ds, size, location)
        problem = None if extent is not None else truncation_problem(ds)
    except DicomReadError:
        raise
    except HeaderTimeLimitExceeded as error:
        raise DicomReadError(
            f"Cannot read {display_name(location)}: {error} (a damaged or hostile file)",
            f"unreadable header: {error}",
        ) from error
    except (EOFError, struct.error) as error:
        raise DicomReadError(
            f"Cannot read {display_name(location)}: the DICOM header is truncated",
            f"truncated header: {error or 'unexpected end of file'}",
        ) from error
    except Exception as error:  # pydicom raises many types on malformed input
        raise DicomReadError(
            f"Cannot read {display_name(location)}: malformed DICOM header ({error})",
            f"unreadable header: {type(error).__name__}: {error}",
        ) from error
    if problem:
        raise DicomReadError(
            f"Cannot read {display_name(location)}: the DICOM header is truncated ({problem})",
            f"truncated header: {problem}",
        )
    return ds, extent


def _parse_location(location: str) -> tuple[Dataset, PixelExtent | None]:
    """Open and parse ``location``; an OSError becomes DicomReadError 'cannot open: ...'."""
    try:
        with open_binary(location) as handle:
            return _parse(handle, location)
    except OSError as error:
        raise DicomReadError(
            f"Cannot open {display_name(location)}: {error.strerror or error}",
            f"cannot open: {error.strerror or error}",
        ) from error


def read_header(location: str) -> Dataset:
    """Parse the header of the DICOM file at ``location`` up to (not including) its pixels.

    Raises DicomReadError (short reason in ``details``) when it is not DICOM or unreadable.
    """
    return _parse_location(location)[0]


def read_header_from(handle: BinaryIO, location: str) -> Dataset:
    """``read_header`` of an open seekable handle (e.g. the bytes of ``location`` in memory)."""
    return _parse(handle, location)[0]


# ------------------------------------------------------------------- tolerant values


def _get(ds: Header | None, keyword: str) -> Any:
    """The value of ``keyword`` in ``ds`` or None; never raises on malformed elements."""
    if ds is None:
        return None
    try:
        return ds.get(keyword)
    except Exception:  # a raw element that cannot be converted
        return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def _text(ds: Header | None, keyword: str) -> str:
    """A text value as a stripped string ('' when absent)."""
    value = _get(ds, keyword)
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.decode("latin-1", errors="replace")
    if not isinstance(value, str) and isinstance(value, Sequence):
        value = "\\".join(str(item) for item in value)
    return str(value).strip().replace("\x00", "")


class _Reader:
    """Reads numbers tolerantly and records what was malformed, once per attribute."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def _bad(self, keyword: str, value: Any) -> None:
        text = str(value)
        if len(text) > 40:
            text = text[:37] + "..."
        message = f"malformed {keyword} {text!r} treated as missing"
        if message not in self.warnings:
            self.warnings.append(message)

    def numbers(
        self,
        ds: Header | None,
        keyword: str,
        count: int | None = None,
        convert: Callable[[Any], float] = float,
    ) -> list[float] | None:
        """All values of a numeric attribute (``count`` required when given), or None."""
        value = _get(ds, keyword)
        if value is None:
            return None
        items = _as_list(value)
        if not items or (len(items) == 1 and str(items[0]).strip() == ""):
            return None
        try:
            numbers = [convert(item) for item in items]
        except (TypeError, ValueError, OverflowError):
            self._bad(keyword, value)
            return None
        if any(number != number or abs(number) == float("inf") for number in numbers):
            self._bad(keyword, value)
            return None
        if count is not None and len(numbers) != count:
            self._bad(keyword, value)
            return None
        return numbers

    def number(self, ds: Header | None, keyword: str) -> float | None:
        """The first value of a numeric attribute, or None."""
        values = self.numbers(ds, keyword)
        return values[0] if values else None

    def integer(self, ds: Header | None, keyword: str) -> int | None:
        """The first value of an integer attribute (IS/US/UL/...), or None."""
        values = self.numbers(ds, keyword, convert=_to_int)
        return int(values[0]) if values else None


def _to_int(value: Any) -> float:
    number = float(value)
    if number != int(number):
        raise ValueError(value)
    return int(number)


def _image_type(value: Any) -> tuple[str, ...]:
    return tuple(str(item).strip().upper() for item in _as_list(value) if str(item).strip())


def transfer_syntax_of(ds: Header) -> str:
    """The transfer syntax UID of a parsed file; Implicit VR LE when nothing says otherwise."""
    meta = getattr(ds, "file_meta", None)
    uid = _text(meta, "TransferSyntaxUID") if meta is not None else ""
    if uid:
        return uid
    encoding = getattr(ds, "original_encoding", (None, None))
    if encoding == (False, True):
        return EXPLICIT_VR_LITTLE_ENDIAN
    if encoding == (False, False):
        return EXPLICIT_VR_BIG_ENDIAN
    return IMPLICIT_VR_LITTLE_ENDIAN


def sop_class_of(ds: Header) -> str:
    """The SOP Class UID from the data set, else from the file meta ('' when absent)."""
    uid = _text(ds, "SOPClassUID")
    if not uid:
        meta = getattr(ds, "file_meta", None)
        uid = _text(meta, "MediaStorageSOPClassUID") if meta is not None else ""
    return uid


def sop_class_name(uid: str) -> str:
    """A short readable name of a SOP class: 'RT Structure Set', 'Basic Text SR'..."""
    if not uid:
        return "unknown object type"
    from pydicom.uid import UID

    name = UID(uid).name
    if name == uid:
        return f"SOP class {uid}"
    for suffix in (" Storage", " IOD"):
        name = name.removesuffix(suffix)
    return name


# -------------------------------------------------------------------- frames


def _first_item(ds: Header | None, keyword: str) -> Header | None:
    value = _get(ds, keyword)
    if value is None:
        return None
    try:
        return value[0] if len(value) else None
    except (TypeError, IndexError):
        return None


def _group(per_frame: Header | None, shared: Header | None, keyword: str) -> Header | None:
    """The functional group item ``keyword`` for a frame: per-frame first, then shared."""
    item = _first_item(per_frame, keyword)
    return item if item is not None else _first_item(shared, keyword)


def _philips_private_item(per_frame: Dataset | None) -> Dataset | None:
    """Philips' private per-frame item (2005,xx0F) that repeats classic tags, if any."""
    if per_frame is None:
        return None
    try:
        block = per_frame.private_block(0x2005, PHILIPS_PRIVATE_CREATOR)
        element = block[PHILIPS_PER_FRAME_ELEMENT]
        return element.value[0] if element.value else None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None


def _window(reader: _Reader, ds: Header | None) -> tuple[float, float] | None:
    centers = reader.numbers(ds, "WindowCenter")
    widths = reader.numbers(ds, "WindowWidth")
    if not centers or not widths or widths[0] <= 0:
        return None
    return (centers[0], widths[0])


def _six(values: Sequence[float]) -> Orientation:
    first, second, third, fourth, fifth, sixth = values
    return (first, second, third, fourth, fifth, sixth)


def _orientation(reader: _Reader, ds: Header | None, problems: list[str]) -> Orientation | None:
    """Orthonormalised IOP; a vector too far from unit/perpendicular is kept but refused."""
    values = reader.numbers(ds, "ImageOrientationPatient", 6)
    if values is None:
        return None
    row, col = values[:3], values[3:]
    if sum(v * v for v in row) < 1e-6 or sum(v * v for v in col) < 1e-6:
        reader._bad("ImageOrientationPatient", values)
        return None
    checked = check_orientation(values)
    if checked.problem:
        problems.append(checked.problem)
        return _six(values)
    if checked.note and checked.note not in reader.warnings:
        reader.warnings.append(checked.note)
    return None if checked.value is None else _six(checked.value)


def _spacing(
    reader: _Reader, ds: Header | None, keyword: str, problems: list[str]
) -> tuple[float, float] | None:
    """A pixel spacing pair; one outside the physical range is kept but refused."""
    values = reader.numbers(ds, keyword, 2)
    if values is None:
        return None
    checked = check_spacing(values, keyword)
    if checked.problem:
        problems.append(checked.problem)
    return (values[0], values[1])


def _position(reader: _Reader, ds: Header | None, problems: list[str]) -> Position | None:
    """Image Position (Patient); one implausibly far from the origin is kept but refused."""
    values = reader.numbers(ds, "ImagePositionPatient", 3)
    if values is None:
        return None
    checked = check_position(values)
    if checked.problem:
        problems.append(checked.problem)
    x, y, z = values
    return (x, y, z)


def _thickness(reader: _Reader, ds: Header | None) -> float | None:
    """Slice Thickness within the physical spacing range, else treated as missing."""
    value = reader.number(ds, "SliceThickness")
    if value is not None and not SPACING_RANGE_MM[0] <= value <= SPACING_RANGE_MM[1]:
        reader._bad("SliceThickness", value)
        return None
    return value


def _problem_text(problems: list[str]) -> str | None:
    return "; ".join(dict.fromkeys(problems)) or None


def _rescale(reader: _Reader, item: Header | None) -> tuple[float, float] | None:
    """(slope, intercept) from ``item`` when it has a usable slope, else None."""
    slope = reader.number(item, "RescaleSlope")
    if slope is None:
        return None
    if slope == 0:
        reader._bad("RescaleSlope", slope)
        return None
    intercept = reader.number(item, "RescaleIntercept")
    return (slope, intercept if intercept is not None else 0.0)


def _common_fields(reader: _Reader, ds: Header, location: str) -> dict[str, Any]:
    """FrameRef fields that are the same for every frame of a file."""
    return {
        "location": location,
        "sop_instance_uid": _text(ds, "SOPInstanceUID"),
        "sop_class_uid": sop_class_of(ds),
        "transfer_syntax_uid": transfer_syntax_of(ds),
        "rows": reader.integer(ds, "Rows") or 0,
        "columns": reader.integer(ds, "Columns") or 0,
        "instance_number": reader.integer(ds, "InstanceNumber"),
        "acquisition_number": reader.integer(ds, "AcquisitionNumber"),
        "photometric": _text(ds, "PhotometricInterpretation").upper() or "MONOCHROME2",
        "samples_per_pixel": reader.integer(ds, "SamplesPerPixel") or 1,
        "bits_allocated": reader.integer(ds, "BitsAllocated") or 16,
        "bits_stored": reader.integer(ds, "BitsStored")
        or reader.integer(ds, "BitsAllocated")
        or 16,
        "pixel_representation": reader.integer(ds, "PixelRepresentation") or 0,
        "gantry_tilt": reader.number(ds, "GantryDetectorTilt"),
    }


def _number_of_frames(reader: _Reader, ds: Header) -> int:
    count = reader.integer(ds, "NumberOfFrames")
    return count if count is not None and count > 0 else 1


def check_frames_held(
    common: dict[str, Any], count: int, extent: PixelExtent | None, location: str
) -> None:
    """Raise DicomReadError when the image data cannot hold what the header claims.

    Runs before any frame is described, so a huge Number of Frames or Rows/Columns costs
    nothing but this arithmetic.
    """
    problem = bits_problem(common["bits_allocated"], common["bits_stored"]) or frames_problem(
        count,
        common["rows"],
        common["columns"],
        common["samples_per_pixel"],
        common["bits_allocated"],
        extent,
    )
    if problem:
        raise DicomReadError(
            f"Cannot use {display_name(location)}: {problem}", f"damaged image data: {problem}"
        )


def _is_mosaic(image_type: tuple[str, ...]) -> bool:
    return "MOSAIC" in image_type


def _classic_frames(
    reader: _Reader, ds: Header, common: dict[str, Any], count: int
) -> list[FrameRef]:
    """Frames of a classic object: one file-level geometry shared by all frames."""
    image_type = _image_type(_get(ds, "ImageType"))
    problems: list[str] = []
    position = _position(reader, ds, problems)
    if _is_mosaic(image_type):
        position = None  # a mosaic tile grid is not one plane at this position
    spacing = _spacing(reader, ds, "PixelSpacing", problems) or _spacing(
        reader, ds, "ImagerPixelSpacing", problems
    )
    orientation = _orientation(reader, ds, problems)
    rescale = _rescale(reader, ds) or (1.0, 0.0)
    echo = reader.number(ds, "EchoNumbers")
    shared = {
        **common,
        "position": tuple(position) if position else None,
        "orientation": orientation,
        "geometry_problem": _problem_text(problems),
        "pixel_spacing": spacing,
        "rescale_slope": rescale[0],
        "rescale_intercept": rescale[1],
        "echo_number": echo,
        "temporal_position": reader.integer(ds, "TemporalPositionIdentifier"),
        "image_type": image_type,
        "window": _window(reader, ds),
        "number_of_frames": count,
        "slice_thickness": _thickness(reader, ds),
        "convolution_kernel": _text(ds, "ConvolutionKernel"),
    }
    if count == 1:
        return [FrameRef(frame_index=None, **shared)]
    return [FrameRef(frame_index=index, **shared) for index in range(count)]


def _dimension_key_indices(ds: Header) -> list[int] | None:
    """Indices into DimensionIndexValues that are not in-stack position; None if unknown."""
    items = _get(ds, "DimensionIndexSequence")
    if not items:
        return None
    from pydicom.tag import Tag

    indices = []
    try:
        for index, item in enumerate(items):
            pointer = item.get("DimensionIndexPointer")
            if pointer is None or Tag(pointer) not in POSITION_DIMENSIONS:
                indices.append(index)
    except Exception:  # a malformed dimension description: ignore dimensions
        return None
    return indices


def _enhanced_frames(
    reader: _Reader, ds: Header, common: dict[str, Any], count: int
) -> tuple[list[FrameRef], list[tuple[int, ...]]]:
    """Frames of an Enhanced / multi-frame object from its functional groups."""
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    per_frame_items = _as_list(_get(ds, "PerFrameFunctionalGroupsSequence"))
    top_type = _image_type(_get(ds, "ImageType"))
    top_rescale = _rescale(reader, ds)
    top_window = _window(reader, ds)
    top_kernel = _text(ds, "ConvolutionKernel")
    key_indices = _dimension_key_indices(ds)
    if per_frame_items and len(per_frame_items) != count:
        reader.warnings.append(
            f"{len(per_frame_items)} per-frame groups for {count} frames; using the smaller number"
        )
        count = min(count, len(per_frame_items))
    frames, keys = [], []
    for index in range(count):
        item = per_frame_items[index] if per_frame_items else None
        problems: list[str] = []
        position = _position(reader, _group(item, shared, "PlanePositionSequence"), problems)
        measures = _group(item, shared, "PixelMeasuresSequence")
        orientation = _orientation(
            reader, _group(item, shared, "PlaneOrientationSequence"), problems
        )
        spacing = _spacing(reader, measures, "PixelSpacing", problems)
        content = _group(item, shared, "FrameContentSequence")
        frame_type: tuple[str, ...] = ()
        for keyword in FRAME_TYPE_SEQUENCES:
            frame_type = _image_type(_get(_group(item, shared, keyword), "FrameType"))
            if frame_type:
                break
        rescale = (
            _rescale(reader, _group(item, shared, "PixelValueTransformationSequence"))
            or _rescale(reader, _philips_private_item(item))
            or top_rescale
            or (1.0, 0.0)
        )
        echo_item = _group(item, shared, "MREchoSequence")
        echo = (
            reader.number(echo_item, "EffectiveEchoTime")
            if echo_item is not None
            else reader.number(ds, "EchoNumbers")
        )
        stack_text = _text(content, "StackID")
        dimension_values = reader.numbers(content, "DimensionIndexValues", convert=_to_int)
        if key_indices is None or dimension_values is None:
            key: tuple[int, ...] = ()
        else:
            key = tuple(int(dimension_values[i]) for i in key_indices if i < len(dimension_values))
        image_type = frame_type or top_type
        frames.append(
            FrameRef(
                frame_index=index,
                position=None if _is_mosaic(image_type) else position,
                orientation=orientation,
                pixel_spacing=spacing,
                geometry_problem=_problem_text(problems),
                rescale_slope=rescale[0],
                rescale_intercept=rescale[1],
                echo_number=echo,
                temporal_position=reader.integer(content, "TemporalPositionIndex"),
                stack_id=stack_text or None,
                image_type=image_type,
                window=_window(reader, _group(item, shared, "FrameVOILUTSequence")) or top_window,
                number_of_frames=count,
                slice_thickness=_thickness(reader, measures),
                convolution_kernel=_text(
                    _group(item, shared, "CTReconstructionSequence"), "ConvolutionKernel"
                )
                or top_kernel,
                **common,
            )
        )
        keys.append(key)
    return frames, keys


def _has_functional_groups(ds: Header) -> bool:
    return "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds


def _frames_and_keys(
    reader: _Reader, ds: Header, location: str, extent: PixelExtent | None = None
) -> tuple[list[FrameRef], list[tuple[int, ...]]]:
    """Frames and their dimension keys, once the image data is known to hold them."""
    common = _common_fields(reader, ds, location)
    count = _number_of_frames(reader, ds)
    check_frames_held(common, count, extent, location)
    if _has_functional_groups(ds):
        return _enhanced_frames(reader, ds, common, count)
    frames = _classic_frames(reader, ds, common, count)
    return frames, [() for _ in frames]


def frames_from_dataset(ds: Header, location: str) -> list[FrameRef]:
    """One FrameRef per 2D frame of a parsed header (classic or Enhanced multi-frame)."""
    return _frames_and_keys(_Reader(), ds, location)[0]


# ------------------------------------------------------------------- file level


def identity_from_dataset(ds: Header) -> SeriesIdentity:
    """Patient, study and series facts of a parsed header ('' for each one absent)."""
    return SeriesIdentity(
        patient_id=_text(ds, "PatientID"),
        patient_name=_text(ds, "PatientName").replace("^", " ").strip(),
        study_uid=_text(ds, "StudyInstanceUID"),
        study_date=_text(ds, "StudyDate"),
        study_description=_text(ds, "StudyDescription"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        series_number=_text(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription") or _text(ds, "ProtocolName"),
        modality=_text(ds, "Modality").upper(),
        frame_of_reference_uid=_text(ds, "FrameOfReferenceUID"),
        identity_removed=_text(ds, "PatientIdentityRemoved").upper() == "YES",
    )


def header_from_dataset(
    ds: Header,
    location: str,
    has_pixel_data: bool,
    extent: PixelExtent | None = None,
    reader: _Reader | None = None,
) -> FileHeader:
    """Per-file facts and frames of a parsed header; sets ``skip_reason`` for non-images."""
    reader = reader or _Reader()
    sop_class = sop_class_of(ds)
    header = FileHeader(
        location=location,
        sop_class_uid=sop_class,
        identity=identity_from_dataset(ds),
    )
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        header.skip_reason = "DICOMDIR index"
        return header
    kind = derived_kind(sop_class)
    if kind is not None:
        # Only pydicom reads derived objects (the fast path declines them).
        header.derived = derived_from_dataset(kind, cast("Dataset", ds), location, header.identity)
        header.skip_reason = f"derived object ({KIND_NAMES[kind]})"
        return header
    if not has_pixel_data:
        header.skip_reason = f"no image data ({sop_class_name(sop_class)})"
        return header
    frames, keys = _frames_and_keys(reader, ds, location, extent)
    if not frames or frames[0].rows <= 0 or frames[0].columns <= 0:
        header.skip_reason = "image size (Rows/Columns) missing or unreadable"
        return header
    header.frames = frames
    header.frame_keys = keys
    header.mosaic = any(_is_mosaic(frame.image_type) for frame in frames)
    header.warnings = reader.warnings
    return header


class _NotPlainValue(Exception):
    """A value the fast path would call malformed: pydicom's reading decides instead."""


class _PlainReader(_Reader):
    """The fast path's reader: a malformed value sends the file to pydicom."""

    def _bad(self, keyword: str, value: Any) -> None:
        raise _NotPlainValue(keyword)


def read_plain_file_header(location: str) -> FileHeader | None:
    """The FileHeader of a plain classic image read without pydicom; None for any other file.

    Only a clean image header is answered here: anything odd, broken or unreadable is
    left to the pydicom path, which gives the reasons.
    """
    try:
        with open_binary(location) as handle:
            plain = read_plain_header(handle, handle.seek(0, 2))
            if plain is None:
                return None
            ds, extent = plain
            sop_class = sop_class_of(ds)
            if sop_class == MEDIA_STORAGE_DIRECTORY or derived_kind(sop_class) is not None:
                return None
            header = header_from_dataset(ds, location, True, extent, _PlainReader())
    except Exception:  # never decide a failure here: pydicom's path reports it
        return None
    return None if header.skip_reason else header


def read_file_header(location: str) -> FileHeader:
    """Read one file's header into a FileHeader; raises DicomReadError when unreadable.

    Plain classic images are read by the fast path (``plain_header``), all else by pydicom.
    """
    plain = read_plain_file_header(location)
    return plain if plain is not None else read_file_header_with_pydicom(location)


def read_file_header_with_pydicom(location: str) -> FileHeader:
    """``read_file_header`` through pydicom's parse, whatever the file (the reference)."""
    ds, extent = _parse_location(location)
    try:
        return header_from_dataset(ds, location, extent is not None, extent)
    except DicomReadError:
        raise
    except Exception as error:  # a header so odd that our tolerant reading still failed
        raise DicomReadError(
            f"Cannot interpret the header of {display_name(location)}: {error}",
            f"unreadable header: {type(error).__name__}: {error}",
        ) from error
