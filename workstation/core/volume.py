"""Volume and LabelMap: voxels plus the exact map from array index to patient LPS mm."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from workstation.core import geometry
from workstation.core.provenance import SeriesIdentity, SliceSource


@dataclass(frozen=True)
class SourceInfo:
    """Where a volume came from, for display, reports and export metadata.

    ``slices`` has one entry per array slice, in array order: the source frame it is, or
    the two source frames it was interpolated between (see ``SliceSource``).
    """

    identity: SeriesIdentity = field(default_factory=SeriesIdentity)
    n_files: int = 0
    slices: tuple[SliceSource, ...] = ()

    @property
    def frame_of_reference_uid(self) -> str:
        """The Frame of Reference UID the volume's patient coordinates belong to."""
        return self.identity.frame_of_reference_uid

    @property
    def sop_instance_uids(self) -> tuple[str, ...]:
        """One source SOP Instance UID per array slice (an interpolated one: its nearer frame)."""
        return tuple(source.nearest.sop_instance_uid for source in self.slices)


@dataclass
class Volume:
    """A 3D image: ``array`` shaped (slice, row, col) and a 4x4 ``affine`` to LPS mm.

    ``units`` is "HU" for CT after rescale, otherwise "raw".  ``warnings`` lists every
    geometry or data problem found while loading, in words a user understands.
    ``window`` is the (center, width) suggested by the data, when it had one.
    """

    array: np.ndarray
    affine: np.ndarray
    units: str = "raw"
    source: SourceInfo = field(default_factory=SourceInfo)
    warnings: list[str] = field(default_factory=list)
    window: tuple[float, float] | None = None
    name: str = ""

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"volume array must be 3D (slice, row, col), got {self.array.ndim}D")
        if min(self.array.shape) < 1:
            raise ValueError(f"volume array is empty: shape {self.array.shape}")
        if self.source.slices and len(self.source.slices) != self.array.shape[0]:
            raise ValueError(
                f"{len(self.source.slices)} slice sources for {self.array.shape[0]} slices"
            )
        self.affine = geometry.validate_affine(self.affine)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (slices, rows, columns)."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def dims(self) -> tuple[int, int, int]:
        """DICOM-style dimensions (columns, rows, slices)."""
        slices, rows, cols = self.shape
        return cols, rows, slices

    @property
    def spacing(self) -> np.ndarray:
        """Step lengths in mm along (slice, row, col)."""
        return geometry.voxel_spacing(self.affine)

    @property
    def spacing_xyz(self) -> tuple[float, float, float]:
        """Spacing in mm along (column, row, slice), the order DICOM users read."""
        slice_step, row_step, col_step = (float(v) for v in self.spacing)
        return col_step, row_step, slice_step

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3 (exact for sheared grids too)."""
        return geometry.voxel_volume_mm3(self.affine)

    @property
    def orientation(self) -> str:
        """axial, coronal, sagittal or oblique, from the plane normal."""
        return geometry.orientation_name(self.affine)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """LPS (min, max) of the voxel centres."""
        return geometry.bounding_box(self.shape, self.affine)

    def with_array(self, array: np.ndarray, **changes: object) -> Volume:
        """A copy sharing geometry and source but holding another array of the same shape."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} differs from volume shape {self.array.shape}")
        return replace(self, array=array, warnings=list(self.warnings), **changes)  # type: ignore[arg-type]


@dataclass
class LabelMap:
    """A segmentation sharing its volume's grid exactly: ``array`` is uint8, 0 = background."""

    array: np.ndarray
    affine: np.ndarray
    name: str = "Segment"
    color: tuple[float, float, float] = (0.9, 0.85, 0.7)

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"label map must be 3D, got {self.array.ndim}D")
        if self.array.dtype != np.uint8:
            self.array = self.array.astype(np.uint8)
        self.affine = geometry.validate_affine(self.affine)

    @classmethod
    def empty_like(cls, volume: Volume, name: str = "Segment") -> LabelMap:
        """An all-background label map on ``volume``'s grid."""
        return cls(np.zeros(volume.shape, dtype=np.uint8), volume.affine.copy(), name=name)

    @classmethod
    def from_mask(cls, mask: np.ndarray, volume: Volume, name: str = "Segment") -> LabelMap:
        """Wrap a boolean mask computed on ``volume``'s array."""
        if mask.shape != volume.shape:
            raise ValueError(f"mask shape {mask.shape} differs from volume shape {volume.shape}")
        return cls(mask.astype(np.uint8), volume.affine.copy(), name=name)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape (slices, rows, columns)."""
        return tuple(int(n) for n in self.array.shape)  # type: ignore[return-value]

    @property
    def mask(self) -> np.ndarray:
        """Boolean foreground mask."""
        return self.array > 0

    @property
    def voxel_count(self) -> int:
        """Number of foreground voxels."""
        return int(np.count_nonzero(self.array))

    @property
    def volume_mm3(self) -> float:
        """Foreground volume in mm^3."""
        return self.voxel_count * self.voxel_volume_mm3

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3 (exact for sheared grids too)."""
        return geometry.voxel_volume_mm3(self.affine)

    def same_grid(self, other: LabelMap | Volume) -> bool:
        """True when ``other`` has the same shape and affine (within 1e-6 mm)."""
        return self.shape == other.shape and np.allclose(self.affine, other.affine, atol=1e-6)

    def with_array(self, array: np.ndarray, name: str | None = None) -> LabelMap:
        """A label map on the same grid holding ``array``."""
        return LabelMap(array.astype(np.uint8), self.affine.copy(), name or self.name, self.color)
