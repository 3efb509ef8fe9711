"""Patient-space reslicing: cut an index-space vtkImageData along a view plane.

The resampling grid is defined in plane coordinates (u, v) with the plane frame as
``ResliceAxes`` (an orthonormal LPS frame) and the inverse affine as
``ResliceTransform`` (LPS -> voxel index, shear of gantry-tilted stacks included).
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkImagingCore import vtkImageReslice

from workstation.gui.views.vtk_setup import lps_to_vtk_index_matrix, vtk_matrix


class PlaneReslicer:
    """One vtkImageReslice producing the 2D image of a view plane (cheap to move)."""

    def __init__(self, interpolation: str = "linear") -> None:
        self.reslice = vtkImageReslice()
        self.reslice.SetOutputDimensionality(2)
        self.reslice.AutoCropOutputOff()
        self.reslice.TransformInputSamplingOff()
        if interpolation == "nearest":
            self.reslice.SetInterpolationModeToNearestNeighbor()
        else:
            self.reslice.SetInterpolationModeToLinear()
        self._transform = vtkTransform()
        self.reslice.SetResliceTransform(self._transform)

    def set_input(self, image: vtkImageData, affine: np.ndarray, background: float) -> None:
        """Resample ``image`` (index space) whose voxels sit at ``affine`` (numpy order)."""
        self.reslice.SetInputData(image)
        self._transform.SetMatrix(vtk_matrix(lps_to_vtk_index_matrix(affine)))
        self.reslice.SetBackgroundLevel(float(background))

    def set_grid(self, first: np.ndarray, spacing: np.ndarray, size: np.ndarray) -> None:
        """Output pixel grid in plane coordinates: first (u, v), spacing, size (nu, nv)."""
        self.reslice.SetOutputOrigin(float(first[0]), float(first[1]), 0.0)
        self.reslice.SetOutputSpacing(float(spacing[0]), float(spacing[1]), 1.0)
        self.reslice.SetOutputExtent(0, int(size[0]) - 1, 0, int(size[1]) - 1, 0, 0)

    def set_plane(self, frame: np.ndarray) -> None:
        """Plane frame: 4x4 map from plane coordinates (u, v, w=0) to LPS."""
        self.reslice.SetResliceAxes(vtk_matrix(frame))

    def output_port(self):
        """The reslice output port for a mapper."""
        return self.reslice.GetOutputPort()
