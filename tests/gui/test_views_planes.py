"""Plane geometry of the slice views (pure numpy; no display needed)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.test_views_helpers import affine_from
from workstation.gui.views.planes import (
    SLICE_VIEW_NAMES,
    in_plane_extent,
    patient_plane,
    slice_grid,
    volume_aligned_plane,
)


@pytest.mark.parametrize("name", SLICE_VIEW_NAMES)
def test_patient_planes_are_orthonormal_and_seen_from_the_radiological_side(name):
    plane = patient_plane(name)
    basis = np.stack([plane.right, plane.up, plane.normal])
    assert np.allclose(basis @ basis.T, np.eye(3))
    toward_viewer = np.cross(plane.right, plane.up)
    # axial from the feet (I), coronal from the front (A), sagittal from the left (L)
    expected = {"axial": (0, 0, -1), "coronal": (0, -1, 0), "sagittal": (1, 0, 0)}[name]
    assert np.allclose(toward_viewer, expected)


def test_plane_round_trip_between_lps_and_plane_coordinates():
    plane = patient_plane("sagittal")
    origin = np.array([3.0, -2.0, 7.0])
    point = np.array([10.0, 4.0, -5.0])
    u, v, w = plane.to_plane(origin, point)
    assert np.allclose(plane.to_lps(origin, u, v, w), point)
    assert np.allclose(plane.frame(origin) @ [u, v, w, 1], [*point, 1])


def test_slice_grid_of_an_axial_volume_in_each_view():
    shape = (40, 50, 60)  # slices, rows, cols
    affine = affine_from((1, 0, 0), (0, 1, 0), (0.8, 0.7, 2.5), (-20, -15, -50))
    centre = np.zeros(3)
    grids = {
        name: slice_grid(shape, affine, patient_plane(name), centre) for name in SLICE_VIEW_NAMES
    }
    assert (grids["axial"].count, grids["axial"].step) == (40, pytest.approx(2.5))
    assert (grids["coronal"].count, grids["coronal"].step) == (50, pytest.approx(0.8))
    assert (grids["sagittal"].count, grids["sagittal"].step) == (60, pytest.approx(0.7))
    # axial slice k is at z = -50 + 2.5 k (normal S, centre 0)
    assert grids["axial"].position(4) == pytest.approx(-50 + 2.5 * 4)
    assert grids["axial"].index(-50 + 2.5 * 7 + 0.4) == 7
    assert grids["axial"].index(1e6) == 39 and grids["axial"].index(-1e6) == 0
    first, spacing, size = in_plane_extent(shape, affine, patient_plane("axial"), centre)
    assert size.tolist() == [60, 50] and np.allclose(spacing, [0.7, 0.8])
    assert first[0] == pytest.approx(-20)  # u = x of the first column
    assert first[1] == pytest.approx(-(-15 + 0.8 * 49))  # v = -y: the last row is on top


def test_volume_aligned_planes_follow_a_sagittal_acquisition():
    affine = affine_from((0, 1, 0), (0, 0, -1), (1.0, 1.0, 3.0), (0, 0, 0))
    sagittal = volume_aligned_plane("sagittal", affine)
    assert np.allclose(sagittal.right, [0, 1, 0]) and np.allclose(sagittal.up, [0, 0, 1])
    assert np.allclose(sagittal.normal, [1, 0, 0])
    assert sagittal.labels() == {"right": "P", "left": "A", "top": "S", "bottom": "I"}
