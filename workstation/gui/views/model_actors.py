"""Surface models as VTK actors: a Mesh (LPS mm triangles) turned into a shaded actor."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkFiltersCore import vtkPolyDataNormals
from vtkmodules.vtkRenderingCore import vtkActor, vtkPolyDataMapper

from workstation.core.mesh import Mesh


@dataclass
class ShownModel:
    """A model's VTK actor and the mesh it draws."""

    actor: vtkActor
    mesh: Mesh


def mesh_to_polydata(mesh: Mesh) -> vtkPolyData:
    """VTK triangles from a Mesh (vertices LPS mm, faces (M, 3))."""
    points = vtkPoints()
    points.SetData(numpy_to_vtk(np.ascontiguousarray(mesh.vertices), deep=1))
    faces = np.ascontiguousarray(mesh.faces, dtype=np.int64)
    offsets = np.arange(0, 3 * len(faces) + 1, 3, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(
        numpy_to_vtkIdTypeArray(offsets, deep=1),
        numpy_to_vtkIdTypeArray(faces.reshape(-1), deep=1),
    )
    polydata = vtkPolyData()
    polydata.SetPoints(points)
    polydata.SetPolys(cells)
    return polydata


def model_actor(
    mesh: Mesh, color: tuple[float, float, float], opacity: float, visible: bool
) -> vtkActor:
    """A smooth-shaded actor of a mesh (point normals, no splitting, faces kept as given)."""
    normals = vtkPolyDataNormals()
    normals.SetInputData(mesh_to_polydata(mesh))
    normals.SplittingOff()
    normals.ConsistencyOff()
    normals.AutoOrientNormalsOff()
    normals.ComputeCellNormalsOff()
    normals.Update()
    mapper = vtkPolyDataMapper()
    mapper.SetInputData(normals.GetOutput())
    mapper.ScalarVisibilityOff()
    actor = vtkActor()
    actor.SetMapper(mapper)
    prop = actor.GetProperty()
    prop.SetColor(*color)
    prop.SetOpacity(float(opacity))
    prop.SetSpecular(0.2)
    prop.SetSpecularPower(20)
    actor.SetVisibility(bool(visible))
    return actor
