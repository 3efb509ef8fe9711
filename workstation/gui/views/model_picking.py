"""Which model lies under a point of the 3D view: model id, LPS point and outward normal."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from vtkmodules.vtkCommonDataModel import vtkPolyData, vtkStaticCellLocator
from vtkmodules.vtkRenderingCore import vtkCellPicker, vtkRenderer

from workstation.core.mesh import Mesh
from workstation.gui.views.model_actors import ShownModel


class ModelPicker:
    """Picks visible model actors only, with one cell locator per mesh (picks stay fast)."""

    def __init__(self) -> None:
        self._locators: dict[str, tuple[vtkPolyData, vtkStaticCellLocator]] = {}

    def pick(
        self,
        models: Mapping[str, ShownModel],
        renderer: vtkRenderer,
        display_x: float,
        display_y: float,
    ) -> tuple[str, np.ndarray, np.ndarray] | None:
        """(model id, LPS point, outward unit normal) at a display position (VTK pixels).

        Never slice outlines, planning marks or the volume rendering: only the visible
        model actors are in the pick list.  The normal is the picked triangle's (faces are
        counter-clockwise outward), turned by the actor's matrix if it has one.
        """
        actors = {id(m.actor): key for key, m in models.items() if m.actor.GetVisibility()}
        if not actors:
            return None
        picker = vtkCellPicker()
        picker.SetTolerance(0.0005)
        picker.PickFromListOn()
        for key in actors.values():
            picker.AddPickList(models[key].actor)
            picker.AddLocator(self.locator(models, key))
        if not picker.Pick(display_x, display_y, 0.0, renderer):
            return None
        model_id = actors.get(id(picker.GetActor()))
        cell = picker.GetCellId()
        if model_id is None or cell < 0:
            return None
        model = models[model_id]
        point = np.array(picker.GetPickPosition(), dtype=np.float64)
        normal = face_normal(model.mesh, cell)
        if normal is None:
            normal = np.array(picker.GetPickNormal(), dtype=np.float64)
        elif model.actor.GetUserMatrix() is not None or not model.actor.GetIsIdentity():
            matrix = model.actor.GetMatrix()
            linear = np.array([[matrix.GetElement(r, c) for c in range(3)] for r in range(3)])
            normal = np.linalg.inv(linear).T @ normal
        length = float(np.linalg.norm(normal))
        return model_id, point, normal / length if length > 0 else normal

    def locator(self, models: Mapping[str, ShownModel], model_id: str) -> vtkStaticCellLocator:
        """A cell locator of a model's triangles (made once per mesh, dropped with the model)."""
        for stale in set(self._locators) - set(models):
            del self._locators[stale]
        dataset = models[model_id].actor.GetMapper().GetInput()
        cached = self._locators.get(model_id)
        if cached is None or cached[0] is not dataset:
            locator = vtkStaticCellLocator()
            locator.SetDataSet(dataset)
            locator.BuildLocator()
            cached = self._locators[model_id] = (dataset, locator)
        return cached[1]


def face_normal(mesh: Mesh, face: int) -> np.ndarray | None:
    """Unit normal of triangle ``face`` of a mesh (right-hand rule), None if degenerate."""
    if face >= len(mesh.faces):
        return None
    a, b, c = np.asarray(mesh.vertices, dtype=np.float64)[mesh.faces[face]]
    normal = np.cross(b - a, c - a)
    length = float(np.linalg.norm(normal))
    return normal / length if length > 0 else None
