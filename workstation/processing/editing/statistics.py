"""Measurements of one segment: voxel count, volume, surface area, extent and grey values."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from skimage.measure import marching_cubes

from workstation.core import geometry
from workstation.core.volume import Volume
from workstation.processing.regions import foreground_region


@dataclass(frozen=True)
class SegmentStatistics:
    """What a segment measures; extent and value fields are None when it is empty.

    ``bbox_min_lps``/``bbox_max_lps`` bound the voxel centres in LPS mm; ``mean``,
    ``minimum``, ``maximum`` and ``std`` (population) are of the finite image values inside.
    """

    voxels: int
    volume_mm3: float
    surface_area_mm2: float
    bbox_min_lps: tuple[float, float, float] | None = None
    bbox_max_lps: tuple[float, float, float] | None = None
    mean: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    std: float | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain ints, floats, lists and None, ready for JSON."""
        values = asdict(self)
        for key in ("bbox_min_lps", "bbox_max_lps"):
            if values[key] is not None:
                values[key] = [float(v) for v in values[key]]
        return values


def segment_statistics(mask: np.ndarray, volume: Volume) -> SegmentStatistics:
    """Statistics of the voxels of ``mask`` (shaped like ``volume``), exact on sheared grids.

    Volume = voxels x |det| of the affine; surface area = area in mm² of the marching-cubes
    surface at 0.5 of the voxel set, its vertices mapped through the affine.
    """
    source = np.asarray(mask, dtype=bool)
    if source.shape != volume.shape:
        raise ValueError(f"mask shape {source.shape} differs from volume shape {volume.shape}")
    region = foreground_region(source)
    if region is None:
        return SegmentStatistics(voxels=0, volume_mm3=0.0, surface_area_mm2=0.0)
    block = source[region]
    voxels = int(np.count_nonzero(block))
    start = np.array([part.start for part in region], dtype=np.float64)
    stop = np.array([part.stop - 1 for part in region], dtype=np.float64)
    corners = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    lps = geometry.index_to_lps(volume.affine, np.where(corners, stop, start))
    values = np.asarray(volume.array[region][block], dtype=np.float64)
    values = values[np.isfinite(values)]
    value_fields = {}
    if values.size:
        value_fields = {
            "mean": float(values.mean()),
            "minimum": float(values.min()),
            "maximum": float(values.max()),
            "std": float(values.std()),
        }
    return SegmentStatistics(
        voxels=voxels,
        volume_mm3=voxels * geometry.voxel_volume_mm3(volume.affine),
        surface_area_mm2=surface_area_mm2(block, volume.affine, start),
        bbox_min_lps=tuple(float(v) for v in lps.min(axis=0)),  # type: ignore[arg-type]
        bbox_max_lps=tuple(float(v) for v in lps.max(axis=0)),  # type: ignore[arg-type]
        **value_fields,
    )


def surface_area_mm2(block: np.ndarray, affine: np.ndarray, start: np.ndarray) -> float:
    """Area (mm²) of the 0.5 marching-cubes surface of a voxel block whose first voxel is
    at index ``start``, measured in patient space."""
    padded = np.pad(block.astype(np.float32), 1)
    vertices, faces, _, _ = marching_cubes(padded, level=0.5)
    points = geometry.index_to_lps(affine, vertices + (start - 1.0))
    a, b, c = (points[faces[:, k]] for k in range(3))
    return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())
