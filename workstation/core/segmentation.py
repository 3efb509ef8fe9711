"""A segmentation: named, possibly overlapping segments on one volume's exact grid.

Each segment owns a boolean mask shaped like the volume array (slice, row, col); the
grid (shape and the 4x4 voxel-to-LPS affine) and the Frame of Reference are the
volume's.  Segments keep their order (the list order is the display and export order)
and a stable ``segment_id`` that never changes when a segment is renamed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

import numpy as np

from workstation.core import geometry
from workstation.core.coded_concepts import CodedConcept
from workstation.core.volume import LabelMap, Volume

#: Colours handed to new segments in turn (RGB 0..1), Slicer-like: bone, red, blue, ...
SEGMENT_COLOURS: tuple[tuple[float, float, float], ...] = (
    (0.945, 0.839, 0.569),
    (0.847, 0.396, 0.310),
    (0.502, 0.682, 0.502),
    (0.435, 0.722, 0.824),
    (0.867, 0.510, 0.396),
    (0.565, 0.933, 0.565),
    (0.694, 0.478, 0.396),
    (0.753, 0.408, 0.690),
)

#: Display properties a segment has besides its voxels (the names ``update`` accepts).
SEGMENT_PROPERTIES = ("name", "color", "visible", "opacity", "locked", "category", "type")


@dataclass
class Segment:
    """One named structure: its voxels and how it is shown.

    ``threshold_range`` is the (lower, upper) image range whose voxels the segment holds
    exactly (set by a threshold, cleared by any other change of its voxels): a model of
    such a segment can follow the image's grey values, as ``workstation mesh`` does.
    """

    segment_id: str
    name: str
    color: tuple[float, float, float]
    mask: np.ndarray
    visible: bool = True
    opacity: float = 1.0
    locked: bool = False
    category: CodedConcept | None = None
    type: CodedConcept | None = None
    threshold_range: tuple[float, float | None] | None = None

    @property
    def voxel_count(self) -> int:
        """Number of voxels in the segment."""
        return int(np.count_nonzero(self.mask))

    @property
    def empty(self) -> bool:
        """True when the segment holds no voxel."""
        return not self.mask.any()

    def properties(self) -> dict[str, object]:
        """The display properties (no voxels), for history and files."""
        return {name: getattr(self, name) for name in SEGMENT_PROPERTIES}


@dataclass
class Segmentation:
    """Ordered segments on the grid of one volume."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    frame_of_reference_uid: str = ""
    segments: list[Segment] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    def __post_init__(self) -> None:
        self.shape = tuple(int(n) for n in self.shape)  # type: ignore[assignment]
        self.affine = geometry.validate_affine(self.affine)

    @classmethod
    def for_volume(cls, volume: Volume) -> Segmentation:
        """An empty segmentation on ``volume``'s grid."""
        return cls(volume.shape, volume.affine.copy(), volume.source.frame_of_reference_uid)

    # -- lookup -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.segments)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.segments)

    @property
    def names(self) -> list[str]:
        """Segment names in order."""
        return [segment.name for segment in self.segments]

    def by_id(self, segment_id: str) -> Segment:
        """The segment with ``segment_id``; KeyError when there is none."""
        for segment in self.segments:
            if segment.segment_id == segment_id:
                return segment
        raise KeyError(segment_id)

    def by_name(self, name: str) -> Segment | None:
        """The first segment called ``name`` (exact match), or None."""
        for segment in self.segments:
            if segment.name == name:
                return segment
        return None

    def index_of(self, segment_id: str) -> int:
        """Position of a segment in the list; KeyError when absent."""
        for index, segment in enumerate(self.segments):
            if segment.segment_id == segment_id:
                return index
        raise KeyError(segment_id)

    def same_grid(self, other: Volume | LabelMap | Segmentation) -> bool:
        """True when ``other`` has this shape and affine (within 1e-6 mm) and, when both
        name one, the same Frame of Reference."""
        if tuple(other.shape) != self.shape:
            return False
        if not np.allclose(self.affine, other.affine, atol=1e-6):
            return False
        theirs = (
            other.source.frame_of_reference_uid
            if isinstance(other, Volume)
            else getattr(other, "frame_of_reference_uid", "")
        )
        return not (
            theirs and self.frame_of_reference_uid and theirs != self.frame_of_reference_uid
        )

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3."""
        return geometry.voxel_volume_mm3(self.affine)

    def snapshot(self) -> Segmentation:
        """A copy with its own masks: background work reads it while edits go on."""
        copied = Segmentation(self.shape, self.affine.copy(), self.frame_of_reference_uid)
        copied.segments = [replace(segment, mask=segment.mask.copy()) for segment in self.segments]
        return copied

    # -- changes ----------------------------------------------------------------------
    def new_id(self) -> str:
        """A segment id not used yet in this segmentation."""
        taken = {segment.segment_id for segment in self.segments}
        while True:
            candidate = f"segment-{next(self._ids)}"
            if candidate not in taken:
                return candidate

    def next_colour(self) -> tuple[float, float, float]:
        """The colour a new segment gets by default."""
        return SEGMENT_COLOURS[len(self.segments) % len(SEGMENT_COLOURS)]

    def unique_name(self, base: str) -> str:
        """``base``, or ``base 2``, ``base 3``… when the name is taken."""
        if self.by_name(base) is None:
            return base
        for number in itertools.count(2):
            candidate = f"{base} {number}"
            if self.by_name(candidate) is None:
                return candidate
        raise AssertionError("unreachable")

    def add(
        self,
        name: str,
        color: tuple[float, float, float] | None = None,
        mask: np.ndarray | None = None,
        index: int | None = None,
        segment_id: str | None = None,
        **properties: object,
    ) -> Segment:
        """Append (or insert at ``index``) a new segment and return it."""
        if mask is None:
            mask = np.zeros(self.shape, dtype=bool)
        elif mask.shape != self.shape:
            raise ValueError(f"mask shape {mask.shape} differs from the grid {self.shape}")
        segment = Segment(
            segment_id=segment_id or self.new_id(),
            name=name,
            color=tuple(float(c) for c in (color or self.next_colour())),  # type: ignore[arg-type]
            mask=np.asarray(mask, dtype=bool),
            **properties,  # type: ignore[arg-type]
        )
        self.segments.insert(len(self.segments) if index is None else index, segment)
        return segment

    def remove(self, segment_id: str) -> Segment:
        """Take a segment out and return it."""
        return self.segments.pop(self.index_of(segment_id))

    def move(self, segment_id: str, index: int) -> None:
        """Put a segment at position ``index`` of the list."""
        segment = self.remove(segment_id)
        self.segments.insert(max(0, min(index, len(self.segments))), segment)

    def update(self, segment_id: str, **changes: object) -> Segment:
        """Change display properties (names in ``SEGMENT_PROPERTIES``)."""
        unknown = set(changes) - set(SEGMENT_PROPERTIES)
        if unknown:
            raise ValueError(f"unknown segment properties: {', '.join(sorted(unknown))}")
        index = self.index_of(segment_id)
        self.segments[index] = replace(self.segments[index], **changes)  # type: ignore[arg-type]
        return self.segments[index]

    def label_map(self, segment_id: str) -> LabelMap:
        """One segment as a 0/1 LabelMap on this grid (for the label-map processing)."""
        segment = self.by_id(segment_id)
        return LabelMap(
            segment.mask.view(np.uint8), self.affine.copy(), segment.name, segment.color
        )

    # -- layers -------------------------------------------------------------------------
    def layers(self) -> list[list[Segment]]:
        """Segments packed into layers in which no two overlap (Slicer's shared labelmaps).

        Segments go, in order, into the first layer where they overlap nothing; labels
        within a layer are 1, 2, … in list order.  Empty segments join the first layer.
        """
        layers: list[list[Segment]] = []
        occupied: list[np.ndarray] = []
        for segment in self.segments:
            for layer, taken in zip(layers, occupied, strict=True):
                if not np.any(taken & segment.mask):
                    layer.append(segment)
                    taken |= segment.mask
                    break
            else:
                layers.append([segment])
                occupied.append(segment.mask.copy())
        return layers
