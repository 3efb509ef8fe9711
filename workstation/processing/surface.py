"""Iso-surfaces in patient LPS millimetres with VTK flying edges.

The surface is extracted in index space on the foreground's bounding box (padded with one
voxel of background so it closes at the volume border), then every vertex is mapped
through the full affine, so sheared (gantry tilt) grids come out exact.  Triangles are
wound so normals point outwards whatever the sign of the affine's determinant.
"""

from __future__ import annotations

import math

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkSMPTools
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D

from workstation.core.errors import MeshError, NotAVolumeError, SegmentationError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.volume import LabelMap, Volume
from workstation.processing.regions import foreground_region, padded_block, range_region
from workstation.processing.threshold import nothing_selected

_SMP_READY = False


def use_parallel_vtk() -> None:
    """Run VTK's SMP filters on the STDThread backend (all cores) once per process."""
    global _SMP_READY
    if not _SMP_READY:
        vtkSMPTools.SetBackend("STDThread")
        vtkSMPTools.Initialize(0)
        _SMP_READY = True


def effective_level(array: np.ndarray, level: float) -> float:
    """The iso-level actually used: an integer level on integer data moves half a unit down.

    ``value >= level`` and ``value <= level - 1`` are the two sides of the threshold on
    integer data, so ``level - 0.5`` gives the same inside as the threshold while never
    passing through a voxel exactly (which makes degenerate triangles).
    """
    if np.issubdtype(array.dtype, np.integer) and float(level).is_integer():
        return float(level) - 0.5
    return float(level)


def _check_volume_shape(shape: tuple[int, ...]) -> None:
    if min(shape) < 2:
        raise NotAVolumeError(
            f"A surface needs a 3D image with at least 2 voxels along every axis; this one is "
            f"{shape[2]} x {shape[1]} x {shape[0]} (columns x rows x slices)."
        )


def flying_edges(block: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Run vtkFlyingEdges3D on a C-contiguous (slice,row,col) array; index-space (x=col) output.

    Returns float32 points (x=col, y=row, z=slice) and int64 triangles, normals outward in
    index space.
    """
    use_parallel_vtk()
    block = np.ascontiguousarray(block)
    image = vtkImageData()
    image.SetDimensions(block.shape[2], block.shape[1], block.shape[0])
    scalars = numpy_to_vtk(block.ravel(), deep=0)
    image.GetPointData().SetScalars(scalars)
    contour = vtkFlyingEdges3D()
    contour.SetInputData(image)
    contour.SetValue(0, level)
    contour.ComputeNormalsOff()
    contour.ComputeGradientsOff()
    contour.ComputeScalarsOff()
    contour.InterpolateAttributesOff()
    contour.Update()
    output = contour.GetOutput()
    if output.GetNumberOfPoints() == 0:
        return np.empty((0, 3), np.float32), np.empty((0, 3), np.int64)
    points = vtk_to_numpy(output.GetPoints().GetData())
    faces = vtk_to_numpy(output.GetPolys().GetConnectivityArray())
    # own the memory: the VTK output is released when this function returns
    return points.copy(), faces.astype(np.int64, copy=True).reshape(-1, 3)


def _image_block(
    volume: Volume, level: float, upper: float | None, mask: LabelMap | None
) -> tuple[np.ndarray, float, tuple[slice, slice, slice]]:
    """Padded block of image values whose iso-surface at the returned level bounds the inside.

    Inside is ``mask`` when given, else ``level <= value <= upper``.  Grey values are kept
    wherever they already agree with that (sub-voxel accuracy from partial volume);
    voxels that disagree (masked-out islands, values above ``upper``, filled cavities) are
    clamped just across the level.
    """
    array = volume.array
    iso = effective_level(array, level)
    if np.issubdtype(array.dtype, np.integer):
        inside_min, outside_max = float(np.ceil(iso)), float(np.floor(iso))
        info = np.iinfo(array.dtype)
        if outside_max < info.min or inside_min > info.max:
            array = array.astype(np.float32)
    else:
        step = max(1e-3, abs(iso) * 1e-6)
        inside_min, outside_max = iso + step, iso - step
    if mask is not None:
        if not mask.same_grid(volume):
            raise SegmentationError("The segmentation is not on the image's grid.")
        region = foreground_region(mask.array)
    else:
        region = range_region(array, iso, upper)
    if region is None:
        raise SegmentationError(nothing_selected(volume, level, upper))
    block, _, _ = padded_block(array, region, 1, fill=outside_max)
    if mask is None and upper is None:
        return block, iso, region
    integer = np.issubdtype(block.dtype, np.integer)
    # integer bounds compare and clamp in the block's own type (float scalars would make
    # numpy convert every voxel, ~50x slower); both bounds are integral and in range
    low = block.dtype.type(inside_min) if integer else inside_min
    high = block.dtype.type(outside_max) if integer else outside_max
    if mask is None and integer:
        # integer values above the level already reach ``low`` and those at or below it
        # stay: only values above ``upper`` move (the same as the general clamp below)
        _clamp_above(block, float(upper), high)  # type: ignore[arg-type]
        return block, iso, region
    if mask is not None:
        chosen, _, _ = padded_block(mask.array.view(bool), region, 1, fill=False)
    else:
        chosen = (block > iso) & (block <= upper)
    np.maximum(block, low, out=block, where=chosen, casting="unsafe")
    np.minimum(block, high, out=block, where=~chosen, casting="unsafe")
    return block, iso, region


def _clamp_above(block: np.ndarray, upper: float, high: np.integer) -> None:
    """``block = min(block, high)`` where ``block > upper``, on an integer block."""
    info = np.iinfo(block.dtype)
    bound = math.floor(upper)  # integer v > upper exactly when v > floor(upper)
    if bound >= info.max:
        return
    if bound < info.min:
        np.minimum(block, high, out=block)
        return
    np.minimum(block, high, out=block, where=block > block.dtype.type(bound))


def outward_at_extreme(vertices: np.ndarray, faces: np.ndarray) -> bool:
    """True when triangles face outwards, checked where the surface reaches its largest x.

    At the extreme vertex of a closed surface the outward normals of the triangles around
    it point towards +x on the whole: one cheap check instead of a full volume sum.
    """
    extreme = int(np.argmax(vertices[:, 0]))
    around = faces[(faces == extreme).any(axis=1)]
    a, b, c = (vertices[around[:, i]] for i in range(3))
    return float(np.cross(b - a, c - a)[:, 0].sum()) > 0.0


def extract_surface(
    source: LabelMap | Volume,
    level: float | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    name: str | None = None,
    *,
    upper: float | None = None,
    mask: LabelMap | None = None,
) -> Mesh:
    """Closed triangle surface of a label map (at 0.5) or of an image at ``level``, in LPS mm.

    For an image, ``upper`` (an upper intensity bound) and ``mask`` (a label map on the
    same grid, e.g. after island or cavity edits) restrict what counts as inside while the
    surface still follows the grey values where they agree.
    """
    cancel = cancel or CancelToken()
    _check_volume_shape(source.array.shape)
    progress(0.0, "Finding the region to mesh")
    if isinstance(source, LabelMap):
        region = foreground_region(source.array)
        if region is None:
            raise SegmentationError(f"The segmentation '{source.name}' is empty: nothing to mesh.")
        block, _, _ = padded_block(source.array, region, 1, fill=0)
        iso = 0.5
        model_name = name or source.name
    else:
        if level is None:
            raise MeshError("An iso-surface of an image needs a level (intensity value).")
        block, iso, region = _image_block(source, level, upper, mask)
        model_name = name or (mask.name if mask is not None else "") or source.name
        model_name = model_name or f"Iso-surface {level:g}"
    cancel.raise_if_cancelled()
    progress(0.2, "Extracting the surface (flying edges)")
    points, faces = flying_edges(block, iso)
    del block
    cancel.raise_if_cancelled()
    if len(faces) == 0:
        raise MeshError("The surface is empty: the region is too thin to mesh.")
    progress(0.8, "Mapping vertices to patient millimetres")
    offset = np.array([part.start - 1 for part in region], dtype=np.float64)  # (s, r, c)
    affine = source.affine
    # index (s, r, c) = (z, y, x) + offset ; LPS = A @ index + t
    matrix = affine[:3, :3][:, ::-1]  # columns for (x=col, y=row, z=slice)
    translation = affine[:3, 3] + affine[:3, :3] @ offset
    vertices = points.astype(np.float64) @ matrix.T
    vertices += translation
    del points
    if np.linalg.det(matrix) < 0:
        faces[:, [0, 2]] = faces[:, [2, 0]]
    mesh = Mesh(vertices, faces, name=model_name)
    if not outward_at_extreme(vertices, faces) and mesh.signed_volume() <= 0:
        raise MeshError("The extracted surface is inside out; please report this as a bug.")
    progress(1.0, f"Surface: {mesh.n_faces:,} triangles")
    return mesh
