"""Write a Segmentation to NRRD: one uint8 label volume per layer on the exact LPS grid.

NRRD lists axes fastest first, and our fastest array axis is the column: ``sizes`` are
(columns, rows, slices) and ``space directions`` are the affine's column, row and slice
steps (its columns 2, 1, 0), ``space origin`` the first voxel centre, so the voxel to
LPS map is exact, sheared (gantry tilt) grids included.  Several layers (overlapping
segments) make a 4D file whose first, fastest axis is the layer (kind "list"), as 3D
Slicer writes them.  Per-segment keys are Slicer's (``SegmentN_ID``, ``_Name``,
``_Color``, ``_LabelValue``, ``_Layer``, ``_Extent``; a coded segment's terminology is
the ``TerminologyEntry`` tag of ``SegmentN_Tags``), so a .seg.nrrd needs nothing more.
The header is UTF-8, so segment names in any language are kept.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from workstation import __version__
from workstation.core.coded_concepts import CodedConcept
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.segmentation import Segment, Segmentation
from workstation.io.atomic_write import atomic_write
from workstation.io.segment_labels import LabelLayers, start_label_write
from workstation.io.writers import register_writer

#: NRRD name of patient LPS space.
SPACE = "left-posterior-superior"

#: Terminology contexts 3D Slicer names in a TerminologyEntry tag.
TERMINOLOGY_CONTEXT = "Segmentation category and type - 3D Slicer General Anatomy list"
ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"

#: gzip level of the voxel data (label volumes compress well at the zlib default).
COMPRESSION_LEVEL = 6

#: Extent Slicer writes for a segment without voxels.
EMPTY_EXTENT = (0, -1, 0, -1, 0, -1)


def _vector(values: np.ndarray) -> str:
    return "(" + ",".join(repr(float(value)) for value in values) + ")"


def _one_line(text: str) -> str:
    """A header value on one line (a line break would end the field)."""
    return " ".join(str(text).splitlines()) if text else ""


def _code(concept: CodedConcept | None) -> str:
    if concept is None:
        return "^^"
    parts = (concept.scheme, concept.value, concept.meaning)
    return "^".join(_one_line(part).translate(str.maketrans("~^|", "   ")) for part in parts)


def terminology_entry(segment: Segment) -> str | None:
    """Slicer's TerminologyEntry text of a coded segment (category and type), else None."""
    if segment.category is None and segment.type is None:
        return None
    return "~".join(
        (
            TERMINOLOGY_CONTEXT,
            _code(segment.category),
            _code(segment.type),
            "^^",
            ANATOMIC_CONTEXT,
            "^^",
            "^^",
        )
    )


def voxel_extent(mask: np.ndarray) -> tuple[int, int, int, int, int, int]:
    """(min, max) of the column, row and slice indices holding voxels (Slicer's IJK extent)."""
    if not mask.any():
        return EMPTY_EXTENT
    bounds: list[int] = []
    for axis in (2, 1, 0):  # NRRD order: column, row, slice
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(np.any(mask, axis=other))
        bounds.extend((int(present[0]), int(present[-1])))
    return tuple(bounds)  # type: ignore[return-value]


def header_text(segmentation: Segmentation, layers: LabelLayers) -> str:
    """The complete NRRD header (ending in its blank line) for ``layers`` of ``segmentation``."""
    affine = segmentation.affine
    slices, rows, columns = segmentation.shape
    directions = " ".join(_vector(affine[:3, axis]) for axis in (2, 1, 0))
    fields = [
        "NRRD0004",
        f"# Written by surgical planning workstation {__version__}",
        "type: uint8",
        f"dimension: {3 if layers.count == 1 else 4}",
        f"space: {SPACE}",
    ]
    if layers.count == 1:
        fields += [
            f"sizes: {columns} {rows} {slices}",
            f"space directions: {directions}",
            "kinds: domain domain domain",
        ]
    else:
        fields += [
            f"sizes: {layers.count} {columns} {rows} {slices}",
            f"space directions: none {directions}",
            "kinds: list domain domain domain",
        ]
    fields += ["encoding: gzip", f"space origin: {_vector(affine[:3, 3])}"]
    for index, placement in enumerate(layers.placements):
        segment = placement.segment
        key = f"Segment{index}_"
        fields += [
            f"{key}ID:={_one_line(segment.segment_id)}",
            f"{key}Name:={_one_line(segment.name)}",
            f"{key}Color:=" + " ".join(f"{float(c):.6g}" for c in segment.color),
            f"{key}LabelValue:={placement.label}",
            f"{key}Layer:={placement.layer}",
            f"{key}Extent:=" + " ".join(str(v) for v in voxel_extent(segment.mask)),
        ]
        entry = terminology_entry(segment)
        if entry is not None:
            fields.append(f"{key}Tags:=TerminologyEntry:{entry}|")
    return "\n".join(fields) + "\n\n"


def _slabs(layers: LabelLayers) -> Iterator[bytes]:
    """The voxel bytes, one slice at a time, fastest axis first (layer, column, row)."""
    for index in range(layers.arrays.shape[1]):
        slab = layers.arrays[:, index]  # (layer, row, col)
        yield (slab[0] if layers.count == 1 else np.moveaxis(slab, 0, -1)).tobytes()


def _write_gzip(
    handle: BinaryIO,
    layers: LabelLayers,
    progress: ProgressCallback,
    cancel: CancelToken,
    text: str,
) -> None:
    compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    total = layers.arrays.shape[1]
    for done, slab in enumerate(_slabs(layers)):
        cancel.raise_if_cancelled()
        handle.write(compressor.compress(slab))
        progress((done + 1) / total, text)
    handle.write(compressor.flush())


def write_segmentation_nrrd(
    segmentation: Segmentation,
    path: str | os.PathLike[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """Write ``segmentation`` to a gzip NRRD at ``path``, atomically; returns the path."""
    job = start_label_write(segmentation, path, progress, cancel)
    header = header_text(segmentation, job.layers)
    with atomic_write(job.target) as handle:
        handle.write(header.encode("utf-8"))
        _write_gzip(handle, job.layers, job.progress, job.cancel, job.text)
    return job.target


register_writer("segmentation", ".nrrd", write_segmentation_nrrd, "NRRD label volume")
