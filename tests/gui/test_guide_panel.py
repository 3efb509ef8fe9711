"""The Guide panel through real widgets: region picked on the bone, presets, sleeves and slots
from the planning objects, generation in a job, clearance colours, report, export, and the
plan kept in (and restored from) the case's planning list."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.gui.conftest import TIMEOUT_MS
from tests.gui.test_tools_support import AXIAL, click_at, stroke, volume_on
from workstation.core.guide_plan import CLEARANCE_PRESETS, DEFAULT_THICKNESS_MM, parse_plan
from workstation.core.mesh import Mesh
from workstation.core.planning import PlanningObject
from workstation.gui.guide_panel import GUIDE_MODEL_NAME, GuidePanel
from workstation.gui.guide_tables import report_rows
from workstation.gui.views.guide_3d import clearance_range

pytestmark = pytest.mark.gui

CENTRE = np.array([4.0, -2.0, 3.0])
RADIUS = 12.0


def sphere_bone(centre=CENTRE, radius=RADIUS, subdivisions=4) -> Mesh:
    """An icosphere "skull" with outward counter-clockwise faces."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Mesh(np.asarray(sphere.vertices) + centre, np.asarray(sphere.faces), name="Skull")


def chord_sag(mesh: Mesh, radius: float) -> float:
    """How far a point on the triangles can lie inside the sphere."""
    edges = mesh.vertices[mesh.faces[:, 1]] - mesh.vertices[mesh.faces[:, 0]]
    longest = float(np.linalg.norm(edges, axis=1).max())
    return radius - np.sqrt(radius**2 - (longest / np.sqrt(3)) ** 2) + 1e-6


def guide_window(make_main_window, qtbot):
    """A shown window with a volume, the sphere bone as model "Skull" and the Guide tab open."""
    window = make_main_window()
    window.session.set_volume(volume_on(AXIAL))
    window.session.add_model(sphere_bone(), name="Skull")
    panel = window.findChild(GuidePanel)
    window.tools_tabs.setCurrentWidget(panel)
    view = window.views.view_3d()
    view.refresh()
    qtbot.wait(10)
    return window, panel, view


def bone_id(window) -> str:
    return next(m for m, e in window.session.models.items() if e.name == "Skull")


def test_a_click_on_the_bone_centres_the_region_sphere(make_main_window, qtbot):
    window, panel, view = guide_window(make_main_window, qtbot)
    qtbot.mouseClick(panel.region.pick_button, Qt.MouseButton.LeftButton)
    assert window.viewer.tool == "guide_region"
    camera = view.camera()
    before = camera.GetPosition()
    x0, y0 = (round(v) for v in view.lps_to_display(CENTRE))
    expected = view.pick_model_point(x0 + 20, y0 - 15)
    assert expected is not None
    click_at(qtbot, view, x0 + 20, y0 - 15)
    assert camera.GetPosition() == before  # the tool took the left button
    centre = panel.region.sphere_center()
    assert np.allclose(centre, expected[1], atol=0.001)  # spin boxes hold 3 decimals
    distance = float(np.linalg.norm(centre - CENTRE))
    assert RADIUS - chord_sag(sphere_bone(), RADIUS) - 0.001 <= distance <= RADIUS + 0.001
    assert float((centre - CENTRE) @ -view.view_direction()) > 0  # the front, facing us
    assert panel.bone_combo.currentData() == bone_id(window)
    # the region is drawn: one translucent, unpickable sphere of the set radius
    panel.region.radius_spin.setValue(9.0)
    ((drawn_centre, drawn_radius),) = panel.region.display.spheres()
    assert np.allclose(drawn_centre, centre) and drawn_radius == 9.0
    (actor,) = panel.region.display.actors()
    assert not actor.GetPickable() and actor.GetProperty().GetOpacity() < 0.5
    record = panel.plan_record()
    assert record["bone"] == {"model": "Skull"}
    assert record["region"] == {"sphere": {"center_lps": list(centre), "radius_mm": 9.0}}
    # a click off the bone changes nothing
    far_x, _ = view.lps_to_display(CENTRE + np.array([4 * RADIUS, 0, 0]))
    click_at(qtbot, view, far_x, y0)
    assert np.allclose(panel.region.sphere_center(), centre)


def test_a_click_in_a_slice_view_centres_the_sphere_on_the_slice(make_main_window, qtbot):
    window, panel, _ = guide_window(make_main_window, qtbot)
    panel.pick_region()
    axial = window.views.slice_view("axial")
    point = click_at(qtbot, axial, axial.width() / 2 + 31, axial.height() / 2 - 12)
    assert np.allclose(panel.region.sphere_center(), point, atol=0.001)
    assert panel.region.display.spheres()[0][0] == pytest.approx(
        tuple(panel.region.sphere_center())
    )


def test_brush_strokes_paint_dabs_on_the_bone(make_main_window, qtbot):
    _, panel, view = guide_window(make_main_window, qtbot)
    panel.region.set_mode("brush")
    panel.region.brush_spin.setValue(3.0)
    panel.pick_region()
    x0, y0 = view.lps_to_display(CENTRE)
    stroke(qtbot, view, [(x0 - 40 + 4 * step, y0 + 5) for step in range(21)])
    dabs = panel.region.brush_points
    assert len(dabs) >= 4
    sag = chord_sag(sphere_bone(), RADIUS)
    for point in dabs:
        assert RADIUS - sag <= np.linalg.norm(point - CENTRE) <= RADIUS + 1e-6
    gaps = np.linalg.norm(np.diff(np.array(dabs), axis=0), axis=1)
    assert gaps.min() >= 0.5 * 3.0 - 1e-9  # one dab every half radius at most
    assert panel.region.brush_label.text() == f"{len(dabs)} dab(s)"
    assert len(panel.region.display.spheres()) == len(dabs)
    record = panel.plan_record()
    assert record["region"]["brush"]["radius_mm"] == 3.0
    assert np.allclose(record["region"]["brush"]["points_lps"], dabs)
    assert len(parse_plan(record).region.spheres) == len(dabs)
    qtbot.mouseClick(panel.region.clear_brush_button, Qt.MouseButton.LeftButton)
    assert panel.region.brush_points == [] and panel.region.display.spheres() == []


def test_clearance_presets_and_custom_values(make_main_window, qtbot):
    _, panel, _ = guide_window(make_main_window, qtbot)
    assert panel.thickness_spin.value() == DEFAULT_THICKNESS_MM == 3.0
    assert panel.clearance_spin.value() == CLEARANCE_PRESETS["SLA"] == 0.25
    panel.set_preset("FDM")
    assert panel.clearance_spin.value() == pytest.approx(0.4)
    assert panel.plan_record()["clearance_mm"] == pytest.approx(0.4)
    panel.clearance_spin.setValue(0.3)
    assert panel.preset_combo.currentData() == "Custom"
    panel.clearance_spin.setValue(0.25)
    assert panel.preset_combo.currentData() == "SLA"  # typing a preset's value names it
    panel.set_preset("Custom")
    assert panel.clearance_spin.value() == pytest.approx(0.25)  # custom keeps the value


def test_sleeves_slots_and_direction_come_from_the_planning_objects(make_main_window, qtbot):
    window, panel, view = guide_window(make_main_window, qtbot)
    planning = window.session.planning
    entry = CENTRE + np.array([0.0, -RADIUS, 0.0])
    line = planning.add("line", [entry, CENTRE], name="Drill A")
    plane = planning.add(
        "plane", [CENTRE + np.array([0, -RADIUS, 5])], normal_lps=[0, 0, 2], name="Cut"
    )
    assert [o.object_id for o in panel.sleeves_table.objects] == [line.object_id]
    assert [o.object_id for o in panel.slots_table.objects] == [plane.object_id]
    assert panel.plan_record()["sleeves"] == [] and panel.plan_record()["slots"] == []
    panel.sleeves_table.set_row(0, True, {"inner_diameter_mm": 2.5})
    panel.slots_table.set_row(0, True, {"length_mm": 12.0})
    record = panel.plan_record()
    (sleeve,) = record["sleeves"]
    assert sleeve["name"] == "Drill A"
    assert np.allclose(sleeve["entry_lps"], entry) and np.allclose(sleeve["target_lps"], CENTRE)
    assert (sleeve["inner_diameter_mm"], sleeve["outer_diameter_mm"], sleeve["height_mm"]) == (
        2.5,
        5.0,
        8.0,
    )
    (slot,) = record["slots"]
    assert np.allclose(slot["point_lps"], CENTRE + np.array([0, -RADIUS, 5]))
    assert np.allclose(slot["normal_lps"], [0, 0, 1])
    assert (slot["width_mm"], slot["length_mm"], slot["depth_mm"]) == (1.2, 12.0, 8.0)
    # a new line keeps the first row's choices
    planning.add("line", [entry + np.array([3, 0, 0]), CENTRE], name="Drill B")
    assert [s["name"] for s in panel.plan_record()["sleeves"]] == ["Drill A"]
    # insertion direction: none, the 3D view's, or along a line (entry → target)
    assert "insertion_direction_lps" not in panel.plan_record()
    panel.direction_combo.setCurrentIndex(panel.direction_combo.findData("view"))
    assert np.allclose(panel.plan_record()["insertion_direction_lps"], view.view_direction())
    panel.direction_combo.setCurrentIndex(panel.direction_combo.findData(line.object_id))
    assert np.allclose(panel.plan_record()["insertion_direction_lps"], [0, 1, 0])
    assert parse_plan(panel.plan_record()).sleeves[0].inner_diameter_mm == 2.5


def test_a_saved_plan_is_restored_into_the_panel(make_main_window, qtbot):
    window, panel, _ = guide_window(make_main_window, qtbot)
    planning = window.session.planning
    entry = CENTRE + np.array([0.0, -RADIUS, 0.0])
    line = planning.add("line", [entry, CENTRE], name="Drill A")
    record = {
        "bone": {"model": "Skull"},
        "region": {"brush": {"radius_mm": 5.0, "points_lps": [list(entry), list(entry + 1)]}},
        "thickness_mm": 2.5,
        "clearance_mm": 0.4,
        "insertion_direction_lps": [0.0, 1.0, 0.0],
        "sleeves": [
            {
                "name": "Drill A",
                "entry_lps": list(entry),
                "target_lps": list(CENTRE),
                "inner_diameter_mm": 2.0,
                "outer_diameter_mm": 6.0,
                "height_mm": 7.0,
            }
        ],
        "slots": [],
    }
    # as a reopened project does: every planning object replaced from its saved record
    saved = PlanningObject("guide-1", "guide", "Guide 1", (), plan=record).to_dict()
    objects = [line, PlanningObject.from_dict(json.loads(json.dumps(saved)))]
    planning.replace_all(objects)
    assert panel.guide_id == "guide-1"
    assert panel.region.region_mode() == "brush" and len(panel.region.brush_points) == 2
    assert panel.thickness_spin.value() == 2.5
    assert panel.preset_combo.currentData() == "FDM"
    assert panel.sleeves_table.row_values(0) == (
        True,
        {"inner_diameter_mm": 2.0, "outer_diameter_mm": 6.0, "height_mm": 7.0},
    )
    assert panel.plan_record() == record
    assert len(panel.region.display.spheres()) == 2
    planning.replace_all(objects)  # reopened again: the saved direction is listed once
    combo = panel.direction_combo
    saved = [i for i in range(combo.count()) if isinstance(combo.itemData(i), tuple)]
    assert len(saved) == 1 and panel.plan_record() == record


def _wait_job(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: panel.job is None, timeout=TIMEOUT_MS)


def drilled_ball_case(make_main_window, qtbot, synthetic_ct):
    """A window with a case that can be saved, whose "Bone model" is the big ball and a line
    "Drill" from the ball's surface to its centre: (window, panel, bone id, entry)."""
    from tests.gui.conftest import BIG_BALL
    from tests.gui.project_case import build_case

    window = make_main_window()
    build_case(qtbot, window, synthetic_ct)  # its model "Bone model" holds the big ball
    panel = window.findChild(GuidePanel)
    (bone,) = window.session.models
    centre, radius = np.asarray(BIG_BALL[0]), BIG_BALL[1]
    entry = centre + np.array([0.0, -radius, 0.0])
    window.session.planning.add("line", [entry, centre], name="Drill")
    return window, panel, bone, entry


def _generate(qtbot, panel):
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert panel.job is not None or panel.status_label.text()
    _wait_job(qtbot, panel)


def test_generate_shows_the_guide_with_clearance_colours_report_and_export(
    make_main_window, qtbot, tmp_path
):
    window, panel, view = guide_window(make_main_window, qtbot)
    panel.region.set_sphere_center(CENTRE + np.array([0.0, -RADIUS, 0.0]), bone_id(window))
    panel.region.radius_spin.setValue(8.0)
    panel.set_preset("FDM")
    _generate(qtbot, panel)
    assert not window.errors, [e.message for e in window.errors]
    guides = [e for e in window.session.models.values() if e.name == GUIDE_MODEL_NAME]
    assert len(guides) == 1, panel.status_label.text()
    guide = guides[0]
    result = panel.result
    assert guide.mesh is result.guide and guide.parameters["guide_id"] == panel.guide_id
    # the plan is kept in the case
    (stored,) = window.session.planning.of_kind("guide")
    assert stored.object_id == panel.guide_id and stored.plan == panel.plan_record()
    assert stored.plan["clearance_mm"] == pytest.approx(0.4)
    # clearance colours: one value per vertex, the FDM scale, a colour bar
    values = view.model_scalars(guide.model_id)
    assert values is not None and len(values) == len(result.guide.vertices)
    assert np.allclose(values, result.clearance_mm)
    assert clearance_range(0.4) == (0.0, 0.8)
    assert view.scalar_bar() is not None
    assert view.model_actor(guide.model_id).GetMapper().GetScalarRange() == (0.0, 0.8)
    # the report, readable: every top-level key, warnings first
    rows = report_rows(panel.report_tree)
    assert panel.report_tree.topLevelItem(0).text(0) == "warnings"
    assert rows["watertight"] == ("yes" if result.report["watertight"] else "no")
    assert rows["volume_mm3"] == f"{result.report['volume_mm3']:.3f}"
    for key in result.report:
        assert key in rows
    # generating again replaces the guide of this plan
    _generate(qtbot, panel)
    guides = [e for e in window.session.models.values() if e.name == GUIDE_MODEL_NAME]
    assert len(guides) == 1 and guides[0].model_id != guide.model_id
    assert guide.model_id not in view.model_ids()
    # export: STL + report (+ provenance) through the file dialog
    target = tmp_path / "out" / "MyGuide.stl"
    target.parent.mkdir()
    panel._ask_export_path = lambda: str(target)
    qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(panel.last_export), timeout=TIMEOUT_MS)
    import trimesh

    written = trimesh.load(target, force="mesh")
    assert len(written.faces) == panel.result.guide.n_faces
    report = json.loads((tmp_path / "out" / "MyGuide.report.json").read_text())
    assert report["watertight"] == panel.result.report["watertight"]
    assert report["volume_mm3"] == pytest.approx(panel.result.report["volume_mm3"])
    assert (tmp_path / "out" / "MyGuide.provenance.json").is_file()
    # another case: no plan, no guide, no region drawn
    window.session.set_volume(volume_on(AXIAL))
    assert panel.result is None and panel.guide_id is None
    assert not panel.export_button.isEnabled() and panel.report_tree.topLevelItemCount() == 0
    assert panel.region.display.spheres() == [] and view.scalar_bar() is None


def test_a_region_off_the_bone_shows_one_line_and_adds_no_model(make_main_window, qtbot):
    window, panel, _ = guide_window(make_main_window, qtbot)
    panel.region.set_sphere_center(CENTRE + np.array([0.0, 0.0, 10 * RADIUS]))
    panel.region.radius_spin.setValue(5.0)
    models = set(window.session.models)
    _generate(qtbot, panel)
    text = panel.status_label.text()
    assert text and "\n" not in text and "Traceback" not in text
    assert "region" in text.lower()
    assert set(window.session.models) == models
    assert not window.errors and panel.result is None
    assert not panel.export_button.isEnabled()


def test_a_plan_error_before_the_job_shows_one_line(make_main_window, qtbot):
    window, panel, _ = guide_window(make_main_window, qtbot)
    window.session.remove_model(bone_id(window))  # no bone model left
    models = set(window.session.models)
    assert panel.generate() is None
    text = panel.status_label.text()
    assert text.startswith("Guide plan:") and "bone" in text and "\n" not in text
    assert set(window.session.models) == models
    assert window.session.planning.of_kind("guide") == []


def test_model_scalars_colour_a_model_and_none_restores_it(make_main_window, qtbot):
    window, _, view = guide_window(make_main_window, qtbot)
    model_id = bone_id(window)
    mesh = window.session.models[model_id].mesh
    plain = view.capture().astype(int)
    heights = mesh.vertices[:, 2] - CENTRE[2]
    view.set_model_scalars(model_id, heights, (-RADIUS, RADIUS))
    view.refresh()
    coloured = view.capture().astype(int)
    assert np.allclose(view.model_scalars(model_id), heights)
    assert view.scalar_bar() is not None
    # the top of the ball is blue (high), the bottom red (low)
    top_x, top_y = view.lps_to_display(CENTRE + np.array([0, -RADIUS * 0.3, RADIUS * 0.85]))
    low_x, low_y = view.lps_to_display(CENTRE + np.array([0, -RADIUS * 0.3, -RADIUS * 0.85]))
    ratio = view.devicePixelRatioF()
    top = coloured[round(top_y * ratio), round(top_x * ratio)]
    low = coloured[round(low_y * ratio), round(low_x * ratio)]
    assert top[2] > top[0] + 30 and low[0] > low[2] + 30
    with pytest.raises(ValueError):
        view.set_model_scalars(model_id, heights[:-1], (0.0, 1.0))
    view.set_model_scalars(model_id, None)
    view.refresh()
    assert view.model_scalars(model_id) is None and view.scalar_bar() is None
    assert np.abs(view.capture().astype(int) - plain).max() <= 2


def test_the_plan_is_saved_in_the_project_and_reopened_into_the_panel(
    make_main_window, qtbot, synthetic_ct, tmp_path
):
    from tests.gui.project_case import open_project_and_wait, save_and_wait

    first, panel, bone, entry = drilled_ball_case(make_main_window, qtbot, synthetic_ct)
    panel.region.set_sphere_center(entry, bone)
    panel.region.radius_spin.setValue(7.0)
    panel.thickness_spin.setValue(2.5)
    panel.set_preset("FDM")
    panel.sleeves_table.set_row(0, True, {"height_mm": 6.0})
    _generate(qtbot, panel)
    assert not first.errors, [e.message for e in first.errors]
    record = panel.plan_record()
    (guide,) = first.session.planning.of_kind("guide")
    assert guide.plan == record and record["bone"] == {"model": "Bone model"}
    models = {e.name for e in first.session.models.values()}
    path = save_and_wait(qtbot, first, tmp_path / "case")
    first.close()

    second = make_main_window()
    open_project_and_wait(qtbot, second, path)
    reopened = second.findChild(GuidePanel)
    assert reopened.guide_id == guide.object_id
    assert reopened.plan_record() == record
    assert reopened.region.spheres()[0][1] == 7.0 and len(reopened.region.display.spheres()) == 1
    assert {e.name for e in second.session.models.values()} == models
    assert reopened.guide_model_id is not None  # the saved guide model belongs to this plan
    assert reopened.bone_combo.currentText() == "Bone model"  # never the guide itself
    assert GUIDE_MODEL_NAME not in [
        reopened.bone_combo.itemText(i) for i in range(reopened.bone_combo.count())
    ]


def test_cancel_stops_the_job_and_adds_no_model(make_main_window, qtbot, monkeypatch):
    import threading

    from workstation.gui import guide_panel

    started = threading.Event()

    def slow(plan, bone, progress, cancel):
        started.set()
        for step in range(6000):
            progress(step / 6000, "Building")  # raises Cancelled once cancelled
            threading.Event().wait(0.01)
        raise AssertionError("the job should have been cancelled")

    monkeypatch.setattr(guide_panel, "generate_guide", slow)
    window, panel, _ = guide_window(make_main_window, qtbot)
    panel.region.set_sphere_center(CENTRE + np.array([0.0, -RADIUS, 0.0]))
    models = set(window.session.models)
    qtbot.mouseClick(panel.generate_button, Qt.MouseButton.LeftButton)
    assert started.wait(30) and panel.cancel_button.isEnabled()
    assert not panel.generate_button.isEnabled() and panel.progress_bar.isVisible()
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    _wait_job(qtbot, panel)
    assert panel.status_label.text().startswith("Cancelled")
    assert set(window.session.models) == models and not window.errors
    assert panel.generate_button.isEnabled() and not panel.progress_bar.isVisible()
