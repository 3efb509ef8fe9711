"""Import a segmentation file other tools wrote (.seg.nrrd, .nrrd, .nii, .nii.gz) onto a volume.

The reader (chosen by extension in ``workstation.io.readers``) gives the labels on the
file's own grid.  On the volume's grid they are used as they are; on a grid that only
differs by whole voxels (a crop or padding with the same axes) they are shifted exactly;
any other grid that overlaps the volume in patient space is resampled by nearest
neighbour, with a warning.  A file whose labels lie wholly outside the volume is refused.

``names`` picks structures before anything is placed, so the memory check counts only the
chosen ones and the others never get a mask; ``list_structures`` tells a chooser what a
file holds (name, label, layer, voxel count, colour) from one read.

``import_records`` gives the one operation record (``import_segmentation``, with the
file's SHA-256) that adds the imported segments to an editor: one undo step, and a
replay reads the same file or says it changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from workstation.core import geometry
from workstation.core.errors import InputPathError, SegmentationError
from workstation.core.memory_budget import check_memory
from workstation.core.operations import Record, normalise
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.segmentation import Segment, Segmentation
from workstation.core.volume import Volume
from workstation.io.label_tables import LabelTable, read_label_table
from workstation.io.readers import (
    ImportedSegmentation,
    ImportedStructure,
    add_structure,
    distinct_labels,
    reader_for,
)
from workstation.io.source_files import file_sha256 as source_file_sha256
from workstation.processing.label_resampling import overlap_fraction, resample_labels


@dataclass
class ImportResult:
    """Imported segments on the volume's grid, with what the user should know about them."""

    segmentation: Segmentation
    source: str
    path: Path
    warnings: list[str] = field(default_factory=list)

    @property
    def segments(self) -> list[Segment]:
        """The imported segments in file order."""
        return self.segmentation.segments


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    return source_file_sha256(str(path))[0]


def _existing(path: str | os.PathLike[str], what: str) -> Path:
    source = Path(path)
    if not source.is_file():
        raise InputPathError(f"{what} {source} does not exist or is not a file")
    return source


def _span(shape: tuple[int, ...], affine: np.ndarray) -> str:
    low, high = geometry.bounding_box(shape, affine)
    return ", ".join(
        f"{axis} {a:.1f} to {b:.1f}" for axis, a, b in zip("xyz", low, high, strict=True)
    )


def _spacing_text(affine: np.ndarray) -> str:
    slice_step, row_step, column_step = geometry.voxel_spacing(affine)
    return " x ".join(f"{v:.3g}" for v in (column_step, row_step, slice_step))


def _only(layer: np.ndarray, labels: list[int]) -> np.ndarray:
    """``layer`` itself when it holds only ``labels``, else their voxels, slab by slab."""
    if set(distinct_labels(layer)) <= set(labels):
        return layer
    chosen = np.zeros(layer.shape, dtype=bool)
    step = max(1, (1 << 22) // max(1, layer[0].size))
    for start in range(0, layer.shape[0], step):
        chosen[start : start + step] = np.isin(layer[start : start + step], labels)
    return chosen


def _check_overlap(imported: ImportedSegmentation, volume: Volume, name: str) -> list[str]:
    """Refuse a file whose labels lie wholly outside the volume; warn about a part outside."""
    counts, fractions = [], []
    for number, layer in enumerate(imported.layers):
        labels = [s.label for s in imported.structures if s.layer == number]
        chosen = _only(layer, labels)  # only the structures being imported count
        counts.append(int(np.count_nonzero(chosen)))
        fractions.append(overlap_fraction(chosen, imported.affine, volume.shape, volume.affine))
    total = sum(counts)
    inside = (
        sum(f * n for f, n in zip(fractions, counts, strict=True)) / total
        if total
        else max(fractions, default=0.0)
    )
    if inside <= 0.0:
        raise SegmentationError(
            f"{name} does not overlap the volume: its grid spans "
            f"{_span(imported.shape, imported.affine)} mm, the volume "
            f"{_span(volume.shape, volume.affine)} mm (LPS)"
        )
    if total and inside < 0.9995:
        return [f"{1.0 - inside:.1%} of the labelled voxels of {name} lie outside the volume"]
    return []


def place_on_volume(
    imported: ImportedSegmentation,
    volume: Volume,
    path: str | os.PathLike[str] = "segmentation",
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ImportResult:
    """The imported structures as segments on ``volume``'s grid (see the module's rules)."""
    token = cancel or CancelToken()
    name = Path(path).name
    voxels = int(np.prod(volume.shape))
    count = len(imported.structures)
    check_memory(voxels * (count + 8 * len(imported.layers)), f"importing {count} segments")
    warnings = list(imported.warnings)
    layers = imported.layers
    same = imported.shape == volume.shape and np.allclose(
        imported.affine, volume.affine, rtol=0, atol=1e-6
    )
    if not same:
        warnings += _check_overlap(imported, volume, name)
        placed = []
        for number, layer in enumerate(imported.layers):
            part = sub_progress(progress, number / len(layers), (number + 1) / len(layers))
            result = resample_labels(
                layer, imported.affine, volume.shape, volume.affine, part, token
            )
            placed.append(result.array)
            if result.resampled and number == 0:
                warnings.append(
                    f"{name}: resampled from {_spacing_text(imported.affine)} mm onto the "
                    "volume's grid (nearest neighbour)"
                )
        layers = placed
    segmentation = Segmentation.for_volume(volume)
    for structure in imported.structures:
        token.raise_if_cancelled()
        add_structure(segmentation, structure, layers[structure.layer] == structure.label)
    progress(1.0, f"Imported {name}")
    return ImportResult(segmentation, imported.source, Path(path), warnings)


@dataclass(frozen=True)
class StructureInfo:
    """One structure of a file as a chooser lists it: voxels counted on the file's grid."""

    name: str
    label: int
    layer: int
    voxels: int
    color: tuple[float, float, float] | None = None


def _read(
    path: str | os.PathLike[str],
    label_table: str | os.PathLike[str] | LabelTable | None,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> tuple[Path, ImportedSegmentation]:
    """The file read by the reader of its extension, with its label table (a path or dict)."""
    source = _existing(path, "segmentation file")
    reader = reader_for("segmentation", source)
    table: LabelTable | None
    if label_table is None or isinstance(label_table, dict):
        table = label_table
    else:
        table = read_label_table(_existing(label_table, "label table"))
    return source, reader.read(source, table, progress, cancel)


def choose_structures(
    imported: ImportedSegmentation, names: list[str] | None, path: str | os.PathLike[str]
) -> ImportedSegmentation:
    """``imported`` with only the structures called ``names`` (in that order) and their layers.

    A name given twice takes the next structure of that name when the file has one more.
    Unknown names are refused, naming what the file has.
    """
    if names is None:
        return imported
    by_name: dict[str, list[ImportedStructure]] = {}
    for structure in imported.structures:
        by_name.setdefault(structure.name, []).append(structure)
    missing = [name for name in names if name not in by_name]
    if missing:
        known = ", ".join(repr(name) for name in by_name)
        raise SegmentationError(
            f"{Path(path).name} has no segment {', '.join(map(repr, missing))} "
            f"(it has {known or 'none'})"
        )
    taken: dict[str, int] = {}
    chosen = []
    for name in names:
        candidates = by_name[name]
        number = taken.get(name, 0)
        chosen.append(candidates[min(number, len(candidates) - 1)])
        taken[name] = number + 1
    used = sorted({structure.layer for structure in chosen})
    renumbered = {old: new for new, old in enumerate(used)}
    return replace(
        imported,
        layers=[imported.layers[number] for number in used],
        structures=[replace(s, layer=renumbered[s.layer]) for s in chosen],
        warnings=list(imported.warnings),
    )


def import_segmentation(
    path: str | os.PathLike[str],
    volume: Volume,
    label_table: str | os.PathLike[str] | LabelTable | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    names: list[str] | None = None,
) -> ImportResult:
    """Read ``path`` and put its segments (only ``names``, in that order) on ``volume``'s grid."""
    source, imported = _read(path, label_table, sub_progress(progress, 0.0, 0.4), cancel)
    imported = choose_structures(imported, names, source)
    return place_on_volume(imported, volume, source, sub_progress(progress, 0.4, 1.0), cancel)


def _label_counts(layer: np.ndarray, cancel: CancelToken) -> dict[int, int]:
    """Voxels per value of an integer layer, slab by slab (memory bounded by the slab)."""
    counts: dict[int, int] = {}
    if layer.size == 0:
        return counts
    step = max(1, (1 << 22) // max(1, layer[0].size))
    for start in range(0, layer.shape[0], step):
        cancel.raise_if_cancelled()
        slab = layer[start : start + step].ravel()
        if slab.dtype.kind == "b":
            slab = slab.view(np.uint8)
        low, high = int(slab.min()), int(slab.max())
        if low >= 0 and high < (1 << 20):
            found = np.bincount(slab, minlength=1)
            values = np.flatnonzero(found)
            pairs = zip(values.tolist(), found[values].tolist(), strict=True)
        else:  # negative or very large label values
            unique, number = np.unique(slab, return_counts=True)
            pairs = zip(unique.tolist(), number.tolist(), strict=True)
        for value, number in pairs:
            counts[int(value)] = counts.get(int(value), 0) + int(number)
    return counts


def list_structures(
    path: str | os.PathLike[str],
    label_table: str | os.PathLike[str] | LabelTable | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[StructureInfo]:
    """The structures of ``path`` in file order, with their voxel counts (one read)."""
    token = cancel or CancelToken()
    source, imported = _read(path, label_table, sub_progress(progress, 0.0, 0.8), token)
    counts = [_label_counts(layer, token) for layer in imported.layers]
    progress(1.0, f"Listed the structures of {source.name}")
    return [
        StructureInfo(s.name, s.label, s.layer, counts[s.layer].get(s.label, 0), s.color)
        for s in imported.structures
    ]


def import_records(
    path: str | os.PathLike[str],
    label_table: str | os.PathLike[str] | None = None,
    names: list[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[Record]:
    """The operation record that imports ``path`` into an editor (one undo step)."""
    source = _existing(path, "segmentation file")
    reader_for("segmentation", source)  # an unknown format fails here, before any work
    if label_table is not None:
        _existing(label_table, "label table")
    progress(0.0, f"Checking {source.name}")
    record = {
        "op": "import_segmentation",
        "path": str(source.resolve()),
        "sha256": file_sha256(source),
        "label_table": None if label_table is None else str(Path(label_table).resolve()),
        "names": names,
    }
    progress(1.0, f"Checking {source.name}")
    return [normalise(record)]
