"""Affine helpers against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core import geometry


def _axial_affine() -> np.ndarray:
    affine = np.eye(4)
    affine[:3, 0] = [0, 0, 2.5]  # slice step along +z (S)
    affine[:3, 1] = [0, 0.8, 0]  # rows go posterior
    affine[:3, 2] = [0.7, 0, 0]  # columns go left
    affine[:3, 3] = [-100, -120, 30]
    return affine


def test_spacing_normal_and_orientation_of_axial_grid() -> None:
    affine = _axial_affine()
    np.testing.assert_allclose(geometry.voxel_spacing(affine), [2.5, 0.8, 0.7])
    np.testing.assert_allclose(geometry.slice_normal(affine), [0, 0, 1])
    assert geometry.orientation_name(affine) == "axial"
    assert not geometry.is_sheared(affine)


def test_sagittal_coronal_and_oblique_classification() -> None:
    sagittal = np.eye(4)
    sagittal[:3, :3] = np.column_stack([[1, 0, 0], [0, 0, -1], [0, 1, 0]])
    coronal = np.eye(4)
    coronal[:3, :3] = np.column_stack([[0, 1, 0], [0, 0, -1], [1, 0, 0]])
    angle = np.radians(30)
    oblique = np.eye(4)
    oblique[:3, :3] = np.column_stack(
        [[0, np.sin(angle), np.cos(angle)], [0, np.cos(angle), -np.sin(angle)], [1, 0, 0]]
    )
    assert geometry.orientation_name(sagittal) == "sagittal"
    assert geometry.orientation_name(coronal) == "coronal"
    assert geometry.orientation_name(oblique) == "oblique"


def test_index_lps_round_trip_and_known_point() -> None:
    affine = _axial_affine()
    point = geometry.index_to_lps(affine, [[2, 10, 20]])
    np.testing.assert_allclose(point, [[-100 + 20 * 0.7, -120 + 10 * 0.8, 30 + 2 * 2.5]])
    np.testing.assert_allclose(geometry.lps_to_index(affine, point), [[2, 10, 20]])


def test_shear_angle_of_tilted_grid() -> None:
    affine = _axial_affine()
    tilt = np.radians(18.5)
    affine[:3, 0] = [0, np.tan(tilt) * 2.5, 2.5]
    assert geometry.shear_angle_degrees(affine) == pytest.approx(18.5)
    assert geometry.is_sheared(affine)


def test_bounding_box_covers_voxel_centres() -> None:
    low, high = geometry.bounding_box((3, 4, 5), _axial_affine())
    np.testing.assert_allclose(low, [-100, -120, 30])
    np.testing.assert_allclose(high, [-100 + 4 * 0.7, -120 + 3 * 0.8, 30 + 2 * 2.5])


def test_direction_letters_and_opposites() -> None:
    assert geometry.direction_letters([1, 0, 0]) == "L"
    assert geometry.direction_letters([0, -1, 0]) == "A"
    assert geometry.direction_letters([0.2, 0.8, -0.6]) == "PI"
    assert geometry.opposite_letters("PI") == "AS"


@pytest.mark.parametrize(
    "bad",
    [np.zeros((3, 3)), np.diag([1.0, 1.0, 0.0, 1.0]), np.vstack([np.eye(4)[:3], [1, 0, 0, 1]])],
)
def test_invalid_affines_are_rejected(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        geometry.validate_affine(bad)


def test_lps_ras_flip() -> None:
    np.testing.assert_allclose(geometry.lps_to_ras_points([[1, 2, 3]]), [[-1, -2, 3]])
    np.testing.assert_allclose(geometry.LPS_TO_RAS @ [1, 2, 3, 1], [-1, -2, 3, 1])
