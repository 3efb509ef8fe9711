"""The Help menu through the real window: guide, keyboard shortcuts and About."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication, QKeySequence

from workstation.gui.help_menu import plain_label, shortcut_rows

REPO = Path(__file__).resolve().parents[2]


def test_help_is_the_last_menu_with_guide_shortcuts_and_about(main_window):
    menus = [plain_label(action.text()) for action in main_window.menuBar().actions()]
    assert menus[-1] == "Help"
    help_menu = main_window.help_menu
    assert help_menu.guide_action.shortcut() == QKeySequence(QKeySequence.StandardKey.HelpContents)
    entries = [plain_label(a.text()) for a in help_menu.menu.actions() if a.text()]
    assert entries == ["User guide", "Keyboard shortcuts", "About Surgical Planning Workstation"]


def test_the_guide_shows_the_bundled_user_guide(main_window, qtbot):
    dialog = main_window.help_menu.show_guide()
    try:
        text = dialog.browser.toPlainText()
        assert "user guide" in text.lower()
        assert "Coordinates and exactness" in text
    finally:
        dialog.close()


def test_the_shortcut_list_is_read_from_the_live_actions(main_window):
    rows = shortcut_rows(main_window)
    names = {(name, keys) for _, name, keys in rows}
    assert ("Undo", "Ctrl+Z") in names
    assert ("Four-up", "Ctrl+1") in names
    assert ("Paint", "P") in names
    # a shortcut added later appears the next time the list is opened
    main_window.redo_action.setShortcuts([QKeySequence("Ctrl+Alt+Y")])
    dialog = main_window.help_menu.show_shortcuts()
    try:
        shown = {
            (dialog.table.item(row, 1).text(), dialog.table.item(row, 2).text())
            for row in range(dialog.table.rowCount())
        }
        assert ("Redo", "Ctrl+Alt+Y") in shown
        assert dialog.table.rowCount() == len(shortcut_rows(main_window))
    finally:
        dialog.close()


def test_about_shows_the_commit_the_qt_run_time_and_the_licences(main_window):
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dialog = main_window.help_menu.show_about()
    try:
        versions = dialog.versions.toPlainText()
        assert f"commit {commit}" in versions
        assert f"Qt run time {qVersion()}" in versions
        licences = dialog.licences.toPlainText()
        assert "pydicom" in licences and "LGPL-3.0-only" in licences
        dialog.copy_versions()
        assert QGuiApplication.clipboard().text() == dialog.version_text
    finally:
        dialog.close()
