"""Planning in the 3D view: picking a point on a model, placing and drawing objects."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.test_views_helpers import centred_affine, click, close_layout, drag, make_layout
from workstation.core.mesh import Mesh
from workstation.core.volume import Volume

pytestmark = pytest.mark.gui

SHAPE = (30, 48, 64)
AXIAL = centred_affine((1, 0, 0), (0, 1, 0), (1.0, 1.0, 1.5), SHAPE)
CENTRE = np.array([5.0, -3.0, 2.0])
RADIUS = 10.0
#: How far a picked point may lie off its triangle (the picker's ray-triangle precision).
PICK_PRECISION_MM = 1e-3


def sphere_mesh(centre=CENTRE, radius=RADIUS, subdivisions=4) -> Mesh:
    """An icosphere with outward counter-clockwise faces."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return Mesh(np.asarray(sphere.vertices) + centre, np.asarray(sphere.faces), name="Ball")


def mesh_tolerance(mesh: Mesh, centre, radius) -> float:
    """How far a point on the triangles can lie inside the sphere (chord sag)."""
    edges = mesh.vertices[mesh.faces[:, 1]] - mesh.vertices[mesh.faces[:, 0]]
    longest = float(np.linalg.norm(edges, axis=1).max())
    return radius - np.sqrt(radius**2 - (longest / np.sqrt(3)) ** 2) + PICK_PRECISION_MM


@pytest.fixture
def layout(qtbot):
    widget = make_layout(qtbot)
    widget.set_volume(Volume(np.full(SHAPE, 40, dtype=np.int16), AXIAL, units="HU"))
    yield widget
    close_layout(widget)


def test_pick_model_point_lands_on_the_sphere_with_an_outward_normal(layout):
    mesh = sphere_mesh()
    layout.add_model("ball", mesh, (0.9, 0.9, 0.8))
    view = layout.view_3d()
    view.refresh()
    tolerance = mesh_tolerance(mesh, CENTRE, RADIUS)
    x0, y0 = view.lps_to_display(CENTRE)
    hits = 0
    for dx, dy in [(0, 0), (15, 0), (-20, 10), (5, -25), (30, 30)]:
        picked = view.pick_model_point(x0 + dx, y0 + dy)
        assert picked is not None, (dx, dy)
        model_id, point, normal = picked
        assert model_id == "ball"
        distance = float(np.linalg.norm(point - CENTRE))
        assert RADIUS - tolerance <= distance <= RADIUS + PICK_PRECISION_MM
        radial = (point - CENTRE) / distance
        assert np.linalg.norm(normal) == pytest.approx(1.0)
        assert float(normal @ radial) > 0.98  # outward, along the radius
        # the front of the ball, towards the camera (the default camera looks from anterior)
        assert float(normal @ -view.view_direction()) > 0
        # where it projects back is where we clicked
        assert np.allclose(view.lps_to_display(point), (x0 + dx, y0 + dy), atol=1.0)
        hits += 1
    assert hits == 5
    # planning graphics in front of the ball are never picked, a model in front is
    view.planning_drawing.planning.add("plane", [tuple(CENTRE - [0, 15, 0])], normal_lps=(0, 1, 0))
    view.refresh()
    assert view.pick_model_point(x0 + 15, y0)[0] == "ball"
    front = sphere_mesh(CENTRE - np.array([0.0, 20.0, 0.0]), 3.0, subdivisions=3)
    layout.add_model("front", front, (0.2, 0.9, 0.2))
    view.refresh()
    model_id, point, normal = view.pick_model_point(x0, y0)
    assert model_id == "front" and normal[1] < -0.9  # facing the camera (anterior, -y)
    assert np.linalg.norm(point - (CENTRE - [0, 20, 0])) == pytest.approx(3.0, abs=0.1)
    layout.remove_model("front")
    # off the ball: nothing; a hidden model is never picked
    x_far, _ = view.lps_to_display(CENTRE + np.array([3 * RADIUS, 0, 0]))
    assert view.pick_model_point(x_far, y0) is None
    layout.update_model("ball", visible=False)
    assert view.pick_model_point(x0, y0) is None


def on_sphere(point, mesh) -> bool:
    distance = float(np.linalg.norm(np.asarray(point) - CENTRE))
    tolerance = mesh_tolerance(mesh, CENTRE, RADIUS)
    return RADIUS - tolerance <= distance <= RADIUS + PICK_PRECISION_MM


def test_tools_place_points_lines_and_planes_on_the_model(qtbot, layout):
    mesh = sphere_mesh()
    layout.add_model("ball", mesh, (0.9, 0.9, 0.8))
    view = layout.view_3d()
    view.refresh()
    planning = view.planning_drawing.planning
    x0, y0 = view.lps_to_display(CENTRE)

    view._follow_tool("plan_point")
    click(qtbot, view, x0 + 10, y0 - 5)
    click(qtbot, view, x0 + 300, y0)  # off the model: nothing
    assert [obj.kind for obj in planning] == ["point"]
    point = planning.items[0]
    assert on_sphere(point.points_lps[0], mesh)
    np.testing.assert_allclose(
        view.lps_to_display(np.array(point.points_lps[0])),
        (round(x0 + 10), round(y0 - 5)),
        atol=1.0,
    )
    (marker,) = view.planning_drawing.actors(point.object_id)
    np.testing.assert_allclose(marker.GetCenter(), point.points_lps[0], atol=0.1)

    view._follow_tool("plan_line")
    click(qtbot, view, x0 - 20, y0)
    click(qtbot, view, x0 + 25, y0 + 15)
    line = planning.of_kind("line")[0]
    assert all(on_sphere(p, mesh) for p in line.points_lps)
    assert len(view.planning_drawing.actors(line.object_id)) == 3  # tube and two ends

    view._follow_tool("plan_plane")
    picks = [(x0 - 25, y0 - 20), (x0 + 25, y0 - 20), (x0, y0 + 25)]
    for x, y in picks:
        click(qtbot, view, x, y)
    plane = planning.of_kind("plane")[0]
    origin, normal = np.array(plane.points_lps[0]), np.array(plane.normal_lps)
    assert on_sphere(origin, mesh)
    picked = [view.pick_model_point(round(x), round(y))[1] for x, y in picks]
    np.testing.assert_allclose(origin, picked[0], atol=1e-6)
    for other in picked[1:]:
        assert abs(normal @ (other - origin)) < 1e-6  # all three picks lie in the plane
    disc = view.planning_drawing.actors(plane.object_id)[0]
    bounds = np.array(disc.GetBounds()).reshape(3, 2)
    assert np.ptp(bounds, axis=1).max() == pytest.approx(2 * 40.0, rel=0.01)


def test_dragging_a_point_in_3d_slides_it_over_the_model(qtbot, layout):
    mesh = sphere_mesh()
    layout.add_model("ball", mesh, (0.9, 0.9, 0.8))
    view = layout.view_3d()
    view.refresh()
    planning = view.planning_drawing.planning
    x0, y0 = view.lps_to_display(CENTRE)
    start = view.pick_model_point(x0 - 15, y0 - 10)[1]
    point = planning.add("point", [tuple(start)])
    line = planning.add("line", [tuple(view.pick_model_point(x0 + 20, y0 + 20)[1]), tuple(CENTRE)])
    view._follow_tool("plan_point")
    begin = view.lps_to_display(start)
    end = (begin[0] + 30, begin[1] + 25)
    drag(qtbot, view, begin, end)
    moved = planning.by_id(point.object_id).points_lps[0]
    assert on_sphere(moved, mesh)
    np.testing.assert_allclose(
        moved, view.pick_model_point(round(end[0]), round(end[1]))[1], atol=1e-6
    )
    assert len(planning) == 2  # the press dragged; it placed no new point
    # a line's entry slides too; its target (inside the ball) stays
    view._follow_tool("plan_line")
    begin = view.lps_to_display(np.array(line.points_lps[0]))
    drag(qtbot, view, begin, (begin[0] - 40, begin[1]))
    moved_line = planning.by_id(line.object_id)
    assert on_sphere(moved_line.points_lps[0], mesh)
    assert moved_line.points_lps[0] != line.points_lps[0]
    assert moved_line.points_lps[1] == line.points_lps[1]
    assert len(planning) == 2


def test_the_selected_object_is_highlighted_in_3d(qtbot, main_window):
    view = main_window.views.view_3d()
    planning = main_window.session.planning
    point = planning.add("point", [tuple(CENTRE)])
    other = planning.add("point", [tuple(CENTRE + 20)])
    view.refresh()

    def radius(obj):
        (actor,) = view.planning_drawing.actors(obj.object_id)
        return np.ptp(np.array(actor.GetBounds()).reshape(3, 2), axis=1).max() / 2

    plain = radius(point)
    main_window.viewer.select_object(point.object_id)
    assert radius(point) == pytest.approx(1.5 * plain, rel=0.05)
    assert radius(other) == pytest.approx(plain, rel=0.05)
    (actor,) = view.planning_drawing.actors(point.object_id)
    assert actor.GetProperty().GetColor()[2] > point.color[2] + 0.2  # brighter
    planning.remove(point.object_id)
    assert view.planning_drawing.actors(point.object_id) == []
