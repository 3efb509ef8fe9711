"""Label overlay, 3D models, volume rendering and the layout/screenshot API."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.test_views_helpers import (
    LAYOUT_SIZE,
    centred_affine,
    close_layout,
    make_layout,
    marker_volume,
)
from workstation.core import geometry
from workstation.core.mesh import Mesh
from workstation.core.volume import LabelMap, Volume

pytestmark = pytest.mark.gui

SHAPE = (30, 48, 64)
SPACING = (1.0, 1.0, 1.5)
AXIAL = centred_affine((1, 0, 0), (0, 1, 0), SPACING, SHAPE)


@pytest.fixture
def layout(qtbot):
    widget = make_layout(qtbot)
    yield widget
    close_layout(widget)


def _box_label(slices, rows, cols) -> LabelMap:
    array = np.zeros(SHAPE, dtype=np.uint8)
    array[slices, rows, cols] = 1
    return LabelMap(array, AXIAL)


def _uniform_volume() -> Volume:
    return Volume(np.full(SHAPE, 40, dtype=np.int16), AXIAL, units="HU")


def test_label_overlay_colours_exactly_the_labelled_pixels(layout):
    layout.set_volume(_uniform_volume())
    axial = layout.slice_view("axial")
    plain = axial.capture().astype(int)
    label = _box_label(slice(None), slice(10, 30), slice(20, 50))
    layout.set_label_overlay(label, color=(0.0, 1.0, 0.0), opacity=0.5)
    tinted = axial.capture().astype(int)
    changed = np.any(np.abs(tinted - plain) > 20, axis=-1)
    # expected screen rectangle: outer edges of the labelled voxels
    corners = geometry.index_to_lps(AXIAL, [[15, 9.5, 19.5], [15, 29.5, 49.5]])
    (x0, y0), (x1, y1) = (axial.lps_to_display(p) for p in corners)
    rows, cols = np.nonzero(changed)
    assert abs(cols.min() - min(x0, x1)) <= 2 and abs(cols.max() - max(x0, x1)) <= 2
    assert abs(rows.min() - min(y0, y1)) <= 2 and abs(rows.max() - max(y0, y1)) <= 2
    # 50 % green over grey 128: red and blue halve, green rises
    inside = tinted[round((y0 + y1) / 2) + 7, round((x0 + x1) / 2) + 7]
    grey = plain[round((y0 + y1) / 2) + 7, round((x0 + x1) / 2) + 7]
    assert inside[1] == pytest.approx(0.5 * grey[1] + 127.5, abs=4)
    assert inside[0] == pytest.approx(0.5 * grey[0], abs=4)
    # coronal and sagittal show it too
    for name in ("coronal", "sagittal"):
        assert np.any(layout.slice_view(name).capture()[..., 1] > 160)
    layout.set_label_overlay(None)
    assert np.abs(axial.capture().astype(int) - plain).max() <= 1


def test_live_overlay_updates_in_place(layout):
    layout.set_volume(_uniform_volume())
    axial = layout.slice_view("axial")
    small = _box_label(slice(None), slice(20, 24), slice(30, 34))
    layout.set_label_overlay(small, color=(1.0, 0.0, 0.0), opacity=0.6)
    image = layout._label_image
    area_small = (axial.capture()[..., 0].astype(int) - axial.capture()[..., 1] > 40).sum()
    for grow in range(1, 6):
        bigger = _box_label(slice(None), slice(20 - 2 * grow, 24 + 2 * grow), slice(30, 34))
        layout.set_label_overlay(bigger, color=(1.0, 0.0, 0.0), opacity=0.6)
        assert layout._label_image is image  # same VTK image, new voxels
    pixels = axial.capture().astype(int)
    area_big = (pixels[..., 0] - pixels[..., 1] > 40).sum()
    assert area_big == pytest.approx(area_small * 6, rel=0.25)
    # in-place edit of the same array is picked up as well
    bigger.array[:] = 0
    layout.set_label_overlay(bigger, color=(1.0, 0.0, 0.0), opacity=0.6)
    pixels = axial.capture().astype(int)
    assert (pixels[..., 0] - pixels[..., 1] > 40).sum() == 0
    with pytest.raises(ValueError, match="shape"):
        layout.set_label_overlay(LabelMap(np.zeros((2, 2, 2), np.uint8), AXIAL))


def _sphere(centre, radius) -> Mesh:
    """A UV sphere with outward faces."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    return Mesh(np.asarray(sphere.vertices) + centre, np.asarray(sphere.faces))


def test_model_appears_at_its_projected_position_in_3d(layout):
    layout.set_volume(_uniform_volume())
    view = layout.view_3d()
    background = view.capture().astype(int)
    # orientation cube in the lower-left corner, its anterior face ('A', green) to the viewer
    height, width = background.shape[:2]
    corner = background[int(0.8 * height) :, : int(0.2 * width)]
    assert np.count_nonzero(corner[..., 1] > corner[..., 0] + 60) > 20
    centre = np.array([20.0, 0.0, 8.0])  # patient left: seen from the front, screen right
    layout.add_model("bone", _sphere(centre, 6.0), (0.95, 0.9, 0.2))
    # the first model is framed: centred and filling much of the view
    lit = np.abs(view.capture().astype(int) - background).sum(axis=2) > 60
    rows, cols = np.nonzero(lit[: int(0.75 * height)])
    assert abs(cols.mean() - width / 2) < 0.05 * width
    assert cols.max() - cols.min() > 0.3 * min(width, height)
    # Reset camera frames the whole scan again
    layout.reset_camera()
    pixels = view.capture().astype(int)
    x, y = view.lps_to_display(centre)
    assert x > view.width() / 2 + 10  # left of the patient on the right of the screen
    spot = pixels[round(y) - 2 : round(y) + 3, round(x) - 2 : round(x) + 3].reshape(-1, 3)
    assert np.all(np.abs(spot - background[round(y), round(x)]).sum(axis=1) > 60)
    assert np.all(spot[:, 0] > spot[:, 2] + 40)  # yellowish, lit
    changed = np.any(np.abs(pixels - background) > 30, axis=-1)
    rows, cols = np.nonzero(changed)
    assert abs(cols.mean() - x) < 4 and abs(rows.mean() - y) < 4
    layout.update_model("bone", visible=False)
    assert np.abs(view.capture().astype(int) - background).max() <= 2
    layout.update_model("bone", visible=True, color=(0.2, 0.3, 1.0))
    recoloured = view.capture().astype(int)[round(y), round(x)]
    assert recoloured[2] > recoloured[0] + 40
    layout.remove_model("bone")
    assert view.model_ids() == []


def test_volume_rendering_presets_show_bone(layout):
    affine = centred_affine((1, 0, 0), (0, 1, 0), SPACING, SHAPE)
    volume = marker_volume(SHAPE, affine, [((0.0, 0.0, 0.0), 12.0, 1200)], body=-1000)
    layout.set_volume(volume)
    view = layout.view_3d()
    empty = view.capture().astype(int)
    for preset in ("ct_bone", "ct_soft_tissue", "mr_default"):
        layout.set_volume_rendering(True, preset)
        assert view.volume_rendering() == (True, preset)
        pixels = view.capture().astype(int)
        x, y = view.lps_to_display(np.zeros(3))
        assert np.abs(pixels[round(y), round(x)] - empty[round(y), round(x)]).sum() > 60, preset
    layout.set_volume_rendering(False)
    assert np.abs(view.capture().astype(int) - empty).max() <= 2


def test_layouts_and_render_to_image(layout, qtbot):
    layout.set_volume(marker_volume(SHAPE, AXIAL, [((10.0, -8.0, 0.0), 5.0, 1000)]))
    image = layout.render_to_image()
    assert image.shape == (LAYOUT_SIZE[1], LAYOUT_SIZE[0], 3)
    # every quadrant holds its view's picture
    axial = layout.slice_view("axial")
    top_left = axial.mapTo(layout, axial.rect().topLeft())
    piece = image[top_left.y() : top_left.y() + axial.height(), top_left.x() :][:, : axial.width()]
    assert np.array_equal(piece, axial.capture())
    view_3d = layout.view_3d()
    corner_3d = view_3d.mapTo(layout, view_3d.rect().topLeft())
    assert corner_3d.x() > LAYOUT_SIZE[0] / 3 and corner_3d.y() < 5  # Slicer four-up: top right
    for name in ("axial", "coronal", "sagittal", "3d"):
        layout.set_layout(name)
        qtbot.wait(20)
        assert layout.layout_name() == name
        single = layout.render_to_image()
        view = layout.view_3d() if name == "3d" else layout.slice_view(name)
        assert view.isVisible() and view.width() > LAYOUT_SIZE[0] - 10
        assert np.array_equal(single[: view.height(), : view.width()], view.capture())
    layout.set_layout("four")
    assert all(layout.slice_view(n).isVisible() for n in ("axial", "coronal", "sagittal"))
    with pytest.raises(ValueError):
        layout.set_layout("five")


def test_set_volume_resets_crosshair_and_window_and_clear_empties(layout):
    volume = _uniform_volume()
    volume.window = (300.0, 1500.0)
    layout.set_volume(volume)
    low, high = volume.bounds()
    assert np.allclose(layout.crosshair_lps(), (low + high) / 2)
    assert layout.window_level() == (300.0, 1500.0)
    mr = Volume(np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE), AXIAL, units="raw")
    layout.set_volume(mr)
    center, width = layout.window_level()
    assert 0 < center < mr.array.max() and width > 0.5 * mr.array.max()
    layout.clear()
    assert layout.volume() is None
    assert np.abs(layout.slice_view("axial").capture().astype(int)).max() < 250
    assert np.count_nonzero(layout.slice_view("axial").capture() > 100) < 2000  # letters gone


def test_single_slice_volume_and_reuse_after_clear(layout):
    affine = centred_affine((1, 0, 0), (0, 1, 0), (0.5, 0.5, 3.0), (1, 20, 30))
    flat = Volume(np.full((1, 20, 30), 1000, dtype=np.int16), affine, units="HU")
    layout.set_volume(flat)
    axial = layout.slice_view("axial")
    assert axial.slice_count() == 1 and layout.slice_view("coronal").slice_count() == 20
    assert np.all(axial.capture()[axial.height() // 3, axial.width() // 3] >= 250)
    layout.scroll("axial", 5)
    assert axial.slice_index() == 0
    layout.clear()
    layout.set_volume(_uniform_volume())
    assert axial.slice_count() == SHAPE[0]
    grey = axial.capture()[axial.height() // 3, axial.width() // 3].astype(int)
    assert np.all(np.abs(grey - 128) <= 2)


def _red_rows(pixels: np.ndarray) -> np.ndarray:
    """Rows of the axial view's red outline in a 3D picture (orientation cube corner cut)."""
    height, width = pixels.shape[:2]
    red = (pixels[..., 0] > 170) & (pixels[..., 1] < 130) & (pixels[..., 2] < 130)
    red[int(0.75 * height) :, : int(0.3 * width)] = False
    return np.nonzero(red)[0]


def test_3d_view_outlines_where_the_slices_cut(layout, qtbot):
    layout.set_volume(marker_volume(SHAPE, AXIAL, [((10.0, -8.0, 0.0), 5.0, 1000)]))
    view = layout.view_3d()
    assert sorted(view.slice_outline_names()) == ["axial", "coronal", "sagittal"]
    axial = layout.slice_view("axial")
    corners = axial.slice_corners_lps()
    # the axial rectangle spans the volume's columns and rows at the shown slice height
    last = [n - 1 for n in SHAPE]
    low, high = geometry.index_to_lps(AXIAL, [[0, 0, 0], last])
    np.testing.assert_allclose(corners[:, :2].min(axis=0), low[:2], atol=1e-6)
    np.testing.assert_allclose(corners[:, :2].max(axis=0), high[:2], atol=1e-6)
    np.testing.assert_allclose(corners[:, 2], axial.slice_position_lps()[2], atol=1e-6)
    rows_before = _red_rows(view.capture().astype(int))
    assert rows_before.size > 50, "the axial outline must be drawn in the 3D view"
    # moving the crosshair up (superior) moves the axial rectangle up on the screen
    point = layout.crosshair_lps() + np.array([0.0, 0.0, 15.0])
    layout.set_crosshair_lps(point)
    assert layout._view_3d_timer.isActive()  # the layout redraws the 3D view shortly
    rows_after = _red_rows(view.capture().astype(int))
    _, y_before = view.lps_to_display(np.array([0.0, 0.0, point[2] - 15.0]))
    _, y_after = view.lps_to_display(point)
    assert y_after < y_before - 10
    assert rows_after.mean() == pytest.approx(rows_before.mean() + (y_after - y_before), abs=4)
    qtbot.waitUntil(lambda: not layout._view_3d_timer.isActive(), timeout=2000)
    # they can be switched off (View menu) and on again
    layout.set_slice_outlines_visible(False)
    assert _red_rows(view.capture().astype(int)).size == 0
    layout.set_slice_outlines_visible(True)
    assert _red_rows(view.capture().astype(int)).size == rows_after.size
