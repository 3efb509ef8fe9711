"""Where a view's texts landed on screen, as display boxes (for layout checks)."""

from __future__ import annotations

from collections.abc import Mapping

from vtkmodules.vtkRenderingCore import vtkRenderer, vtkTextActor


def text_boxes(
    renderer: vtkRenderer, actors: Mapping[str, vtkTextActor]
) -> dict[str, tuple[float, float, float, float]]:
    """Display boxes (x0, x1, y0, y1) of the visible, non-empty text actors, as last rendered."""
    boxes = {}
    for name, actor in actors.items():
        if actor.GetInput() and actor.GetVisibility():
            box = [0.0, 0.0, 0.0, 0.0]
            actor.GetBoundingBox(renderer, box)  # relative to the anchor point
            x, y = actor.GetPositionCoordinate().GetComputedViewportValue(renderer)
            boxes[name] = (x + box[0], x + box[1], y + box[2], y + box[3])
    return boxes
