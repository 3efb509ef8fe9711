"""The window's viewer state: layout, tool, crosshair, window/level and the cursor read-out
flow through one ViewerState; toolbars and menus come from the tool registry."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from tests.gui.conftest import BALL_HU, SMALL_BALL, open_and_settle
from tests.gui.test_views_helpers import click, drag, move, wheel
from workstation.core.viewer_state import CursorInfo
from workstation.core.volume import Volume
from workstation.gui.toolbars import shortcut_text
from workstation.gui.tools.registry import TOOLS

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def test_layout_and_tool_actions_go_through_the_viewer_state(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    viewer = window.viewer
    window.layout_actions["coronal"].trigger()
    assert viewer.layout == "coronal" and window.views.layout_name() == "coronal"
    assert not window.views.slice_view("axial").isVisible()
    viewer.set_layout("four")  # a panel or a script sets the state: the window follows
    assert window.views.layout_name() == "four" and window.layout_actions["four"].isChecked()
    assert window.views.view_3d().isVisible()
    window.tool_actions["distance"].trigger()
    assert viewer.tool == "distance" and window.views.interaction_mode() == "distance"
    viewer.set_tool("window_level")
    assert window.tool_actions["window_level"].isChecked()
    assert window.views.interaction_mode() == "window_level"
    window.tool_actions["paint"].trigger()
    assert viewer.tool == "paint" and window.tool_actions["paint"].isChecked()
    window.set_tool("navigate")
    assert window.tool_actions["navigate"].isChecked()


def test_tool_actions_come_from_the_registry_with_their_shortcuts(qtbot, make_main_window):
    window = make_main_window(headless=True)
    assert [action.text() for action in window.tools.group.actions()] == [t.label for t in TOOLS]
    for spec in TOOLS:
        action = window.tool_actions[spec.key]
        assert action.toolTip().startswith(f"{spec.label} ({shortcut_text(spec.shortcut)})")
        assert spec.tooltip in action.toolTip()
        assert action.shortcut().toString() == shortcut_text(spec.shortcut)
        in_toolbar = {"view": "viewToolsToolbar", "edit": "editToolsToolbar"}[spec.group]
        toolbars = [bar.objectName() for bar in window.toolbars if action in bar.actions()]
        assert toolbars == [in_toolbar]
    assert window.tool_actions["paint"].toolTip().startswith("Paint (P)")
    assert window.layout_actions["axial"].toolTip().startswith("Axial (Ctrl+2)")
    # edit tools wait for a volume
    edit_keys = [spec.key for spec in TOOLS if spec.group == "edit"]
    assert not any(window.tool_actions[key].isEnabled() for key in edit_keys)
    assert window.tool_actions["navigate"].isEnabled()
    array = np.zeros((4, 8, 8), dtype=np.int16)
    window.session.set_volume(Volume(array, np.eye(4), units="HU"))
    assert all(window.tool_actions[key].isEnabled() for key in edit_keys)
    window.tool_actions["scissors"].trigger()
    window.session.set_volume(None)
    assert not window.tool_actions["scissors"].isEnabled() and window.viewer.tool == "navigate"


def test_segments_tab_comes_first(main_window):
    tabs = main_window.tools_tabs
    labels = [tabs.tabText(i) for i in range(tabs.count())]
    assert labels[:3] == ["Segments", "Segmentation", "Models"] and "Guide" in labels
    assert tabs.widget(0) is main_window.segments_panel
    assert main_window.segments_panel.context is main_window.context


def test_crosshair_and_window_level_flow_through_the_viewer(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    viewer, views = window.viewer, window.views
    np.testing.assert_allclose(viewer.crosshair_lps, views.crosshair_lps())
    assert viewer.window == views.window_level() == (40.0, 400.0)
    # a click in a view moves the viewer's crosshair
    axial = views.slice_view("axial")
    target = np.array([SMALL_BALL[0][0], SMALL_BALL[0][1], views.crosshair_lps()[2]])
    x, y = axial.lps_to_display(target)
    click(qtbot, axial, x, y)
    np.testing.assert_allclose(viewer.crosshair_lps, views.crosshair_lps())
    np.testing.assert_allclose(viewer.crosshair_lps[:2], target[:2], atol=1.0)
    # the viewer's crosshair moves the views
    viewer.set_crosshair([3.0, -4.0, SMALL_BALL[0][2]])
    np.testing.assert_allclose(views.crosshair_lps(), [3.0, -4.0, SMALL_BALL[0][2]], atol=1e-6)
    assert views.slice_view("axial").slice_position_lps()[2] == pytest.approx(SMALL_BALL[0][2])
    # window/level: a preset, a drag in the view, the viewer itself
    window.apply_window_preset("bone")
    assert viewer.window == views.window_level() == (400.0, 1000.0)
    assert window.window_label.text() == "W 1000  L 400"
    viewer.set_tool("window_level")
    centre = (axial.width() / 2, axial.height() / 2)
    drag(qtbot, axial, centre, (centre[0] + 50, centre[1] - 30))
    assert viewer.window == views.window_level() != (400.0, 1000.0)
    viewer.set_window(100.0, 300.0)
    assert views.window_level() == (100.0, 300.0)
    assert window.window_label.text() == "W 300  L 100"


def test_cursor_readout_shows_the_viewer_cursor_and_clears_on_a_new_study(
    qtbot, main_window, synthetic_ct
):
    window = main_window
    volume = open_and_settle(qtbot, window, synthetic_ct)
    axial = window.views.slice_view("axial")
    window.views.set_crosshair_lps([0.0, 0.0, SMALL_BALL[0][2]])
    x, y = axial.lps_to_display(np.array(SMALL_BALL[0]))
    move(axial, x, y)
    cursor = window.viewer.cursor
    assert cursor is not None and cursor.view == "axial"
    assert cursor.value == pytest.approx(BALL_HU)
    assert "300 HU" in window.cursor_label.text() and "I 16.0 mm" in window.cursor_label.text()
    # another study: the old read-out must not stay
    window.session.set_volume(Volume(volume.array.copy(), volume.affine.copy(), units="HU"))
    assert window.viewer.cursor is None and window.cursor_label.text() == ""
    # and the same when the new study is opened from disk
    window.viewer.set_cursor(CursorInfo("axial", (1.0, 2.0, 3.0), -1000.0))
    assert "-1000 HU" in window.cursor_label.text()
    open_and_settle(qtbot, window, synthetic_ct)
    assert window.viewer.cursor is None and window.cursor_label.text() == ""


def test_cursor_readout_follows_scrolling_under_a_still_mouse(qtbot, main_window, synthetic_ct):
    window = main_window
    open_and_settle(qtbot, window, synthetic_ct)
    axial = window.views.slice_view("axial")
    window.views.set_crosshair_lps([0.0, 0.0, 0.0])  # the small ball is 16 mm below
    x, y = axial.lps_to_display(np.array(SMALL_BALL[0]))
    move(axial, x, y)
    assert window.viewer.cursor.value == pytest.approx(-1000)
    assert "-1000 HU" in window.cursor_label.text()
    for _ in range(8):  # 2 mm slices: eight slices down to the small ball's centre
        wheel(axial, -1, at=(x, y))
    assert axial.slice_position_lps()[2] == pytest.approx(SMALL_BALL[0][2])
    cursor = window.viewer.cursor
    assert cursor is not None and cursor.lps[2] == pytest.approx(SMALL_BALL[0][2])
    assert cursor.value == pytest.approx(BALL_HU)
    assert "300 HU" in window.cursor_label.text() and "I 16.0 mm" in window.cursor_label.text()


def test_no_gui_module_but_the_launcher_imports_the_main_window():
    offenders = []
    for path in sorted((REPO / "workstation" / "gui").rglob("*.py")):
        if path.name in ("app.py", "main_window.py"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            if any(name.startswith("workstation.gui.main_window") for name in names):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []
