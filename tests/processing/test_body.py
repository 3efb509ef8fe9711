"""Finding the patient's body in a CT, so the scanner table can be left out of a model."""

from __future__ import annotations

import numpy as np

from tests.processing.test_modeling import patient_on_table
from workstation.core.volume import Volume
from workstation.processing.body import find_body


def test_body_holds_the_patient_and_not_the_table():
    volume, centre, table_y = patient_on_table()
    body = find_body(volume)
    assert body is not None
    inside = body.contains_points(
        np.array([centre, [0.0, 20.0, 22.0], [30.0, 0.0, 2.0], [0.0, table_y, 22.0]])
    )
    assert inside.tolist() == [True, True, True, False]  # ball, back, body edge, table
    assert not body.contains_points(np.array([[0.0, -45.0, 22.0]]))[0]  # air in front
    # the whole body (an elliptic cylinder of 36 x 28 mm, 45 mm long) grown by one coarse voxel
    true_mm3 = np.pi * 36.0 * 28.0 * 45.0
    assert true_mm3 < body.volume_mm3 < 2.0 * true_mm3
    assert body.trusted_for(true_mm3 / 4) and not body.trusted_for(true_mm3)


def test_every_voxel_maps_onto_the_coarse_grid():
    volume, _, _ = patient_on_table()
    body = find_body(volume)
    assert body is not None
    last = np.array(volume.shape) - 1
    corners = np.array([[0, 32, 32], [last[0], 32, 32], [last[0] + 0.4, 32, 32]], dtype=float)
    assert body.contains_indices(corners).all()  # first and last slices, just past the edge


def test_no_body_without_hounsfield_units_or_soft_tissue():
    volume, _, _ = patient_on_table()
    assert find_body(Volume(volume.array, volume.affine, units="raw")) is None
    air = Volume(np.full((4, 8, 8), -1000, np.int16), volume.affine, units="HU")
    assert find_body(air) is None
