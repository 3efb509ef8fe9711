"""Mirror (exact reflection, outward normals) and rigid transforms (checked, applied exactly)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.guides.tool_shapes import box, sphere
from workstation.core.errors import MeshToolError
from workstation.processing.guides.manifold_bridge import check_solid
from workstation.processing.guides.mirror import SAGITTAL_NORMAL_LPS, mirror_matrix, mirror_mesh
from workstation.processing.guides.rigid_transform import (
    compose,
    rigid_matrix,
    rotation_matrix,
    transform_mesh,
    translation_matrix,
)


def _half_ball():
    """A ball with a box bitten out of its left side: not symmetric about x = 0."""
    from workstation.processing.guides.booleans import boolean

    return boolean([sphere(10.0, (30.0, 5.0, -3.0)), box((34, 0, -20), (50, 20, 20))], "subtract")


def test_mid_sagittal_mirror_reflects_every_point_exactly() -> None:
    model = _half_ball()
    centre_x = 2.5
    mirrored = mirror_mesh(model, (centre_x, 0.0, 0.0), SAGITTAL_NORMAL_LPS)
    expected = model.vertices.copy()
    expected[:, 0] = 2 * centre_x - expected[:, 0]
    assert np.array_equal(mirrored.vertices, expected)
    assert mirrored.signed_volume() == pytest.approx(model.signed_volume(), rel=1e-12)
    assert mirrored.signed_volume() > 0  # re-wound: normals point outwards
    check = check_solid(mirrored)
    assert check.ok

    # a face normal of the mirrored copy is the reflected normal of the original face
    def normal(mesh, index):
        a, b, c = mesh.vertices[mesh.faces[index]]
        n = np.cross(b - a, c - a)
        return n / np.linalg.norm(n)

    reflected = normal(model, 0) * (-1.0, 1.0, 1.0)
    assert normal(mirrored, 0) == pytest.approx(reflected, abs=1e-12)


def test_oblique_mirror_matches_its_matrix_and_is_an_involution() -> None:
    model = _half_ball()
    point, normal = (1.0, 2.0, 3.0), (1.0, -2.0, 0.5)
    once = mirror_mesh(model, point, normal)
    matrix = mirror_matrix(point, normal)
    by_matrix = model.vertices @ matrix[:3, :3].T + matrix[:3, 3]
    assert np.abs(once.vertices - by_matrix).max() < 1e-12
    twice = mirror_mesh(once, point, normal)
    assert np.abs(twice.vertices - model.vertices).max() < 1e-12
    assert np.array_equal(twice.faces, model.faces)
    # points on the plane stay put; distances to the plane change sign
    unit = np.asarray(normal) / np.linalg.norm(normal)
    before = (model.vertices - point) @ unit
    after = (once.vertices - point) @ unit
    assert after == pytest.approx(-before, abs=1e-12)


def test_rotation_about_a_point_moves_points_exactly() -> None:
    model = box((10, 0, 0), (12, 1, 1))
    matrix = rotation_matrix("S", 90.0, about_lps=(10.0, 0.0, 0.0))
    moved = transform_mesh(model, matrix)
    # a quarter turn about the superior axis through (10, 0, 0): (x, y) -> (10 - y, x - 10)
    x, y, z = model.vertices.T
    expected = np.column_stack([10.0 - y, x - 10.0, z])
    assert np.abs(moved.vertices - expected).max() < 1e-12
    assert moved.signed_volume() == pytest.approx(2.0, rel=1e-12)
    assert check_solid(moved).ok


def test_composed_translation_then_rotation() -> None:
    move = translation_matrix((5.0, -2.0, 1.0))
    turn = rotation_matrix((0, 0, 1), 180.0)
    matrix = compose(move, turn)  # first move, then turn
    point = np.array([1.0, 1.0, 1.0, 1.0])
    assert matrix @ point == pytest.approx([-6.0, 1.0, 2.0, 1.0], abs=1e-12)
    rigid_matrix(matrix)  # still rigid


@pytest.mark.parametrize(
    ("matrix", "why"),
    [
        (np.diag([2.0, 1.0, 1.0, 1.0]), "not orthonormal"),
        (np.diag([-1.0, 1.0, 1.0, 1.0]), "mirrors"),
        (np.array([[1, 0.2, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "shear"),
        (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0.1, 1]]), "last row"),
        (np.eye(3), "4x4"),
        (np.full((4, 4), np.nan), "not finite"),
    ],
)
def test_non_rigid_matrices_are_refused(matrix, why: str) -> None:
    with pytest.raises(MeshToolError, match=why):
        transform_mesh(box((0, 0, 0), (1, 1, 1)), matrix)


def test_unknown_axis_is_refused() -> None:
    with pytest.raises(MeshToolError, match="Unknown axis"):
        rotation_matrix("Q", 10.0)
