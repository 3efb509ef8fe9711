"""One place that imports VTK for the views and converts numpy/affines to VTK objects.

VTK image data are kept in *index space*: dimensions (col, row, slice), spacing 1,
origin 0, wrapping the C-contiguous (slice, row, col) numpy array without a copy.
Geometry enters only through matrices built from the volume's affine.
"""

from __future__ import annotations

import numpy as np
import vtkmodules.qt

vtkmodules.qt.PyQtImpl = "PySide6"

import vtkmodules.vtkInteractionStyle  # noqa: E402  (registers interactor styles)
import vtkmodules.vtkRenderingFreeType  # noqa: E402  (text rendering)
import vtkmodules.vtkRenderingOpenGL2  # noqa: E402  (OpenGL back end)
import vtkmodules.vtkRenderingVolumeOpenGL2  # noqa: E402  (volume mappers)
from vtkmodules.qt.QVTKRenderWindowInteractor import QVTKRenderWindowInteractor  # noqa: E402
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy  # noqa: E402
from vtkmodules.vtkCommonCore import vtkSMPTools  # noqa: E402
from vtkmodules.vtkCommonDataModel import vtkImageData  # noqa: E402
from vtkmodules.vtkCommonMath import vtkMatrix4x4  # noqa: E402
from vtkmodules.vtkRenderingCore import vtkRenderWindow, vtkWindowToImageFilter  # noqa: E402

__all__ = [
    "QVTKRenderWindowInteractor",
    "capture_render_window",
    "configure_vtk",
    "image_from_array",
    "index_to_lps_matrix",
    "replace_image_scalars",
    "vtk_matrix",
]

_configured = False

#: Permutes VTK index order (i=col, j=row, k=slice) into numpy order (slice, row, col).
VTK_TO_NUMPY_INDEX = np.array(
    [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64
)


def configure_vtk() -> None:
    """Use both cores for VTK filters (the wheel defaults to the sequential back end)."""
    global _configured
    if not _configured:
        vtkSMPTools.SetBackend("STDThread")
        _configured = True


def _vtk_ready(array: np.ndarray) -> np.ndarray:
    """A C-contiguous array of a type VTK takes without conversion (bool becomes uint8)."""
    if array.dtype == np.bool_:
        array = array.view(np.uint8)
    return np.ascontiguousarray(array)


def image_from_array(array: np.ndarray) -> tuple[vtkImageData, np.ndarray]:
    """Index-space vtkImageData sharing ``array``'s memory; keep the returned array alive."""
    data = _vtk_ready(array)
    image = vtkImageData()
    slices, rows, cols = data.shape
    image.SetDimensions(cols, rows, slices)
    image.SetSpacing(1.0, 1.0, 1.0)
    image.SetOrigin(0.0, 0.0, 0.0)
    _share_scalars(image, data)
    return image, data


def replace_image_scalars(image: vtkImageData, array: np.ndarray) -> np.ndarray:
    """Point an existing image at new voxels of the same shape, without copying them."""
    data = _vtk_ready(array)
    slices, rows, cols = data.shape
    if tuple(image.GetDimensions()) != (cols, rows, slices):
        raise ValueError("new voxels must have the same shape as the image they replace")
    _share_scalars(image, data)
    image.Modified()
    return data


def _share_scalars(image: vtkImageData, data: np.ndarray) -> None:
    """Make ``data`` (C-contiguous, kept alive by the caller) the image's voxel values."""
    scalars = numpy_to_vtk(data.reshape(-1), deep=0)
    scalars.SetName("values")
    image.GetPointData().SetScalars(scalars)


def vtk_matrix(matrix: np.ndarray) -> vtkMatrix4x4:
    """A vtkMatrix4x4 holding a numpy 4x4."""
    result = vtkMatrix4x4()
    for row in range(4):
        for col in range(4):
            result.SetElement(row, col, float(matrix[row, col]))
    return result


def index_to_lps_matrix(affine: np.ndarray) -> np.ndarray:
    """The affine re-expressed for VTK index order: (i=col, j=row, k=slice) -> LPS."""
    return np.asarray(affine, dtype=np.float64) @ VTK_TO_NUMPY_INDEX


def lps_to_vtk_index_matrix(affine: np.ndarray) -> np.ndarray:
    """Inverse of :func:`index_to_lps_matrix`: LPS -> (col, row, slice); shear included."""
    return np.linalg.inv(index_to_lps_matrix(affine))


def capture_render_window(render_window: vtkRenderWindow) -> np.ndarray:
    """The render window's current frame as (H, W, 3) uint8, top row first."""
    grabber = vtkWindowToImageFilter()
    grabber.SetInput(render_window)
    grabber.SetInputBufferTypeToRGB()
    grabber.ReadFrontBufferOff()
    grabber.ShouldRerenderOn()
    grabber.Update()
    output = grabber.GetOutput()
    width, height, _ = output.GetDimensions()
    pixels = vtk_to_numpy(output.GetPointData().GetScalars()).reshape(height, width, -1)
    return np.ascontiguousarray(pixels[::-1, :, :3])
