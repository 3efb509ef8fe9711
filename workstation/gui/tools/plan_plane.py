"""The plane tool: an osteotomy plane from clicks.

In a slice view two clicks draw the plane's trace: the plane contains that segment and
the view's normal, its origin is the segment's midpoint.  In the 3D view three points
picked on the models span the plane: the first is its origin, the normal follows the
right-hand rule (second − first) × (third − first).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workstation.gui.tools.plan_point import ClickPointsTool, as_point
from workstation.gui.tools.registry import register_handler
from workstation.gui.views.planning_drawing import target_list

#: Shorter traces (mm) or thinner triangles (mm²) define no plane.
MIN_SIZE = 1e-3


def plane_from_trace(
    first: np.ndarray, second: np.ndarray, view_normal: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(origin, unit normal) of the plane through a trace that contains the view normal."""
    normal = np.cross(np.asarray(second) - np.asarray(first), np.asarray(view_normal))
    length = float(np.linalg.norm(normal))
    if length < MIN_SIZE:
        return None
    return (np.asarray(first) + np.asarray(second)) / 2.0, normal / length


def plane_from_points(points: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """(first point, unit normal) of the plane through three points, None if collinear."""
    normal = np.cross(points[1] - points[0], points[2] - points[0])
    length = float(np.linalg.norm(normal))
    if length < MIN_SIZE:
        return None
    return points[0], normal / length


class PlanPlaneTool(ClickPointsTool):
    """Two clicks on a slice (the trace), three picks on the models in 3D."""

    @property
    def needed(self) -> int:  # type: ignore[override]
        return 2 if self.view.plane is not None else 3

    def finish(self, points: list[np.ndarray]) -> Any:
        if self.view.plane is not None:
            plane = plane_from_trace(points[0], points[1], self.view.view_direction())
        else:
            plane = plane_from_points(points)
        if plane is None:
            message = getattr(self.view.context, "show_message", None)
            if message is not None:
                message("These points define no plane")
            return None
        origin, normal = plane
        return target_list(self.view).add("plane", [as_point(origin)], normal_lps=as_point(normal))


register_handler("plan_plane", PlanPlaneTool, in_3d=True)
