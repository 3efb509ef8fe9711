"""manifold_bridge: our meshes to and from manifold3d solids, and the solid check's reasons."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.guides.tool_shapes import box, sphere
from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.processing.guides.manifold_bridge import (
    check_solid,
    from_manifold,
    solid_pieces,
    to_manifold,
    winding_number,
)


def test_round_trip_keeps_float64_points_exactly() -> None:
    # coordinates far from the origin with digits float32 would lose
    mesh = box((100.123456789012, -250.98765432101, 1000.5), (130.1, -200.2, 1040.7))
    back = from_manifold(to_manifold(mesh), "Box")
    assert np.array_equal(np.sort(back.vertices, axis=0), np.sort(mesh.vertices, axis=0))
    assert back.signed_volume() == pytest.approx(mesh.signed_volume(), rel=1e-12)


def test_closed_box_checks_as_a_solid() -> None:
    check = check_solid(box((0, 0, 0), (2, 3, 4)))
    assert check.watertight and check.manifold and check.ok
    assert check.components == 1 and check.volume_mm3 == pytest.approx(24.0)
    assert check.reasons == ()


def test_open_mesh_is_refused_with_its_open_edge_count() -> None:
    closed = box((0, 0, 0), (1, 1, 1), name="Lid")
    open_mesh = Mesh(closed.vertices, closed.faces[:-1], name="Lid")  # one triangle gone
    check = check_solid(open_mesh)
    assert not check.watertight and not check.ok
    assert "open edges: 3" in check.reasons
    with pytest.raises(MeshToolError, match=r"'Lid' is not a closed solid: open edges: 3"):
        to_manifold(open_mesh)


def test_non_manifold_edge_is_named() -> None:
    first = box((0, 0, 0), (1, 1, 1))
    # a second box sharing only the edge x=1, y=1 (same point indices): 4 triangles on it
    second_points = first.vertices + np.array([1.0, 1.0, 0.0])
    vertices = np.vstack([first.vertices, second_points])
    faces = np.vstack([first.faces, first.faces + 8])
    # weld the shared edge: points 0 and 4 of the second box are points 2 and 6 of the first
    faces[faces == 8] = 2
    faces[faces == 12] = 6
    mesh = Mesh(vertices, faces, name="Pair")
    with pytest.raises(MeshToolError, match="non-manifold edges: 1"):
        to_manifold(mesh)


def test_inside_out_mesh_is_no_solid() -> None:
    inside_out = box((0, 0, 0), (1, 1, 1))
    inside_out.faces = inside_out.faces[:, ::-1].copy()
    check = check_solid(inside_out)
    assert check.watertight and not check.ok
    assert any("inside out" in reason for reason in check.reasons)


def test_empty_mesh_check() -> None:
    check = check_solid(Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)))
    assert not check.ok and check.components == 0
    assert check.reasons == ("it has no triangles",)


def test_winding_number_inside_and_outside() -> None:
    ball = sphere(5.0, subdivisions=3)
    assert winding_number(ball, np.zeros(3)) == pytest.approx(1.0, abs=1e-9)
    assert winding_number(ball, np.array([9.0, 0.0, 0.0])) == pytest.approx(0.0, abs=1e-9)


def test_solid_pieces_keep_cavities_with_their_piece() -> None:
    outer = sphere(10.0, subdivisions=3)
    cavity = sphere(6.0, subdivisions=3)
    cavity.faces = cavity.faces[:, ::-1].copy()  # an inner surface faces inwards
    far = box((30, 0, 0), (32, 2, 2))
    vertices = np.vstack([outer.vertices, cavity.vertices, far.vertices])
    n1, n2 = outer.n_vertices, outer.n_vertices + cavity.n_vertices
    faces = np.vstack([outer.faces, cavity.faces + n1, far.faces + n2])
    mesh = Mesh(vertices, faces)
    check = check_solid(mesh)
    assert check.ok and check.components == 2  # a hollow ball and a box, not three shells
    pieces = solid_pieces(mesh)
    assert len(pieces) == 2
    expected = outer.signed_volume() + cavity.signed_volume()
    assert pieces[0].signed_volume() == pytest.approx(expected, rel=1e-12)
    assert pieces[1].signed_volume() == pytest.approx(8.0)
    assert all(check_solid(piece).ok for piece in pieces)
