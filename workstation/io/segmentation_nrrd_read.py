"""Read segmentations from NRRD: 3D Slicer's .seg.nrrd and plain NRRD label maps.

The voxel-to-patient map is the file's own ``space origin`` and ``space directions``
(exact, sheared too), converted to LPS from the file's ``space``: LPS and scanner-xyz as
they are, RAS and LAS with their axes flipped; other spaces are refused.  A 4D file has
one non-spatial axis (Slicer's "list" axis): one label layer per position along it.

A file with ``SegmentN_ID`` keys is a Slicer segmentation: each segment is the voxels of
its ``_Layer`` holding its ``_LabelValue`` (Slicer's defaults: layer N, label 1), within
its ``_Extent`` (indices into the file's grid, as Slicer writes them; older files with a
``Segmentation_Extent`` gave them in the reference grid), with its
``_Name``, ``_Color`` and, from the ``TerminologyEntry`` tag, its coded category and type.
A file Slicer cropped to its segments keeps its place: the crop's ``space origin`` is
where its first voxel lies (``Segmentation_ReferenceImageExtentOffset`` only says where
the crop sat in Slicer's reference grid).  Without Segment keys every distinct non-zero
value is one segment, named from the label table or "Label N".

The header is read as UTF-8 (Slicer writes names in any language); pynrrd reads the rest.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from workstation.core.coded_concepts import CodedConcept
from workstation.core.errors import MemoryLimitError, SegmentationError
from workstation.core.memory_budget import check_memory
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.label_tables import LabelTable, entry_for
from workstation.io.readers import (
    ImportedSegmentation,
    ImportedStructure,
    distinct_labels,
    register_reader,
)

#: Largest NRRD header read (a Slicer header of hundreds of segments is well below).
MAX_HEADER_BYTES = 16 * 1024 * 1024

#: NRRD space name -> the diagonal that takes its coordinates to LPS.
SPACES = {
    "left-posterior-superior": (1.0, 1.0, 1.0),
    "lps": (1.0, 1.0, 1.0),
    "scanner-xyz": (1.0, 1.0, 1.0),
    "right-anterior-superior": (-1.0, -1.0, 1.0),
    "ras": (-1.0, -1.0, 1.0),
    "left-anterior-superior": (1.0, -1.0, 1.0),
    "las": (1.0, -1.0, 1.0),
}

EMPTY_EXTENT = (0, -1, 0, -1, 0, -1)


class NrrdProblem(SegmentationError):
    """A NRRD file that cannot be read as a segmentation (message names the file)."""


def _fail(path: Path, message: str) -> NrrdProblem:
    return NrrdProblem(f"{path.name}: {message}")


# -- header and data ---------------------------------------------------------------------------
def _header_lines(handle: Any, path: Path) -> tuple[list[str], int]:
    """The header lines (decoded, the blank line included) and their length in bytes."""
    lines: list[str] = []
    size = 0
    for raw in handle:
        size += len(raw)
        if size > MAX_HEADER_BYTES:
            break
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("latin-1")
        lines.append(line)
        if not line.strip():
            return lines, size
    raise _fail(path, "not a NRRD file (no end of header found)")


def _voxel_count(header: dict[str, Any], path: Path) -> int:
    try:
        sizes = [int(n) for n in header["sizes"]]
    except (KeyError, TypeError, ValueError):
        raise _fail(path, "has no valid 'sizes'") from None
    if not sizes or min(sizes) < 1:
        raise _fail(path, f"has empty sizes {sizes}")
    return int(np.prod(sizes, dtype=np.int64))


def _inflated(handle: Any, header: dict[str, Any], voxels: int) -> tuple[dict[str, Any], Any]:
    """Attached gzip data inflated here, at most 8 bytes a voxel (no gzip bomb), as raw."""
    encoding = str(header.get("encoding", "")).lower()
    detached = any(key in header for key in ("data file", "datafile", "line skip", "lineskip"))
    if encoding not in ("gzip", "gz") or detached:
        return header, handle
    limit = voxels * 8 + 1
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
    parts, total = [], 0
    while total < limit and (chunk := handle.read(1 << 20)):
        part = inflater.decompress(chunk, limit - total)
        parts.append(part)
        total += len(part)
    return {**header, "encoding": "raw"}, io.BytesIO(b"".join(parts))


def read_nrrd(path: str | os.PathLike[str]) -> tuple[dict[str, Any], np.ndarray]:
    """(header, data in C order: the NRRD axes reversed) of a NRRD file; one-line errors.

    The memory limit is checked from the header before any voxel is read.
    """
    import nrrd

    source = Path(path)
    try:
        with open(source, "rb") as handle:
            if handle.read(4) != b"NRRD":
                raise _fail(source, "not a NRRD file (it does not start with NRRD)")
            handle.seek(0)
            lines, size = _header_lines(handle, source)
            header = dict(nrrd.read_header(lines))
            voxels = _voxel_count(header, source)
            check_memory(voxels * 3, f"reading {source.name} ({voxels:,} voxels)")
            handle.seek(size)
            raw_header, data_handle = _inflated(handle, header, voxels)
            data = nrrd.read_data(raw_header, data_handle, str(source), index_order="C")
    except OSError as problem:
        raise _fail(source, f"cannot read it ({problem.strerror or problem})") from None
    except (NrrdProblem, MemoryLimitError):
        raise
    except (nrrd.NRRDError, ValueError, TypeError, EOFError, KeyError) as problem:
        raise _fail(source, f"broken NRRD ({problem})") from None
    except Exception as problem:  # zlib, bz2 and numpy errors of corrupt data
        raise _fail(source, f"broken NRRD data ({type(problem).__name__}: {problem})") from None
    return header, data


def nrrd_geometry(header: dict[str, Any], path: Path) -> tuple[np.ndarray, list[int], int | None]:
    """(voxel-to-LPS affine of our (slice, row, col), spatial NRRD axes, list axis or None)."""
    space = str(header.get("space", "")).strip().lower()
    if not space:
        raise _fail(path, "has no patient space ('space' field), so its place is unknown")
    if space not in SPACES:
        raise _fail(path, f"space {space!r} is not a patient space (LPS, RAS or LAS)")
    directions = header.get("space directions")
    if directions is None:
        raise _fail(path, "has no 'space directions', so its orientation is unknown")
    directions = np.asarray(directions, dtype=np.float64)
    dimension = int(header["dimension"])
    if directions.shape != (dimension, 3):
        raise _fail(path, f"'space directions' do not match its {dimension} axes")
    spatial = [axis for axis in range(dimension) if np.all(np.isfinite(directions[axis]))]
    others = [axis for axis in range(dimension) if axis not in spatial]
    if len(spatial) != 3 or len(others) > 1:
        raise _fail(path, f"has {len(spatial)} spatial axes; a segmentation has 3 (and 1 list)")
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=np.float64)
    if origin.shape != (3,) or not np.all(np.isfinite(origin)):
        raise _fail(path, "its 'space origin' is not a point")
    flip = np.asarray(SPACES[space])
    affine = np.eye(4)
    column, row, slice_axis = spatial  # NRRD lists the fastest axis first
    affine[:3, 0] = directions[slice_axis] * flip
    affine[:3, 1] = directions[row] * flip
    affine[:3, 2] = directions[column] * flip
    affine[:3, 3] = origin * flip
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise _fail(path, "its 'space directions' are degenerate (zero or parallel)")
    return affine, spatial, (others[0] if others else None)


def _layers(data: np.ndarray, list_axis: int | None, dimension: int) -> list[np.ndarray]:
    if list_axis is None:
        return [np.ascontiguousarray(data)]
    axis = dimension - 1 - list_axis  # C order reverses the NRRD axes
    return [np.ascontiguousarray(np.take(data, k, axis=axis)) for k in range(data.shape[axis])]


# -- Slicer's keys ---------------------------------------------------------------------------------
def _code(text: str) -> CodedConcept | None:
    parts = text.split("^")
    if len(parts) != 3 or not all(part.strip() for part in parts):
        return None
    scheme, value, meaning = (part.strip() for part in parts)
    return CodedConcept(value, scheme, meaning)


def parse_terminology(entry: str) -> tuple[CodedConcept | None, CodedConcept | None]:
    """(category, type) of a Slicer TerminologyEntry ``context~category~type~…``."""
    parts = entry.split("~")
    if len(parts) < 3:
        return None, None
    return _code(parts[1]), _code(parts[2])


def parse_tags(text: str) -> dict[str, str]:
    """Slicer's segment tags ``key:value|key:value|`` as a dict."""
    tags: dict[str, str] = {}
    for item in text.split("|"):
        key, colon, value = item.partition(":")
        if colon and key.strip():
            tags[key.strip()] = value
    return tags


def _numbers(text: str, count: int, what: str, path: Path, kind: type = float) -> list[Any]:
    try:
        values = [kind(part) for part in str(text).split()]
    except ValueError:
        values = []
    if len(values) != count:
        raise _fail(path, f"{what} {text!r} is not {count} numbers")
    return values


def _legacy_start(header: dict[str, Any], path: Path) -> tuple[int, int, int]:
    """Where the file starts in the reference grid, as files before Slicer 4.11 said it."""
    if "Segmentation_Extent" not in header:
        return 0, 0, 0
    values = _numbers(header["Segmentation_Extent"], 6, "Segmentation_Extent", path, int)
    return values[0], values[2], values[4]


def _segment_count(header: dict[str, Any]) -> int:
    count = 0
    while f"Segment{count}_ID" in header:
        count += 1
    return count


def _slicer_structure(
    header: dict[str, Any], index: int, layers: int, path: Path, warnings: list[str]
) -> tuple[ImportedStructure, tuple[int, ...] | None]:
    key = f"Segment{index}_"
    segment_id = str(header[key + "ID"]).strip()
    name = str(header.get(key + "Name", "")).strip()
    if not name:
        warnings.append(f"segment {index} of {path.name} has no name: called {segment_id!r}")
        name = segment_id or f"Segment {index + 1}"
    colour_text = header.get(key + "Color", header.get(key + "DefaultColor"))
    colour: tuple[float, float, float] | None = None
    if colour_text is not None:
        red, green, blue = (
            min(max(v, 0.0), 1.0) for v in _numbers(colour_text, 3, f"the colour of {name!r}", path)
        )
        colour = (red, green, blue)
    layer = int(_numbers(header.get(key + "Layer", index), 1, f"the layer of {name!r}", path)[0])
    label = int(_numbers(header.get(key + "LabelValue", 1), 1, f"the label of {name!r}", path)[0])
    if not 0 <= layer < layers:
        raise _fail(path, f"segment {name!r} is in layer {layer}, the file has {layers}")
    extent = None
    if key + "Extent" in header:
        values = _numbers(header[key + "Extent"], 6, f"the extent of {name!r}", path, int)
        start = _legacy_start(header, path)  # old files: extents in the reference grid
        extent = tuple(value - start[number // 2] for number, value in enumerate(values))
    tags = parse_tags(str(header.get(key + "Tags", "")))
    category, kind = parse_terminology(tags.get("TerminologyEntry", ""))
    return ImportedStructure(name, layer, label, colour, segment_id, category, kind), extent


def _region(extent: tuple[int, ...], shape: tuple[int, ...]) -> tuple[slice, ...] | None:
    """Our (slice, row, col) index box of a Slicer extent (column, row, slice min/max)."""
    bounds = []
    pairs = zip(extent[0::2], extent[1::2], strict=True)
    for axis, (low, high) in zip((2, 1, 0), pairs, strict=True):
        low, high = max(low, 0), min(high, shape[axis] - 1)
        if low > high:
            return None
        bounds.append((axis, slice(low, high + 1)))
    return tuple(part for _, part in sorted(bounds))


def _outside(layer: np.ndarray, region: tuple[slice, ...] | None) -> np.ndarray:
    outside = np.ones(layer.shape, dtype=bool)
    if region is not None:
        outside[region] = False
    return outside


def _clip_to_extents(
    layers: list[np.ndarray],
    found: list[tuple[ImportedStructure, tuple[int, ...] | None]],
    cancel: CancelToken,
) -> None:
    """Drop the voxels of each segment lying outside its extent, as Slicer does."""
    for number, layer in enumerate(layers):
        members = [(s, e) for s, e in found if s.layer == number and e is not None]
        if not members:
            continue
        regions = [_region(extent, layer.shape) for _, extent in members]  # type: ignore[arg-type]
        union = np.zeros(layer.shape, dtype=bool)
        for region in regions:
            if region is not None:
                union[region] = True
        inside = np.count_nonzero(layer[union])
        if inside == np.count_nonzero(layer):
            continue  # every labelled voxel lies in some extent: nothing to drop
        for (structure, _), region in zip(members, regions, strict=True):
            cancel.raise_if_cancelled()
            layer[(layer == structure.label) & _outside(layer, region)] = 0


# -- reading ---------------------------------------------------------------------------------------
def read_segmentation_nrrd(
    path: str | os.PathLike[str],
    label_table: LabelTable | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ImportedSegmentation:
    """The segments of a .seg.nrrd or the labels of a .nrrd, on the file's own grid."""
    source = Path(path)
    token = cancel or CancelToken()
    progress(0.0, f"Reading {source.name}")
    header, data = read_nrrd(source)
    token.raise_if_cancelled()
    if data.dtype.kind not in "iub":
        raise _fail(source, f"holds {data.dtype} voxels, not integer labels")
    affine, _, list_axis = nrrd_geometry(header, source)
    dimension = int(header["dimension"])
    layers = _layers(data, list_axis, dimension)
    del data
    shape = layers[0].shape
    progress(0.6, f"Reading {source.name}")
    warnings: list[str] = []
    count = _segment_count(header)
    if count:
        found = [_slicer_structure(header, i, len(layers), source, warnings) for i in range(count)]
        _clip_to_extents(layers, found, token)
        structures = [structure for structure, _ in found]
        if label_table:
            warnings.append(f"{source.name} names its own segments: the label table was not used")
        kind = "3D Slicer segmentation"
    else:
        structures = []
        for number, layer in enumerate(layers):
            for value in distinct_labels(layer, token):
                entry = entry_for(value, label_table)
                name = entry.name if len(layers) == 1 else f"{entry.name} (layer {number + 1})"
                structures.append(ImportedStructure(name, number, value, entry.color))
        kind = "NRRD label map"
    progress(1.0, f"Reading {source.name}")
    return ImportedSegmentation(shape, affine, layers, structures, kind, warnings)  # type: ignore[arg-type]


register_reader("segmentation", ".seg.nrrd", read_segmentation_nrrd, "3D Slicer segmentation")
register_reader("segmentation", ".nrrd", read_segmentation_nrrd, "NRRD label map")
