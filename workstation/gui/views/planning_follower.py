"""What every view's planning graphics share: following a PlanningList and the selection.

A view draws the window's list (``context.session.planning``) once it has a context, and
its own list before that; it redraws on the list's events and on the viewer state's
``"selected_object"``.  Subclasses say how to redraw (``_event``, ``_redraw_all``).
"""

from __future__ import annotations

from typing import Any

from vtkmodules.vtkRenderingCore import vtkRenderer

from workstation.core.planning import EVENTS, PlanningList, PlanningObject


def planning_list(view: Any) -> PlanningList | None:
    """The window's planning list (``context.session.planning``), or None without one."""
    session = getattr(view.context, "session", None)
    planning = getattr(session, "planning", None)
    return planning if isinstance(planning, PlanningList) else None


class PlanningFollower:
    """Binds a view's planning graphics to a list and the window's selection."""

    def __init__(self, view: Any, renderer: vtkRenderer) -> None:
        self._view = view
        self._renderer = renderer
        self._own = PlanningList()
        self._list: PlanningList | None = None
        self._viewer: Any = None
        #: objects drawn in place of their record while a handle is dragged
        self._overrides: dict[str, PlanningObject] = {}
        self._handlers = {event: self._event for event in EVENTS}

    def _event(self, payload: Any) -> None:
        raise NotImplementedError

    def _redraw_all(self) -> None:
        raise NotImplementedError

    @property
    def planning(self) -> PlanningList:
        """The list drawn (the view's own one when the view has no window)."""
        return self._list if self._list is not None else self._own

    def bind(self, planning: PlanningList | None) -> None:
        """Draw ``planning`` from now on (None: draw nothing)."""
        if planning is self._list:
            return
        if self._list is not None:
            for event, handler in self._handlers.items():
                self._list.unsubscribe(event, handler)
        self._list = planning
        if planning is not None:
            for event, handler in self._handlers.items():
                planning.subscribe(event, handler)
        self._overrides.clear()
        self._redraw_all()

    def sync(self) -> None:
        """Follow the window's list and selection once the view has a context."""
        planning = planning_list(self._view)
        if planning is not None and planning is not self._list:
            self.bind(planning)
        viewer = getattr(self._view.context, "viewer", None)
        if viewer is not self._viewer:
            if self._viewer is not None:
                self._viewer.unsubscribe("selected_object", self._event)
            self._viewer = None
            if viewer is not None:
                try:
                    viewer.subscribe("selected_object", self._event)
                    self._viewer = viewer
                except ValueError:  # a viewer state without selection
                    pass
