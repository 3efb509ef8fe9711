"""The registry of view tools: key, label, shortcut and tooltip of every tool.

The toolbar and the Tools menu are built from this list; the slice view hands mouse
events to the active tool's handler (registered by the tool's module with
``register_handler``) and never branches on tool names itself.  A new tool is one module
plus one ``ToolSpec`` line: every module of this package is imported on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolSpec:
    """How a tool appears: its key (the viewer state's ``tool``), label, shortcut, tip."""

    key: str
    label: str
    shortcut: str
    tooltip: str
    #: "view" tools look and measure; "edit" tools change the selected segment
    group: str = "view"


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("navigate", "Navigate", "N", "Click to move the crosshair, wheel to scroll slices"),
    ToolSpec(
        "window_level",
        "Window/level",
        "W",
        "Drag to change window (horizontal) and level (vertical)",
    ),
    ToolSpec("distance", "Distance", "D", "Click two points to measure a distance in mm"),
    ToolSpec("angle", "Angle", "A", "Click three points to measure an angle"),
    ToolSpec("roi_rectangle", "Rectangle ROI", "Shift+R", "Drag a rectangle for value statistics"),
    ToolSpec("roi_ellipse", "Ellipse ROI", "E", "Drag an ellipse for value statistics"),
    ToolSpec("plan_point", "Point", "L", "Click to place a planning point (on a model in 3D)"),
    ToolSpec(
        "plan_line", "Line", "T", "Click a trajectory's entry, then its target (on models in 3D)"
    ),
    ToolSpec(
        "plan_plane",
        "Plane",
        "O",
        "Click twice to draw a plane's trace on a slice; in 3D pick three points on models",
    ),
    ToolSpec(
        "paint",
        "Paint",
        "P",
        "Drag to paint the selected segment; [ and ] change the brush size",
        "edit",
    ),
    ToolSpec(
        "erase",
        "Erase",
        "Shift+P",
        "Drag to erase from the selected segment; [ and ] change the brush size",
        "edit",
    ),
    ToolSpec(
        "scissors",
        "Scissors",
        "S",
        "Draw an outline to cut the selected segment through the volume (or a slab)",
        "edit",
    ),
    ToolSpec(
        "seeds",
        "Seeds",
        "G",
        "Click seeds for the selected segment, then grow all seeded segments at once",
        "edit",
    ),
    ToolSpec(
        "pick_island",
        "Pick island",
        "I",
        "Click an island of the selected segment to keep only it",
        "edit",
    ),
    ToolSpec(
        "guide_region",
        "Guide region",
        "Shift+G",
        "Click the bone to centre the guide's region; in brush mode drag to paint it",
    ),
)


def tool_spec(key: str) -> ToolSpec:
    """The spec of tool ``key``; KeyError for an unknown one."""
    for spec in TOOLS:
        if spec.key == key:
            return spec
    raise KeyError(key)


# -- handlers ---------------------------------------------------------------------------
#: Makes a tool's handler for one view: ``factory(view) -> ToolHandler``.
HandlerFactory = Callable[[Any], Any]


@dataclass(frozen=True)
class HandlerEntry:
    """How a tool's module made itself known: its handler factory and where it works."""

    factory: HandlerFactory
    #: True when the tool also works in the 3D view (it then takes the left button there)
    in_3d: bool = False


_HANDLERS: dict[str, HandlerEntry] = {}
_loaded = False


def register_handler(key: str, factory: HandlerFactory, in_3d: bool = False) -> None:
    """Called by a tool's module: ``factory(view)`` handles the mouse for tool ``key``."""
    _HANDLERS[key] = HandlerEntry(factory, in_3d)


def handler_entry(key: str) -> HandlerEntry | None:
    """The registered handler of tool ``key`` (the tool modules load on first use), or None."""
    _load_tool_modules()
    return _HANDLERS.get(key)


def handler_keys() -> list[str]:
    """Keys of every tool with a handler."""
    _load_tool_modules()
    return list(_HANDLERS)


def _load_tool_modules() -> None:
    """Import every module of this package once; each registers its tools' handlers."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    package = importlib.import_module(__package__ or "workstation.gui.tools")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "registry":
            importlib.import_module(f"{package.__name__}.{module.name}")
