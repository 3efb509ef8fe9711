"""Scissors: the voxels a polygon cuts along a view direction, optionally within a slab.

The polygon's plane passes through the mean of its points with the Newell normal (the
cut direction when the polygon is degenerate).  A voxel is *inside* when its centre,
projected along the direction onto that plane, falls inside the polygon by the even-odd
(crossing) rule in 2D plane coordinates; the polygon's own points are projected the same
way.  With a depth, the *slab* holds the voxel centres within depth/2 of the plane
(perpendicular distance).  The map from voxel index to plane coordinates is affine, so
along one array axis the polygon in index space is a translate of one polygon: it is
rasterised once per slice, or once for the whole volume when the direction follows an
array axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workstation.core.progress import CancelToken

#: What the scissors do with the segment: the new mask from the old one and the cut.
SCISSORS_MODES = ("erase_inside", "fill_inside", "erase_outside")

#: Relative tolerance on the slab's half depth, so voxel planes on its faces are kept.
SLAB_TOLERANCE = 1e-9

#: A per-slice shift of the polygon below this (voxels, over the whole axis) counts as none.
SHIFT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class _Cut:
    """The polygon's plane, its 2D outline and the projection along the cut direction."""

    origin: np.ndarray
    normal: np.ndarray
    to_plane: np.ndarray
    outline: np.ndarray


def scissors_regions(
    shape: tuple[int, int, int],
    affine: np.ndarray,
    polygon_lps: np.ndarray,
    direction_lps: np.ndarray,
    depth_mm: float | None = None,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Full-volume masks (inside the polygon along the direction, slab or None without depth)."""
    cut = _cut_geometry(polygon_lps, direction_lps)
    matrix = np.asarray(affine, dtype=np.float64)
    grid = (int(shape[0]), int(shape[1]), int(shape[2]))
    inside = _inside_mask(grid, matrix, cut, cancel)
    if depth_mm is None:
        return inside, None
    if not np.isfinite(depth_mm) or depth_mm <= 0:
        raise ValueError(f"the scissors depth must be a positive number of mm, got {depth_mm}")
    return inside, _slab_mask(grid, matrix, cut, depth_mm / 2.0, cancel)


def scissors_mask(
    shape: tuple[int, int, int],
    affine: np.ndarray,
    polygon_lps: np.ndarray,
    direction_lps: np.ndarray,
    depth_mm: float | None = None,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Full-volume mask of the voxels the scissors act on: inside and (with depth) in the slab."""
    inside, slab = scissors_regions(shape, affine, polygon_lps, direction_lps, depth_mm, cancel)
    if slab is not None:
        inside &= slab
    return inside


def apply_scissors(
    mask: np.ndarray, inside: np.ndarray, mode: str, slab: np.ndarray | None = None
) -> np.ndarray:
    """New segment mask after a cut; with a slab, voxels beyond it are left alone in every mode.

    erase_inside: mask minus (inside and slab); fill_inside: mask plus (inside and slab);
    erase_outside: mask minus (slab and not inside), i.e. mask and inside without a slab.
    """
    if mode not in SCISSORS_MODES:
        raise ValueError(f"unknown scissors mode {mode!r}; choose one of: {SCISSORS_MODES}")
    result = np.array(mask, dtype=bool, copy=True)
    if mode == "erase_outside":
        keep = np.array(inside, dtype=bool, copy=True)
        if slab is not None:
            keep |= ~slab
        result &= keep
        return result
    selected = np.array(inside, dtype=bool, copy=True)
    if slab is not None:
        selected &= slab
    if mode == "erase_inside":
        result &= ~selected
    else:
        result |= selected
    return result


def _cut_geometry(polygon_lps: np.ndarray, direction_lps: np.ndarray) -> _Cut:
    """Plane (mean point, Newell normal), projection along the direction and 2D outline."""
    points = np.asarray(polygon_lps, dtype=np.float64).reshape(-1, 3)
    if len(points) < 3 or not np.all(np.isfinite(points)):
        raise ValueError("the scissors polygon needs at least three finite points")
    direction = np.asarray(direction_lps, dtype=np.float64).reshape(3)
    length = float(np.linalg.norm(direction))
    if not np.isfinite(length) or length < 1e-12:
        raise ValueError("the scissors direction must be a non-zero direction")
    direction = direction / length
    origin = points.mean(axis=0)
    normal = _newell_normal(points - origin)
    if normal is None:
        normal = direction
    along = float(direction @ normal)
    if abs(along) < 1e-6:
        raise ValueError("the scissors direction lies in the polygon's plane")
    u_axis, v_axis = _plane_axes(normal)
    # Plane coordinates of x projected along the direction: (axis - (axis.d / d.n) n).(x - o)
    to_plane = np.stack([axis - (axis @ direction) / along * normal for axis in (u_axis, v_axis)])
    return _Cut(origin, normal, to_plane, (points - origin) @ to_plane.T)


def _newell_normal(centred: np.ndarray) -> np.ndarray | None:
    """Unit normal of a polygon (Newell's method), or None when it encloses no area."""
    area_vector = np.cross(centred, np.roll(centred, -1, axis=0)).sum(axis=0)
    size = float(np.linalg.norm(area_vector))
    scale = float(np.max(np.einsum("ij,ij->i", centred, centred)))
    if size <= 1e-12 * max(scale, 1e-300):
        return None
    return area_vector / size


def _plane_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two orthonormal vectors spanning the plane perpendicular to ``normal``."""
    helper = np.eye(3)[int(np.argmin(np.abs(normal)))]
    u_axis = np.cross(normal, helper)
    u_axis /= np.linalg.norm(u_axis)
    return u_axis, np.cross(normal, u_axis)


def _inside_mask(
    shape: tuple[int, int, int], matrix: np.ndarray, cut: _Cut, cancel: CancelToken | None
) -> np.ndarray:
    """Voxels whose centre projects into the polygon, one 2D fill per slice of the best axis."""
    linear = cut.to_plane @ matrix[:3, :3]  # plane coordinates per unit index step
    offset = cut.to_plane @ (matrix[:3, 3] - cut.origin)
    pairs = [tuple(a for a in range(3) if a != axis) for axis in range(3)]
    determinants = [abs(np.linalg.det(linear[:, list(pair)])) for pair in pairs]
    axis = int(np.argmax(determinants))
    plane_axes = list(pairs[axis])
    to_index = np.linalg.inv(linear[:, plane_axes])
    base = (cut.outline - offset) @ to_index.T  # polygon in (plane_axes) index coordinates
    shift = -(to_index @ linear[:, axis])  # its translation per step along ``axis``
    result = np.zeros(shape, dtype=bool)
    view = np.moveaxis(result, axis, 0)
    plane_shape = (shape[plane_axes[0]], shape[plane_axes[1]])
    if float(np.abs(shift).max()) * max(shape[axis] - 1, 1) < SHIFT_TOLERANCE:
        filled = _even_odd_fill(base[:, 0], base[:, 1], plane_shape)
        if filled is not None:
            rows, cols, block = filled
            view[:, rows, cols] = block
        return result
    for index in range(shape[axis]):
        if cancel is not None:
            cancel.raise_if_cancelled()
        outline = base + index * shift
        filled = _even_odd_fill(outline[:, 0], outline[:, 1], plane_shape)
        if filled is not None:
            rows, cols, block = filled
            view[index, rows, cols] = block
    return result


def _even_odd_fill(
    ys: np.ndarray, xs: np.ndarray, shape: tuple[int, int]
) -> tuple[slice, slice, np.ndarray] | None:
    """Integer grid points (y, x) inside a polygon by the crossing rule, on its clipped box.

    A point is inside when an odd number of edges with (y0 > y) != (y1 > y) cross the line
    of constant y at an x greater than the point's: the parity flips at ceil(crossing x).
    """
    row0, row1 = max(int(np.ceil(ys.min())), 0), min(int(np.floor(ys.max())), shape[0] - 1)
    col0, col1 = max(int(np.ceil(xs.min())), 0), min(int(np.floor(xs.max())), shape[1] - 1)
    if row1 < row0 or col1 < col0:
        return None
    rows = np.arange(row0, row1 + 1, dtype=np.float64)
    next_ys, next_xs = np.roll(ys, -1), np.roll(xs, -1)
    edge, row = np.nonzero((ys[:, None] > rows) != (next_ys[:, None] > rows))
    if not edge.size:
        return None
    fraction = (rows[row] - ys[edge]) / (next_ys[edge] - ys[edge])
    crossing = xs[edge] + fraction * (next_xs[edge] - xs[edge])
    width = col1 - col0 + 1
    flips = np.clip(np.ceil(crossing) - col0, 0, width).astype(np.int64)
    counts = np.bincount(row * (width + 1) + flips, minlength=rows.size * (width + 1))
    parity = np.cumsum(counts.reshape(rows.size, width + 1)[:, :width], axis=1) & 1
    return slice(row0, row1 + 1), slice(col0, col1 + 1), parity.astype(bool)


def _slab_mask(
    shape: tuple[int, int, int],
    matrix: np.ndarray,
    cut: _Cut,
    half_depth: float,
    cancel: CancelToken | None,
) -> np.ndarray:
    """Voxels whose centre lies within ``half_depth`` mm of the polygon's plane, slice by slice."""
    gradient = cut.normal @ matrix[:3, :3]  # signed distance per unit index step
    start = float(cut.normal @ (matrix[:3, 3] - cut.origin))
    rows = np.arange(shape[1], dtype=np.float64)[:, None]
    cols = np.arange(shape[2], dtype=np.float64)[None, :]
    plane = gradient[1] * rows + gradient[2] * cols
    low, high = float(plane.min()), float(plane.max())
    limit = half_depth * (1 + SLAB_TOLERANCE)
    result = np.zeros(shape, dtype=bool)
    for index in range(shape[0]):
        if cancel is not None:
            cancel.raise_if_cancelled()
        height = gradient[0] * index + start
        if low + height > limit or high + height < -limit:
            continue
        if low + height >= -limit and high + height <= limit:
            result[index] = True
        else:
            result[index] = np.abs(plane + height) <= limit
    return result
