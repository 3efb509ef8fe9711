"""Hands a view's left button and keys to the active tool's handler, by registry lookup.

Each view owns one ``ToolDispatcher``: it makes the handler of the active tool for that
view on first use (``registry.handler_entry(key).factory(view)``), keeps it for later,
and forwards press, drag, release, double click, hover, keys, leaving and slice changes.
No tool name appears here: a tool is whatever its module registered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QMouseEvent

from workstation.gui.tools.base import Pointer, ToolHandler
from workstation.gui.tools.registry import TOOLS, handler_entry

if TYPE_CHECKING:
    from workstation.gui.context import AppContext


class ToolDispatcher:
    """The active tool of one view and the handlers it made there."""

    def __init__(self, view: Any, in_3d: bool = False) -> None:
        self._view = view
        self._in_3d = in_3d
        self.tool = TOOLS[0].key
        self.handlers: dict[str, ToolHandler] = {}
        self._dragging: ToolHandler | None = None
        self._grabber: Any = None  # drags handles of planning objects and measurements

    # -- the active tool ----------------------------------------------------------------
    def known(self, key: str) -> bool:
        """True when tool ``key`` has a handler registered."""
        return handler_entry(key) is not None

    def set_tool(self, key: str) -> None:
        """Make ``key`` the active tool (unfinished work of the previous one is dropped)."""
        if key != self.tool:
            self.cancel()
        self.tool = key
        self.handler()  # a tool shows its marks (seeds) as soon as it is chosen

    def handler(self) -> ToolHandler | None:
        """The active tool's handler in this view (None if the tool does not work here)."""
        handler = self.handlers.get(self.tool)
        if handler is None:
            entry = handler_entry(self.tool)
            if entry is None or (self._in_3d and not entry.in_3d):
                return None
            handler = self.handlers[self.tool] = entry.factory(self._view)
        return handler

    @property
    def dragging(self) -> bool:
        """True between a press the tool took and the release."""
        return self._dragging is not None

    # -- events -------------------------------------------------------------------------
    def pointer(self, event: QMouseEvent) -> Pointer:
        """The tool's view of a mouse event: position, LPS point, modifiers."""
        x, y = event.position().x(), event.position().y()
        modifiers = event.modifiers()
        return Pointer(
            x,
            y,
            self._view.display_to_lps(x, y),
            bool(modifiers & Qt.KeyboardModifier.ShiftModifier),
            bool(modifiers & Qt.KeyboardModifier.ControlModifier),
        )

    def press(self, event: QMouseEvent, double: bool = False) -> bool:
        """Give a left press (or double click) to the tool; False when no tool takes it."""
        handler = self.handler()
        if handler is None:
            return False
        if not double and self._grab_handle(handler, event):
            return True
        self._dragging = handler
        if double:
            handler.double_click(self.pointer(event))
        else:
            handler.press(self.pointer(event))
        return True

    def _grab_handle(self, handler: ToolHandler, event: QMouseEvent) -> bool:
        """Start dragging the handle under the press, if the tool lets handles be dragged."""
        from workstation.gui.tools.handle_drag import handle_grabber, takes_handles

        if not takes_handles(self.tool, handler):
            return False
        if self._grabber is None:
            self._grabber = handle_grabber(self._view, self._in_3d)
        if not self._grabber.press(self.pointer(event)):
            return False
        self._dragging = self._grabber
        return True

    def move(self, event: QMouseEvent) -> None:
        """A move: a drag of the pressed tool, or a hover of the active one."""
        if self._dragging is not None:
            self._dragging.drag(self.pointer(event))
            return
        handler = self.handler()
        if handler is not None:
            self._show_handle_cursor(handler, event)
            handler.hover(self.pointer(event))

    def _show_handle_cursor(self, handler: ToolHandler, event: QMouseEvent) -> None:
        """An open hand over a handle that a press would drag, the usual cursor elsewhere."""
        from workstation.gui.tools.handle_drag import handle_grabber, takes_handles

        if self._grabber is None:
            self._grabber = handle_grabber(self._view, self._in_3d)
        over = takes_handles(self.tool, handler) and self._grabber.over(self.pointer(event))
        if over:
            self._view.setCursor(Qt.CursorShape.OpenHandCursor)
        elif self._view.cursor().shape() == Qt.CursorShape.OpenHandCursor:
            self._view.unsetCursor()

    def release(self, event: QMouseEvent) -> bool:
        """The left button went up; False when no tool had taken the press."""
        handler, self._dragging = self._dragging, None
        if handler is None:
            return False
        handler.release(self.pointer(event))
        return True

    def key(self, key: int) -> bool:
        """Offer a key to the active tool; True when it used it."""
        handler = self.handler()
        return handler is not None and handler.key(key)

    def cancel(self) -> None:
        """Drop the active tool's unfinished work."""
        self._dragging = None
        if self._grabber is not None:
            self._grabber.cancel()
        handler = self.handlers.get(self.tool)
        if handler is not None:
            handler.cancel()

    def leave(self) -> None:
        """The mouse left the view."""
        for handler in self.handlers.values():
            handler.leave()

    def slice_changed(self) -> None:
        """The view shows another slice."""
        for handler in self.handlers.values():
            handler.slice_changed()

    def reset(self) -> None:
        """The view shows another volume (or none)."""
        self._dragging = None
        if self._grabber is not None:
            self._grabber.cancel()
        for handler in self.handlers.values():
            handler.reset()


class FollowsActiveTool:
    """A view's ``context``: the window's, whose active tool the view's ``_follow_tool`` gets."""

    _context: AppContext | None = None

    @property
    def context(self) -> AppContext | None:
        """The window's context (None when the view is used on its own)."""
        return self._context

    @context.setter
    def context(self, context: AppContext | None) -> None:
        """Work in a window: the viewer state's active tool drives the left button."""
        if self._context is not None:
            self._context.viewer.unsubscribe("tool", self._follow_tool)
        self._context = context
        if context is not None:
            context.viewer.subscribe("tool", self._follow_tool)
            self._follow_tool(context.viewer.tool)

    def attach(self, context: AppContext) -> None:
        """Same as setting ``context``."""
        self.context = context

    def _follow_tool(self, tool: str) -> None:
        """The viewer state's active tool is now ``tool``."""
        raise NotImplementedError
