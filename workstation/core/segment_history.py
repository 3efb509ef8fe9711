"""Undo atoms of a segmentation: each step stores only what it changed.

A voxel change is stored as the XOR of the old and new mask, packed to bits and cropped
to the bounding box of the changed voxels (napari's labels layer keeps such "atoms"), so
the history grows with the edit, not with the volume.  Structural changes (a segment
added, removed, moved or given new properties) store what is needed to reverse them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

from workstation.core.segmentation import Segment, Segmentation

Region = tuple[slice, slice, slice]


def changed_box(diff: np.ndarray) -> Region | None:
    """Bounding box of the True voxels of ``diff`` (None when none is)."""
    boxes = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(diff.any(axis=other))
        if not hits.size:
            return None
        boxes.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return boxes[0], boxes[1], boxes[2]


def _offset(region: Region, inner: Region) -> Region:
    return tuple(  # type: ignore[return-value]
        slice(outer.start + part.start, outer.start + part.stop)
        for outer, part in zip(region, inner, strict=True)
    )


def concrete(region: Region, shape: tuple[int, ...]) -> Region:
    """``region`` with explicit start and stop on every axis (slice(None) becomes 0..n)."""
    return tuple(  # type: ignore[return-value]
        slice(*part.indices(size)[:2]) for part, size in zip(region, shape, strict=True)
    )


def _region_shape(region: Region) -> tuple[int, int, int]:
    return tuple(part.stop - part.start for part in region)  # type: ignore[return-value]


@dataclass
class PackedMask:
    """A boolean block stored as bits: its region in the volume and the packed values."""

    region: Region
    bits: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray, region: Region) -> PackedMask:
        """Pack ``mask`` (the values of ``region``)."""
        return cls(region, np.packbits(mask.ravel()))

    def unpack(self) -> np.ndarray:
        """The boolean block."""
        shape = _region_shape(self.region)
        count = int(np.prod(shape))
        return np.unpackbits(self.bits, count=count).reshape(shape).astype(bool)

    @property
    def nbytes(self) -> int:
        """Memory held."""
        return int(self.bits.nbytes)


class Atom:
    """One reversible change of a segmentation."""

    def undo(self, segmentation: Segmentation) -> None:
        raise NotImplementedError

    def redo(self, segmentation: Segmentation) -> None:
        raise NotImplementedError

    @property
    def nbytes(self) -> int:
        return 0

    def touched(self) -> tuple[str, Region | None]:
        """(segment id, voxel region or None for a property/structure change)."""
        raise NotImplementedError


@dataclass
class FlipAtom(Atom):
    """Voxels of one segment that flipped, plus its threshold range before and after."""

    segment_id: str
    flips: PackedMask
    range_before: tuple[float, float | None] | None
    range_after: tuple[float, float | None] | None

    def _flip(self, segmentation: Segmentation) -> Segment:
        segment = segmentation.by_id(self.segment_id)
        segment.mask[self.flips.region] ^= self.flips.unpack()
        return segment

    def undo(self, segmentation: Segmentation) -> None:
        self._flip(segmentation).threshold_range = self.range_before

    def redo(self, segmentation: Segmentation) -> None:
        self._flip(segmentation).threshold_range = self.range_after

    @property
    def nbytes(self) -> int:
        return self.flips.nbytes

    def touched(self) -> tuple[str, Region | None]:
        return self.segment_id, self.flips.region


def write_mask(
    segmentation: Segmentation,
    segment_id: str,
    region: Region,
    values: np.ndarray,
    threshold_range: tuple[float, float | None] | None = None,
) -> FlipAtom | None:
    """Set a segment's voxels in ``region`` to ``values``; the atom that undoes it.

    None when nothing changed (the threshold range is still updated then).
    """
    segment = segmentation.by_id(segment_id)
    region = concrete(region, segment.mask.shape)
    before = segment.threshold_range
    block = segment.mask[region]
    diff = np.not_equal(block, values)
    inner = changed_box(diff)
    segment.threshold_range = threshold_range
    if inner is None:
        if before == threshold_range:
            return None
        empty = PackedMask.of(np.zeros((1, 1, 1), dtype=bool), (slice(0, 1),) * 3)  # type: ignore[arg-type]
        return FlipAtom(segment_id, empty, before, threshold_range)
    block[...] = values
    flips = PackedMask.of(diff[inner], _offset(region, inner))
    return FlipAtom(segment_id, flips, before, threshold_range)


@dataclass
class SegmentSnapshot:
    """A whole segment (properties and packed voxels) and where it sat in the list."""

    segment_id: str
    index: int
    properties: dict[str, object]
    threshold_range: tuple[float, float | None] | None
    voxels: PackedMask | None

    @classmethod
    def of(cls, segmentation: Segmentation, segment_id: str) -> SegmentSnapshot:
        """Snapshot of a segment as it is now."""
        segment = segmentation.by_id(segment_id)
        box = changed_box(segment.mask)
        voxels = None if box is None else PackedMask.of(segment.mask[box], box)
        return cls(
            segment_id,
            segmentation.index_of(segment_id),
            segment.properties(),
            segment.threshold_range,
            voxels,
        )

    def restore(self, segmentation: Segmentation) -> None:
        """Put the segment back, voxels included."""
        mask = np.zeros(segmentation.shape, dtype=bool)
        if self.voxels is not None:
            mask[self.voxels.region] = self.voxels.unpack()
        properties = dict(self.properties)
        name = str(properties.pop("name"))
        colour = cast(tuple[float, float, float], properties.pop("color"))
        segment = segmentation.add(
            name,
            colour,
            mask,
            index=self.index,
            segment_id=self.segment_id,
            **properties,  # type: ignore[arg-type]
        )
        segment.threshold_range = self.threshold_range

    @property
    def nbytes(self) -> int:
        return 0 if self.voxels is None else self.voxels.nbytes


@dataclass
class AddAtom(Atom):
    """A segment that was added (undo removes it, redo puts it back)."""

    snapshot: SegmentSnapshot

    def undo(self, segmentation: Segmentation) -> None:
        segmentation.remove(self.snapshot.segment_id)

    def redo(self, segmentation: Segmentation) -> None:
        self.snapshot.restore(segmentation)

    @property
    def nbytes(self) -> int:
        return self.snapshot.nbytes

    def touched(self) -> tuple[str, Region | None]:
        return self.snapshot.segment_id, None


@dataclass
class RemoveAtom(AddAtom):
    """A segment that was removed (the inverse of ``AddAtom``)."""

    def undo(self, segmentation: Segmentation) -> None:
        super().redo(segmentation)

    def redo(self, segmentation: Segmentation) -> None:
        super().undo(segmentation)


@dataclass
class UpdateAtom(Atom):
    """Display properties of one segment before and after."""

    segment_id: str
    before: dict[str, object]
    after: dict[str, object]

    def undo(self, segmentation: Segmentation) -> None:
        segmentation.update(self.segment_id, **self.before)

    def redo(self, segmentation: Segmentation) -> None:
        segmentation.update(self.segment_id, **self.after)

    def touched(self) -> tuple[str, Region | None]:
        return self.segment_id, None


@dataclass
class MoveAtom(Atom):
    """A segment moved from one list position to another."""

    segment_id: str
    before: int
    after: int

    def undo(self, segmentation: Segmentation) -> None:
        segmentation.move(self.segment_id, self.before)

    def redo(self, segmentation: Segmentation) -> None:
        segmentation.move(self.segment_id, self.after)

    def touched(self) -> tuple[str, Region | None]:
        return self.segment_id, None


@dataclass
class Step:
    """One undo step: its description, the operation record and its atoms in order."""

    description: str
    record: dict[str, object] | None
    atoms: list[Atom] = field(default_factory=list)

    def undo(self, segmentation: Segmentation) -> None:
        for atom in reversed(self.atoms):
            atom.undo(segmentation)

    def redo(self, segmentation: Segmentation) -> None:
        for atom in self.atoms:
            atom.redo(segmentation)

    @property
    def nbytes(self) -> int:
        return sum(atom.nbytes for atom in self.atoms)
