"""The Guide tab keeps its work: a plan never generated is stored and saved, a saved guide
comes back with its report, clearance colours and Export, a read-only case refuses
Generate and the model tools, and "See the contact face" hides the bone and faces it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from tests.gui.conftest import BIG_BALL, TIMEOUT_MS
from tests.gui.test_guide_panel import (
    CENTRE,
    RADIUS,
    _generate,
    bone_id,
    drilled_ball_case,
    guide_window,
)
from workstation.core.errors import GuidePlanError, ProjectError
from workstation.core.guide_plan import parse_plan
from workstation.gui.edit_queue import READ_ONLY_MESSAGE
from workstation.gui.guide_panel import GUIDE_MODEL_NAME, STORE_DELAY_MS, GuidePanel
from workstation.gui.guide_tables import report_rows
from workstation.gui.models_panel import ModelsPanel
from workstation.gui.project_actions import snapshot_contents

pytestmark = pytest.mark.gui


def guides(window) -> list:
    return window.session.planning.of_kind("guide")


def guide_entry(window):
    (entry,) = [e for e in window.session.models.values() if e.name == GUIDE_MODEL_NAME]
    return entry


def test_a_changed_control_stores_the_plan_a_moment_later(make_main_window, qtbot):
    window, panel, _ = guide_window(make_main_window, qtbot)
    planning = window.session.planning
    # filling the lists (models, planning objects) is not an edit: nothing is stored
    planning.add("line", [CENTRE + np.array([0.0, -RADIUS, 0.0]), CENTRE], name="Drill")
    qtbot.wait(STORE_DELAY_MS + 150)
    assert guides(window) == [] and not panel.store_timer.isActive()
    # a typed value: stored after the pause, not at once
    panel.thickness_spin.setValue(2.5)
    assert guides(window) == [] and panel.store_timer.isActive()
    qtbot.waitUntil(lambda: bool(guides(window)), timeout=TIMEOUT_MS)
    (stored,) = guides(window)
    assert stored.plan == panel.plan_record() and stored.plan["thickness_mm"] == 2.5
    assert panel.guide_id == stored.object_id
    # each control counts: a ticked sleeve, a preset, the region
    panel.sleeves_table.set_row(0, True, {"height_mm": 6.5})
    panel.set_preset("FDM")
    panel.region.set_sphere_center(CENTRE + np.array([0.0, -RADIUS, 1.0]))
    qtbot.waitUntil(lambda: not panel.store_timer.isActive(), timeout=TIMEOUT_MS)
    (stored,) = guides(window)
    assert stored.plan["sleeves"][0]["height_mm"] == 6.5
    assert stored.plan["clearance_mm"] == pytest.approx(0.4)
    assert stored.plan["region"]["sphere"]["center_lps"] == pytest.approx(
        list(CENTRE + np.array([0.0, -RADIUS, 1.0]))
    )
    # a save snapshot takes the plan typed a moment ago (the pause is cut short)
    panel.clearance_spin.setValue(0.3)
    assert panel.store_timer.isActive()
    with pytest.raises(ProjectError):  # this synthetic case has no source files to save
        snapshot_contents(window.context)
    assert guides(window)[0].plan["clearance_mm"] == pytest.approx(0.3)  # stored first
    assert not panel.store_timer.isActive()
    assert guides(window)[0].plan == panel.plan_record()


def test_an_edit_of_the_last_moment_counts_before_the_unsaved_question(
    make_main_window, qtbot, monkeypatch
):
    window, panel, _ = guide_window(make_main_window, qtbot)
    window.session.set_modified(False)
    asked: list[str] = []
    monkeypatch.setattr(
        window.projects,
        "ask_unsaved",
        lambda action: asked.append(action) or QMessageBox.StandardButton.Cancel,
    )
    panel.thickness_spin.setValue(3.5)
    assert panel.store_timer.isActive() and not window.session.modified
    assert not window.projects.confirm_unsaved(lambda: None, "Quitting")
    assert asked == ["Quitting"]  # the edit typed a moment ago is unsaved work
    assert not panel.store_timer.isActive() and window.session.modified
    assert guides(window)[0].plan["thickness_mm"] == 3.5


def test_a_plan_that_does_not_parse_is_stored_as_it_stands(make_main_window, qtbot):
    window, panel, _ = guide_window(make_main_window, qtbot)
    window.session.remove_model(bone_id(window))  # no bone to choose
    panel.thickness_spin.setValue(4.0)
    panel.flush_plan()
    (stored,) = guides(window)
    assert stored.plan["bone"] == {"model": ""} and stored.plan["thickness_mm"] == 4.0
    with pytest.raises(GuidePlanError):
        parse_plan(stored.plan)
    assert panel.generate() is None and len(guides(window)) == 1


def test_an_ungenerated_plan_is_saved_and_reopened(make_main_window, qtbot, synthetic_ct, tmp_path):
    from tests.gui.project_case import open_project_and_wait, save_and_wait

    first, panel, bone, entry = drilled_ball_case(make_main_window, qtbot, synthetic_ct)
    panel.region.set_sphere_center(entry, bone)
    panel.region.radius_spin.setValue(6.0)
    panel.sleeves_table.set_row(0, True, {"outer_diameter_mm": 5.5})
    panel.direction_combo.set_saved([0.0, 1.0, 0.0])
    panel.thickness_spin.setValue(2.75)  # saved at once, within the pause
    record = panel.plan_record()
    path = save_and_wait(qtbot, first, tmp_path / "case")
    assert not first.session.modified
    first.close()

    second = make_main_window()
    open_project_and_wait(qtbot, second, path)
    reopened = second.findChild(GuidePanel)
    assert reopened.plan_record() == record
    assert reopened.sleeves_table.row_values(0)[1]["outer_diameter_mm"] == 5.5
    assert reopened.result is None and not reopened.export_button.isEnabled()
    qtbot.wait(STORE_DELAY_MS + 150)  # showing the plan is no change of the case
    assert not second.session.modified and len(guides(second)) == 1


def _unsigned_distance(bone, points) -> np.ndarray:
    """Distance of each point to the nearest bone triangle (brute force, trimesh's
    closest point on a triangle)."""
    triangles = bone.vertices[bone.faces]
    out = []
    for point in points:
        closest = trimesh.triangles.closest_point(triangles, np.repeat([point], len(triangles), 0))
        out.append(np.linalg.norm(closest - point, axis=1).min())
    return np.array(out)


def test_a_saved_guide_reopens_with_report_colours_and_export_and_read_only_refuses(
    make_main_window, qtbot, synthetic_ct, tmp_path
):
    from tests.gui.project_case import build_case, copy_study, open_project_and_wait, save_and_wait

    study = copy_study(synthetic_ct, tmp_path / "study")
    first = make_main_window()
    build_case(qtbot, first, study)
    panel = first.findChild(GuidePanel)
    (bone,) = first.session.models
    centre, radius = np.asarray(BIG_BALL[0]), BIG_BALL[1]
    panel.region.set_sphere_center(centre + np.array([0.0, -radius, 0.0]), bone)
    panel.region.radius_spin.setValue(7.0)
    _generate(qtbot, panel)
    assert not first.errors, [e.message for e in first.errors]
    made = guide_entry(first)
    report, record = panel.result.report, panel.plan_record()
    assert made.parameters["guide_report"]["volume_mm3"] == pytest.approx(report["volume_mm3"])
    assert made.parameters["plan"] == record
    rows = report_rows(panel.report_tree)
    built_clearance = panel.result.clearance_mm.copy()
    path = save_and_wait(qtbot, first, tmp_path / "case")
    first.close()

    second = make_main_window()
    open_project_and_wait(qtbot, second, path)
    reopened = second.findChild(GuidePanel)
    qtbot.waitUntil(lambda: reopened.restore_job is None, timeout=TIMEOUT_MS)
    assert not second.errors, [e.message for e in second.errors]
    assert not second.session.modified  # showing the saved guide changes nothing
    guide = guide_entry(second)
    kept = guide.parameters["guide_report"]
    assert kept == json.loads(json.dumps(kept)) and kept["volume_mm3"] == report["volume_mm3"]
    assert report_rows(reopened.report_tree) == rows  # the same report, shown at once
    # the clearance colours are measured again: one value per vertex, the bone's distance
    view = second.views.view_3d()
    values = view.model_scalars(guide.model_id)
    assert values is not None and len(values) == guide.mesh.n_vertices
    bone_mesh = second.session.models[bone].mesh
    sample = np.random.default_rng(3).choice(guide.mesh.n_vertices, 150, replace=False)
    expected = _unsigned_distance(bone_mesh, guide.mesh.vertices[sample])
    near = expected < 5.0
    assert near.sum() > 20
    assert np.allclose(np.abs(values[sample][near]), expected[near], atol=1e-3)
    # and the same signed values as when the guide was built (the saved vertex order)
    assert len(built_clearance) == len(values)
    close = np.abs(built_clearance) < 5.0
    assert np.allclose(values[close], built_clearance[close], atol=0.01)
    assert view.model_actor(guide.model_id).GetMapper().GetScalarRange() == (0.0, 0.5)
    # Export works without generating again
    assert reopened.export_button.isEnabled()
    target = tmp_path / "out" / "Reopened.stl"
    target.parent.mkdir()
    models = set(second.session.models)
    reopened.export(str(target))
    qtbot.waitUntil(lambda: bool(reopened.last_export), timeout=TIMEOUT_MS)
    written = trimesh.load(target, force="mesh")
    assert len(written.faces) == guide.mesh.n_faces
    saved_report = json.loads((tmp_path / "out" / "Reopened.report.json").read_text())
    assert saved_report["volume_mm3"] == pytest.approx(report["volume_mm3"])
    provenance = json.loads((tmp_path / "out" / "Reopened.provenance.json").read_text())
    recorded = provenance["mesh_parameters"]
    assert recorded["plan"]["thickness_mm"] == record["thickness_mm"]
    assert recorded["bone"]["name"] == "Bone model" and recorded["bone"]["mesh_sha256"]
    assert set(second.session.models) == models
    second.close()

    # the source images change: the case opens read-only; the guide is shown, not rebuilt
    changed = sorted((study / "series").iterdir())[3]
    data = bytearray(changed.read_bytes())
    data[-2] ^= 0x01
    changed.write_bytes(bytes(data))
    third = make_main_window()
    opened = open_project_and_wait(qtbot, third, path)
    assert opened.read_only and third.session.read_only
    locked = third.findChild(GuidePanel)
    qtbot.waitUntil(lambda: locked.restore_job is None, timeout=TIMEOUT_MS)
    assert report_rows(locked.report_tree) == rows
    models = {m: e.mesh for m, e in third.session.models.items()}
    planning = [o.to_dict() for o in third.session.planning.items]
    qtbot.mouseClick(locked.generate_button, Qt.MouseButton.LeftButton)
    assert locked.job is None and locked.status_label.text() == READ_ONLY_MESSAGE
    assert third.statusBar().currentMessage() == READ_ONLY_MESSAGE
    locked.thickness_spin.setValue(4.5)  # tried anyway: the saved plan stays
    locked.flush_plan()
    assert [o.to_dict() for o in third.session.planning.items] == planning
    # the model tools: every entry off with the reason, and refused when started anyway
    tools = third.findChild(ModelsPanel).model_tools
    tools.update_actions()
    for action in tools.actions.values():
        assert not action.isEnabled() and action.toolTip() == READ_ONLY_MESSAGE
    assert tools.open_dialog("offset") is None
    assert tools.run("offset", [bone], {"distance_mm": 1.0}) is None
    assert tools.move([bone], np.eye(4)) is None
    assert third.statusBar().currentMessage() == READ_ONLY_MESSAGE
    qtbot.wait(50)
    assert {m: e.mesh for m, e in third.session.models.items()} == models
    assert not third.errors


def test_see_the_contact_face_hides_the_bone_and_faces_the_seat(make_main_window, qtbot):
    window, panel, view = guide_window(make_main_window, qtbot)
    skull = bone_id(window)
    panel.region.set_sphere_center(CENTRE + np.array([0.0, -RADIUS, 0.0]), skull)
    panel.region.radius_spin.setValue(8.0)
    assert not panel.contact_check.isEnabled()  # no guide yet
    _generate(qtbot, panel)
    assert not window.errors and panel.contact_check.isEnabled()
    guide = guide_entry(window)
    camera = view.camera()
    before = (camera.GetPosition(), camera.GetFocalPoint(), camera.GetViewUp())
    # no insertion direction: along the inward normal of the bone inside the region (+P)
    panel.contact_check.setChecked(True)
    assert not view.model_actor(skull).GetVisibility()
    assert view.model_actor(guide.model_id).GetVisibility()
    assert window.session.models[skull].visible  # the case is unchanged, only the view
    assert float(view.view_direction() @ np.array([0.0, -1.0, 0.0])) > 0.999
    low, high = guide.mesh.vertices.min(axis=0), guide.mesh.vertices.max(axis=0)
    assert np.allclose(camera.GetFocalPoint(), (low + high) / 2, atol=1e-6)
    # the camera is on the bone's side of the guide: the (hidden) bone lies between them
    position, ahead = np.asarray(camera.GetPosition()), view.view_direction()
    focus = np.asarray(camera.GetFocalPoint())
    assert 0 < float((CENTRE - position) @ ahead) < float((focus - position) @ ahead)
    view.refresh()
    pixels = view.capture().astype(int)
    ratio = view.devicePixelRatioF()
    x, y = view.lps_to_display(guide.mesh.vertices[np.argmin(panel.result.clearance_mm)])
    seen = pixels[round(y * ratio), round(x * ratio)]
    assert np.abs(seen - pixels[2, 2]).max() > 30  # the guide is in sight, not background
    panel.contact_check.setChecked(False)
    assert view.model_actor(skull).GetVisibility()
    after = (camera.GetPosition(), camera.GetFocalPoint(), camera.GetViewUp())
    assert np.allclose(np.concatenate(after), np.concatenate(before))
    # with an insertion direction: the camera looks back against it
    tilted = np.array([0.3, 1.0, -0.2]) / np.linalg.norm([0.3, 1.0, -0.2])
    panel.direction_combo.set_saved(list(tilted))
    _generate(qtbot, panel)
    assert not window.errors
    panel.contact_check.setChecked(True)
    assert not view.model_actor(skull).GetVisibility()
    assert np.allclose(view.view_direction(), -tilted, atol=1e-6)
    panel.contact_check.setChecked(False)
    assert view.model_actor(skull).GetVisibility()
    # the plan removed while the contact face is shown: the bone comes back
    panel.contact_check.setChecked(True)
    assert not view.model_actor(skull).GetVisibility()
    window.session.planning.remove(panel.guide_id)
    assert view.model_actor(skull).GetVisibility() and not panel.contact_check.isChecked()
    assert not panel.contact_check.isEnabled()
