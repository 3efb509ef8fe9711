"""The binary members of a project: models as binary PLY, the segmentation as a .seg.nrrd.

*Models* are binary little-endian PLY in LPS millimetres with ``property double x/y/z``
(so every vertex comes back bit for bit) and ``property list uchar int
vertex_indices`` faces; both are decoded with ``numpy.frombuffer``, no Python loop.

*The segmentation* is the 3D Slicer ``.seg.nrrd`` that ``io/segmentation_nrrd`` writes
(its header: one labelled layer per group of non-overlapping segments, Slicer's
``SegmentN_*`` keys), gzip-encoded, streamed slab by slab.  What a .seg.nrrd cannot
carry exactly (colour at full precision, visibility, opacity, locked, coded meanings,
the threshold range a segment holds) goes into ``segments.json``, keyed by segment id
and in list order (``segment_properties``).  Decoding inflates at most the bytes the
header's sizes promise (a gzip bomb stops there) into one preallocated array.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from workstation import __version__
from workstation.core.coded_concepts import CodedConcept
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken
from workstation.core.segmentation import Segmentation
from workstation.io.segment_labels import label_layers
from workstation.io.segmentation_nrrd import gzip_voxel_chunks, header_text


class MemberError(ValueError):
    """A member whose content does not fit its format (the message says what)."""


# -- meshes as PLY ---------------------------------------------------------------------------
_FACE = np.dtype([("count", "u1"), ("indices", "<i4", (3,))])
_PLY_HEADER_MAX = 64 << 10


def encode_ply(mesh: Mesh) -> bytes:
    """Binary PLY of ``mesh``: float64 LPS vertices, int32 triangle indices."""
    return b"".join(bytes(part) for part in ply_parts(mesh))


def ply_parts(mesh: Mesh) -> list[memoryview]:
    """``encode_ply``'s bytes in three parts (header, vertices, faces), without copies."""
    if mesh.n_vertices >= 2**31:
        raise MemberError("a mesh has too many vertices for a PLY index (2^31)")
    name = " ".join(mesh.name.split())
    header = (
        "ply\nformat binary_little_endian 1.0\n"
        "comment SPACE=LPS UNITS=mm\n"
        f"comment surgical planning workstation {__version__}\n"
        f"comment name {name}\n"
        f"element vertex {mesh.n_vertices}\n"
        "property double x\nproperty double y\nproperty double z\n"
        f"element face {mesh.n_faces}\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    faces = np.empty(mesh.n_faces, dtype=_FACE)
    faces["count"] = 3
    faces["indices"] = mesh.faces
    vertices = np.ascontiguousarray(mesh.vertices, dtype="<f8")
    return [memoryview(header.encode("utf-8")), _bytes_of(vertices), _bytes_of(faces)]


def _ply_counts(lines: list[str]) -> tuple[int, int]:
    """(vertices, faces) of a header in exactly the layout ``encode_ply`` writes."""
    body = [line for line in lines if not line.startswith("comment")]
    expected = [
        "ply",
        "format binary_little_endian 1.0",
        "element vertex",
        "property double x",
        "property double y",
        "property double z",
        "element face",
        "property list uchar int vertex_indices",
        "end_header",
    ]
    if len(body) != len(expected):
        raise MemberError("its PLY header is not the workstation's")
    counts = []
    for line, wanted in zip(body, expected, strict=True):
        if wanted.startswith("element"):
            words = line.split()
            if len(words) != 3 or " ".join(words[:2]) != wanted or not words[2].isdigit():
                raise MemberError(f"bad PLY header line {line[:60]!r}")
            counts.append(int(words[2]))
        elif line.strip() != wanted:
            raise MemberError(f"bad PLY header line {line[:60]!r}")
    return counts[0], counts[1]


def decode_ply(data: bytes, name: str = "Model") -> Mesh:
    """The mesh ``encode_ply`` wrote; MemberError when the bytes do not fit the format."""
    end = data.find(b"end_header\n", 0, _PLY_HEADER_MAX)
    if not data.startswith(b"ply\n") or end < 0:
        raise MemberError("it is not a binary PLY file")
    start = end + len(b"end_header\n")
    try:
        lines = data[:start].decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise MemberError("its PLY header is not text") from None
    n_vertices, n_faces = _ply_counts(lines)
    if len(data) - start != n_vertices * 24 + n_faces * _FACE.itemsize:
        raise MemberError(
            f"it holds {len(data) - start} bytes for {n_vertices} vertices and {n_faces} faces"
        )
    vertices = np.frombuffer(data, "<f8", 3 * n_vertices, start).reshape(-1, 3)
    faces = np.frombuffer(data, _FACE, n_faces, start + 24 * n_vertices)
    if n_faces and not np.all(faces["count"] == 3):
        raise MemberError("it holds faces that are not triangles")
    try:
        return Mesh(vertices.astype(np.float64), faces["indices"].astype(np.int64), name=name)
    except ValueError as error:
        raise MemberError(str(error)) from None


# -- the segmentation ------------------------------------------------------------------------
def _bytes_of(array: np.ndarray) -> memoryview:
    """A contiguous array's bytes as a flat byte view (no copy): what a zip member takes."""
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).data


class SegmentationEncoding:
    """A segmentation ready to stream as a .seg.nrrd: its label layers packed once."""

    def __init__(self, segmentation: Segmentation, cancel: CancelToken | None = None) -> None:
        self.cancel = cancel or CancelToken()
        self.layers = label_layers(segmentation, self.cancel)
        self.header = header_text(segmentation, self.layers).encode("utf-8")
        self.slabs = int(self.layers.arrays.shape[1])

    @property
    def raw_bytes(self) -> int:
        """Bytes of the uncompressed voxel data."""
        return int(self.layers.arrays.nbytes)

    def chunks(self, on_slab: Any = None) -> Iterator[bytes | memoryview]:
        """The header, then the gzip stream of the voxels, slab by slab."""
        yield self.header
        yield from gzip_voxel_chunks(self.layers, self.cancel, on_slab)


def segment_properties(segmentation: Segmentation) -> dict[str, Any]:
    """``segments.json``: list order and every segment's properties, keyed by id."""
    segments = {}
    for segment in segmentation.segments:
        segments[segment.segment_id] = {
            "name": segment.name,
            "color": [float(c) for c in segment.color],
            "visible": bool(segment.visible),
            "opacity": float(segment.opacity),
            "locked": bool(segment.locked),
            "category": segment.category.as_dict() if segment.category else None,
            "type": segment.type.as_dict() if segment.type else None,
            "threshold_range": (
                None
                if segment.threshold_range is None
                else [
                    float(segment.threshold_range[0]),
                    None
                    if segment.threshold_range[1] is None
                    else float(segment.threshold_range[1]),
                ]
            ),
        }
    return {
        "order": [segment.segment_id for segment in segmentation.segments],
        "segments": segments,
    }


def _header_fields(data: bytes) -> tuple[dict[str, Any], int]:
    """The NRRD header (parsed by pynrrd) and where the voxel data starts."""
    import nrrd  # light, but only projects with segments need it

    end = data.find(b"\n\n", 0, 64 << 20)
    if not data.startswith(b"NRRD") or end < 0:
        raise MemberError("it is not a NRRD file")
    try:
        lines = data[:end].decode("utf-8").splitlines()
        header = dict(nrrd.read_header(lines))
    except (UnicodeDecodeError, nrrd.NRRDError, ValueError, TypeError) as error:
        raise MemberError(f"its NRRD header cannot be read ({error})") from None
    return header, end + 2


def _inflate(data: memoryview, expected: int) -> np.ndarray:
    """Exactly ``expected`` bytes from the gzip stream ``data``; never inflates past them."""
    out = np.empty(expected, dtype=np.uint8)
    engine = zlib.decompressobj(zlib.MAX_WBITS | 16)
    position = 0
    step_in, step_out = 1 << 20, 16 << 20
    try:
        for start in range(0, len(data), step_in):
            pending: bytes | memoryview = data[start : start + step_in]
            while pending and not engine.eof:
                piece = engine.decompress(pending, min(step_out, expected - position + 1))
                if position + len(piece) > expected:
                    raise MemberError(f"its voxel data holds more than the {expected} bytes")
                out[position : position + len(piece)] = np.frombuffer(piece, np.uint8)
                position += len(piece)
                pending = engine.unconsumed_tail
            if engine.eof:
                break
    except zlib.error as error:
        raise MemberError(f"its voxel data is damaged ({error})") from None
    if position != expected or not engine.eof:
        raise MemberError(f"its voxel data ends after {position} of {expected} bytes")
    return out


def _coded(value: Any) -> CodedConcept | None:
    return None if value is None else CodedConcept.from_dict(value)


def decode_segmentation(
    data: bytes,
    properties: dict[str, Any],
    shape: tuple[int, int, int],
    affine: np.ndarray,
    frame_of_reference_uid: str = "",
) -> Segmentation:
    """The segmentation of a .seg.nrrd member and ``segments.json`` on the grid given.

    The caller checks the memory (voxels x (layers + segments)) before calling.
    """
    header, offset = _header_fields(data)
    slices, rows, columns = shape
    sizes = [int(v) for v in header.get("sizes", ())]
    dimension = int(header.get("dimension", 0))
    if header.get("type") not in ("uint8", "uchar", "unsigned char") or header.get(
        "encoding"
    ) not in ("gzip", "gz"):
        raise MemberError("it is not a gzip uint8 label volume")
    if dimension == 3 and sizes == [columns, rows, slices]:
        count = 1
    elif dimension == 4 and len(sizes) == 4 and sizes[1:] == [columns, rows, slices]:
        count = sizes[0]
    else:
        raise MemberError(f"its sizes {sizes} do not fit the grid {columns}x{rows}x{slices}")
    if not 1 <= count <= 65536:
        raise MemberError(f"it claims {count} layers")
    voxels = _inflate(memoryview(data)[offset:], count * slices * rows * columns)
    if count == 1:
        layers = [voxels.reshape(shape)]
    else:  # one contiguous array per layer, so each segment's comparison is one fast pass
        interleaved = voxels.reshape(-1, count)
        layers = [np.ascontiguousarray(interleaved[:, k]).reshape(shape) for k in range(count)]
        del voxels, interleaved
    placement: dict[str, tuple[int, int]] = {}
    number = 0
    while f"Segment{number}_ID" in header:
        key = f"Segment{number}_"
        try:
            layer, label = int(header[key + "Layer"]), int(header[key + "LabelValue"])
        except (KeyError, ValueError):
            raise MemberError(f"segment {number} has no layer or label value") from None
        if not (0 <= layer < count and 1 <= label <= 255):
            raise MemberError(f"segment {number} has layer {layer}, label {label}")
        placement[str(header[key + "ID"])] = (layer, label)
        number += 1
    return _segments(properties, placement, layers, shape, affine, frame_of_reference_uid)


def _segments(
    properties: dict[str, Any],
    placement: dict[str, tuple[int, int]],
    layers: list[np.ndarray],
    shape: tuple[int, int, int],
    affine: np.ndarray,
    frame_of_reference_uid: str,
) -> Segmentation:
    try:
        order = [str(item) for item in properties["order"]]
        records = properties["segments"]
    except (KeyError, TypeError):
        raise MemberError("segments.json lacks the segment order or properties") from None
    if sorted(order) != sorted(placement) or len(set(order)) != len(order):
        raise MemberError("segments.json and the .seg.nrrd name different segments")
    segmentation = Segmentation(shape, affine, frame_of_reference_uid)
    for segment_id in order:
        layer, label = placement[segment_id]
        source = layers[layer]
        try:
            record = records[segment_id]
            threshold = record.get("threshold_range")
            segmentation.add(
                str(record["name"]),
                tuple(float(c) for c in record["color"]),  # type: ignore[arg-type]
                mask=source == label,
                segment_id=segment_id,
                visible=bool(record.get("visible", True)),
                opacity=float(record.get("opacity", 1.0)),
                locked=bool(record.get("locked", False)),
                category=_coded(record.get("category")),
                type=_coded(record.get("type")),
                threshold_range=None
                if threshold is None
                else (float(threshold[0]), None if threshold[1] is None else float(threshold[1])),
            )
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise MemberError(f"segments.json: segment {segment_id}: {error}") from None
    return segmentation
