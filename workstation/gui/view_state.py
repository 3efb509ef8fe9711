"""What a window shows, as a JSON-ready dict: captured into a project, applied on reopening.

The dict (``ProjectContents.view``)::

    {"layout": "four", "crosshair_lps": [x, y, z], "window": [center, width],
     "selected_segment": "segment-2", "tool": "navigate",
     "camera": {"position": [..], "focal_point": [..], "view_up": [..], "view_angle": 30.0,
                "parallel_scale": 100.0, "parallel_projection": false},
     "volume_rendering": {"enabled": false, "preset": ""},
     "slice_views": {"axial": {"zoom": 1.0, "pan": [du, dv]}, ...}}

Every key is optional on reading; unknown keys and malformed values are ignored, so an
older or damaged project still opens with the rest of its views.  Zoom and pan are
relative to the fitted slice (``workstation.gui.views.camera_state``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workstation.core.viewer_state import LAYOUT_NAMES
from workstation.gui.tools.registry import TOOLS
from workstation.gui.views.camera_state import (
    apply_camera_state,
    apply_slice_view_state,
    camera_state,
    slice_view_state,
    vector,
)
from workstation.gui.views.planes import SLICE_VIEW_NAMES

if TYPE_CHECKING:
    from workstation.gui.context import AppContext


def capture_view_state(context: AppContext) -> dict[str, Any]:
    """The window's view state as the JSON-ready dict described above."""
    views, viewer = context.views, context.viewer
    center, width = views.window_level()
    enabled, preset = views.volume_rendering()
    state: dict[str, Any] = {
        "layout": views.layout_name(),
        "crosshair_lps": [float(v) for v in views.crosshair_lps()],
        "window": [float(center), float(width)],
        "selected_segment": viewer.selected_segment,
        "tool": viewer.tool,
        "camera": camera_state(views.view_3d().camera()),
        "volume_rendering": {"enabled": bool(enabled), "preset": str(preset)},
    }
    slices = {}
    for name in SLICE_VIEW_NAMES:
        view_state = slice_view_state(views.slice_view(name))
        if view_state is not None:
            slices[name] = view_state
    state["slice_views"] = slices
    return state


def apply_view_state(context: AppContext, state: dict[str, Any]) -> None:
    """Show what ``state`` recorded; call after the volume and the models are shown.

    The restored 3D camera stays: adding models afterwards does not frame them.
    """
    if not isinstance(state, dict):
        return
    views, viewer = context.views, context.viewer
    layout = state.get("layout")
    if layout in LAYOUT_NAMES:
        viewer.set_layout(layout)  # first: the zoom is relative to the views' new sizes
    window = vector(state.get("window"), 2)
    if window is not None:
        viewer.set_window(float(window[0]), float(window[1]))
    crosshair = vector(state.get("crosshair_lps"))
    if crosshair is not None and context.session.volume is not None:
        viewer.set_crosshair(crosshair)
    _apply_selection(context, state)
    tool = state.get("tool")
    if isinstance(tool, str) and tool in {spec.key for spec in TOOLS}:
        viewer.set_tool(tool)
    rendering = state.get("volume_rendering")
    if isinstance(rendering, dict) and isinstance(rendering.get("enabled"), bool):
        preset = rendering.get("preset")
        views.set_volume_rendering(rendering["enabled"], preset if isinstance(preset, str) else "")
    slices = state.get("slice_views")
    if isinstance(slices, dict):
        for name in SLICE_VIEW_NAMES:
            if isinstance(slices.get(name), dict):
                apply_slice_view_state(views.slice_view(name), slices[name])
    camera = state.get("camera")
    if isinstance(camera, dict) and apply_camera_state(views.view_3d().camera(), camera):
        views.view_3d().keep_camera(True)
    views.refresh()


def _apply_selection(context: AppContext, state: dict[str, Any]) -> None:
    """Select the recorded segment when the case still has it (None selects none)."""
    if "selected_segment" not in state:
        return
    segment_id = state["selected_segment"]
    editor = context.session.editor
    known = {segment.segment_id for segment in editor.segmentation} if editor else set()
    if segment_id is None or (isinstance(segment_id, str) and segment_id in known):
        context.viewer.select_segment(segment_id)
