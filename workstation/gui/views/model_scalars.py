"""Models coloured by one value per vertex (a distance map, a thickness) with a colour bar."""

from __future__ import annotations

import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkLookupTable
from vtkmodules.vtkRenderingAnnotation import vtkScalarBarActor
from vtkmodules.vtkRenderingCore import vtkActor, vtkRenderer

from workstation.gui.views.model_actors import ShownModel


class ModelScalars:
    """The per-vertex colouring of the 3D view's models and its one colour bar."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self._renderer = renderer
        self.bar: vtkScalarBarActor | None = None
        #: the model the colour bar describes
        self.bar_model: str | None = None

    def set(
        self,
        model_id: str,
        model: ShownModel | None,
        values: np.ndarray | None,
        value_range: tuple[float, float] = (0.0, 1.0),
        title: str = "mm",
    ) -> None:
        """Colour ``model`` by ``values`` (red low, green middle, blue high); None: plain.

        KeyError for a missing model with values, ValueError for a wrong count.
        """
        bar = self.bar
        if values is None:
            if model is not None:
                model.actor.GetMapper().ScalarVisibilityOff()
            if bar is not None and self.bar_model == model_id:
                self._renderer.RemoveViewProp(bar)
                self.bar = self.bar_model = None
            return
        if model is None:
            raise KeyError(model_id)
        data = np.ascontiguousarray(values, dtype=np.float64).reshape(-1)
        if len(data) != len(model.mesh.vertices):
            raise ValueError(f"{len(data)} values for {len(model.mesh.vertices)} vertices")
        low, high = float(value_range[0]), float(value_range[1])
        high = high if high > low else low + 1e-6
        array = numpy_to_vtk(data, deep=1)
        array.SetName("values")
        mapper = model.actor.GetMapper()
        mapper.GetInput().GetPointData().SetScalars(array)
        table = vtkLookupTable()
        table.SetHueRange(0.0, 0.667)  # red (low) through green to blue (high)
        table.SetRange(low, high)
        table.Build()
        mapper.SetLookupTable(table)
        mapper.SetScalarRange(low, high)
        mapper.SetColorModeToMapScalars()
        mapper.SetScalarModeToUsePointData()
        mapper.ScalarVisibilityOn()
        if bar is None:
            bar = vtkScalarBarActor()
            bar.SetNumberOfLabels(5)
            bar.SetWidth(0.08)
            bar.SetHeight(0.45)
            bar.SetPosition(0.9, 0.05)
            bar.PickableOff()
            self._renderer.AddViewProp(bar)
            self.bar = bar
        bar.SetLookupTable(table)
        bar.SetTitle(title)
        self.bar_model = model_id


def actor_scalars(actor: vtkActor) -> np.ndarray | None:
    """The per-vertex values an actor is coloured by, or None when it has its plain colour."""
    mapper = actor.GetMapper()
    scalars = mapper.GetInput().GetPointData().GetScalars()
    if not mapper.GetScalarVisibility() or scalars is None:
        return None
    return vtk_to_numpy(scalars).copy()
