"""2D annotations of a slice view: orientation letters, millimetre scale bar, corner text."""

from __future__ import annotations

import math

from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkPolyData
from vtkmodules.vtkRenderingCore import (
    vtkActor2D,
    vtkPolyDataMapper2D,
    vtkRenderer,
    vtkTextActor,
)

LABEL_COLOR = (1.0, 0.85, 0.35)
TEXT_COLOR = (0.9, 0.9, 0.9)

_SIDES = {
    # side: (normalized x, normalized y, horizontal justification, vertical justification)
    "left": (0.01, 0.5, "Left", "Centered"),
    "right": (0.99, 0.5, "Right", "Centered"),
    "top": (0.5, 0.99, "Centered", "Top"),
    "bottom": (0.5, 0.01, "Centered", "Bottom"),
}


def nice_length(maximum: float) -> float:
    """Largest 1, 2 or 5 x 10^k not above ``maximum`` (for scale bars)."""
    if maximum <= 0:
        return 0.0
    power = 10.0 ** math.floor(math.log10(maximum))
    for factor in (5.0, 2.0, 1.0):
        if factor * power <= maximum:
            return factor * power
    return power


def format_length(length_mm: float) -> str:
    """'50 mm', '0.5 mm', '200 mm'."""
    return f"{length_mm:g} mm"


def _shade_behind(prop) -> None:
    """A dark translucent box behind text, so lines under it do not cross the letters."""
    prop.SetBackgroundColor(0.0, 0.0, 0.0)
    prop.SetBackgroundOpacity(0.55)


_CORNERS = (
    # lower left, lower right, upper left, upper right: (x, y, justification, vertical)
    (0.01, 0.01, "Left", "Bottom"),
    (0.99, 0.01, "Right", "Bottom"),
    (0.01, 0.99, "Left", "Top"),
    (0.99, 0.99, "Right", "Top"),
)


class OrientationLabels:
    """Four patient-direction letters at the middle of the view's sides."""

    def __init__(self, renderer: vtkRenderer) -> None:
        self.actors: dict[str, vtkTextActor] = {}
        for side, (x, y, horizontal, vertical) in _SIDES.items():
            actor = vtkTextActor()
            actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            actor.GetPositionCoordinate().SetValue(x, y)
            prop = actor.GetTextProperty()
            prop.SetFontSize(18)
            prop.BoldOn()
            prop.SetColor(*LABEL_COLOR)
            _shade_behind(prop)
            getattr(prop, f"SetJustificationTo{horizontal}")()
            getattr(prop, f"SetVerticalJustificationTo{vertical}")()
            renderer.AddViewProp(actor)
            self.actors[side] = actor

    def set_labels(self, labels: dict[str, str]) -> None:
        """Show letters: keys right, left, top, bottom."""
        for side, actor in self.actors.items():
            actor.SetInput(labels.get(side, ""))

    def labels(self) -> dict[str, str]:
        """The letters currently shown."""
        return {side: actor.GetInput() or "" for side, actor in self.actors.items()}


class ScaleBar:
    """A horizontal bar of a round length in mm, kept about a fifth of the view wide."""

    MARGIN = 20
    HEIGHT = 28

    def __init__(self, renderer: vtkRenderer) -> None:
        self._points = vtkPoints()
        self._points.SetNumberOfPoints(6)
        lines = vtkCellArray()
        for a, b in ((0, 1), (2, 3), (4, 5)):
            lines.InsertNextCell(2)
            lines.InsertCellPoint(a)
            lines.InsertCellPoint(b)
        self._polydata = vtkPolyData()
        self._polydata.SetPoints(self._points)
        self._polydata.SetLines(lines)
        mapper = vtkPolyDataMapper2D()
        mapper.SetInputData(self._polydata)
        self.bar = vtkActor2D()
        self.bar.SetMapper(mapper)
        self.bar.GetProperty().SetColor(*TEXT_COLOR)
        self.bar.GetProperty().SetLineWidth(2)
        self.text = vtkTextActor()
        self.text.GetTextProperty().SetFontSize(13)
        self.text.GetTextProperty().SetColor(*TEXT_COLOR)
        self.text.GetTextProperty().SetJustificationToCentered()
        renderer.AddViewProp(self.bar)
        renderer.AddViewProp(self.text)
        self.length_mm = 0.0
        self.length_px = 0.0

    def update(self, mm_per_pixel: float, width_px: int) -> None:
        """Recompute the bar for the current zoom (mm per display pixel) and view width."""
        if mm_per_pixel <= 0 or width_px <= 0:
            self.bar.VisibilityOff()
            self.text.VisibilityOff()
            return
        self.length_mm = nice_length(0.2 * width_px * mm_per_pixel)
        self.length_px = self.length_mm / mm_per_pixel
        right = width_px - self.MARGIN - 40
        left = right - self.length_px
        y = self.HEIGHT
        tick = 5
        coordinates = (
            (left, y), (right, y), (left, y - tick), (left, y + tick),
            (right, y - tick), (right, y + tick),
        )  # fmt: skip
        for index, (x, y_value) in enumerate(coordinates):
            self._points.SetPoint(index, x, y_value, 0.0)
        self._points.Modified()
        self._polydata.Modified()
        self.text.SetInput(format_length(self.length_mm))
        self.text.SetPosition((left + right) / 2.0, y + 6)
        self.bar.VisibilityOn()
        self.text.VisibilityOn()


class CornerText:
    """View name, slice, window and cursor read-outs in the corners (fixed-size text).

    Plain text actors, not vtkCornerAnnotation: that one refits its font size on every
    render, which costs more than the slice itself under software OpenGL.
    """

    LOWER_LEFT, LOWER_RIGHT, UPPER_LEFT, UPPER_RIGHT = 0, 1, 2, 3

    def __init__(self, renderer: vtkRenderer) -> None:
        self.actors: dict[int, vtkTextActor] = {}
        for corner, (x, y, horizontal, vertical) in enumerate(_CORNERS):
            actor = vtkTextActor()
            actor.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
            actor.GetPositionCoordinate().SetValue(x, y)
            prop = actor.GetTextProperty()
            prop.SetFontSize(13)
            prop.SetColor(*TEXT_COLOR)
            getattr(prop, f"SetJustificationTo{horizontal}")()
            getattr(prop, f"SetVerticalJustificationTo{vertical}")()
            renderer.AddViewProp(actor)
            self.actors[corner] = actor

    def set(self, corner: int, text: str) -> None:
        """Replace the text of one corner."""
        actor = self.actors[corner]
        if (actor.GetInput() or "") != text:
            actor.SetInput(text)

    def get(self, corner: int) -> str:
        """Current text of one corner."""
        return self.actors[corner].GetInput() or ""
