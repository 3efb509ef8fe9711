"""The line tool: click the entry, then the target, of a drill trajectory.

A rubber band follows the mouse after the first click.  In a slice view both points lie
on the shown slice (scroll between the clicks for an oblique line); in the 3D view both
are picked on the model surfaces.
"""

from __future__ import annotations

import numpy as np

from workstation.gui.tools.plan_point import ClickPointsTool, as_point
from workstation.gui.tools.registry import register_handler
from workstation.gui.views.planning_drawing import target_list

#: Entry and target closer than this (mm) make no line.
MIN_LENGTH_MM = 1e-3


class PlanLineTool(ClickPointsTool):
    """Two clicks: entry, target."""

    needed = 2

    def finish(self, points: list[np.ndarray]):
        if np.linalg.norm(points[1] - points[0]) < MIN_LENGTH_MM:
            return None
        return target_list(self.view).add("line", [as_point(p) for p in points])


register_handler("plan_line", PlanLineTool, in_3d=True)
