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


def test_user_guide_on_f1_shows_the_bundled_guide(main_window, qtbot):
    assert main_window.help_menu.guide_action.shortcut().toString() == "F1"
    main_window.help_menu.guide_action.trigger()
    dialog = main_window.help_menu.dialogs.get("guide")
    assert dialog is not None and dialog.isVisible()
    assert not dialog.isModal()
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
    # every menu action with a shortcut is listed, found here by walking the menus anew
    expected = set()
    menus = [a.menu() for a in main_window.menuBar().actions() if a.menu() is not None]
    while menus:
        menu = menus.pop()
        for action in menu.actions():
            if action.menu() is not None:
                menus.append(action.menu())
            elif action.shortcut().toString() and action.text():
                native = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                expected.add(plain_label(action.text()))
                assert any(n == plain_label(action.text()) and native in k for n, k in names)
    assert {name for name, _ in names} >= expected
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
        assert "BSD 3-Clause License" in dialog.licence.toPlainText()
        licences = dialog.licences.toPlainText()
        assert "pydicom" in licences and "LGPL-3.0-only" in licences
        dialog.copy_versions()
        assert QGuiApplication.clipboard().text() == dialog.version_text
    finally:
        dialog.close()
