"""The patient's body in a CT, to drop what lies outside it (the table, positioning aids).

A CT bone threshold also selects the scanner table: its rails and the carbon-fibre top
come out as long rods and thin sheets behind the patient ("vertical streaks" in a front
view of the model).  They are separated from the patient by air and the foam mattress,
both below ``BODY_HU``, so the body is the largest connected region above ``BODY_HU``
(skin, fat, muscle, organs) with the air inside it (lungs, bowel gas) filled slice by
slice.  Found on a grid of about ``BODY_GRID_MM`` millimetres: a few million voxels at
most, whatever the scan.  A piece of the model is outside the body when most of it lies
outside this region grown by one coarse voxel (so bone at the skin stays).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from workstation.core import geometry
from workstation.core.mesh import Mesh
from workstation.core.volume import Volume

if TYPE_CHECKING:
    from workstation.processing.mesh_components import Pieces

#: Hounsfield units separating the body (fat is about -100 HU) from air and foam padding.
BODY_HU = -400.0

#: Size in mm of the coarse grid the body is found on.
BODY_GRID_MM = 4.0

#: A piece is kept when at least this share of it lies inside the (grown) body.
INSIDE_SHARE = 0.5

#: The body must hold at least this many times the model's volume to be trusted: else
#: the "body" is just the model itself (bone phantoms, a bone in air) and nothing is dropped.
MIN_BODY_TO_MODEL = 3.0


@dataclass
class BodyMask:
    """Coarse mask of the body: ``mask[i, j, k]`` covers voxels ``(i, j, k) * stride``."""

    mask: np.ndarray
    stride: tuple[int, int, int]
    affine: np.ndarray
    volume_mm3: float

    def _coarse(self, values: np.ndarray, axis: int) -> np.ndarray:
        """Coarse-grid indices of full-grid indices along ``axis`` (edges extend outwards)."""
        coarse = np.rint(np.asarray(values, dtype=np.float64) / self.stride[axis])
        return np.clip(coarse, 0, self.mask.shape[axis] - 1).astype(np.int64)

    def contains_indices(self, index: np.ndarray) -> np.ndarray:
        """Whether (N, 3) fractional voxel indices (slice, row, col) lie in the body."""
        index = np.asarray(index, dtype=np.float64).reshape(-1, 3)
        slab, row, col = (self._coarse(index[:, axis], axis) for axis in range(3))
        return self.mask[slab, row, col]

    def contains_points(self, points_lps: np.ndarray) -> np.ndarray:
        """Whether (N, 3) LPS points (mm) lie in the body."""
        return self.contains_indices(geometry.lps_to_index(self.affine, points_lps))

    def trusted_for(self, model_mm3: float) -> bool:
        """True when the body is much larger than a model of ``model_mm3`` (a real body)."""
        return self.volume_mm3 >= MIN_BODY_TO_MODEL * model_mm3


def find_body(volume: Volume) -> BodyMask | None:
    """The patient's body on a coarse grid, or None (not a CT in HU, or nothing found)."""
    from scipy import ndimage

    if volume.units != "HU" or min(volume.shape) < 2:
        return None
    spacing = geometry.voxel_spacing(volume.affine)
    stride = tuple(max(1, round(BODY_GRID_MM / float(step))) for step in spacing)
    sample = volume.array[:: stride[0], :: stride[1], :: stride[2]] > BODY_HU
    labels, count = ndimage.label(sample)
    if count == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    sizes[0] = 0
    body = labels == int(np.argmax(sizes))
    for index in range(body.shape[0]):  # air inside the body: lungs, airways, bowel gas
        body[index] = ndimage.binary_fill_holes(body[index])
    body = ndimage.binary_dilation(body, iterations=1)
    coarse_mm3 = volume.voxel_volume_mm3 * float(np.prod(stride))
    return BodyMask(body, stride, volume.affine, float(body.sum()) * coarse_mm3)  # type: ignore[arg-type]


def outside_pieces(inside: np.ndarray, totals: np.ndarray, sizes: np.ndarray) -> np.ndarray | None:
    """Pieces to drop: under ``INSIDE_SHARE`` of their elements inside; None if the largest is.

    ``inside``/``totals`` count each piece's elements (voxels or points) inside the body and
    in all; ``sizes`` rank the pieces (the largest is the patient's main bone: when even it
    is outside, the body found is not the patient's and nothing is dropped).
    """
    outside = inside < INSIDE_SHARE * totals
    if outside[int(np.argmax(sizes))]:
        return None
    return outside


def outside_body_pieces(mesh: Mesh, parts: Pieces, body: BodyMask) -> np.ndarray | None:
    """Per piece of ``mesh``: True when most of its points lie outside ``body``.

    None when nothing can be judged: a "body" not much larger than the model (bone in air,
    a phantom) or one that leaves out even the largest piece.
    """
    if not body.trusted_for(float(parts.volumes[parts.volumes > 0].sum())):
        return None
    points_inside = body.contains_points(mesh.vertices)
    inside = np.bincount(parts.of_point, points_inside, minlength=parts.count)
    totals = np.bincount(parts.of_point, minlength=parts.count)
    return outside_pieces(inside, totals, parts.volumes)
