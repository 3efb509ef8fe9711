"""File → Export de-identified…: the menu entry and the dialog it opens (one per window).

The dialog starts on the loaded series' source folder (the folder, zip or database
folder its files are in), else on the path that was opened last.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtGui import QAction

from workstation.gui.deidentify_dialog import DeidentifyDialog
from workstation.io.sources import is_zip_location, split_zip_location

MENU_TEXT = "Export &de-identified…"
MENU_TIP = "Write a de-identified copy of DICOM images (PS3.15 basic profile and options)"


def _file_of(location: str) -> str:
    """The file a frame is in: the zip archive for a zip member."""
    return split_zip_location(location)[0] if is_zip_location(location) else location


def series_source_folder(session: Any) -> str:
    """The folder (or zip) holding the loaded series' files; '' when nothing is loaded."""
    stack = getattr(session, "stack", None)
    if stack is not None and stack.frames:
        files = sorted({_file_of(frame.location) for frame in stack.frames})
        try:
            common = os.path.commonpath(files)
        except ValueError:  # files on different drives
            common = ""
        if common:
            if Path(common).is_file() and Path(common).suffix.lower() != ".zip":
                return str(Path(common).parent)
            return common
    return str(getattr(session, "source_path", "") or "")


def database_study_files(session: Any, database: Any) -> list[str]:
    """The loaded series' files when it was opened from the database ``database``, else []."""
    stack = getattr(session, "stack", None)
    source = getattr(session, "source_path", None)
    if stack is None or not source or database is None:
        return []
    try:
        if Path(source).absolute() != Path(database).absolute():
            return []
    except (TypeError, ValueError):
        return []
    return sorted({_file_of(frame.location) for frame in stack.frames})


class DeidentifyActions:
    """The Export de-identified… entry of one window's File menu."""

    def __init__(self, window: Any, menu: Any = None) -> None:
        self.window = window
        self.context = window.context
        self.dialog: DeidentifyDialog | None = None
        self.action = QAction(MENU_TEXT, window)
        self.action.setObjectName("exportDeidentifiedAction")
        self.action.setStatusTip(MENU_TIP)
        self.action.setToolTip(MENU_TIP)
        self.action.triggered.connect(lambda: self.open_dialog())
        if menu is not None:
            self.add_to(menu)

    def add_to(self, menu: Any) -> None:
        """Put the entry after the menu's export entries (before its last separator)."""
        entries = menu.actions()
        separators = [action for action in entries if action.isSeparator()]
        if separators:
            menu.insertAction(separators[-1], self.action)
        else:
            menu.addAction(self.action)

    def open_dialog(self, source: str | None = None) -> DeidentifyDialog:
        """Show the dialog (brought back when open); ``source`` overrides the input."""
        start = source if source is not None else series_source_folder(self.context.session)
        dialog = self.dialog
        if dialog is None or not dialog.isVisible():
            if dialog is not None and not dialog.running:
                dialog.deleteLater()
            dialog = DeidentifyDialog(self.context, start)
            self.dialog = dialog
            if source is None:
                self._offer_database_study(dialog)
        elif source is not None:
            dialog.input_edit.setText(source)
        dialog.show()
        dialog.raise_()
        return dialog

    def _offer_database_study(self, dialog: DeidentifyDialog) -> None:
        """A series from the database: its own files are the input, not the whole store."""
        connectivity = getattr(self.window, "connectivity", None)
        location = getattr(getattr(connectivity, "browser", None), "location", None)
        files = database_study_files(self.context.session, location)
        if not files:
            return
        identity = self.context.session.stack.identity
        label = identity.series_description or "Database series"
        home = Path(os.path.expanduser("~"))
        name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in label) or "series"
        dialog.set_database_study(label, files, str(home / f"{name}-deidentified"))


def install_deidentify_action(window: Any, menu: Any) -> DeidentifyActions:
    """Add File → Export de-identified… to ``menu`` of ``window``."""
    return DeidentifyActions(window, menu)
