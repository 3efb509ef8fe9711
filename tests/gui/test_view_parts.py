"""The parts the 3D and slice views are built from, checked on their own (no window)."""

from __future__ import annotations

import numpy as np
import pytest
from vtkmodules.vtkRenderingCore import vtkRenderer, vtkRenderWindow

from workstation.core.display_presets import volume_rendering_preset
from workstation.core.mesh import Mesh
from workstation.core.volume import Volume
from workstation.gui.views.crosshair_lines import CrosshairLines
from workstation.gui.views.model_actors import ShownModel, mesh_to_polydata, model_actor
from workstation.gui.views.model_picking import ModelPicker, face_normal
from workstation.gui.views.model_scalars import ModelScalars, actor_scalars
from workstation.gui.views.planes import patient_plane
from workstation.gui.views.slice_camera import SliceCamera
from workstation.gui.views.slice_outlines import SliceOutlines
from workstation.gui.views.volume_rendering import VolumeRendering, volume_rendering_input


def tetrahedron() -> Mesh:
    """A closed tetrahedron, faces counter-clockwise seen from outside."""
    vertices = [(0.0, 0.0, 0.0), (10.0, 0.0, 0.0), (0.0, 10.0, 0.0), (0.0, 0.0, 10.0)]
    faces = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]
    return Mesh(np.array(vertices), np.array(faces))


def test_face_normal_follows_the_right_hand_rule():
    mesh = Mesh(
        np.array([(0.0, 0.0, 0.0), (2.0, 0.0, 0.0), (0.0, 3.0, 0.0), (4.0, 0.0, 0.0)]),
        np.array([(0, 1, 2), (0, 2, 1), (0, 1, 3)]),
    )
    np.testing.assert_allclose(face_normal(mesh, 0), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(face_normal(mesh, 1), [0.0, 0.0, -1.0])
    assert face_normal(mesh, 2) is None  # three points on a line
    assert face_normal(mesh, 3) is None  # no such face


def test_every_face_normal_of_a_closed_mesh_points_away_from_its_centre():
    mesh = tetrahedron()
    centre = mesh.vertices.mean(axis=0)
    for face in range(len(mesh.faces)):
        outward = mesh.vertices[mesh.faces[face]].mean(axis=0) - centre
        assert face_normal(mesh, face) @ outward > 0


def test_mesh_to_polydata_keeps_vertices_and_triangles():
    mesh = tetrahedron()
    polydata = mesh_to_polydata(mesh)
    assert polydata.GetNumberOfPoints() == 4 and polydata.GetNumberOfPolys() == 4
    for face in range(4):
        cell = polydata.GetCell(face)
        ids = [cell.GetPointId(k) for k in range(3)]
        assert ids == list(mesh.faces[face])
    np.testing.assert_allclose(polydata.GetPoint(3), mesh.vertices[3])


def test_picker_without_visible_models_picks_nothing():
    renderer = vtkRenderer()
    actor = model_actor(tetrahedron(), (1.0, 1.0, 1.0), 1.0, visible=False)
    assert ModelPicker().pick({"m": ShownModel(actor, tetrahedron())}, renderer, 5, 5) is None
    assert ModelPicker().pick({}, renderer, 5, 5) is None


def test_picker_locator_is_made_once_per_mesh_and_dropped_with_its_model():
    mesh = tetrahedron()
    first = ShownModel(model_actor(mesh, (1.0, 1.0, 1.0), 1.0, True), mesh)
    picker = ModelPicker()
    locator = picker.locator({"a": first}, "a")
    assert picker.locator({"a": first}, "a") is locator
    replaced = ShownModel(model_actor(mesh, (1.0, 1.0, 1.0), 1.0, True), mesh)
    assert picker.locator({"a": replaced}, "a") is not locator  # a new mesh, a new locator
    other = picker.locator({"b": replaced}, "b")
    assert picker.locator({"b": replaced}, "b") is other
    assert set(picker._locators) == {"b"}


def test_scalars_colour_a_model_and_the_bar_goes_with_it():
    renderer = vtkRenderer()
    mesh = tetrahedron()
    model = ShownModel(model_actor(mesh, (1.0, 1.0, 1.0), 1.0, True), mesh)
    scalars = ModelScalars(renderer)
    assert actor_scalars(model.actor) is None
    values = np.array([0.5, 1.0, 2.0, 3.5])
    scalars.set("m", model, values, (0.0, 4.0), title="distance mm")
    np.testing.assert_array_equal(actor_scalars(model.actor), values)
    assert scalars.bar is not None and scalars.bar.GetTitle() == "distance mm"
    assert renderer.GetViewProps().IsItemPresent(scalars.bar)
    assert model.actor.GetMapper().GetScalarRange() == (0.0, 4.0)
    with pytest.raises(ValueError):
        scalars.set("m", model, values[:3])
    with pytest.raises(KeyError):
        scalars.set("gone", None, values)
    bar = scalars.bar
    scalars.set("other", None, None)  # another model's plain colour keeps this bar
    assert scalars.bar is bar
    scalars.set("m", model, None)
    assert actor_scalars(model.actor) is None
    assert scalars.bar is None and scalars.bar_model is None
    assert not renderer.GetViewProps().IsItemPresent(bar)


def test_volume_rendering_input_is_a_strided_copy_on_the_same_grid():
    rng = np.random.default_rng(3)
    affine = np.array(
        [[0.0, 0.0, 0.7, -50.0], [0.0, 0.8, 0.1, 20.0], [2.5, 0.0, 0.0, -300.0], [0, 0, 0, 1]]
    )
    volume = Volume(rng.normal(size=(7, 5, 12)).astype(np.float32), affine)
    array, strided = volume_rendering_input(volume, max_side=4)
    steps = (2, 2, 3)  # ceil(7/4), ceil(5/4), ceil(12/4)
    np.testing.assert_array_equal(array, volume.array[::2, ::2, ::3])
    for index in [(0, 0, 0), (1, 2, 3), (3, 2, 1)]:
        original = np.array([i * s for i, s in zip(index, steps, strict=True)] + [1.0])
        np.testing.assert_allclose(strided @ [*index, 1.0], affine @ original)
    unchanged, same = volume_rendering_input(volume)
    np.testing.assert_array_equal(unchanged, volume.array)
    np.testing.assert_array_equal(same, affine)


def test_volume_rendering_keeps_its_preset_while_off():
    renderer = vtkRenderer()
    volume = Volume(np.zeros((4, 4, 4), dtype=np.int16), np.eye(4), units="HU")
    rendering = VolumeRendering(renderer)
    rendering.hide("ct_soft_tissue")
    assert rendering.actor is None and rendering.preset == "ct_soft_tissue"
    rendering.show(volume)  # the remembered preset, not the CT default
    assert rendering.actor is not None and rendering.preset == "ct_soft_tissue"
    assert renderer.GetVolumes().GetNumberOfItems() == 1
    rendering.remove()
    assert rendering.actor is None and renderer.GetVolumes().GetNumberOfItems() == 0
    fresh = VolumeRendering(renderer)
    fresh.show(volume)
    assert fresh.preset == "ct_bone"
    assert fresh.actor.GetProperty().GetShade() == int(volume_rendering_preset("ct_bone").shade)


def test_slice_outlines_follow_their_corners_and_visibility():
    renderer = vtkRenderer()
    outlines = SliceOutlines(renderer)
    square = np.array([(0.0, 0.0, 5.0), (10.0, 0.0, 5.0), (10.0, 10.0, 5.0), (0.0, 10.0, 5.0)])
    outlines.set({"axial": square}, {"axial": (1.0, 0.0, 0.0)})
    assert outlines.names() == ["axial"]
    points, _, actor = outlines._outlines["axial"]
    np.testing.assert_allclose([points.GetPoint(k) for k in range(4)], square)
    outlines.set({"axial": square + 1.0}, {})
    np.testing.assert_allclose(points.GetPoint(2), (11.0, 11.0, 6.0))
    outlines.set_visible(False)
    assert not actor.GetVisibility() and not outlines.visible
    outlines.set({"coronal": square}, {})
    assert not outlines._outlines["coronal"][2].GetVisibility()  # made hidden
    outlines.clear()
    assert outlines.names() == [] and renderer.GetActors().GetNumberOfItems() == 0


def test_crosshair_lines_lie_in_the_other_views_planes():
    renderer = vtkRenderer()
    colors = {"coronal": (0.0, 1.0, 0.0), "sagittal": (0.0, 0.0, 1.0)}
    lines = CrosshairLines(renderer, colors)
    axial = patient_plane("axial")
    others = {name: patient_plane(name) for name in colors}
    lines.rebuild(others)
    origin = np.array([3.0, -2.0, 7.0])
    crosshair = np.array([13.0, 4.0, 7.0])
    u, v, _ = axial.to_plane(origin, crosshair)
    lines.place(axial, u, v, half=50.0)
    shown = lines.shown()
    assert len(shown) == 2
    for (name, plane), ends in zip(others.items(), shown, strict=True):
        for end in ends:
            lps = axial.to_lps(origin, end[0], end[1], 0.0)
            assert (lps - crosshair) @ plane.normal == pytest.approx(0.0, abs=1e-9), name
        assert np.linalg.norm(ends[1] - ends[0]) == pytest.approx(100.0)
    lines.rebuild({"axial": axial})  # a parallel view cuts nowhere
    lines.place(axial, u, v, half=50.0)
    assert lines.shown() == []
    assert renderer.GetActors().GetNumberOfItems() == 1


class _Widget:
    """What SliceCamera asks of its widget, with a real (never shown) render window."""

    def __init__(self, renderer: vtkRenderer, size: tuple[int, int], ratio: float) -> None:
        self.window = vtkRenderWindow()
        self.window.SetOffScreenRendering(1)
        self.window.SetSize(*size)
        self.window.AddRenderer(renderer)
        self.ratio = ratio

    def GetRenderWindow(self) -> vtkRenderWindow:
        return self.window

    def devicePixelRatioF(self) -> float:
        return self.ratio

    def width(self) -> int:
        return 50

    def height(self) -> int:
        return 40


def test_slice_camera_fits_zooms_pans_and_maps_pixels():
    renderer = vtkRenderer()
    widget = _Widget(renderer, (200, 100), ratio=2.0)
    camera = SliceCamera(renderer, widget)
    assert camera.camera.GetParallelProjection()
    centre, scale = camera.fitted(np.array([-10.0, -5.0]), np.array([1.0, 2.0]), np.array([21, 6]))
    # 21 x 12 mm centred on (0, 0); aspect 2: the height (12 / 2) wins over 21 / 2 / 2
    np.testing.assert_allclose(centre, [0.0, 0.0])
    assert scale == pytest.approx(1.05 * 6.0)
    camera.fit(np.array([4.0, -3.0]), 10.0)
    assert camera.mm_per_pixel() == pytest.approx(2.0 * 10.0 / 100)
    step = camera.mm_per_pixel() * widget.ratio  # Qt pixels are 2 device pixels
    a, b = camera.display_to_plane(30.0, 20.0), camera.display_to_plane(35.0, 20.0)
    np.testing.assert_allclose(b - a, [5 * step, 0.0], atol=1e-9)
    c = camera.display_to_plane(30.0, 23.0)  # y down on screen is v down on the plane
    np.testing.assert_allclose(c - a, [0.0, -3 * step], atol=1e-9)
    assert camera.plane_to_display(*a) == pytest.approx((30.0, 20.0))
    camera.zoom(2.0)
    assert camera.camera.GetParallelScale() == pytest.approx(5.0)
    camera.pan(1.5, -2.0)
    np.testing.assert_allclose(camera.camera.GetFocalPoint(), (2.5, -1.0, 0.0))
    assert camera.camera.GetPosition()[:2] == pytest.approx((2.5, -1.0))
    widget.window.SetSize(1, 1)  # before the first render: the widget's size
    assert camera.viewport_size() == (100, 80)
