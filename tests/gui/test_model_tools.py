"""The models panel's Tools menu through its real widgets: each dialog makes the model whose
volume, position or recorded transform matches an independent calculation, and a tool
that cannot give a closed solid says so in one line and adds nothing."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from PySide6.QtCore import Qt

from tests.gui.conftest import TIMEOUT_MS
from tests.gui.test_panels_segmentation import open_panels
from workstation.core.mesh import Mesh
from workstation.gui.model_tool_dialogs import check_item

pytestmark = pytest.mark.gui

mesh_tools = pytest.importorskip("workstation.services.mesh_tools")


@pytest.fixture
def panels(qapp, qtbot, tmp_path, no_dangling_workers):
    """The models panel beside real views, on a fresh session with no volume."""
    with open_panels(qapp, qtbot, tmp_path) as host:
        yield host


def sphere(radius: float = 10.0, center=(0.0, 0.0, 0.0), subdivisions: int = 4) -> Mesh:
    """An icosphere: symmetric under reflection in each coordinate plane through its centre."""
    shape = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Mesh(np.asarray(shape.vertices) + center, np.asarray(shape.faces), "Sphere")


def box(size=(20.0, 20.0, 20.0), center=(0.0, 0.0, 0.0), name: str = "Box") -> Mesh:
    """An axis-aligned box, outward wound."""
    shape = trimesh.creation.box(extents=size)
    return Mesh(np.asarray(shape.vertices) + center, np.asarray(shape.faces), name)


def add(panels, mesh: Mesh):
    """Add a model to the session (the panel lists it) and return its entry."""
    return panels.session.add_model(mesh, name=mesh.name)


def select_rows(panels, *model_ids: str) -> None:
    """Click the models' rows in the table (Ctrl-click for the second and later ones)."""
    table = panels.models.table
    for number, model_id in enumerate(model_ids):
        row = next(r for r in range(table.rowCount()) if panels.models.model_id_at(r) == model_id)
        rect = table.visualItemRect(table.item(row, 1))
        modifier = Qt.KeyboardModifier.ControlModifier if number else Qt.KeyboardModifier.NoModifier
        panels.qtbot.mouseClick(
            table.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center()
        )
    assert panels.models.selected_ids() == sorted(model_ids, key=lambda m: panels.models._rows[m])


def open_tool(panels, tool: str):
    """Choose the tool in the Tools menu; returns its dialog (open, not blocking)."""
    tools = panels.models.model_tools
    assert panels.models.tools_button.isEnabled()
    assert panels.models.tools_button.menu() is tools.menu
    tools.update_actions()
    action = tools.actions[tool]
    assert action.isEnabled()
    action.trigger()
    dialog = tools.dialog
    assert dialog is not None and dialog.isVisible()
    return dialog


def accept(panels, dialog) -> list:
    """Click OK, wait for the job; returns the entries of the new (or moved) models."""
    before = set(panels.session.models)
    panels.qtbot.mouseClick(dialog.ok_button(), Qt.MouseButton.LeftButton)
    panels.settle()
    assert not panels.errors, [error.message for error in panels.errors]
    results = panels.models.model_tools.last_results
    new = set(panels.session.models) - before
    assert new <= set(results)
    # what the tool made (or moved) is what the models panel now selects
    assert set(panels.models.selected_ids()) == set(results)
    return [panels.session.models[model_id] for model_id in results]


def volume(mesh: Mesh) -> float:
    return mesh.signed_volume()


def centroid(mesh: Mesh) -> np.ndarray:
    """Centre of the enclosed volume (trimesh, an independent implementation)."""
    return np.asarray(trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).center_mass)


def test_cut_a_sphere_by_the_axial_crosshair_plane_gives_two_halves(panels):
    entry = add(panels, sphere())
    whole = volume(entry.mesh)
    assert whole == pytest.approx(4.0 / 3.0 * np.pi * 1000.0, rel=0.01)
    panels.viewer.set_crosshair((0.0, 0.0, 0.0))
    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "cut")
    panels.qtbot.mouseClick(dialog.ok_button(), Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "at least one plane" in dialog.error_label.text()
    check_item(dialog.plane_list, "axial")
    dialog.hide_original.setChecked(True)
    pieces = accept(panels, dialog)

    assert len(pieces) == 2
    for piece in pieces:
        assert volume(piece.mesh) == pytest.approx(whole / 2.0, rel=1e-6)
        assert piece.parameters["tool"] == "cut"
        assert piece.visible
        low, high = piece.mesh.bounds()
        assert high[2] <= 1e-9 or low[2] >= -1e-9, "each piece lies on one side of z = 0"
    assert {p.name for p in pieces} == {"Sphere piece 1", "Sphere piece 2"}
    assert entry.model_id in panels.session.models and not entry.visible, "kept, hidden"


def test_cut_by_two_planning_planes_gives_four_quarters(panels):
    entry = add(panels, sphere(center=(5.0, -3.0, 2.0)))
    whole = volume(entry.mesh)
    planning = panels.session.planning
    planning.add("plane", [(5.0, -3.0, 2.0)], name="Axial cut", normal_lps=(0.0, 0.0, 1.0))
    planning.add("plane", [(5.0, -3.0, 2.0)], name="Sagittal cut", normal_lps=(1.0, 0.0, 0.0))
    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "cut")
    for obj in planning.of_kind("plane"):
        check_item(dialog.plane_list, obj.object_id)
    pieces = accept(panels, dialog)
    assert len(pieces) == 4
    assert sum(volume(p.mesh) for p in pieces) == pytest.approx(whole, rel=1e-6)
    for piece in pieces:
        assert volume(piece.mesh) == pytest.approx(whole / 4.0, rel=1e-6)
    assert entry.visible, "the original stays shown unless Hide original is ticked"


@pytest.mark.parametrize(
    ("operation", "expected"), [("union", 12000.0), ("subtract", 4000.0), ("intersect", 4000.0)]
)
def test_boolean_of_two_boxes_has_the_analytic_volume(panels, operation, expected):
    first = add(panels, box(name="A"))
    second = add(panels, box(center=(10.0, 0.0, 0.0), name="B"))
    select_rows(panels, first.model_id, second.model_id)
    dialog = open_tool(panels, "boolean")
    assert dialog.other_combo.currentData() == second.model_id
    dialog.operation_combo.setCurrentIndex(dialog.operation_combo.findData(operation))
    (result,) = accept(panels, dialog)
    assert volume(result.mesh) == pytest.approx(expected, rel=1e-6)
    assert result.parameters["tool"] == "boolean"
    low, high = result.mesh.bounds()
    expected_low = {"union": -10.0, "subtract": -10.0, "intersect": 0.0}[operation]
    expected_high = {"union": 20.0, "subtract": 0.0, "intersect": 10.0}[operation]
    assert (low[0], high[0]) == pytest.approx((expected_low, expected_high), abs=1e-6)


@pytest.mark.parametrize(("direction", "radius"), [(1.0, 12.0), (-1.0, 8.0)])
def test_offset_a_sphere_by_two_millimetres(panels, direction, radius):
    entry = add(panels, sphere())
    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "offset")
    dialog.distance_spin.setValue(2.0)
    dialog.direction_combo.setCurrentIndex(dialog.direction_combo.findData(direction))
    (result,) = accept(panels, dialog)
    assert volume(result.mesh) == pytest.approx(4.0 / 3.0 * np.pi * radius**3, rel=0.03)
    distances = np.linalg.norm(result.mesh.vertices, axis=1)
    assert np.median(distances) == pytest.approx(radius, abs=0.15)
    assert result.parameters["parameters"]["distance_mm"] == pytest.approx(2.0 * direction)


def test_hollow_a_sphere_with_a_drain_hole_along_a_planning_line(panels):
    entry = add(panels, sphere())
    line = panels.session.planning.add("line", [(0.0, 0.0, 10.0), (0.0, 0.0, 0.0)], name="Drain")
    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "hollow")
    dialog.wall_spin.setValue(2.0)
    (shell,) = accept(panels, dialog)
    shell_volume = volume(shell.mesh)
    expected = 4.0 / 3.0 * np.pi * (10.0**3 - 8.0**3)
    assert shell_volume == pytest.approx(expected, rel=0.04)

    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "hollow")
    dialog.wall_spin.setValue(2.0)
    dialog.diameter_spin.setValue(4.0)
    check_item(dialog.hole_list, line.object_id)
    (drained,) = accept(panels, dialog)
    (hole,) = drained.parameters["parameters"]["drain_holes"]
    assert hole["point_lps"] == [0.0, 0.0, 10.0]
    assert hole["direction_lps"] == pytest.approx([0.0, 0.0, -1.0])
    # the hole takes a cylinder of the wall out: about pi r^2 times the wall
    removed = shell_volume - volume(drained.mesh)
    assert 0.5 * np.pi * 4.0 * 2.0 < removed < 2.0 * np.pi * 4.0 * 2.0


def test_mirror_mid_sagittal_and_across_a_planning_plane(panels):
    entry = add(panels, box(size=(10.0, 6.0, 4.0), center=(15.0, 5.0, 1.0)))
    panels.viewer.set_crosshair((2.0, -7.0, 3.0))
    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "mirror")
    assert dialog.plane_combo.currentData() == "mid-sagittal"
    (mirrored,) = accept(panels, dialog)
    # across x = 2 (the crosshair's L), normal L: x -> 4 - x
    assert centroid(mirrored.mesh) == pytest.approx([4.0 - 15.0, 5.0, 1.0], abs=1e-6)
    assert volume(mirrored.mesh) == pytest.approx(240.0, rel=1e-9), "outward wound after"

    plane = panels.session.planning.add(
        "plane", [(0.0, 0.0, 3.0)], name="Occlusal", normal_lps=(0.0, 0.0, 2.0)
    )
    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "mirror")
    dialog.plane_combo.setCurrentIndex(dialog.plane_combo.findData(plane.object_id))
    (across,) = accept(panels, dialog)
    assert centroid(across.mesh) == pytest.approx([15.0, 5.0, 5.0], abs=1e-6)
    assert across.name == "Box mirrored"


def test_move_and_rotate_records_the_matrix_and_moves_the_vertices_exactly(panels):
    entry = add(panels, box(size=(10.0, 6.0, 4.0), center=(15.0, 5.0, 1.0)))
    before = entry.mesh.vertices.copy()
    count = len(panels.session.models)
    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "transform")
    dialog.set_translation((5.0, -3.0, 2.0))
    dialog.axis_combo.setCurrentIndex(dialog.axis_combo.findData("S"))
    dialog.angle_spin.setValue(90.0)
    (moved,) = accept(panels, dialog)
    assert moved is entry and len(panels.session.models) == count, "the model itself moves"

    # rotate +90 degrees about S through the centroid (15, 5, 1), then translate
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    centre = np.array([15.0, 5.0, 1.0])
    expected = (before - centre) @ rotation.T + centre + np.array([5.0, -3.0, 2.0])
    np.testing.assert_allclose(entry.mesh.vertices, expected, atol=1e-9)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = centre - rotation @ centre + np.array([5.0, -3.0, 2.0])
    recorded = entry.parameters["transforms"][-1]
    recorded = recorded.get("matrix", recorded) if isinstance(recorded, dict) else recorded
    np.testing.assert_allclose(np.asarray(recorded, float), matrix, atol=1e-9)
    assert volume(entry.mesh) == pytest.approx(240.0, rel=1e-9)
    # the 3D view shows the moved surface
    shown = panels.views.view_3d()._models[entry.model_id].mesh
    np.testing.assert_allclose(shown.vertices, expected, atol=1e-9)


def test_rotation_about_a_planning_line_through_its_entry(panels):
    entry = add(panels, box(size=(2.0, 2.0, 2.0), center=(10.0, 0.0, 0.0)))
    line = panels.session.planning.add("line", [(0.0, 0.0, -5.0), (0.0, 0.0, 5.0)], name="Axis")
    select_rows(panels, entry.model_id)
    dialog = open_tool(panels, "transform")
    dialog.axis_combo.setCurrentIndex(dialog.axis_combo.findData(line.object_id))
    dialog.pivot_combo.setCurrentIndex(dialog.pivot_combo.findData("line"))
    dialog.angle_spin.setValue(180.0)
    accept(panels, dialog)
    assert centroid(entry.mesh) == pytest.approx([-10.0, 0.0, 0.0], abs=1e-9)


def test_an_open_mesh_fails_in_one_line_and_adds_nothing(make_main_window, qtbot):
    window = make_main_window()
    closed = box()
    open_box = Mesh(closed.vertices, closed.faces[:-1], "Open box")  # one triangle missing
    entry = window.session.add_model(open_box, name="Open box")
    panel = window.models_panel
    window.tools_tabs.setCurrentWidget(panel)
    panel.table.selectRow(0)
    assert panel.selected_ids() == [entry.model_id]
    dialog = panel.model_tools.open_dialog("offset")
    errors_before = len(window.errors)
    qtbot.mouseClick(dialog.ok_button(), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(window.errors) > errors_before, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.runner.jobs, timeout=TIMEOUT_MS)
    error = window.errors[-1]
    assert error.expected and not error.cancelled
    assert "\n" not in error.message and error.message.strip()
    assert list(window.session.models) == [entry.model_id], "nothing was added"
    box_dialog = window.last_error_dialog
    assert box_dialog is not None and box_dialog.text() == error.message
    box_dialog.close()


def test_cancel_in_the_progress_panel_stops_a_tool_and_adds_nothing(make_main_window, qtbot):
    window = make_main_window()
    entry = window.session.add_model(sphere(), name="Sphere")
    panel = window.models_panel
    window.tools_tabs.setCurrentWidget(panel)
    panel.table.clearSelection()
    assert not panel.tools_button.isEnabled(), "no model selected: no tools"
    panel.table.selectRow(0)
    assert panel.tools_button.isEnabled()
    dialog = panel.model_tools.open_dialog("hollow")
    dialog.wall_spin.setValue(2.0)
    dialog.spacing_spin.setValue(0.1)  # a fine grid: long enough to cancel
    progress = window.progress_panel
    qtbot.mouseClick(dialog.ok_button(), Qt.MouseButton.LeftButton)
    (job,) = window.runner.jobs
    qtbot.waitUntil(lambda: progress.cancel_button.isEnabled(), timeout=TIMEOUT_MS)
    qtbot.mouseClick(progress.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: job.done, timeout=TIMEOUT_MS)
    assert window.errors and window.errors[-1].cancelled
    assert list(window.session.models) == [entry.model_id], "nothing was added"
    assert panel.selected_ids() == [entry.model_id]


def test_a_read_only_case_refuses_every_tool_and_changes_nothing(panels):
    from workstation.gui.edit_queue import READ_ONLY_MESSAGE

    entry = add(panels, sphere())
    vertices = entry.mesh.vertices.copy()
    select_rows(panels, entry.model_id)
    tools = panels.models.model_tools
    tools.update_actions()
    assert all(
        action.isEnabled()
        for action in tools.actions.values()
        if action is not tools.actions["boolean"]
    )
    panels.session.read_only = True
    tools.update_actions()  # as the menu does each time it opens
    for action in tools.actions.values():
        assert not action.isEnabled() and action.toolTip() == READ_ONLY_MESSAGE
    for tool in ("cut", "offset", "hollow", "mirror", "transform"):
        panels.messages.clear()
        assert tools.open_dialog(tool) is None and tools.dialog is None
        assert panels.messages == [READ_ONLY_MESSAGE]
    assert tools.run("offset", [entry.model_id], {"distance_mm": 2.0}) is None
    assert tools.move([entry.model_id], np.eye(4)) is None
    assert list(panels.session.models) == [entry.model_id]
    # writable again: each entry is back with its own tooltip
    panels.session.read_only = False
    tools.update_actions()
    assert tools.actions["offset"].isEnabled()
    assert tools.actions["offset"].toolTip() == "Grow or shrink the surface by millimetres"
    # a tool that finishes after the case turned read-only adds and moves nothing
    panels.messages.clear()
    job = tools.run("offset", [entry.model_id], {"distance_mm": 2.0})
    shift = np.eye(4)
    shift[0, 3] = 5.0
    moving = tools.move([entry.model_id], shift)
    assert job is not None and moving is not None
    panels.session.read_only = True
    panels.settle()
    assert list(panels.session.models) == [entry.model_id] and not panels.errors
    np.testing.assert_array_equal(entry.mesh.vertices, vertices)
    assert sum(READ_ONLY_MESSAGE in text for text in panels.messages) == 2
