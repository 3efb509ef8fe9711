"""Booleans of boxes and spheres against analytic volumes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.guides.tool_shapes import box, cap_volume, sphere
from workstation.core.errors import MeshToolError
from workstation.core.mesh import Mesh
from workstation.processing.guides.booleans import boolean
from workstation.processing.guides.manifold_bridge import check_solid


def _lens(radius: float, distance: float) -> float:
    """Volume of the intersection of two balls of ``radius`` with centres ``distance`` apart."""
    return 2.0 * cap_volume(radius, radius - distance / 2.0)


@pytest.mark.parametrize(
    ("operation", "expected"),
    # A is 8 x 10 x 10; B is 5 x 10 x 12 and overlaps A in a 3 x 10 x 10 slab
    [("union", 800 + 600 - 300), ("subtract", 800 - 300), ("intersect", 300)],
)
def test_box_booleans_are_exact(operation: str, expected: float) -> None:
    a = box((0, 0, 0), (8, 10, 10), name="A")
    b = box((5, 0, -1), (10, 10, 11), name="B")
    result = boolean([a, b], operation)
    assert result.signed_volume() == pytest.approx(expected, rel=1e-12)
    check = check_solid(result)
    assert check.ok and check.components == 1


def test_sphere_booleans_match_lens_volumes() -> None:
    radius, distance = 10.0, 8.0
    a = sphere(radius, name="A")
    b = sphere(radius, centre=(distance, 0.0, 0.0), name="B")
    ball = 4.0 / 3.0 * np.pi * radius**3
    lens = _lens(radius, distance)
    tolerance = 2e-3  # the icospheres are 0.06 % under the true balls
    assert boolean([a, b], "intersect").signed_volume() == pytest.approx(lens, rel=tolerance)
    assert boolean([a, b], "union").signed_volume() == pytest.approx(2 * ball - lens, rel=tolerance)
    assert boolean([a, b], "subtract").signed_volume() == pytest.approx(ball - lens, rel=tolerance)
    # exact identity between the results themselves
    union = boolean([a, b], "union").signed_volume()
    inter = boolean([a, b], "intersect").signed_volume()
    assert union + inter == pytest.approx(a.signed_volume() + b.signed_volume(), rel=1e-9)


def test_subtract_several_tools_from_the_first() -> None:
    block = box((0, 0, 0), (10, 10, 10), name="Block")
    holes = [box((1, 1, -1), (2, 2, 11)), box((5, 5, -1), (7, 7, 11))]
    result = boolean([block, *holes], "subtract")
    assert result.signed_volume() == pytest.approx(1000 - 10 * (1 + 4), rel=1e-12)
    check = check_solid(result)
    assert check.ok and check.components == 1


def test_empty_intersection_is_an_error() -> None:
    with pytest.raises(MeshToolError, match="do not overlap"):
        boolean([box((0, 0, 0), (1, 1, 1)), box((5, 5, 5), (6, 6, 6))], "intersect")


def test_open_input_is_named() -> None:
    closed = box((0, 0, 0), (1, 1, 1), name="Broken")
    broken = Mesh(closed.vertices, closed.faces[1:], name="Broken")
    with pytest.raises(MeshToolError, match="'Broken' is not a closed solid: open edges: 3"):
        boolean([box((0, 0, 0), (2, 2, 2)), broken], "union")


def test_needs_two_models_and_a_known_operation() -> None:
    with pytest.raises(MeshToolError, match="at least two"):
        boolean([box((0, 0, 0), (1, 1, 1))], "union")
    with pytest.raises(MeshToolError, match="Unknown boolean"):
        boolean([box((0, 0, 0), (1, 1, 1))] * 2, "xor")
