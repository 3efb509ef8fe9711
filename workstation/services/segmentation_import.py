"""Import a segmentation file other tools wrote (.seg.nrrd, .nrrd, .nii, .nii.gz) onto a volume.

The reader (chosen by extension in ``workstation.io.readers``) gives the labels on the
file's own grid.  On the volume's grid they are used as they are; on a grid that only
differs by whole voxels (a crop or padding with the same axes) they are shifted exactly;
any other grid that overlaps the volume in patient space is resampled by nearest
neighbour, with a warning.  A file whose labels lie wholly outside the volume is refused.

``import_records`` gives the one operation record (``import_segmentation``, with the
file's SHA-256) that adds the imported segments to an editor: one undo step, and a
replay reads the same file or says it changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
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
from workstation.io.readers import ImportedSegmentation, add_structure, reader_for
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


def _check_overlap(imported: ImportedSegmentation, volume: Volume, name: str) -> list[str]:
    """Refuse a file whose labels lie wholly outside the volume; warn about a part outside."""
    counts = [int(np.count_nonzero(layer)) for layer in imported.layers]
    fractions = [
        overlap_fraction(layer, imported.affine, volume.shape, volume.affine)
        for layer in imported.layers
    ]
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


def import_segmentation(
    path: str | os.PathLike[str],
    volume: Volume,
    label_table: str | os.PathLike[str] | LabelTable | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ImportResult:
    """Read ``path`` and put its segments on ``volume``'s grid (names, colours, meanings)."""
    source = _existing(path, "segmentation file")
    reader = reader_for("segmentation", source)
    table: LabelTable | None
    if label_table is None or isinstance(label_table, dict):
        table = label_table
    else:
        table = read_label_table(_existing(label_table, "label table"))
    imported = reader.read(source, table, sub_progress(progress, 0.0, 0.4), cancel)
    return place_on_volume(imported, volume, source, sub_progress(progress, 0.4, 1.0), cancel)


def select_segments(result: ImportResult, names: list[str] | None) -> list[Segment]:
    """The imported segments called ``names`` (in that order), all of them for None."""
    if names is None:
        return list(result.segments)
    found = {segment.name: segment for segment in reversed(result.segments)}
    missing = [name for name in names if name not in found]
    if missing:
        known = ", ".join(repr(name) for name in dict.fromkeys(result.segmentation.names))
        raise SegmentationError(
            f"{result.path.name} has no segment {', '.join(map(repr, missing))} "
            f"(it has {known or 'none'})"
        )
    return [found[name] for name in names]


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
