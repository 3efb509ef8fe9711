"""The Help menu: the user guide (F1), the keyboard shortcuts, and About.

The shortcut list is read from the window's live actions, so it always matches what the
keys do; About shows ``services.about``'s version text (the same as ``--version``) and
the third-party licence list.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from workstation.gui.about_dialog import AboutDialog
from workstation.resources_path import resources_dir

GUIDE_FILE = ("guide", "user-guide.md")


def plain_label(text: str) -> str:
    """A menu label without its '&' accelerator marks ('&&' stays one '&')."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").strip()


def shortcut_rows(window: QWidget) -> list[tuple[str, str, str]]:
    """(where, action, keys) of every menu and toolbar action of ``window`` with a shortcut."""
    rows: dict[tuple[str, str], str] = {}

    def visit_menu(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                visit_menu(action.menu(), f"{path} → {plain_label(action.text())}")
            else:
                add(action, path)

    def add(action: QAction, where: str) -> None:
        keys = ", ".join(
            key.toString(QKeySequence.SequenceFormat.NativeText) for key in action.shortcuts()
        )
        if keys and action.text():
            rows.setdefault((plain_label(action.text()), keys), where)

    for top in window.menuBar().actions():
        if top.menu() is not None:
            visit_menu(top.menu(), plain_label(top.text()))
    for bar in window.findChildren(QToolBar):
        for action in bar.actions():
            add(action, f"{bar.windowTitle() or 'Toolbar'} toolbar")
    return sorted(((where, name, keys) for (name, keys), where in rows.items()))


class GuideDialog(QDialog):
    """The user guide, rendered from its Markdown file."""

    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName("userGuideDialog")
        self.setWindowTitle("User guide")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        guide = resources_dir().joinpath(*GUIDE_FILE)
        if guide.is_file():
            self.browser.setMarkdown(guide.read_text(encoding="utf-8"))
        else:
            self.browser.setPlainText(f"The user guide is missing from this copy ({guide}).")
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        self.resize(820, 760)


class ShortcutsDialog(QDialog):
    """Every keyboard shortcut of the window, with the menu or toolbar it belongs to."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows(window)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Menu or toolbar", "Action", "Keys"])
        for row, values in enumerate(rows):
            for column, value in enumerate(values):
                self.table.setItem(row, column, QTableWidgetItem(value))
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(700, 600)


class HelpMenu:
    """The window's Help menu and the dialogs it opens (one of each, brought back)."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.dialogs: dict[str, QDialog] = {}
        menu = window.menuBar().addMenu("&Help")
        self.menu = menu
        self.guide_action = menu.addAction("&User guide", self.show_guide)
        self.guide_action.setShortcut(QKeySequence.StandardKey.HelpContents)
        self.shortcuts_action = menu.addAction("&Keyboard shortcuts", self.show_shortcuts)
        menu.addSeparator()
        self.about_action = menu.addAction("&About Surgical Planning Workstation", self.show_about)

    def _show(self, key: str, make: Any) -> QDialog:
        dialog = self.dialogs.get(key)
        if dialog is None:
            dialog = make()
            self.dialogs[key] = dialog
        dialog.show()
        dialog.raise_()
        return dialog

    def show_guide(self) -> QDialog:
        """Help → User guide."""
        return self._show("guide", lambda: GuideDialog(self.window))

    def show_shortcuts(self) -> QDialog:
        """Help → Keyboard shortcuts (built afresh each time: actions can change)."""
        old = self.dialogs.pop("shortcuts", None)
        if old is not None:
            old.close()
            old.deleteLater()
        return self._show("shortcuts", lambda: ShortcutsDialog(self.window))

    def show_about(self) -> QDialog:
        """Help → About."""
        return self._show("about", lambda: AboutDialog(self.window))


def install_help_menu(window: Any) -> HelpMenu:
    """Add the Help menu as the window's last menu."""
    return HelpMenu(window)
