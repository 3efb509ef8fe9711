"""The report's pictures: slice views show a known cube where and as large as it is in LPS,
on straight and sheared grids, in the window's orientation; the 3D views show each model's
colour where it projects."""

from __future__ import annotations

import numpy as np
import pytest

from tests.io.report_cases import box_mesh
from workstation.core import geometry
from workstation.core.case_report_content import ReportContent, ReportModel
from workstation.core.mesh import Mesh
from workstation.core.provenance import SeriesIdentity
from workstation.core.segmentation import Segmentation
from workstation.core.volume import Volume
from workstation.processing import report_images
from workstation.processing.report_images import (
    model_pictures,
    picture_centre,
    report_pictures,
    slice_pictures,
)

#: The cube: LPS box (mm) and the volume's intensity inside and outside it.
CUBE_LOW = np.array([10.0, -30.0, 40.0])
CUBE_HIGH = np.array([30.0, -10.0, 70.0])
INSIDE, OUTSIDE = 1000.0, -1000.0
SHAPE = (50, 60, 70)  # slices, rows, columns


def _affine(shear: float = 0.0) -> np.ndarray:
    """Columns along +x every 1 mm, rows along +y every 0.8 mm, slices along +z every 2 mm
    (with ``shear`` mm of +y per slice: a gantry-tilt grid)."""
    affine = np.eye(4)
    affine[:3, 2] = (1.0, 0.0, 0.0)
    affine[:3, 1] = (0.0, 0.8, 0.0)
    affine[:3, 0] = (0.0, shear, 2.0)
    affine[:3, 3] = (-20.0, -50.0 - shear * SHAPE[0] / 2, 0.0)
    return affine


def _cube_volume(shear: float = 0.0) -> Volume:
    affine = _affine(shear)
    indices = np.indices(SHAPE).reshape(3, -1).T
    lps = geometry.index_to_lps(affine, indices).reshape(*SHAPE, 3)
    inside = np.all((lps >= CUBE_LOW) & (lps <= CUBE_HIGH), axis=-1)
    return Volume(np.where(inside, INSIDE, OUTSIDE).astype(np.float32), affine, units="HU")


def _content(volume: Volume | None, models: list[ReportModel] | None = None,
             segmentation: Segmentation | None = None) -> ReportContent:
    return ReportContent("Test", SeriesIdentity(patient_name="Test"), volume=volume,
                         segmentation=segmentation, models=models or [])


def _bright_box(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(row, col) min and max of the bright pixels and how much of their box they fill."""
    bright = np.all(image > 245, axis=-1)  # white: not the yellow letters, the grey scale bar
    rows, cols = np.nonzero(bright)
    low, high = np.array([rows.min(), cols.min()]), np.array([rows.max(), cols.max()])
    fill = bright.sum() / np.prod(high - low + 1)
    return low, high, float(fill)


def _expected_pixels(volume: Volume, picture, centre: np.ndarray):
    """Where the cube's edges must fall in a picture: columns along ``right``, rows down
    along ``-up``, the picture centred on the volume's projection."""
    right, up = (np.array(v) for v in picture.axes)
    corners = geometry.corner_points(volume.shape, volume.affine)
    mid_u = (np.min(corners @ right) + np.max(corners @ right)) / 2.0
    mid_v = (np.min(corners @ up) + np.max(corners @ up)) / 2.0
    rows, cols = picture.image.shape[:2]
    u = sorted([CUBE_LOW @ right, CUBE_HIGH @ right])
    v = sorted([CUBE_LOW @ up, CUBE_HIGH @ up])
    col_edges = [(value - mid_u) / picture.pixel_mm + cols / 2.0 for value in u]
    row_edges = [rows / 2.0 - (value - mid_v) / picture.pixel_mm for value in v[::-1]]
    return np.array(row_edges), np.array(col_edges)


@pytest.mark.parametrize("shear", [0.0, 0.35])
def test_slice_views_show_the_cube_at_its_place_and_size(shear):
    volume = _cube_volume(shear)
    model = ReportModel("Cube", box_mesh(CUBE_LOW, CUBE_HIGH))
    content = _content(volume, [model])
    centre = picture_centre(content)
    assert np.allclose(centre, (CUBE_LOW + CUBE_HIGH) / 2.0)
    pictures = slice_pictures(content)
    assert [p.title for p in pictures] == ["Axial", "Coronal", "Sagittal"]
    for picture in pictures:
        low, high, fill = _bright_box(picture.image)
        rows, cols = _expected_pixels(volume, picture, centre)
        # edges within a voxel (2 mm slices, nearest grey level) plus a pixel
        tolerance = 2.5 / picture.pixel_mm + 1
        assert abs(low[0] - rows[0]) < tolerance and abs(high[0] - rows[1]) < tolerance
        assert abs(low[1] - cols[0]) < tolerance and abs(high[1] - cols[1]) < tolerance
        # an upright rectangle, also on the sheared grid (no parallelogram)
        assert fill > 0.9, (picture.title, fill)


def test_slice_views_follow_the_windows_orientation():
    volume = _cube_volume()
    pictures = {p.title: p for p in slice_pictures(_content(volume, [ReportModel(
        "Cube", box_mesh(CUBE_LOW, CUBE_HIGH))]))}
    # axial from the feet: patient left (+x) right, anterior (-y) up
    assert pictures["Axial"].axes == ((1.0, 0.0, 0.0), (0.0, -1.0, 0.0))
    # coronal from the front: left right, superior up
    assert pictures["Coronal"].axes == ((1.0, 0.0, 0.0), (0.0, 0.0, 1.0))
    # sagittal from the patient's left: posterior right (anterior left), superior up
    assert pictures["Sagittal"].axes == ((0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    # the cube lies on the patient's left of the volume's middle (x 20 vs 14.5): right half
    axial = pictures["Axial"].image
    low, high, _ = _bright_box(axial)
    assert (low[1] + high[1]) / 2 > axial.shape[1] / 2 + 5
    # and posterior of it (y -20 vs -26.4): lower half, anterior being up
    assert (low[0] + high[0]) / 2 > axial.shape[0] / 2 + 5
    # sagittal: posterior on the right, superior (z 55 vs 49) up
    sagittal = pictures["Sagittal"].image
    low, high, _ = _bright_box(sagittal)
    assert (low[1] + high[1]) / 2 > sagittal.shape[1] / 2 + 5
    assert (low[0] + high[0]) / 2 < sagittal.shape[0] / 2 - 5


def test_pixels_are_square_and_the_picture_has_the_volumes_aspect():
    volume = _cube_volume()
    axial = slice_pictures(_content(volume))[0]
    rows, cols = axial.image.shape[:2]
    # centres span 69 mm in x and 47.2 mm in y, plus half the widest step (2 mm) each side
    assert cols / rows == pytest.approx((69 + 2) / (47.2 + 2), rel=0.01)


def test_segments_are_drawn_in_their_colour():
    volume = _cube_volume()
    segmentation = Segmentation.for_volume(volume)
    segmentation.add("Cube", color=(0.0, 1.0, 0.0), mask=volume.array > 0)
    axial = slice_pictures(_content(volume, segmentation=segmentation))[0]
    image = axial.image.astype(int)
    outline = (image[:, :, 1] > 240) & (image[:, :, 0] < 20) & (image[:, :, 2] < 20)
    tinted = image[:, :, 1] > image[:, :, 0] + 30
    cube_pixels = 20.0 * 20.0 / axial.pixel_mm**2
    assert outline.sum() > 4 * 20.0 / axial.pixel_mm * 0.8  # the outline, fully coloured
    assert tinted.sum() == pytest.approx(cube_pixels, rel=0.1)  # the fill covers the cut


def test_no_volume_gives_notes():
    pictures = report_pictures(_content(None))
    assert all(p.image is None and p.note for p in pictures)


def _colour_centroid(image: np.ndarray, channel: int) -> np.ndarray:
    image = image.astype(int)
    others = [c for c in range(3) if c != channel]
    mask = (image[:, :, channel] > 60) & np.all(
        image[:, :, channel][..., None] > 1.8 * image[:, :, others] + 10, axis=-1
    )
    assert mask.sum() > 200
    rows, cols = np.nonzero(mask)
    return np.array([rows.mean(), cols.mean()])


def test_3d_views_show_each_model_where_it_projects():
    red = ReportModel("Left", box_mesh(np.array([20.0, -10, -10]), np.array([40.0, 10, 10])),
                      (0.9, 0.1, 0.1))
    blue = ReportModel("Back", box_mesh(np.array([-40.0, 20, -10]), np.array([-20.0, 40, 10])),
                       (0.1, 0.1, 0.9))
    anterior, lateral = model_pictures([red, blue])
    assert anterior.image is not None and lateral.image is not None
    # from the front the patient's left (+x, the red box) is on the right
    assert _colour_centroid(anterior.image, 0)[1] > _colour_centroid(anterior.image, 2)[1]
    # from the left, posterior (+y, the blue box) is on the right
    assert _colour_centroid(lateral.image, 2)[1] > _colour_centroid(lateral.image, 0)[1]
    # the background is light
    assert anterior.image[2, 2].min() > 230
    # the red box is 20 mm wide: its pixels span 20 mm at the picture's scale
    image = anterior.image.astype(int)
    mask = (image[:, :, 0] > 60) & (image[:, :, 0] > 2 * image[:, :, 2] + 10)
    cols = np.nonzero(mask.any(axis=0))[0]
    assert (cols.max() - cols.min() + 1) * anterior.pixel_mm == pytest.approx(20.0, abs=1.5)


def test_3d_rendering_is_deterministic():
    model = ReportModel("Cube", box_mesh(CUBE_LOW, CUBE_HIGH), (0.8, 0.7, 0.3), 0.7)
    first = model_pictures([model])
    second = model_pictures([model])
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.image, b.image)


def test_a_failed_rendering_becomes_a_note(monkeypatch):
    def no_opengl(*args, **kwargs):
        raise RuntimeError("no OpenGL")

    monkeypatch.setattr(report_images, "_render", no_opengl)
    pictures = model_pictures([ReportModel("Cube", box_mesh(CUBE_LOW, CUBE_HIGH))])
    assert all(p.image is None and "could not be rendered" in p.note for p in pictures)


def test_a_models_cut_is_its_cross_section():
    box = box_mesh(np.array([-10.0, -5.0, 16.0]), np.array([10.0, 5.0, 44.0]))
    segments = report_images.model_cut(box.vertices, box.faces, np.array([0.0, 0.0, 30.0]),
                                       np.array([0.0, 0.0, 1.0]))
    assert np.allclose(segments[:, :, 2], 30.0)
    lengths = np.linalg.norm(segments[:, 1] - segments[:, 0], axis=1)
    assert lengths.sum() == pytest.approx(2 * (20.0 + 10.0))  # the 20 x 10 mm rectangle
    assert report_images.model_cut(box.vertices, box.faces, np.array([0.0, 0.0, 50.0]),
                                   np.array([0.0, 0.0, 1.0])).shape == (0, 2, 3)


def test_models_are_outlined_on_the_slices_in_their_colour():
    volume = _cube_volume()
    model = ReportModel("Cube", box_mesh(CUBE_LOW, CUBE_HIGH), (0.0, 0.0, 1.0))
    axial = slice_pictures(_content(volume, [model]))[0]
    image = axial.image.astype(int)
    blue = (image[:, :, 2] > 200) & (image[:, :, 0] < 60) & (image[:, :, 1] < 60)
    rows, cols = np.nonzero(blue)
    # the outline is the cube's 20 x 20 mm square at the cube's place
    expected_rows, expected_cols = _expected_pixels(volume, axial, picture_centre(
        _content(volume, [model])))
    tolerance = 1.0 / axial.pixel_mm + 2
    assert abs(cols.min() - expected_cols[0]) < tolerance
    assert abs(cols.max() - expected_cols[1]) < tolerance
    assert abs(rows.min() - expected_rows[0]) < tolerance
    assert abs(rows.max() - expected_rows[1]) < tolerance


def test_a_plane_between_two_pieces_moves_onto_the_nearer_one():
    volume = _cube_volume()
    pieces = Mesh(
        np.concatenate([box_mesh(np.array([-15.0, -30, 30]), np.array([-5.0, -20, 50])).vertices,
                        box_mesh(np.array([30.0, -30, 30]), np.array([45.0, -20, 50])).vertices]),
        np.concatenate([box_mesh(np.zeros(3), np.ones(3)).faces,
                        box_mesh(np.zeros(3), np.ones(3)).faces + 8]),
    )
    model = ReportModel("Two", pieces, (0.0, 0.0, 1.0))
    content = _content(volume, [model])
    assert picture_centre(content)[0] == pytest.approx(15.0)  # in the gap
    sagittal = slice_pictures(content)[2]
    assert sagittal.caption.startswith("x = 37.5 mm")  # the nearer piece's middle (22.5 vs 25)
    image = sagittal.image.astype(int)
    blue = (image[:, :, 2] > 200) & (image[:, :, 0] < 60)
    assert blue.sum() > 100
