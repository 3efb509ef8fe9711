"""Every tool of the registry has a handler, registered by its own module."""

from __future__ import annotations

from workstation.gui.tools.base import ToolHandler
from workstation.gui.tools.registry import TOOLS, handler_entry, handler_keys


class _View:
    context = None

    def make_curve(self, color, width=1.5):
        return None


def test_every_listed_tool_has_a_handler():
    keys = handler_keys()
    for spec in TOOLS:
        assert spec.key in keys, spec.key
        assert spec.shortcut and spec.tooltip
    assert {"pick_seed"} <= set(keys)  # the point picker of older panels


def test_only_the_scissors_planning_and_guide_tools_work_in_3d():
    in_3d = {key for key in handler_keys() if handler_entry(key).in_3d}
    assert in_3d == {"scissors", "plan_point", "plan_line", "plan_plane", "guide_region"}


def test_unknown_tools_have_no_handler():
    assert handler_entry("no such tool") is None


def test_handlers_are_tool_handlers():
    for key in ("navigate", "distance", "pick_island"):
        assert isinstance(handler_entry(key).factory(_View()), ToolHandler)
