"""Open a folder, file, zip or project (``.wsproj``) dropped anywhere on the window."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QWidget

from workstation.services.project import PROJECT_EXTENSION


def path_to_open(paths: list[str]) -> str | None:
    """The dropped path to open: the first project file, else the first path."""
    projects = [path for path in paths if path.lower().endswith(PROJECT_EXTENSION)]
    return (projects or paths or [None])[0]


class DropOpener(QObject):
    """Accepts local files dragged over ``widget`` and opens one dropped (a project first)."""

    def __init__(self, widget: QWidget, open_path: Callable[[str], object]) -> None:
        super().__init__(widget)
        self.open_path = open_path
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Take drag-enter, drag-move and drop events of local files."""
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            assert isinstance(event, QDragEnterEvent | QDropEvent)
            urls = event.mimeData().urls()
            if urls and urls[0].isLocalFile():
                event.acceptProposedAction()
            else:
                event.ignore()
            return True
        if kind == QEvent.Type.Drop:
            assert isinstance(event, QDropEvent)
            local = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
            chosen = path_to_open(local)
            if chosen is not None:
                event.acceptProposedAction()
                self.open_path(chosen)
            return True
        return False
