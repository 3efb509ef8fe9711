"""Nearest-neighbour resampling of a label array from one grid onto another, both in LPS mm.

For each target voxel centre the source voxel whose centre is nearest in the source's
index space is taken: the target index is mapped through ``inv(source) @ target`` and
each coordinate rounded (half up); a centre outside the source grid gets 0.  Label
values are copied, never blended.  Sheared and rotated grids are exact.

Fast paths: the same grid costs nothing; a target whose axes equal the source's and whose
origin lies on a source voxel centre (an integer-offset crop or padding) is pure slicing;
axes that map one to one (other spacing, flipped or permuted axes) gather with one index
per axis.  Anything else goes slab by slab along the target's slices, with bounded memory
and a cancel check per slab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core import geometry
from workstation.core.progress import CancelToken, ProgressCallback, no_progress

#: Two grids are the same when their affines differ by less than this (mm).
SAME_GRID_TOLERANCE_MM = 1e-6
#: A target origin this close to a source voxel centre (in voxels) counts as on it.
INTEGER_TOLERANCE_VOXELS = 1e-4
#: A coordinate this close below a half (in voxels) still rounds up: a grid exactly twice
#: as fine then splits the same way at every voxel, whatever the float noise.
ROUNDING_TOLERANCE = 1e-6
#: Target voxels mapped at once on the general path (about 60 MB of scratch).
SLAB_VOXELS = 1 << 20
#: Source voxels sampled at most by ``overlap_fraction``.
OVERLAP_SAMPLES = 1 << 20

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Resampled:
    """A label array on the target grid and how it was made.

    ``method`` is "same" (the source array itself), "offset" (sliced, exact), "axes"
    (one index per axis) or "nearest" (general nearest neighbour).
    """

    array: np.ndarray
    method: str

    @property
    def resampled(self) -> bool:
        """True when voxels had to be re-sampled (not merely copied or shifted)."""
        return self.method in ("axes", "nearest")


def index_map(source_affine: np.ndarray, target_affine: np.ndarray) -> np.ndarray:
    """The 4x4 map from target indices to (fractional) source indices."""
    return np.linalg.inv(np.asarray(source_affine, np.float64)) @ np.asarray(target_affine)


def same_grid(
    source_shape: tuple[int, ...],
    source_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
) -> bool:
    """True when both grids have the same shape and affine (within 1e-6 mm)."""
    return tuple(source_shape) == tuple(target_shape) and bool(
        np.allclose(source_affine, target_affine, rtol=0, atol=SAME_GRID_TOLERANCE_MM)
    )


def integer_offset(source_affine: np.ndarray, target_affine: np.ndarray) -> np.ndarray | None:
    """Source index of target voxel (0, 0, 0) when the grids differ only by whole voxels."""
    source, target = np.asarray(source_affine), np.asarray(target_affine)
    if not np.allclose(source[:3, :3], target[:3, :3], rtol=0, atol=SAME_GRID_TOLERANCE_MM):
        return None
    offset = geometry.lps_to_index(source, target[:3, 3])[0]
    rounded = np.rint(offset)
    if np.max(np.abs(offset - rounded)) > INTEGER_TOLERANCE_VOXELS:
        return None
    return rounded.astype(np.int64)


def _round_half_up(values: np.ndarray) -> np.ndarray:
    """Nearest integer; a half goes up, also when float noise puts it a hair below."""
    return np.floor(values + (0.5 + ROUNDING_TOLERANCE)).astype(np.int64)


def _by_offset(labels: np.ndarray, offset: np.ndarray, target_shape: Shape) -> np.ndarray:
    result = np.zeros(target_shape, dtype=labels.dtype)
    target_parts, source_parts = [], []
    for axis in range(3):
        start = max(0, -int(offset[axis]))
        stop = min(target_shape[axis], labels.shape[axis] - int(offset[axis]))
        if stop <= start:
            return result
        target_parts.append(slice(start, stop))
        source_parts.append(slice(start + int(offset[axis]), stop + int(offset[axis])))
    result[tuple(target_parts)] = labels[tuple(source_parts)]
    return result


def _axis_pairing(mapping: np.ndarray) -> list[int] | None:
    """For each source axis the one target axis it follows, when the map is one to one."""
    matrix = np.abs(mapping[:3, :3])
    scale = matrix.max()
    pairing = []
    for source_axis in range(3):
        present = np.flatnonzero(matrix[source_axis] > 1e-9 * scale)
        if len(present) != 1:
            return None
        pairing.append(int(present[0]))
    return pairing if sorted(pairing) == [0, 1, 2] else None


def _by_axes(
    labels: np.ndarray,
    mapping: np.ndarray,
    pairing: list[int],
    target_shape: Shape,
    cancel: CancelToken,
) -> np.ndarray:
    """Gather with one source index per target position along each axis (a separable map)."""
    result = np.zeros(target_shape, dtype=labels.dtype)
    kept: list[np.ndarray] = [np.empty(0, np.int64)] * 3  # by target axis: positions inside
    sources: list[np.ndarray] = [np.empty(0, np.int64)] * 3  # by target axis: source indices
    for source_axis, target_axis in enumerate(pairing):
        positions = np.arange(target_shape[target_axis], dtype=np.float64)
        index = _round_half_up(
            mapping[source_axis, target_axis] * positions + mapping[source_axis, 3]
        )
        inside = np.flatnonzero((index >= 0) & (index < labels.shape[source_axis]))
        kept[target_axis], sources[target_axis] = inside, index[inside]
    if not all(len(part) for part in kept):
        return result
    order = [pairing.index(axis) for axis in range(3)]  # target axis -> its source axis
    step = max(1, SLAB_VOXELS // (len(kept[1]) * len(kept[2])))
    for start in range(0, len(kept[0]), step):
        cancel.raise_if_cancelled()
        chunk = slice(start, start + step)
        by_source = [sources[pairing[axis]] for axis in range(3)]
        by_source[order[0]] = sources[0][chunk]
        gathered = labels[np.ix_(*by_source)].transpose(order)
        result[np.ix_(kept[0][chunk], kept[1], kept[2])] = gathered
    return result


def _by_nearest(
    labels: np.ndarray,
    mapping: np.ndarray,
    target_shape: Shape,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> np.ndarray:
    result = np.zeros(target_shape, dtype=labels.dtype)
    plane = target_shape[1] * target_shape[2]
    step = max(1, SLAB_VOXELS // max(1, plane))
    rows = np.arange(target_shape[1], dtype=np.float64)[None, :, None]
    columns = np.arange(target_shape[2], dtype=np.float64)[None, None, :]
    limits = labels.shape
    for start in range(0, target_shape[0], step):
        cancel.raise_if_cancelled()
        stop = min(start + step, target_shape[0])
        slices = np.arange(start, stop, dtype=np.float64)[:, None, None]
        index = []
        inside = np.ones((stop - start, *target_shape[1:]), dtype=bool)
        for axis in range(3):
            m = mapping[axis]
            position = m[0] * slices + m[1] * rows + m[2] * columns + m[3]
            axis_index = _round_half_up(position)
            inside &= (axis_index >= 0) & (axis_index < limits[axis])
            index.append(axis_index)
        block = result[start:stop]
        block[inside] = labels[index[0][inside], index[1][inside], index[2][inside]]
        progress(stop / target_shape[0], "Resampling labels")
    return result


def resample_labels(
    labels: np.ndarray,
    source_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Resampled:
    """``labels`` (on ``source_affine``) nearest-neighbour resampled onto the target grid."""
    token = cancel or CancelToken()
    shape: Shape = tuple(int(n) for n in target_shape)  # type: ignore[assignment]
    if same_grid(labels.shape, source_affine, shape, target_affine):
        progress(1.0, "Resampling labels")
        return Resampled(labels, "same")
    offset = integer_offset(source_affine, target_affine)
    if offset is not None:
        progress(1.0, "Resampling labels")
        return Resampled(_by_offset(labels, offset, shape), "offset")
    mapping = index_map(source_affine, target_affine)
    pairing = _axis_pairing(mapping)
    if pairing is not None:
        array = _by_axes(labels, mapping, pairing, shape, token)
        progress(1.0, "Resampling labels")
        return Resampled(array, "axes")
    return Resampled(_by_nearest(labels, mapping, shape, progress, token), "nearest")


def _sample_points(labels: np.ndarray, cancel: CancelToken) -> np.ndarray:
    """About ``OVERLAP_SAMPLES`` source indices: of non-zero voxels, else of the whole grid.

    Large maps are sampled at random (a fixed seed: the same file gives the same share),
    as a regular stride could follow the grid's rows and see only one column.
    """
    count = int(np.count_nonzero(labels))
    if count == 0:
        axes = [np.linspace(0, n - 1, min(n, 64)) for n in labels.shape]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    rate = min(1.0, OVERLAP_SAMPLES / count)
    random = np.random.default_rng(0)
    step = max(1, SLAB_VOXELS // max(1, labels[0].size))
    chunks = []
    for start in range(0, labels.shape[0], step):
        cancel.raise_if_cancelled()
        found = np.argwhere(labels[start : start + step])
        if rate < 1.0:
            found = found[random.random(len(found)) < rate]
        chunks.append(found + np.array([start, 0, 0]))
    return np.concatenate(chunks).astype(np.float64)


def overlap_fraction(
    labels: np.ndarray,
    source_affine: np.ndarray,
    target_shape: tuple[int, ...],
    target_affine: np.ndarray,
    cancel: CancelToken | None = None,
) -> float:
    """Share (0..1) of the source's non-zero voxels whose centres fall inside the target grid.

    A voxel is inside when its nearest target voxel exists (the rounding the resampling
    uses).  Without non-zero voxels the share of the source grid's voxel centres counts.
    Large label maps are sampled, so the share is then close rather than exact.
    """
    token = cancel or CancelToken()
    points = _sample_points(labels, token)
    if len(points) == 0:
        return 0.0
    lps = geometry.index_to_lps(source_affine, points)
    index = _round_half_up(geometry.lps_to_index(target_affine, lps))
    inside = np.all((index >= 0) & (index < np.asarray(target_shape[:3])), axis=1)
    return float(np.count_nonzero(inside)) / len(points)
