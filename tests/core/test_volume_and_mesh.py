"""Volume, LabelMap and Mesh invariants."""

from __future__ import annotations

import numpy as np
import pytest

from workstation.core.errors import Cancelled
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, sub_progress
from workstation.core.volume import LabelMap, Volume


def _volume() -> Volume:
    affine = np.diag([2.0, 0.5, 0.5, 1.0])
    return Volume(np.zeros((4, 6, 8), dtype=np.int16), affine, units="HU")


def test_volume_reports_dims_and_spacing_in_dicom_order() -> None:
    volume = _volume()
    assert volume.shape == (4, 6, 8)
    assert volume.dims == (8, 6, 4)
    assert volume.spacing_xyz == (0.5, 0.5, 2.0)
    assert volume.voxel_volume_mm3 == pytest.approx(0.5)


def test_volume_rejects_bad_shapes_and_affines() -> None:
    with pytest.raises(ValueError):
        Volume(np.zeros((4, 4)), np.eye(4))
    with pytest.raises(ValueError):
        Volume(np.zeros((2, 2, 2)), np.diag([1.0, 0.0, 1.0, 1.0]))


def test_label_map_volume_and_grid_check() -> None:
    volume = _volume()
    mask = np.zeros(volume.shape, dtype=bool)
    mask[1:3, 2:4, 2:6] = True
    label = LabelMap.from_mask(mask, volume)
    assert label.voxel_count == 16
    assert label.volume_mm3 == pytest.approx(16 * 0.5)
    assert label.same_grid(volume)
    with pytest.raises(ValueError):
        LabelMap.from_mask(mask[:2], volume)


def test_unit_cube_mesh_has_outward_volume_and_area() -> None:
    vertices = np.array(
        [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]],
        dtype=float,
    )
    faces = np.array(
        [
            [0, 2, 1],
            [0, 3, 2],
            [4, 5, 6],
            [4, 6, 7],
            [0, 1, 5],
            [0, 5, 4],
            [1, 2, 6],
            [1, 6, 5],
            [2, 3, 7],
            [2, 7, 6],
            [3, 0, 4],
            [3, 4, 7],
        ]
    )
    cube = Mesh(vertices * 2.0, faces)
    assert cube.signed_volume() == pytest.approx(8.0)
    assert cube.area() == pytest.approx(24.0)
    flipped = Mesh(vertices, faces[:, ::-1])
    assert flipped.signed_volume() == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        Mesh(vertices, [[0, 1, 99]])


def test_cancel_token_and_sub_progress() -> None:
    token = CancelToken()
    token.raise_if_cancelled()
    token.cancel()
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()
    seen: list[tuple[float, str]] = []
    report = sub_progress(lambda f, t: seen.append((f, t)), 0.5, 1.0)
    report(0.5, "half")
    report(2.0, "over")
    assert seen == [(0.75, "half"), (1.0, "over")]


def test_volume_and_area_are_the_same_when_summed_in_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from workstation.core import mesh as mesh_module

    rng = np.random.default_rng(3)
    vertices = rng.normal(size=(50, 3))
    faces = rng.integers(0, 50, size=(101, 3))
    whole = Mesh(vertices, faces)
    expected_volume, expected_area = whole.signed_volume(), whole.area()
    monkeypatch.setattr(mesh_module, "TRIANGLES_PER_CHUNK", 7)
    assert whole.signed_volume() == pytest.approx(expected_volume, rel=1e-12)
    assert whole.area() == pytest.approx(expected_area, rel=1e-12)
    assert whole.volume_and_area() == pytest.approx((expected_volume, expected_area), rel=1e-12)
    assert Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int)).signed_volume() == 0.0
    assert Mesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int)).volume_and_area() == (0.0, 0.0)
