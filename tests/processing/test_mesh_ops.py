"""Smoothing, decimation, cleaning, repair and statistics of meshes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processing.spheres import assert_bodies_match, ball_volume, grid_affine
from workstation.core.errors import MeshError
from workstation.core.mesh import Mesh
from workstation.processing.decimation import decimate
from workstation.processing.mesh_cleaning import clean
from workstation.processing.mesh_components import count_components, remove_small_components
from workstation.processing.mesh_repair import repair, split_nonmanifold_vertices
from workstation.processing.mesh_smoothing import smooth
from workstation.processing.mesh_statistics import mesh_statistics
from workstation.processing.mesh_topology import edge_info
from workstation.processing.surface import extract_surface
from workstation.processing.threshold import threshold

SHAPE = (40, 52, 52)


def box(
    low=(0.0, 0.0, 0.0), size=(2.0, 3.0, 4.0), offset: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Outward-wound box: 8 vertices, 12 triangles."""
    x0, y0, z0 = low
    dx, dy, dz = size
    vertices = np.array(
        [[x0 + i * dx, y0 + j * dy, z0 + k * dz] for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    )
    faces = np.array(
        [
            [0, 1, 3],
            [0, 3, 2],
            [4, 6, 7],
            [4, 7, 5],
            [0, 4, 5],
            [0, 5, 1],
            [2, 3, 7],
            [2, 7, 6],
            [0, 2, 6],
            [0, 6, 4],
            [1, 5, 7],
            [1, 7, 3],
        ]
    )
    return vertices, faces + offset


@pytest.fixture(scope="module")
def balls():
    affine = grid_affine("double-oblique", SHAPE, tilt_degrees=10.0)
    volume, truths = ball_volume(affine, SHAPE)
    return extract_surface(threshold(volume, 0)), truths


def test_box_statistics():
    vertices, faces = box()
    stats = mesh_statistics(Mesh(vertices, faces))
    assert stats.triangles == 12 and stats.vertices == 8
    assert stats.volume_mm3 == pytest.approx(24.0)
    assert stats.area_mm2 == pytest.approx(2 * (6 + 8 + 12))
    assert stats.bounds_min == (0.0, 0.0, 0.0) and stats.bounds_max == (2.0, 3.0, 4.0)
    assert stats.components == 1 and stats.watertight and stats.manifold
    data = stats.as_dict()
    assert data["bounds_max"] == [2.0, 3.0, 4.0] and data["watertight"] is True


def test_two_boxes_sharing_an_edge_are_not_manifold():
    first, first_faces = box()
    second, second_faces = box(low=(2.0, 3.0, 0.0), offset=8)
    vertices = np.concatenate([first, second])
    faces = np.concatenate([first_faces, second_faces])
    separate = mesh_statistics(Mesh(vertices, faces))
    assert separate.components == 2 and separate.manifold
    merged, report = clean(Mesh(vertices, faces))
    assert any("Merged 2 duplicate points" in line for line in report)
    stats = mesh_statistics(merged)
    assert stats.components == 1 and not stats.manifold  # the shared edge has 4 triangles


def test_smoothing_keeps_volume_and_topology(balls):
    mesh, truths = balls
    smoothed = smooth(mesh, 20, 0.1)
    np.testing.assert_array_equal(smoothed.faces, mesh.faces)
    assert smoothed.area() < mesh.area()  # the voxel staircase is gone
    assert smoothed.signed_volume() == pytest.approx(mesh.signed_volume(), rel=0.01)
    assert_bodies_match(smoothed, truths)
    assert smooth(mesh, 0) is mesh
    with pytest.raises(MeshError):
        smooth(mesh, 5, pass_band=3.0)


def test_decimation_by_fraction_and_target(balls):
    mesh, truths = balls
    reduced = decimate(smooth(mesh, 20), fraction=0.9)
    assert reduced.n_faces == pytest.approx(mesh.n_faces * 0.1, rel=0.02)
    assert_bodies_match(reduced, truths)
    targeted = decimate(mesh, target_triangles=2000)
    assert abs(targeted.n_faces - 2000) <= 20
    assert decimate(mesh, fraction=0.0) is mesh
    with pytest.raises(MeshError):
        decimate(mesh, fraction=1.5)


def test_clean_merges_a_triangle_soup_into_a_watertight_mesh(balls):
    mesh, _ = balls
    soup = Mesh(mesh.vertices[mesh.faces.ravel()], np.arange(mesh.n_faces * 3).reshape(-1, 3))
    assert not mesh_statistics(soup).watertight
    cleaned, report = clean(soup)
    assert cleaned.n_vertices == mesh.n_vertices and cleaned.n_faces == mesh.n_faces
    assert mesh_statistics(cleaned).watertight
    assert report and "duplicate points" in report[0]


def test_clean_drops_degenerate_duplicate_and_double_wall_triangles():
    vertices, faces = box()
    extra = np.array([[0, 0, 1], [0, 1, 3], [2, 6, 7], [7, 2, 6]])  # collapsed, copy, wall pair
    mesh = Mesh(np.concatenate([vertices, [[9.0, 9.0, 9.0]]]), np.concatenate([faces, extra]))
    cleaned, report = clean(mesh)
    text = " ".join(report)
    assert "1 degenerate" in text and "unused points" in text and "duplicate triangles" in text
    assert cleaned.n_faces == 11  # the box's 2-7-6 face goes with its opposite copies
    assert cleaned.n_vertices == 8


def test_repair_fills_small_holes_and_reports(balls):
    mesh, truths = balls
    holed = Mesh(mesh.vertices, np.delete(mesh.faces, [10, 11, 500, 2000], axis=0))
    assert not mesh_statistics(holed).watertight
    repaired, report = repair(holed, max_hole_edges=50)
    assert any(line.startswith("Filled") for line in report)
    stats = mesh_statistics(repaired)
    assert stats.watertight and stats.manifold
    assert_bodies_match(repaired, truths)
    still_open, report = repair(holed, max_hole_edges=2)
    assert any("left open" in line for line in report)
    assert not mesh_statistics(still_open).watertight


def test_repair_turns_an_inside_out_surface_outward(balls):
    mesh, _ = balls
    inverted = Mesh(mesh.vertices, mesh.faces[:, ::-1])
    repaired, report = repair(inverted)
    assert repaired.signed_volume() == pytest.approx(mesh.signed_volume())
    assert any("outward" in line for line in report)


def test_repair_makes_winding_consistent():
    vertices, faces = box()
    faces = faces.copy()
    faces[3] = faces[3, ::-1]
    repaired, report = repair(Mesh(vertices, faces))
    assert "Made triangle winding consistent" in report
    assert mesh_statistics(repaired).watertight
    assert repaired.signed_volume() == pytest.approx(24.0)


def test_repair_of_a_good_mesh_changes_nothing(balls):
    mesh, _ = balls
    repaired, report = repair(mesh)
    assert report == [] and repaired is mesh


@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_decimation_in_worker_slabs_matches_the_target(balls, monkeypatch, method):
    from workstation.core import workers as worker_processes
    from workstation.processing import decimation

    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} start method on this platform")
    mesh, truths = balls
    monkeypatch.setattr(decimation, "PARALLEL_MIN_FACES", 100)
    monkeypatch.setattr(worker_processes, "start_method", lambda: method)
    smoothed = smooth(mesh, 20)
    serial = decimate(smoothed, fraction=0.5)
    for workers in (1, 2):
        parallel = decimate(smoothed, fraction=0.5, workers=workers)
        assert abs(parallel.n_faces - serial.n_faces) <= 0.05 * serial.n_faces
        stats = mesh_statistics(parallel)
        assert stats.watertight  # the slabs join exactly at their cut points
        assert stats.components == count_components(serial)
        assert_bodies_match(parallel, truths)
        assert parallel.signed_volume() == pytest.approx(serial.signed_volume(), rel=0.002)


def test_decimation_without_worker_processes_gives_the_same_slabs(balls, monkeypatch):
    """Where no process can start (a daemonic batch worker) the same slabs are decimated
    here, one after another: the model is the same, vertex for vertex."""
    from workstation.processing import decimation

    mesh, _ = balls
    monkeypatch.setattr(decimation, "PARALLEL_MIN_FACES", 100)
    smoothed = smooth(mesh, 20)
    with_workers = decimate(smoothed, fraction=0.5, workers=2)
    monkeypatch.setattr(
        "workstation.core.workers.start_process_pool", lambda *args, **kwargs: None
    )
    here = decimate(smoothed, fraction=0.5, workers=2)
    assert here.n_faces == with_workers.n_faces
    assert np.array_equal(here.vertices, with_workers.vertices)
    assert np.array_equal(here.faces, with_workers.faces)
    assert here.n_faces != decimate(smoothed, fraction=0.5).n_faces or not np.array_equal(
        here.vertices, decimate(smoothed, fraction=0.5).vertices
    )  # slabs, not one piece


def test_spatial_slabs_balance_triangles(balls):
    from workstation.processing.decimation import spatial_slabs

    mesh, _ = balls
    slabs = spatial_slabs(mesh, 3)
    assert len(slabs) == mesh.n_faces and set(np.unique(slabs)) == {0, 1, 2}
    counts = np.bincount(slabs)
    assert np.all(np.abs(counts - mesh.n_faces / 3) < 0.02 * mesh.n_faces)


def test_remove_small_components_keeps_cavities(balls):
    mesh, _ = balls
    outer_v, outer_f = box(low=(-50.0, -50.0, -50.0), size=(10.0, 10.0, 10.0))
    inner_v, inner_f = box(low=(-48.0, -48.0, -48.0), size=(1.0, 1.0, 1.0), offset=8)
    inner_f = inner_f[:, ::-1]  # a 1 mm^3 cavity inside a 1000 mm^3 box
    count = mesh.n_vertices
    combined = Mesh(
        np.concatenate([mesh.vertices, outer_v, inner_v]),
        np.concatenate([mesh.faces, outer_f + count, inner_f + count]),
    )
    small_ball = 4 / 3 * np.pi * 6.0**3
    kept, removed, labels = remove_small_components(combined, small_ball * 1.2)
    assert removed == 2  # the small ball and the hollow box, whose cavity goes with it
    assert len(labels) == kept.n_faces
    assert kept.signed_volume() == pytest.approx(4 / 3 * np.pi * 8.0**3, rel=0.03)
    assert count_components(kept) == 1
    big_box = Mesh(*box(low=(-50.0, -50.0, -50.0), size=(20.0, 20.0, 20.0)))
    hollow = Mesh(
        np.concatenate([big_box.vertices, inner_v]),
        np.concatenate([big_box.faces, inner_f]),
    )
    kept, removed, _ = remove_small_components(hollow, 10.0)
    assert removed == 0 and kept.signed_volume() == pytest.approx(8000.0 - 1.0)


def test_repair_cuts_out_and_recloses_a_non_manifold_edge(balls):
    """Two closed bodies glued along one edge (as decimation folds can leave them)."""
    mesh, _ = balls
    first, first_faces = box(low=(0.0, 0.0, 0.0), size=(4.0, 4.0, 4.0))
    second, second_faces = box(low=(4.0, 4.0, 0.0), size=(4.0, 4.0, 4.0), offset=8)
    glued, _ = clean(
        Mesh(np.concatenate([first, second]), np.concatenate([first_faces, second_faces]))
    )
    assert edge_info(glued).nonmanifold_edges == 1
    count = mesh.n_vertices
    combined = Mesh(
        np.concatenate([mesh.vertices, glued.vertices]),
        np.concatenate([mesh.faces, glued.faces + count]),
    )
    repaired, report = repair(combined)
    assert any(line.startswith("Cut out") for line in report)
    stats = mesh_statistics(repaired)
    assert stats.watertight and stats.manifold
    # the balls are untouched; the glued boxes stay closed bodies of positive volume
    assert repaired.signed_volume() > mesh.signed_volume()


def test_split_pinched_vertex():
    first, first_faces = box(low=(0.0, 0.0, 0.0), size=(2.0, 2.0, 2.0))
    second, second_faces = box(low=(2.0, 2.0, 2.0), size=(2.0, 2.0, 2.0), offset=8)
    touching, _ = clean(
        Mesh(np.concatenate([first, second]), np.concatenate([first_faces, second_faces]))
    )
    stats = mesh_statistics(touching)
    assert stats.watertight and not stats.manifold and stats.components == 1
    split, added = split_nonmanifold_vertices(touching)
    assert added == 1 and split.n_vertices == 16
    stats = mesh_statistics(split)
    assert stats.watertight and stats.manifold and stats.components == 2
    assert stats.volume_mm3 == pytest.approx(16.0)
