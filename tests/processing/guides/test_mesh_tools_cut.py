"""Cutting by planes: closed capped pieces that sum to the whole and match analytic volumes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.guides.tool_shapes import box, cap_volume, sphere
from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.processing.guides.manifold_bridge import check_solid
from workstation.processing.guides.plane_cut import Plane, cut_by_planes


def test_box_cut_by_two_planes_gives_four_exact_boxes() -> None:
    whole = box((0, 0, 0), (10, 20, 30), name="Block")
    planes = [Plane.of((3, 0, 0), (1, 0, 0)), Plane.of((0, 0, 10), (0, 0, -2))]
    pieces, warnings = cut_by_planes(whole, planes)
    assert warnings == []
    volumes = sorted(piece.mesh.signed_volume() for piece in pieces)
    # x in [0, 3] or [3, 10]; z in [0, 10] or [10, 30]
    expected = sorted(dx * 20 * dz for dx in (3, 7) for dz in (10, 20))
    assert volumes == pytest.approx(expected, rel=1e-12)
    assert [piece.mesh.name for piece in pieces] == ["Block 1", "Block 2", "Block 3", "Block 4"]
    for piece in pieces:
        assert check_solid(piece.mesh).ok
        low, high = piece.mesh.bounds()
        centre = (low + high) / 2
        # sides: "+" along the (unit) normal of each plane
        assert piece.sides[0] == ("+" if centre[0] > 3 else "-")
        assert piece.sides[1] == ("+" if centre[2] < 10 else "-")


def test_sphere_pieces_sum_to_the_whole_and_match_caps() -> None:
    radius = 20.0
    ball = sphere(radius, centre=(5.0, -7.0, 12.0))
    heights = (6.0, 15.0)  # cap heights from the top of the ball along +S
    planes = [Plane.of((5.0, -7.0, 12.0 + radius - h), (0, 0, 1)) for h in heights]
    pieces, _ = cut_by_planes(ball, planes)
    total = sum(piece.mesh.signed_volume() for piece in pieces)
    assert total == pytest.approx(ball.signed_volume(), rel=1e-6)
    assert len(pieces) == 3
    top = cap_volume(radius, heights[0])
    middle = cap_volume(radius, heights[1]) - top
    bottom = 4.0 / 3.0 * np.pi * radius**3 - cap_volume(radius, heights[1])
    got = {piece.sides: piece.mesh.signed_volume() for piece in pieces}
    # the polygonal ball's volume is 0.06 % under the true one; its pieces within 0.3 %
    assert got[("+", "+")] == pytest.approx(top, rel=3e-3)
    assert got[("-", "+")] == pytest.approx(middle, rel=3e-3)
    assert got[("-", "-")] == pytest.approx(bottom, rel=3e-3)
    for piece in pieces:
        assert check_solid(piece.mesh).ok


def test_oblique_plane_halves_a_ball_through_its_centre() -> None:
    ball = sphere(10.0)
    pieces, _ = cut_by_planes(ball, [Plane.of((0, 0, 0), (1, 2, 3))])
    assert len(pieces) == 2
    for piece in pieces:
        assert piece.mesh.signed_volume() == pytest.approx(ball.signed_volume() / 2, rel=2e-3)


def test_each_connected_piece_is_its_own_result() -> None:
    # a U-shaped block: cutting across both arms gives three pieces
    left = box((0, 0, 0), (2, 2, 10))
    right = box((8, 0, 0), (10, 2, 10))
    base = box((0, 0, 0), (10, 2, 2))
    from workstation.processing.guides.booleans import boolean

    u_shape = boolean([base, left, right], "union", "U")
    pieces, _ = cut_by_planes(u_shape, [Plane.of((0, 0, 6), (0, 0, 1))])
    assert len(pieces) == 3
    volumes = sorted(piece.mesh.signed_volume() for piece in pieces)
    assert volumes == pytest.approx([16.0, 16.0, 40.0 + 2 * 16.0], rel=1e-9)
    assert sum(volumes) == pytest.approx(u_shape.signed_volume(), rel=1e-9)


def test_plane_missing_the_model_is_warned() -> None:
    pieces, warnings = cut_by_planes(box((0, 0, 0), (1, 1, 1)), [Plane.of((0, 0, 5), (0, 0, 1))])
    assert len(pieces) == 1 and pieces[0].mesh.signed_volume() == pytest.approx(1.0)
    assert warnings == ["plane 1 does not cut the model"]


def test_open_model_cannot_be_cut() -> None:
    closed = box((0, 0, 0), (1, 1, 1), name="Open")
    with pytest.raises(MeshToolError, match="'Open' is not a closed solid: open edges"):
        cut_by_planes(
            Mesh(closed.vertices, closed.faces[2:], name="Open"), [Plane.of((0, 0, 0.5), (0, 0, 1))]
        )


def test_zero_normal_is_refused() -> None:
    with pytest.raises(MeshToolError, match="non-zero"):
        Plane.of((0, 0, 0), (0, 0, 0))


def test_cut_keeps_a_cavity_inside_its_piece() -> None:
    from workstation.processing.guides.booleans import boolean

    hollow_block = boolean([box((0, 0, 0), (10, 10, 10)), box((4, 2, 2), (8, 8, 8))], "subtract")
    pieces, _ = cut_by_planes(hollow_block, [Plane.of((2, 0, 0), (1, 0, 0))])
    assert len(pieces) == 2  # the cavity is no piece of its own
    volumes = [piece.mesh.signed_volume() for piece in pieces]
    assert volumes == pytest.approx([8 * 100 - 4 * 36, 2 * 100], rel=1e-12)
    assert check_solid(pieces[0].mesh).components == 1


def test_cancel_stops_a_cut() -> None:
    from workstation.core.errors import Cancelled
    from workstation.core.progress import CancelToken

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        cut_by_planes(box((0, 0, 0), (1, 1, 1)), [Plane.of((0, 0, 0.5), (0, 0, 1))], cancel=token)
