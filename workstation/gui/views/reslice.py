"""Patient-space reslicing: cut an index-space vtkImageData along a view plane.

The resampling grid is defined in plane coordinates (u, v) with the plane frame as
``ResliceAxes`` (an orthonormal LPS frame) and the inverse affine as
``ResliceTransform`` (LPS -> voxel index, shear of gantry-tilted stacks included).
"""

from __future__ import annotations

import numpy as np
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonTransforms import vtkTransform
from vtkmodules.vtkImagingCore import vtkImageReslice
from vtkmodules.vtkRenderingCore import vtkImageActor, vtkRenderer

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


class LabelLayer:
    """A label image on the volume grid cut by a view plane, coloured by a lookup table.

    Nearest-neighbour cut, drawn at height ``z`` above the slice image; value 0 is
    transparent when the table says so.  The segments and the threshold preview each use one.
    """

    def __init__(self, renderer: vtkRenderer, z: float, lut: vtkLookupTable | None = None) -> None:
        self.reslicer = PlaneReslicer("nearest")
        self.lut = lut or vtkLookupTable()
        self.actor = vtkImageActor()
        self.actor.GetMapper().SetInputConnection(self.reslicer.output_port())
        prop = self.actor.GetProperty()
        prop.SetLookupTable(self.lut)
        prop.UseLookupTableScalarRangeOn()
        prop.SetInterpolationTypeToNearest()
        self.actor.SetPosition(0.0, 0.0, z)
        self.actor.ForceTranslucentOn()
        self.actor.VisibilityOff()
        renderer.AddActor(self.actor)

    @property
    def image(self) -> vtkImageData | None:
        """The label image shown (None: nothing)."""
        return self.reslicer.reslice.GetInput()

    def set_image(
        self,
        image: vtkImageData | None,
        affine: np.ndarray | None,
        frame: np.ndarray,
        lut: vtkLookupTable | None = None,
    ) -> None:
        """Show ``image`` (index space, voxels at ``affine``) on plane ``frame``; None hides."""
        if image is None or affine is None:
            self.actor.VisibilityOff()
            self.reslicer.reslice.SetInputData(None)  # let the old voxels go
            return
        if lut is not None and lut is not self.lut:
            self.lut = lut
            self.actor.GetProperty().SetLookupTable(lut)
        if self.image is not image:
            self.reslicer.set_input(image, affine, 0.0)
            self.reslicer.set_plane(frame)
        self.actor.VisibilityOn()

    def set_grid(self, first: np.ndarray, spacing: np.ndarray, size: np.ndarray) -> None:
        """The view's pixel grid in plane coordinates."""
        self.reslicer.set_grid(first, spacing, size)

    def set_plane(self, frame: np.ndarray) -> None:
        """The shown slice moved."""
        if self.image is not None:
            self.reslicer.set_plane(frame)
