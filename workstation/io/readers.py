"""One registry of input formats: which reader opens a kind of data at a file extension.

The mirror of ``writers``: each format module registers its readers when imported; this
module imports the modules named in ``READER_MODULES`` the first time a reader or the
list of formats is asked for, so a new format is one new module plus one line there.

A segmentation reader is called ``read(path, label_table=None, progress=..., cancel=...)``
and returns an ``ImportedSegmentation``: the labels on the FILE's own grid (shape and
voxel-to-LPS affine), one entry per structure, and the warnings of the reading.  Putting
them on a volume's grid is the import service's work.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workstation.core import geometry
from workstation.core.coded_concepts import CodedConcept
from workstation.core.errors import InputPathError
from workstation.core.progress import CancelToken
from workstation.core.segmentation import Segmentation
from workstation.io.format_registry import Format, FormatRegistry

#: Kinds of data a file can be read as.
KINDS = ("segmentation",)

#: Modules that register readers, imported on first use; their order is the menu order.
READER_MODULES = (
    "workstation.io.segmentation_nrrd_read",
    "workstation.io.segmentation_nifti_read",
    "workstation.io.dicom_seg_read",
)


@dataclass
class ImportedStructure:
    """One structure of a file: voxels ``layers[layer] == label``, with how it is shown."""

    name: str
    layer: int
    label: int
    color: tuple[float, float, float] | None = None
    segment_id: str = ""
    category: CodedConcept | None = None
    type: CodedConcept | None = None


@dataclass
class ImportedSegmentation:
    """What a reader found: integer label layers on the file's grid, and its structures.

    ``layers`` are arrays shaped ``shape`` (slice, row, col); structures of one layer do
    not overlap.  ``source`` names the format in words ("3D Slicer segmentation").
    """

    shape: tuple[int, int, int]
    affine: np.ndarray
    layers: list[np.ndarray]
    structures: list[ImportedStructure]
    source: str
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.shape = tuple(int(n) for n in self.shape)  # type: ignore[assignment]
        self.affine = geometry.validate_affine(self.affine)
        for layer in self.layers:
            if layer.shape != self.shape:
                raise ValueError(f"layer shape {layer.shape} differs from the grid {self.shape}")

    def mask(self, structure: ImportedStructure) -> np.ndarray:
        """The boolean voxels of ``structure`` on the file's grid."""
        return np.asarray(self.layers[structure.layer] == structure.label)

    def to_segmentation(self) -> Segmentation:
        """A Segmentation on the file's grid, one segment per structure (file order)."""
        segmentation = Segmentation(self.shape, self.affine.copy())
        for structure in self.structures:
            add_structure(segmentation, structure, self.mask(structure))
        return segmentation


def add_structure(
    segmentation: Segmentation, structure: ImportedStructure, mask: np.ndarray
) -> None:
    """Append ``structure`` with ``mask`` to ``segmentation`` (its id kept when free)."""
    taken = {segment.segment_id for segment in segmentation.segments}
    segment_id = structure.segment_id if structure.segment_id not in taken else ""
    segmentation.add(
        structure.name,
        structure.color,
        mask,
        segment_id=segment_id or None,
        category=structure.category,
        type=structure.type,
    )


def distinct_labels(array: np.ndarray, cancel: CancelToken | None = None) -> list[int]:
    """The distinct non-zero values of an integer array, ascending, found slab by slab."""
    token = cancel or CancelToken()
    if array.size == 0:
        return []
    step = max(1, (1 << 22) // max(1, array[0].size))
    found: set[int] = set()
    small = array.dtype.kind in "ub" and array.dtype.itemsize <= 2
    for start in range(0, array.shape[0], step):
        token.raise_if_cancelled()
        slab = array[start : start + step]
        if small:
            counts = np.bincount(slab.ravel(), minlength=1)
            found.update(int(v) for v in np.flatnonzero(counts))
        else:
            found.update(int(v) for v in np.unique(slab))
    found.discard(0)
    return sorted(found)


# -- the registry ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reader(Format):
    """A reader of one kind of data: ``read(path, **options)``."""

    @property
    def read(self) -> Callable[..., ImportedSegmentation]:
        """The function that reads the file."""
        return self.handler


REGISTRY: FormatRegistry[Reader] = FormatRegistry(
    KINDS, READER_MODULES, Reader, "read", InputPathError
)


def register_reader(
    kind: str,
    extensions: tuple[str, ...] | str,
    reader: Callable[..., ImportedSegmentation],
    description: str,
) -> None:
    """Make ``reader`` the one for ``kind`` at each extension (a format module calls this)."""
    REGISTRY.register(kind, extensions, reader, description)


def formats(kind: str) -> list[tuple[str, str]]:
    """(extension, description) of every readable format of ``kind``, in menu order."""
    return REGISTRY.formats(kind)


def reader_for(kind: str, path: str | os.PathLike[str]) -> Reader:
    """The reader of ``kind`` for ``path``'s extension (the longest that matches wins)."""
    return REGISTRY.lookup(kind, path)
