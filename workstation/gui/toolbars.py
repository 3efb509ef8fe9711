"""Toolbars that stay whole at any display scale, and the tool actions of the tool registry.

The window's toolbars are small groups of compact, text-only buttons.  ``ToolbarRows``
puts them side by side while they fit the window's width and starts a new row (a
toolbar break) before one that would not, so at 1.5x or 2x display scaling no button is
pushed behind a toolbar's overflow arrow.  ``ToolActions`` builds one checkable action
per registered tool, in the Tools menu and in the view and edit toolbars, each with its
shortcut in its tooltip ("Paint (P)"); the viewer state's tool is the checked one.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar

from workstation.core.viewer_state import ViewerState
from workstation.gui.tools.registry import TOOLS, ToolSpec

#: The view layouts: (viewer state layout name, label, shortcut).
LAYOUTS = (
    ("four", "Four-up", "Ctrl+1"),
    ("axial", "Axial", "Ctrl+2"),
    ("coronal", "Coronal", "Ctrl+3"),
    ("sagittal", "Sagittal", "Ctrl+4"),
    ("3d", "3D", "Ctrl+5"),
)
#: Room (logical pixels) the window layout leaves around each toolbar of a row.
TOOLBAR_SPACING = 2
_COMPACT_STYLE = "QToolButton { padding: 1px 3px; margin: 0px; }"


def shortcut_text(shortcut: str) -> str:
    """How a shortcut reads on this platform, e.g. 'Shift+P' or 'Ctrl+1'."""
    return QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)


def action_tooltip(label: str, shortcut: str = "", description: str = "") -> str:
    """'Paint (P)' and, on a second line, what the action does."""
    head = f"{label} ({shortcut_text(shortcut)})" if shortcut else label
    return f"{head}\n{description}" if description else head


def compact_toolbar(window: QMainWindow, title: str, object_name: str) -> QToolBar:
    """A fixed toolbar of small text buttons at the top of ``window``."""
    toolbar = QToolBar(title, window)
    toolbar.setObjectName(object_name)
    toolbar.setMovable(False)
    toolbar.setFloatable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    toolbar.setStyleSheet(_COMPACT_STYLE)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
    return toolbar


class ToolbarRows(QObject):
    """Wraps the top toolbars of a window into as many rows as its width needs."""

    def __init__(self, window: QMainWindow, toolbars: list[QToolBar]) -> None:
        super().__init__(window)
        self.window = window
        self.toolbars = toolbars
        window.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Re-arrange when the window is shown or resized (its width changed)."""
        if watched is self.window and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.arrange()
        return False

    def arrange(self) -> None:
        """Start a new row before each toolbar that would not fit beside the previous ones."""
        available = self.window.width()
        used = 0
        first = True
        for toolbar in self.toolbars:
            if toolbar.isHidden():
                continue
            width = toolbar.sizeHint().width() + TOOLBAR_SPACING
            wrap = not first and used + width > available
            used = width if wrap or first else used + width
            first = False
            if wrap and not self.window.toolBarBreak(toolbar):
                self.window.insertToolBarBreak(toolbar)
            elif not wrap and self.window.toolBarBreak(toolbar):
                self.window.removeToolBarBreak(toolbar)

    def rows(self) -> int:
        """How many rows the toolbars take now."""
        return 1 + sum(1 for bar in self.toolbars[1:] if self.window.toolBarBreak(bar))


class ToolActions(QObject):
    """One action per registered tool; triggering one makes it the viewer's tool."""

    def __init__(
        self,
        window: QMainWindow,
        viewer: ViewerState,
        menu: QMenu,
        toolbars: dict[str, QToolBar],
    ) -> None:
        super().__init__(window)
        self.viewer = viewer
        self.group = QActionGroup(self)
        self.actions: dict[str, QAction] = {}
        self.specs: dict[str, ToolSpec] = {}
        previous_group = None
        for spec in TOOLS:
            if previous_group is not None and spec.group != previous_group:
                menu.addSeparator()
            previous_group = spec.group
            action = QAction(spec.label, window, checkable=True)
            action.setObjectName(f"tool_{spec.key}")
            action.setShortcut(QKeySequence(spec.shortcut))
            action.setToolTip(action_tooltip(spec.label, spec.shortcut, spec.tooltip))
            action.setStatusTip(spec.tooltip)
            action.triggered.connect(lambda _=False, key=spec.key: viewer.set_tool(key))
            self.group.addAction(action)
            menu.addAction(action)
            toolbar = toolbars.get(spec.group)
            if toolbar is not None:
                toolbar.addAction(action)
            self.actions[spec.key] = action
            self.specs[spec.key] = spec
        viewer.subscribe("tool", self._tool_changed)
        self._tool_changed(viewer.tool)

    def _tool_changed(self, key: str) -> None:
        action = self.actions.get(key)
        if action is not None and not action.isChecked():
            action.setChecked(True)

    def set_editing_enabled(self, enabled: bool) -> None:
        """Enable the edit tools (only with a volume); leaving one falls back to navigate."""
        for key, action in self.actions.items():
            if self.specs[key].group == "edit":
                action.setEnabled(enabled)
        if not enabled and self.specs.get(self.viewer.tool, TOOLS[0]).group == "edit":
            self.viewer.set_tool("navigate")


class LayoutActions(QObject):
    """One checkable action per view layout; triggering one makes it the viewer's layout."""

    def __init__(
        self, window: QMainWindow, viewer: ViewerState, menu: QMenu, toolbar: QToolBar
    ) -> None:
        super().__init__(window)
        self.group = QActionGroup(self)
        self.actions: dict[str, QAction] = {}
        for key, text, shortcut in LAYOUTS:
            action = QAction(text, window, checkable=True)
            action.setObjectName(f"layout_{key}")
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(action_tooltip(text, shortcut, "View layout"))
            action.triggered.connect(lambda _=False, key=key: viewer.set_layout(key))
            self.group.addAction(action)
            menu.addAction(action)
            toolbar.addAction(action)
            self.actions[key] = action
        viewer.subscribe("layout", self._layout_changed)
        self._layout_changed(viewer.layout)

    def _layout_changed(self, key: str) -> None:
        action = self.actions.get(key)
        if action is not None and not action.isChecked():
            action.setChecked(True)
