"""The Planning panel on its own context: rows for planning objects and measurements, with
coordinates, lengths and angles; renaming in place; deleting; selection both ways."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QLineEdit, QWidget

from workstation.gui import planning_panel as pp

pytestmark = pytest.mark.gui

NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class Host:
    """A Planning panel on a fresh session and viewer state (no views: the panel needs none)."""

    def __init__(self, qtbot, tmp_path) -> None:
        from workstation.core.viewer_state import ViewerState
        from workstation.gui.context import AppContext
        from workstation.gui.edit_queue import EditQueue
        from workstation.gui.workers import JobRunner
        from workstation.services.session import Session

        self.qtbot = qtbot
        self.parent = QWidget()
        self.session = Session()
        self.viewer = ViewerState()
        self.runner = JobRunner(self.parent)
        self.edits = EditQueue(self.session, self.parent)
        self.context = AppContext(
            session=self.session,
            viewer=self.viewer,
            runner=self.runner,
            edits=self.edits,
            views=None,  # type: ignore[arg-type]
            settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat),
            report_error=lambda error: None,
            show_message=lambda text: None,
            parent=self.parent,
        )
        self.panel = pp.PlanningPanel(self.context)
        self.panel.resize(900, 500)
        self.panel.show()
        qtbot.waitExposed(self.panel)

    def text(self, object_id: str, column: int) -> str:
        row = self.panel.row_of(object_id)
        assert row is not None, f"no row for {object_id}"
        return self.panel.table.item(row, column).text()

    def numbers(self, object_id: str, column: int) -> list[float]:
        return [float(n) for n in NUMBER.findall(self.text(object_id, column))]

    def click_row(self, object_id: str, modifier=Qt.KeyboardModifier.NoModifier) -> None:
        table = self.panel.table
        rect = table.visualItemRect(table.item(self.panel.row_of(object_id), pp.COL_KIND))
        self.qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())

    def close(self) -> None:
        self.edits.shutdown()
        self.runner.shutdown()
        self.panel.close()
        self.panel.deleteLater()
        self.parent.deleteLater()


@pytest.fixture
def host(qapp, qtbot, tmp_path, no_dangling_workers):
    panel_host = Host(qtbot, tmp_path)
    yield panel_host
    panel_host.close()
    qapp.processEvents()


@pytest.fixture(scope="module")
def volume(synthetic_ct):
    from workstation.services.loading import load_volume

    return load_volume(synthetic_ct, purpose="view")


def _angle(u, v) -> float:
    """Angle between two vectors (degrees), arccos of the normalised dot product."""
    u, v = np.asarray(u, float), np.asarray(v, float)
    return math.degrees(
        math.acos(np.clip(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))
    )


def _case(session):
    """Planning objects and measurements with known geometry."""
    planning = session.planning
    point = planning.add("point", [(12.34, -30.3, 45.71)], name="Nasion")
    drill = planning.add("line", [(1.0, 2.0, 3.0), (4.0, 8.0, 5.0)], name="Drill")
    other = planning.add("line", [(0.0, 0.0, 0.0), (3.0, -1.0, 7.0)])
    cut = planning.add("plane", [(5.0, 5.0, 5.0)], normal_lps=(1.0, 2.0, 2.0))
    measurements = session.measurements
    distance = measurements.add(
        "distance", [(0, 0, 0), (3, 4, 12)], "axial", "13.0 mm", {"value": 13.0, "units": "mm"}
    )
    angle = measurements.add(
        "angle", [(1, 0, 0), (0, 0, 0), (0, 1, 0)], "coronal", "90.0°", {"value": 90.0}, "Gonial"
    )
    roi = measurements.add(
        "roi_ellipse",
        [(-5, -5, 45), (5, 5, 45)],
        "axial",
        "mean 12.2 HU",
        {"mean": 12.25, "std": 3.5, "count": 77, "units": "HU"},
    )
    return point, drill, other, cut, distance, angle, roi


def test_rows_show_coordinates_lengths_values_and_angles(host):
    point = _case(host.session)[0]
    panel = host.panel
    # planning objects first, then the measurements, each in the order made
    assert panel.row_ids() == [
        "point-1",
        "line-2",
        "line-3",
        "plane-4",
        "measurement-1",
        "measurement-2",
        "measurement-3",
    ]
    assert host.text("point-1", pp.COL_NAME) == "Nasion"
    assert host.text("line-3", pp.COL_NAME) == "Line 3"
    assert host.text("measurement-1", pp.COL_NAME) == "Distance 1"  # unnamed measurement
    assert host.text("measurement-2", pp.COL_NAME) == "Gonial"
    kinds = [host.text(i, pp.COL_KIND) for i in panel.row_ids()]
    assert kinds == ["Point", "Line", "Line", "Plane", "Distance", "Angle", "ROI (ellipse)"]

    assert host.numbers("point-1", pp.COL_COORDS) == pytest.approx(point.points_lps[0], abs=0.05)
    assert host.numbers("line-2", pp.COL_COORDS) == pytest.approx([1, 2, 3, 4, 8, 5], abs=0.05)
    assert "→" in host.text("line-2", pp.COL_COORDS)
    normal = np.array([1.0, 2.0, 2.0]) / 3.0
    assert host.numbers("plane-4", pp.COL_COORDS) == pytest.approx([5, 5, 5, *normal], abs=5e-4)
    assert host.numbers("measurement-1", pp.COL_COORDS) == pytest.approx([0, 0, 0, 3, 4, 12])

    length = float(np.linalg.norm(np.subtract((4, 8, 5), (1, 2, 3))))
    assert host.numbers("line-2", pp.COL_VALUE) == pytest.approx([length], abs=0.05)
    assert host.text("line-2", pp.COL_VALUE).endswith("mm")
    assert host.numbers("measurement-1", pp.COL_VALUE) == [13.0]
    assert host.text("measurement-2", pp.COL_VALUE) == "90.0°"
    assert host.text("measurement-3", pp.COL_VALUE) == "mean 12.2 HU"
    assert host.text("point-1", pp.COL_VALUE) == "" and host.text("plane-4", pp.COL_VALUE) == ""

    # nothing selected: no angles; select the drill: the angles to the other line and plane
    assert all(host.text(i, pp.COL_ANGLE) == "" for i in panel.row_ids())
    host.click_row("line-2")
    assert host.viewer.selected_object == "line-2"
    u, v = np.subtract((4, 8, 5), (1, 2, 3)), np.array((3.0, -1.0, 7.0))
    assert host.numbers("line-3", pp.COL_ANGLE) == pytest.approx([_angle(u, v)], abs=0.05)
    to_normal = _angle(u, (1, 2, 2))
    between = 90.0 - min(to_normal, 180.0 - to_normal)
    assert host.numbers("plane-4", pp.COL_ANGLE) == pytest.approx([between], abs=0.05)
    assert host.text("line-2", pp.COL_ANGLE) == "selected"
    for object_id in ("point-1", "measurement-1", "measurement-2", "measurement-3"):
        assert host.text(object_id, pp.COL_ANGLE) == ""
    # the plane selected: its angles to both lines
    host.click_row("plane-4")
    for line_id, direction in (("line-2", u), ("line-3", v)):
        a = _angle(direction, (1, 2, 2))
        assert host.numbers(line_id, pp.COL_ANGLE) == pytest.approx(
            [90 - min(a, 180 - a)], abs=0.05
        )


def test_a_drag_updates_its_row_and_the_angles_without_rebuilding(host):
    _case(host.session)
    panel, planning = host.panel, host.session.planning
    host.click_row("line-2")
    cells = [panel.table.item(row, 0) for row in range(panel.table.rowCount())]
    for step in range(1, 6):  # the target dragged round the entry
        target = (1.0 + 3 * math.cos(step), 2.0 + 3 * math.sin(step), 3.0 + step)
        planning.update("line-2", points_lps=[(1.0, 2.0, 3.0), target])
        u = np.subtract(target, (1, 2, 3))
        assert host.numbers("line-2", pp.COL_COORDS)[3:] == pytest.approx(target, abs=0.05)
        assert host.numbers("line-2", pp.COL_VALUE) == pytest.approx([np.linalg.norm(u)], abs=0.05)
        assert host.numbers("line-3", pp.COL_ANGLE) == pytest.approx(
            [_angle(u, (3, -1, 7))], abs=0.05
        )
    # the other line moves: only its own angle changes
    planning.update("line-3", points_lps=[(0, 0, 0), (0, 0, 1)])
    u = np.subtract(planning.by_id("line-2").points_lps[1], (1, 2, 3))
    assert host.numbers("line-3", pp.COL_ANGLE) == pytest.approx([_angle(u, (0, 0, 1))], abs=0.05)
    # a measurement's handle dragged: its row follows
    host.session.measurements.update(
        "measurement-1", points_lps=((0, 0, 0), (6, 8, 0)), values={"value": 10.0}, text="10 mm"
    )
    assert host.numbers("measurement-1", pp.COL_COORDS) == [0, 0, 0, 6, 8, 0]
    assert host.numbers("measurement-1", pp.COL_VALUE) == [10.0]
    assert [panel.table.item(row, 0) for row in range(panel.table.rowCount())] == cells
    assert host.viewer.selected_object == "line-2"


def _rename(host, object_id: str, name: str, shown: str | None = None) -> None:
    """Double-click the name, type, Enter, as a user does."""
    table = host.panel.table
    rect = table.visualItemRect(table.item(host.panel.row_of(object_id), pp.COL_NAME))
    host.qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    host.qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    def editor():
        visible = [edit for edit in table.findChildren(QLineEdit) if edit.isVisible()]
        return visible[0] if visible else None

    host.qtbot.waitUntil(lambda: editor() is not None, timeout=2000)
    edit = editor()
    edit.selectAll()
    host.qtbot.keyClicks(edit, name)
    host.qtbot.keyClick(edit, Qt.Key.Key_Return)
    expected = name if shown is None else shown
    host.qtbot.waitUntil(lambda: host.text(object_id, pp.COL_NAME) == expected, timeout=2000)


def test_names_are_edited_in_place(host):
    _case(host.session)
    renamed = []
    host.session.planning.subscribe("changed", renamed.append)
    _rename(host, "line-2", "Drill 36")
    assert host.session.planning.by_id("line-2").name == "Drill 36"
    assert [obj.name for obj in renamed] == ["Drill 36"]
    _rename(host, "measurement-1", "Ramus height")
    assert host.session.measurements.by_id("measurement-1").name == "Ramus height"
    assert host.session.modified
    # an empty name is refused: the old one stays
    _rename(host, "point-1", "  ", shown="Nasion")
    assert host.session.planning.by_id("point-1").name == "Nasion"


def test_delete_key_and_button_remove_the_selected_objects(host):
    _case(host.session)
    panel = host.panel
    host.click_row("line-3")
    host.qtbot.keyClick(panel.table, Qt.Key.Key_Delete)
    assert "line-3" not in host.session.planning and panel.row_of("line-3") is None
    assert host.viewer.selected_object != "line-3"
    host.click_row("point-1")
    host.click_row("measurement-2", Qt.KeyboardModifier.ControlModifier)
    assert set(panel.selected_ids()) == {"point-1", "measurement-2"}
    host.qtbot.mouseClick(panel.delete_button, Qt.MouseButton.LeftButton)
    assert [o.object_id for o in host.session.planning] == ["line-2", "plane-4"]
    assert [m.measurement_id for m in host.session.measurements] == [
        "measurement-1",
        "measurement-3",
    ]
    assert panel.row_ids() == ["line-2", "plane-4", "measurement-1", "measurement-3"]
    assert host.viewer.selected_object is None and not panel.delete_button.isEnabled()
    # removed elsewhere (in the views): the row goes too
    host.session.measurements.remove("measurement-3")
    assert panel.row_ids() == ["line-2", "plane-4", "measurement-1"]


def test_selection_both_ways_and_the_crosshair(host):
    _case(host.session)
    panel, viewer = host.panel, host.viewer
    viewer.set_crosshair((-1.0, -2.0, -3.0))
    host.click_row("line-2")  # the crosshair goes to the entry
    assert viewer.selected_object == "line-2"
    assert np.allclose(viewer.crosshair_lps, (1.0, 2.0, 3.0))
    host.click_row("plane-4")  # the plane's origin
    assert np.allclose(viewer.crosshair_lps, (5.0, 5.0, 5.0))
    host.click_row("measurement-1")  # a measurement's first point
    assert viewer.selected_object == "measurement-1"
    assert np.allclose(viewer.crosshair_lps, (0.0, 0.0, 0.0))

    # selected in the views: the row follows, the crosshair stays
    seen = []
    viewer.subscribe("crosshair", seen.append)
    viewer.select_object("point-1")
    assert panel.selected_ids() == ["point-1"]
    assert panel.table.currentRow() == panel.row_of("point-1")
    viewer.select_object("measurement-3")
    assert panel.selected_ids() == ["measurement-3"]
    viewer.select_object(None)
    assert panel.selected_ids() == []
    assert seen == [] and viewer.selected_object is None
    # an angle column for a plane selected in the views
    viewer.select_object("plane-4")
    assert host.numbers("line-3", pp.COL_ANGLE)


def test_buttons_add_a_point_and_a_plane_at_the_crosshair(host, volume):
    panel, viewer, session = host.panel, host.viewer, host.session
    assert not panel.add_point_button.isEnabled()  # no case yet
    session.set_volume(volume.volume, volume.stack)
    assert panel.add_point_button.isEnabled()
    viewer.set_crosshair((3.5, -7.25, 12.0))
    host.qtbot.mouseClick(panel.add_point_button, Qt.MouseButton.LeftButton)
    (point,) = session.planning.of_kind("point")
    assert point.points_lps == ((3.5, -7.25, 12.0),)
    assert viewer.selected_object == point.object_id == panel.selected_ids()[0]
    for index, expected in enumerate(((1, 0, 0), (0, 1, 0), (0, 0, 1))):
        panel.axis_combo.setCurrentIndex(index)
        host.qtbot.mouseClick(panel.add_plane_button, Qt.MouseButton.LeftButton)
        plane = session.planning.items[-1]
        assert plane.kind == "plane" and plane.normal_lps == expected
        assert plane.points_lps == ((3.5, -7.25, 12.0),)
        assert host.numbers(plane.object_id, pp.COL_COORDS) == pytest.approx(
            [3.5, -7.25, 12.0, *expected], abs=0.05
        )
    assert session.modified
    # another volume: a new case, the list empties
    session.measurements.add("distance", [(0, 0, 0), (1, 0, 0)], "axial", "1.0 mm", {"value": 1.0})
    session.set_volume(volume.volume, volume.stack)
    assert panel.row_ids() == [] and viewer.selected_object is None


def test_a_reopened_case_fills_the_list(host):
    from workstation.core.measurements import Measurement
    from workstation.core.planning import PlanningObject

    _case(host.session)
    host.click_row("line-2")
    objects = [
        PlanningObject("line-7", "line", "Sleeve", ((0, 0, 0), (0, 0, 9))),
        PlanningObject("guide-8", "guide", "Guide", (), plan={"sleeves": [{}, {}], "slots": [{}]}),
    ]
    host.session.measurements.replace_all(
        [Measurement("measurement-5", "distance", ((0, 0, 0), (0, 2, 0)), "axial", "2.0 mm")]
    )
    host.session.planning.replace_all(objects)
    assert host.panel.row_ids() == ["line-7", "guide-8", "measurement-5"]
    assert host.text("guide-8", pp.COL_COORDS) == "2 sleeves, 1 slot"
    assert host.numbers("line-7", pp.COL_VALUE) == [9.0]
    assert host.viewer.selected_object is None


def test_the_window_lists_saves_and_follows_planning(qtbot, main_window, synthetic_ct):
    from tests.gui.conftest import open_and_settle
    from workstation.gui.project_actions import snapshot_contents

    window = main_window
    tabs = window.tools_tabs
    labels = [tabs.tabText(index) for index in range(tabs.count())]
    assert "Planning" in labels
    panel = tabs.widget(labels.index("Planning"))
    assert isinstance(panel, pp.PlanningPanel) and panel.session is window.session
    open_and_settle(qtbot, window, synthetic_ct)
    tabs.setCurrentWidget(panel)
    line = window.session.planning.add("line", [(-5.0, 4.0, 6.0), (5.0, 4.0, -6.0)])
    plane = window.session.planning.add("plane", [(2.0, -3.0, 4.0)], normal_lps=(0, 0, 1))
    table = panel.table
    rect = table.visualItemRect(table.item(panel.row_of(line.object_id), pp.COL_KIND))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    # the views' crosshair (the slices shown) goes to the entry
    assert window.viewer.selected_object == line.object_id
    assert np.allclose(window.views.crosshair_lps(), (-5.0, 4.0, 6.0), atol=1e-6)
    # the project snapshot the window saves holds the objects; the view state is its own
    contents = snapshot_contents(window.context)
    assert contents.planning == [line, plane]
    assert "selected_object" not in contents.view


def test_the_box_shows_and_hides_a_planning_object(host):
    _case(host.session)
    panel = host.panel
    cell = panel.table.item(panel.row_of("line-2"), pp.COL_NAME)
    assert cell.checkState() == Qt.CheckState.Checked
    assert not panel.table.item(panel.row_of("measurement-1"), pp.COL_NAME).flags() & (
        Qt.ItemFlag.ItemIsUserCheckable
    )
    rect = panel.table.visualItemRect(cell)
    box = QPoint(rect.left() + rect.height() // 2, rect.center().y())  # the box at the left
    host.qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=box)
    assert cell.checkState() == Qt.CheckState.Unchecked
    line = host.session.planning.by_id("line-2")
    assert line.visible is False and line.name == "Drill"
    host.session.planning.update("line-2", visible=True)  # shown again from elsewhere
    assert cell.checkState() == Qt.CheckState.Checked
