"""The view state: captured from the window, changed, applied again — the same views return."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.gui.conftest import BIG_BALL, SMALL_BALL, open_and_settle
from tests.gui.test_tools_support import wait_edits
from workstation.core.mesh import Mesh
from workstation.gui.view_state import apply_view_state, capture_view_state
from workstation.gui.views.camera_state import camera_state

pytestmark = pytest.mark.gui

VIEWS = ("axial", "coronal", "sagittal")


def ball(centre, radius) -> Mesh:
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    return Mesh(np.asarray(sphere.vertices) + np.asarray(centre), np.asarray(sphere.faces))


def assert_same(first, second, path="state") -> None:
    """Equal dicts/lists, floats within 1e-9."""
    if isinstance(first, dict):
        assert isinstance(second, dict) and set(first) == set(second), path
        for key in first:
            assert_same(first[key], second[key], f"{path}.{key}")
    elif isinstance(first, list | tuple):
        assert isinstance(second, list | tuple) and len(first) == len(second), path
        for index, (a, b) in enumerate(zip(first, second, strict=True)):
            assert_same(a, b, f"{path}[{index}]")
    elif isinstance(first, float) and not isinstance(first, bool):
        assert math.isclose(first, second, rel_tol=0, abs_tol=1e-9), (path, first, second)
    else:
        assert first == second, (path, first, second)


def prepared_window(qtbot, make_main_window, synthetic_ct):
    """A window with the synthetic CT, two segments and a model of each ball."""
    window = make_main_window()
    open_and_settle(qtbot, window, synthetic_ct)
    for name in ("Bone", "Lesion"):
        window.edits.submit({"op": "add_segment", "name": name})
    wait_edits(qtbot, window)
    window.session.add_model(ball(*BIG_BALL), name="Big")
    window.session.add_model(ball(*SMALL_BALL), name="Small")
    return window


def set_up_views(window) -> None:
    """A state far from the defaults: crosshair, window, segment, tool, cameras."""
    views, viewer = window.views, window.viewer
    viewer.set_crosshair([6.0, -4.0, 4.0])
    viewer.set_window(120.0, 900.0)
    lesion = window.session.editor.segmentation.by_name("Lesion")
    viewer.select_segment(lesion.segment_id)
    viewer.set_tool("distance")
    camera = views.view_3d().camera()
    camera.Azimuth(35.0)
    camera.Elevation(20.0)
    camera.OrthogonalizeViewUp()
    camera.Dolly(1.4)
    camera.SetViewAngle(25.0)
    axial, coronal = views.slice_view("axial"), views.slice_view("coronal")
    axial.zoom(1.7)
    axial.pan(12.0, -7.0)
    coronal.zoom(0.8)
    coronal.pan(-3.0, 5.5)
    views.refresh()


def change_everything(window) -> None:
    views, viewer = window.views, window.viewer
    viewer.set_layout("3d")
    viewer.set_crosshair([-10.0, 8.0, -12.0])
    viewer.set_window(40.0, 400.0)
    viewer.select_segment(None)
    viewer.set_tool("navigate")
    views.set_volume_rendering(True, "ct_soft_tissue")
    views.reset_views()
    views.slice_view("sagittal").zoom(2.5)
    views.view_3d().camera().SetParallelProjection(True)


def test_capture_change_apply_gives_the_same_views_and_3d_picture(
    qtbot, make_main_window, synthetic_ct
):
    window = prepared_window(qtbot, make_main_window, synthetic_ct)
    set_up_views(window)
    first = capture_view_state(window.context)
    picture_3d = window.views.view_3d().capture()
    pictures = {name: window.views.slice_view(name).capture() for name in VIEWS}

    # what was captured is what the window shows
    assert first["layout"] == "four" and first["tool"] == "distance"
    assert first["selected_segment"] == window.viewer.selected_segment is not None
    np.testing.assert_allclose(first["crosshair_lps"], [6.0, -4.0, 4.0])
    assert first["window"] == [120.0, 900.0]
    assert first["volume_rendering"]["enabled"] is False
    assert first["camera"]["view_angle"] == pytest.approx(25.0)
    assert first["camera"]["parallel_projection"] is False
    assert first["slice_views"]["axial"]["zoom"] == pytest.approx(1.7)
    assert first["slice_views"]["axial"]["pan"] == pytest.approx([12.0, -7.0])
    assert first["slice_views"]["coronal"]["zoom"] == pytest.approx(0.8)
    assert first["slice_views"]["sagittal"] == {"zoom": pytest.approx(1.0), "pan": [0.0, 0.0]}
    saved = json.loads(json.dumps(first))  # JSON-ready, as a project stores it

    change_everything(window)
    changed = capture_view_state(window.context)
    for key in ("layout", "crosshair_lps", "window", "tool", "camera", "volume_rendering"):
        assert changed[key] != first[key], key
    assert changed["slice_views"] != first["slice_views"]

    apply_view_state(window.context, saved)
    again = capture_view_state(window.context)
    assert_same(first, again)
    assert window.views.layout_name() == "four" and window.views.view_3d().isVisible()
    assert window.views.volume_rendering() == (False, first["volume_rendering"]["preset"])
    assert not window.display.volume_rendering_action.isChecked()
    # the same pictures: the 3D view pixel for pixel, the slice views too
    np.testing.assert_array_equal(window.views.view_3d().capture(), picture_3d)
    for name in VIEWS:
        np.testing.assert_array_equal(window.views.slice_view(name).capture(), pictures[name])
    window.set_tool("navigate")


def test_volume_rendering_is_restored_with_its_preset(qtbot, make_main_window, synthetic_ct):
    window = make_main_window()
    open_and_settle(qtbot, window, synthetic_ct)
    state = capture_view_state(window.context)
    assert state["volume_rendering"]["enabled"] is False
    state["volume_rendering"] = {"enabled": True, "preset": "ct_soft_tissue"}
    apply_view_state(window.context, state)
    assert window.views.volume_rendering() == (True, "ct_soft_tissue")
    # the View menu and the toolbar show it
    assert window.display.volume_rendering_action.isChecked()
    assert window.display.vr_preset_combo.currentData() == "ct_soft_tissue"
    assert_same(capture_view_state(window.context), state)
    state["volume_rendering"] = {"enabled": False, "preset": "ct_soft_tissue"}
    apply_view_state(window.context, state)
    assert window.views.volume_rendering()[0] is False
    assert not window.display.volume_rendering_action.isChecked()


def test_a_restored_camera_is_not_reset_by_models_shown_afterwards(
    qtbot, make_main_window, synthetic_ct
):
    window = prepared_window(qtbot, make_main_window, synthetic_ct)
    set_up_views(window)
    state = json.loads(json.dumps(capture_view_state(window.context)))
    # reopening: the volume again (the camera is reset), the view state, then the models
    window.session.set_volume(window.session.volume, window.session.stack)
    assert not window.views.view_3d().model_ids()
    assert camera_state(window.views.view_3d().camera()) != state["camera"]
    apply_view_state(window.context, state)
    window.session.add_model(ball(*BIG_BALL), name="Big")  # the first model frames itself
    window.session.add_model(ball(*SMALL_BALL), name="Small")  # otherwise
    window.views.refresh()
    assert_same(camera_state(window.views.view_3d().camera()), state["camera"])
    # the next volume frames its first model again
    window.session.set_volume(window.session.volume, window.session.stack)
    window.session.add_model(ball(*SMALL_BALL), name="Small")
    framed = camera_state(window.views.view_3d().camera())
    assert framed["focal_point"] == pytest.approx(list(SMALL_BALL[0]), abs=1.0)
    window.set_tool("navigate")


def test_missing_unknown_and_malformed_keys_are_ignored(qtbot, make_main_window, synthetic_ct):
    window = make_main_window()
    open_and_settle(qtbot, window, synthetic_ct)
    before = capture_view_state(window.context)
    apply_view_state(window.context, {})
    apply_view_state(
        window.context,
        {
            "layout": "nine",
            "crosshair_lps": [1.0, "x", 3.0],
            "window": [40.0],
            "selected_segment": "segment-99",
            "tool": "teleport",
            "camera": {"position": [1.0, 2.0], "focal_point": [0.0, 0.0, 0.0]},
            "volume_rendering": {"enabled": "yes"},
            "slice_views": {"axial": {"zoom": -2.0, "pan": [1.0]}, "oblique": {"zoom": 2.0}},
            "future_key": {"anything": 1},
        },
    )
    assert_same(capture_view_state(window.context), before)
    # a camera looking along its own view-up keeps its orientation, the rest applies
    camera = dict(before["camera"])
    camera["position"] = [0.0, 0.0, 500.0]
    camera["focal_point"] = [0.0, 0.0, 0.0]
    camera["view_up"] = [0.0, 0.0, 1.0]
    apply_view_state(window.context, {"camera": camera})
    applied = camera_state(window.views.view_3d().camera())
    assert applied["position"] == [0.0, 0.0, 500.0]
    assert np.linalg.norm(np.cross(applied["view_up"], [0.0, 0.0, 1.0])) > 0.5


def test_zoom_and_pan_of_a_single_large_view_return(qtbot, make_main_window, synthetic_ct):
    window = make_main_window()
    open_and_settle(qtbot, window, synthetic_ct)
    views = window.views
    window.viewer.set_layout("coronal")
    coronal = views.slice_view("coronal")
    coronal.zoom(2.2)
    coronal.pan(4.0, -9.0)
    views.refresh()
    first = capture_view_state(window.context)
    picture = coronal.capture()
    # the view is large at once (its fit, and so its zoom, depend on its size)
    assert picture.shape[1] > 0.8 * views.width() * views.devicePixelRatioF()
    window.viewer.set_layout("four")  # the coronal view is smaller, its fit changes
    views.reset_views()
    apply_view_state(window.context, json.loads(json.dumps(first)))
    assert_same(first, capture_view_state(window.context))
    assert coronal.capture().shape == picture.shape
    np.testing.assert_array_equal(coronal.capture(), picture)
