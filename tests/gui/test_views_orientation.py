"""Orientation of the slice views: markers land on the right screen side, labels agree."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.test_views_helpers import (
    bright_mask,
    centred_affine,
    centroid,
    close_layout,
    interior,
    make_layout,
    marker_volume,
)

pytestmark = pytest.mark.gui

SHAPE = (44, 52, 60)
SPACING = (1.0, 1.1, 1.25)  # row, column, slice (mm)
MARKER = np.array([13.0, -11.0, 10.0])  # patient left, anterior, superior of the centre
TILT = np.radians(18.5)


def _rotation(axis, degrees):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    angle = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


_OBLIQUE = _rotation((0, 0, 1), 30) @ _rotation((1, 0, 0), 15)

ACQUISITIONS = {
    "axial": ((1, 0, 0), (0, 1, 0), None),
    "coronal": ((1, 0, 0), (0, 0, -1), None),
    "sagittal": ((0, 1, 0), (0, 0, -1), None),
    "oblique": (_OBLIQUE @ (1, 0, 0), _OBLIQUE @ (0, 1, 0), None),
    # gantry tilt: slices step along z with a y shear, planes stay axial (sheared affine)
    "gantry_tilt": ((1, 0, 0), (0, 1, 0), (0.0, 1.25 * np.tan(TILT), 1.25)),
}

#: Where the marker (left, anterior, superior) must appear: (screen side x, screen side y).
EXPECTED_SIDES = {
    "axial": ("right", "top"),  # seen from the feet: patient left on the right, anterior up
    "coronal": ("right", "top"),  # seen from the front: left on the right, superior up
    "sagittal": ("left", "top"),  # seen from the patient's left: anterior on the left
}
STANDARD_LABELS = {
    "axial": {"left": "R", "right": "L", "top": "A", "bottom": "P"},
    "coronal": {"left": "R", "right": "L", "top": "S", "bottom": "I"},
    "sagittal": {"left": "A", "right": "P", "top": "S", "bottom": "I"},
}


@pytest.fixture
def layout(qtbot):
    widget = make_layout(qtbot)
    yield widget
    close_layout(widget)


def _volume(kind):
    row, col, step = ACQUISITIONS[kind]
    affine = centred_affine(row, col, SPACING, SHAPE, step)
    return marker_volume(SHAPE, affine, [(MARKER, 5.0, 1000)])


@pytest.mark.parametrize("kind", list(ACQUISITIONS))
def test_marker_appears_on_the_patient_side_in_every_view(layout, kind):
    volume = _volume(kind)
    layout.set_volume(volume)
    layout.set_crosshair_lps(MARKER)
    assert np.allclose(layout.crosshair_lps(), MARKER)
    for name, (side_x, side_y) in EXPECTED_SIDES.items():
        view = layout.slice_view(name)
        assert view.orientation_labels() == STANDARD_LABELS[name]
        pixels = interior(view.capture())
        spot = centroid(bright_mask(pixels))
        height, width = pixels.shape[:2]
        # the volume is centred on LPS (0,0,0), which the reset view puts mid-screen
        centre_x, centre_y = view.lps_to_display(np.zeros(3))
        assert abs(centre_x - width / 2) < 3 and abs(centre_y - height / 2) < 3
        assert (spot[0] > width / 2 + 15) == (side_x == "right"), (name, spot)
        assert (spot[0] < width / 2 - 15) == (side_x == "left"), (name, spot)
        assert (spot[1] < height / 2 - 15) == (side_y == "top"), (name, spot)
        # and exactly where the plane geometry puts the marker centre
        expected = np.array(view.lps_to_display(MARKER))
        assert np.linalg.norm(spot - expected) < 3.0, (name, spot, expected)


def test_gantry_tilted_axial_view_shows_marker_at_its_true_position(layout):
    """A sheared affine: marker centre and a straight-through slice line up in LPS."""
    volume = _volume("gantry_tilt")
    layout.set_volume(volume)
    layout.set_crosshair_lps(MARKER)
    view = layout.slice_view("axial")
    spot = centroid(bright_mask(interior(view.capture())))
    # independent: pixel size is mm_per_pixel, screen x = L, screen up = A
    width, height = view.width(), view.height()
    scale = view.mm_per_pixel()
    expected = np.array([width / 2 + MARKER[0] / scale, height / 2 + MARKER[1] / scale])
    assert np.linalg.norm(spot - expected) < 3.0


@pytest.mark.parametrize("kind", ["axial", "coronal", "sagittal"])
def test_volume_aligned_planes_of_orthogonal_acquisitions_keep_standard_labels(layout, kind):
    layout.set_volume(_volume(kind))
    layout.set_plane_alignment("volume")
    for name, labels in STANDARD_LABELS.items():
        assert layout.slice_view(name).orientation_labels() == labels


def test_oblique_volume_aligned_labels_show_the_obliquity(layout):
    volume = _volume("oblique")
    layout.set_volume(volume)
    layout.set_plane_alignment("volume")
    axial = layout.slice_view("axial")
    # Rotation of 30 deg about S then 15 deg about L: the column direction (screen right)
    # points mostly left and somewhat posterior; the row direction mostly posterior.
    column_dir = _OBLIQUE @ (1, 0, 0)
    assert column_dir[0] > 0.8 and column_dir[1] > 0.4
    assert axial.orientation_labels() == {"right": "LP", "left": "RA", "top": "AL", "bottom": "PR"}
    layout.set_crosshair_lps(MARKER)
    spot = centroid(bright_mask(interior(axial.capture())))
    height, width = axial.capture().shape[:2]
    offset = MARKER - np.zeros(3)
    # screen right is the column direction; screen up is minus the row direction
    row_dir = _OBLIQUE @ (0, 1, 0)
    assert np.sign(spot[0] - width / 2) == np.sign(offset @ column_dir)
    assert np.sign(height / 2 - spot[1]) == np.sign(offset @ -row_dir)
    layout.set_plane_alignment("patient")
    assert axial.orientation_labels() == STANDARD_LABELS["axial"]
