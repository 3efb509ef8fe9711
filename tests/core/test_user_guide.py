"""The user guide names only menu entries and shortcuts the window really has."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "resources" / "guide" / "user-guide.md"
GUI_SOURCES = "\n".join(path.read_text() for path in (REPO / "workstation" / "gui").rglob("*.py"))
GUI_LABELS = GUI_SOURCES.replace("&", "")


def test_the_guide_is_there_and_substantial():
    assert len(GUIDE.read_text().split()) > 1200


def test_every_menu_path_in_the_guide_names_real_labels():
    menus = "File|Edit|View|Tools|Preferences|Help"
    text = " ".join(GUIDE.read_text().split())
    paths = re.findall(rf"\*\*((?:{menus}) → [^*]+)\*\*", text)
    assert len(paths) > 15
    for path in paths:
        for label in path.split(" → "):
            assert f'"{label.strip()}' in GUI_LABELS or f" {label.strip()}" in GUI_LABELS, path


def test_every_ctrl_shortcut_in_the_guide_is_defined_by_the_window():
    shortcuts = set(re.findall(r"Ctrl\+(?:Shift\+)?[A-Z0-9,]", GUIDE.read_text()))
    assert "Ctrl+Z" in shortcuts
    for shortcut in shortcuts - {"Ctrl+O"}:  # Ctrl+O is QKeySequence.StandardKey.Open
        assert shortcut in GUI_SOURCES or shortcut.lower() in GUI_SOURCES.lower(), shortcut
