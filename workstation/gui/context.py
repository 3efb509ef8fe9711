"""What a panel, dialog or tool may use: the explicit context the main window hands out.

Panels receive an ``AppContext`` instead of importing the main window (no import
cycles): the Qt-free session and viewer state, the background job runner, the queue that
applies segmentation edits one at a time, and two ways to talk to the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from workstation.core.viewer_state import ViewerState
from workstation.services.session import Session

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QWidget

    from workstation.core.segmentation import Segment
    from workstation.gui.edit_queue import EditQueue
    from workstation.gui.views.layout import ViewLayout
    from workstation.gui.workers import JobError, JobRunner


@dataclass
class AppContext:
    """The shared objects of one workstation window."""

    session: Session
    viewer: ViewerState
    runner: JobRunner
    edits: EditQueue
    views: ViewLayout
    settings: QSettings
    #: show a failed job (message, details) to the user
    report_error: Callable[[JobError], None]
    #: a short status-bar message
    show_message: Callable[[str], None]
    #: the window, as a parent for dialogs only
    parent: QWidget
    #: called on the UI thread before the case is snapshotted for saving (panels store
    #: the changes they hold back for a moment, such as a guide plan being typed)
    before_snapshot: list[Callable[[], None]] = field(default_factory=list)

    def selected_segment(self) -> Segment | None:
        """The segment selected in the viewer, or None (no volume, none selected, or gone)."""
        editor, segment_id = self.session.editor, self.viewer.selected_segment
        if editor is None or segment_id is None:
            return None
        try:
            return editor.segmentation.by_id(segment_id)
        except KeyError:
            return None
