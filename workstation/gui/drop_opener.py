"""Open a folder, file or zip dropped anywhere on the window."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QWidget


class DropOpener(QObject):
    """Accepts local files dragged over ``widget`` and opens the first one dropped."""

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
            if local:
                event.acceptProposedAction()
                self.open_path(local[0])
            return True
        return False
