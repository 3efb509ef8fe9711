"""Volume-preserving windowed-sinc smoothing of meshes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from workstation.core.errors import MeshError
from workstation.core.mesh import Mesh
from workstation.processing.mesh_edit import with_arrays

# VTK is imported inside the functions that use it: every ``workstation`` command
# lists the mesh command, which should not pay its import time.

if TYPE_CHECKING:
    from vtkmodules.vtkCommonDataModel import vtkPolyData


def to_polydata(mesh: Mesh) -> vtkPolyData:
    """A vtkPolyData viewing the mesh's arrays (no copy; keep the mesh alive while used)."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonCore import VTK_ID_TYPE, vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData

    points = vtkPoints()
    points.SetData(numpy_to_vtk(mesh.vertices, deep=0))
    offsets = np.arange(0, 3 * mesh.n_faces + 1, 3, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtk(offsets, deep=0, array_type=VTK_ID_TYPE),
        numpy_to_vtk(mesh.faces.reshape(-1), deep=0, array_type=VTK_ID_TYPE),
    )
    polydata = vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetPolys(cells)
    return polydata


def smooth(mesh: Mesh, iterations: int, pass_band: float = 0.1) -> Mesh:
    """Windowed-sinc smoothing (volume preserving); more iterations / lower pass band = smoother.

    ``pass_band`` in (0, 2): 0.1 is gentle, 0.01 strong (3D Slicer's "smoothing factor"
    0.5).  Topology is unchanged; only vertex positions move.
    """
    if iterations <= 0 or mesh.n_faces == 0:
        return mesh
    if not 0.0 < pass_band < 2.0:
        raise MeshError(f"The smoothing pass band must be between 0 and 2, got {pass_band}.")
    from vtkmodules.util.numpy_support import vtk_to_numpy
    from vtkmodules.vtkFiltersCore import vtkWindowedSincPolyDataFilter

    from workstation.processing.surface import use_parallel_vtk

    use_parallel_vtk()
    smoother = vtkWindowedSincPolyDataFilter()
    smoother.SetInputData(to_polydata(mesh))
    smoother.SetNumberOfIterations(int(iterations))
    smoother.SetPassBand(float(pass_band))
    smoother.BoundarySmoothingOff()
    smoother.FeatureEdgeSmoothingOff()
    smoother.NonManifoldSmoothingOff()
    smoother.NormalizeCoordinatesOn()
    smoother.Update()
    vertices = vtk_to_numpy(smoother.GetOutput().GetPoints().GetData()).astype(np.float64)
    report = [f"Smoothed: windowed sinc, {iterations} iterations, pass band {pass_band:g}"]
    return with_arrays(mesh, vertices, mesh.faces, report)
