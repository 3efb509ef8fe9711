"""2D annotations of a slice view: orientation letters, millimetre scale bar, corner text."""

from __future__ import annotations

import math
import weakref

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


_CORNERS = (
    # lower left, lower right, upper left, upper right: (x, y, justification, vertical)
    (0.01, 0.01, "Left", "Bottom"),
    (0.99, 0.01, "Right", "Bottom"),
    (0.01, 0.99, "Left", "Top"),
    (0.99, 0.99, "Right", "Top"),
)


def _shade_behind(prop) -> None:
    """A dark translucent box behind text, so lines under it do not cross the letters."""
    prop.SetBackgroundColor(0.0, 0.0, 0.0)
    prop.SetBackgroundOpacity(0.55)


#: Text sizes, margins and gaps are in points: display pixels = points x DPI / 72, and the
#: VTK widget sets the render window's DPI from the display scale (144 at 2x).
POINTS_DPI = 72.0
MARGIN_PT = 4.0
GAP_PT = 3.0
#: The annotations are arranged after the view's own pre-render work (a lower priority).
ARRANGE_PRIORITY = -1.0

Box = tuple[float, float, float, float]  # x0, x1, y0, y1 in display pixels, y up


def display_scale(renderer: vtkRenderer) -> float:
    """Display pixels per point for ``renderer`` (1 at 1x, 2 at 2x display scaling)."""
    window = renderer.GetRenderWindow()
    dpi = window.GetDPI() if window is not None else POINTS_DPI
    return max(float(dpi), 1.0) / POINTS_DPI


def overlap(a: Box, b: Box, gap: float = 0.0) -> bool:
    """True when two boxes overlap or come closer than ``gap``."""
    return a[0] < b[1] + gap and b[0] < a[1] + gap and a[2] < b[3] + gap and b[2] < a[3] + gap


def _relative_box(actor: vtkTextActor, renderer: vtkRenderer) -> Box | None:
    """The text's box relative to its anchor point, or None for no text."""
    if not actor.GetInput() or not actor.GetVisibility():
        return None
    box = [0.0, 0.0, 0.0, 0.0]
    actor.GetBoundingBox(renderer, box)
    return box[0], box[1], box[2], box[3]


def placed_box(actor: vtkTextActor, renderer: vtkRenderer) -> Box | None:
    """The text's box in display pixels where it is anchored now, or None for no text."""
    box = _relative_box(actor, renderer)
    if box is None:
        return None
    x, y = actor.GetPositionCoordinate().GetComputedViewportValue(renderer)
    return x + box[0], x + box[1], y + box[2], y + box[3]


def _anchor(actor: vtkTextActor, x: float, y: float) -> None:
    actor.GetPositionCoordinate().SetCoordinateSystemToViewport()
    actor.GetPositionCoordinate().SetValue(float(x), float(y))


class _Annotations:
    """Places the texts of one renderer so that none covers another, at any display scale.

    The orientation letters stay at the middle of the sides; each corner text starts in
    its corner and moves inwards (down from the top, up from the bottom) past every text
    it would cover; the scale bar, last, moves up past whatever it would cover.
    """

    def __init__(self) -> None:
        self.labels: OrientationLabels | None = None
        self.scale_bar: ScaleBar | None = None
        self.corners: CornerText | None = None
        self.boxes: dict[str, Box] = {}

    def arrange(self, renderer: vtkRenderer, _event: str = "") -> None:
        """Lay out every text for the renderer's current size (before it renders)."""
        width, height = renderer.GetSize()
        if width < 2 or height < 2:
            return
        scale = display_scale(renderer)
        margin, gap = MARGIN_PT * scale, GAP_PT * scale
        self.boxes = {}
        if self.labels is not None:
            self.labels.place(width, height, margin)
            for side, actor in self.labels.actors.items():
                box = placed_box(actor, renderer)
                if box is not None:
                    self.boxes[side] = box
        if self.corners is not None:
            for corner, actor in self.corners.actors.items():
                box = self._place_corner(renderer, corner, actor, width, height, margin, gap)
                if box is not None:
                    self.boxes[f"corner{corner}"] = box
        if self.scale_bar is not None:
            box = self.scale_bar.place(renderer, scale, list(self.boxes.values()), gap)
            if box is not None:
                self.boxes["scale_bar"] = box

    def _place_corner(
        self,
        renderer: vtkRenderer,
        corner: int,
        actor: vtkTextActor,
        width: int,
        height: int,
        margin: float,
        gap: float,
    ) -> Box | None:
        relative = _relative_box(actor, renderer)
        if relative is None:
            return None
        text_width, text_height = relative[1] - relative[0], relative[3] - relative[2]
        upper = corner in (CornerText.UPPER_LEFT, CornerText.UPPER_RIGHT)
        left_side = corner in (CornerText.UPPER_LEFT, CornerText.LOWER_LEFT)
        left = margin if left_side else width - margin - text_width
        bottom = height - margin - text_height if upper else margin
        obstacles = list(self.boxes.values())
        for _ in range(len(obstacles) + 1):
            box = (left, left + text_width, bottom, bottom + text_height)
            hit = next((other for other in obstacles if overlap(box, other, gap)), None)
            if hit is None:
                break
            bottom = hit[2] - gap - text_height if upper else hit[3] + gap
        _anchor(actor, left - relative[0], bottom - relative[2])
        return left, left + text_width, bottom, bottom + text_height


_LAYOUTS: weakref.WeakKeyDictionary[vtkRenderer, _Annotations] = weakref.WeakKeyDictionary()


def _annotations(renderer: vtkRenderer) -> _Annotations:
    """The one annotation layout of ``renderer`` (made and hooked in on first use)."""
    layout = _LAYOUTS.get(renderer)
    if layout is None:
        layout = _Annotations()
        _LAYOUTS[renderer] = layout
        renderer.AddObserver("StartEvent", layout.arrange, ARRANGE_PRIORITY)
    return layout


def placed_boxes(renderer: vtkRenderer) -> dict[str, Box]:
    """Display boxes ('left', ..., 'scale_bar', 'corner0'..) as last arranged (for checks)."""
    return dict(_annotations(renderer).boxes)


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
        _annotations(renderer).labels = self

    def place(self, width: int, height: int, margin: float) -> None:
        """Anchor the letters at the middle of each side, ``margin`` pixels inside."""
        anchors = {
            "left": (margin, height / 2.0),
            "right": (width - margin, height / 2.0),
            "top": (width / 2.0, height - margin),
            "bottom": (width / 2.0, margin),
        }
        for side, actor in self.actors.items():
            _anchor(actor, *anchors[side])

    def set_labels(self, labels: dict[str, str]) -> None:
        """Show letters: keys right, left, top, bottom."""
        for side, actor in self.actors.items():
            actor.SetInput(labels.get(side, ""))

    def labels(self) -> dict[str, str]:
        """The letters currently shown."""
        return {side: actor.GetInput() or "" for side, actor in self.actors.items()}


class ScaleBar:
    """A horizontal bar of a round length in mm, kept about a fifth of the view wide.

    Its size and place are in points (``MARGIN``, ``HEIGHT``), so it grows with the
    display scale like the texts; it moves up when it would cover a text.
    """

    MARGIN = 20
    HEIGHT = 28
    TICK = 5
    TEXT_GAP = 6

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
        self._width_px = 0
        self._scale = 1.0
        _annotations(renderer).scale_bar = self

    def update(self, mm_per_pixel: float, width_px: int) -> None:
        """Recompute the bar for the current zoom (mm per display pixel) and view width."""
        if mm_per_pixel <= 0 or width_px <= 0:
            self.bar.VisibilityOff()
            self.text.VisibilityOff()
            self.length_px = 0.0
            return
        self.length_mm = nice_length(0.2 * width_px * mm_per_pixel)
        self.length_px = self.length_mm / mm_per_pixel
        self._width_px = width_px
        self.text.SetInput(format_length(self.length_mm))
        self._draw(self.HEIGHT * self._scale)
        self.bar.VisibilityOn()
        self.text.VisibilityOn()

    def _draw(self, y: float) -> tuple[float, float]:
        """Put the bar at height ``y`` (display pixels); returns its (left, right) ends."""
        scale = self._scale
        right = self._width_px - (self.MARGIN + 40) * scale
        left = right - self.length_px
        tick = self.TICK * scale
        coordinates = (
            (left, y), (right, y), (left, y - tick), (left, y + tick),
            (right, y - tick), (right, y + tick),
        )  # fmt: skip
        for index, (x, y_value) in enumerate(coordinates):
            self._points.SetPoint(index, x, y_value, 0.0)
        self._points.Modified()
        self._polydata.Modified()
        self.bar.GetProperty().SetLineWidth(2 * scale)
        self.text.SetPosition((left + right) / 2.0, y + self.TEXT_GAP * scale)
        return left, right

    def place(
        self, renderer: vtkRenderer, scale: float, obstacles: list[Box], gap: float
    ) -> Box | None:
        """Draw the bar for the display ``scale``, above any of ``obstacles`` it would cover."""
        self._scale = scale
        if self.length_px <= 0 or not self.bar.GetVisibility():
            return None
        y = self.HEIGHT * scale
        box: Box | None = None
        for _ in range(len(obstacles) + 1):
            left, right = self._draw(y)
            text = placed_box(self.text, renderer)
            top = text[3] if text is not None else y + self.TICK * scale
            x0 = min(left, text[0]) if text is not None else left
            x1 = max(right, text[1]) if text is not None else right
            box = (x0, x1, y - self.TICK * scale, top)
            hit = next((other for other in obstacles if overlap(box, other, gap)), None)
            if hit is None:
                break
            y = hit[3] + gap + self.TICK * scale
        return box


class CornerText:
    """View name, slice, window and cursor read-outs in the corners (fixed-size text).

    Plain text actors, not vtkCornerAnnotation: that one refits its font size on every
    render, which costs more than the slice itself under software OpenGL.  Where each
    text goes is decided before every render from its real size (``_Annotations``).
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
        _annotations(renderer).corners = self

    def set(self, corner: int, text: str) -> None:
        """Replace the text of one corner."""
        actor = self.actors[corner]
        if (actor.GetInput() or "") != text:
            actor.SetInput(text)

    def get(self, corner: int) -> str:
        """Current text of one corner."""
        return self.actors[corner].GetInput() or ""
