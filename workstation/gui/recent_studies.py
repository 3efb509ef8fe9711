"""The File → Recent studies list (studies and projects), persisted with QSettings.

Opened studies and opened or saved projects (``.wsproj``) share the list; the window
opens a project entry as a project.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

from workstation.services.project import PROJECT_EXTENSION

SETTINGS_KEY = "recent_studies"
MAX_RECENT = 10


class RecentStudies:
    """Most recent first, at most ``MAX_RECENT`` paths, paths that no longer exist pruned."""

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings

    def paths(self) -> list[str]:
        """The remembered paths that still exist, most recent first."""
        value = self.settings.value(SETTINGS_KEY, [])
        if isinstance(value, str):
            value = [value]
        stored = [str(item) for item in (value or [])]
        existing = [path for path in stored if os.path.exists(path)]
        if existing != stored:
            self._store(existing)
        return existing

    def add(self, path: str) -> list[str]:
        """Put ``path`` first (absolute, without duplicates) and return the new list."""
        path = os.path.abspath(path)
        paths = [path] + [item for item in self.paths() if item != path]
        paths = paths[:MAX_RECENT]
        self._store(paths)
        return paths

    def clear(self) -> None:
        """Forget every path."""
        self._store([])

    def _store(self, paths: list[str]) -> None:
        self.settings.setValue(SETTINGS_KEY, list(paths))
        self.settings.sync()

    def fill_menu(self, menu: QMenu, open_path: Callable[[str], object]) -> None:
        """List the paths in File → Recent studies (each opens its study or project)."""
        menu.clear()
        paths = self.paths()
        for path in paths:
            action = menu.addAction(path, lambda path=path: open_path(path))
            project = path.lower().endswith(PROJECT_EXTENSION)
            action.setStatusTip("Open this project" if project else "Open this study")
        if paths:
            menu.addSeparator()
            menu.addAction("Clear list", self.clear)
        else:
            menu.addAction("(none)").setEnabled(False)
