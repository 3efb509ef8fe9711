"""Mesh export: every format and coordinate system re-reads exactly; writes are atomic."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
import trimesh

from tests.processing.spheres import assert_bodies_match, ball_volume, grid_affine
from workstation.core.errors import ExportError
from workstation.core.mesh import Mesh
from workstation.io import mesh_export
from workstation.io.mesh_export import SUPPORTED_EXTENSIONS, export_mesh, read_mesh
from workstation.processing.decimation import decimate
from workstation.processing.mesh_smoothing import smooth
from workstation.processing.surface import extract_surface
from workstation.processing.threshold import threshold

SHAPE = (40, 52, 52)


@pytest.fixture(scope="module")
def model():
    affine = grid_affine("double-oblique", SHAPE, tilt_degrees=8.0)
    volume, truths = ball_volume(affine, SHAPE)
    mesh = decimate(smooth(extract_surface(threshold(volume, 0), name="Test balls"), 10), 0.5)
    return mesh, truths


@pytest.mark.parametrize("extension", SUPPORTED_EXTENSIONS)
@pytest.mark.parametrize("coords", ["lps", "ras"])
def test_round_trip_in_trimesh(tmp_path, model, extension, coords):
    mesh, truths = model
    path = export_mesh(mesh, tmp_path / f"model{extension}", coords=coords)
    assert path.exists() and os.listdir(tmp_path) == [path.name]
    loaded = trimesh.load(path, force="mesh")
    assert len(loaded.faces) == mesh.n_faces
    assert loaded.volume == pytest.approx(mesh.signed_volume(), rel=1e-5)
    assert loaded.is_watertight and loaded.is_winding_consistent
    expected = mesh.vertices * (np.array([-1.0, -1.0, 1.0]) if coords == "ras" else 1.0)
    np.testing.assert_allclose(
        np.sort(loaded.vertices, axis=0), np.sort(expected, axis=0), atol=1e-4
    )
    back = read_mesh(path)  # declared system is converted back to LPS
    assert_bodies_match(back, truths)
    assert mesh_export.file_coordinate_system(path) == coords


def test_ascii_stl(tmp_path, model):
    mesh, _ = model
    path = export_mesh(mesh, tmp_path / "model.stl", binary=False)
    text = path.read_text()
    assert text.startswith("solid Test_balls SPACE=LPS")
    loaded = trimesh.load(path)
    assert len(loaded.faces) == mesh.n_faces
    assert loaded.volume == pytest.approx(mesh.signed_volume(), rel=1e-5)


def test_coordinate_system_is_named_in_each_format(tmp_path, model):
    mesh, _ = model
    stl = export_mesh(mesh, tmp_path / "m.stl", coords="ras")
    assert stl.read_bytes()[:9] == b"SPACE=RAS"
    obj = export_mesh(mesh, tmp_path / "m.obj")
    assert "# SPACE=LPS UNITS=mm" in obj.read_text()
    ply = export_mesh(mesh, tmp_path / "m.ply")
    assert b"comment SPACE=LPS UNITS=mm" in ply.read_bytes()[:400]
    three = export_mesh(mesh, tmp_path / "m.3mf")
    model_xml = zipfile.ZipFile(three).read("3D/3dmodel.model").decode()
    assert 'unit="millimeter"' in model_xml and "SPACE=LPS" in model_xml


def test_unknown_extension_and_bad_folders(tmp_path, model):
    mesh, _ = model
    with pytest.raises(ExportError, match="unknown mesh format"):
        export_mesh(mesh, tmp_path / "model.vtk")
    with pytest.raises(ExportError, match="does not exist"):
        export_mesh(mesh, tmp_path / "missing" / "model.stl")
    assert os.listdir(tmp_path) == []


def test_unwritable_output_paths(tmp_path, model):
    """Runs as root too (CI): root ignores folder modes, but not files or /proc."""
    mesh, _ = model
    plain = tmp_path / "notes.txt"
    plain.write_text("a file, not a folder")
    with pytest.raises(ExportError, match="is a file, not a folder"):
        export_mesh(mesh, plain / "model.stl")
    if os.path.isdir("/proc/self"):  # Linux: nobody, not even root, creates files in /proc
        with pytest.raises(ExportError, match=r"Could not write /proc/model\.stl"):
            export_mesh(mesh, "/proc/model.stl")
        assert not os.path.exists("/proc/model.stl")
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    if hasattr(os, "geteuid") and os.geteuid() != 0:  # a read-only folder stops other users
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(ExportError, match="no permission"):
                export_mesh(mesh, locked / "model.stl")
        finally:
            locked.chmod(0o700)
        assert os.listdir(locked) == []


def test_failure_mid_write_leaves_no_partial_file(tmp_path, model, monkeypatch):
    mesh, _ = model
    target = tmp_path / "model.stl"
    target.write_bytes(b"previous version")

    def broken_writer(handle, mesh, vertices, space):
        handle.write(b"partial data")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mesh_export, "_write_stl_binary", broken_writer)
    with pytest.raises(ExportError, match="No space left"):
        export_mesh(mesh, target)
    assert target.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == ["model.stl"]


def test_empty_mesh_and_unknown_coordinates_are_refused(tmp_path, model):
    mesh, _ = model
    with pytest.raises(ExportError, match="no triangles"):
        export_mesh(Mesh(np.zeros((0, 3)), np.zeros((0, 3))), tmp_path / "m.stl")
    with pytest.raises(ExportError, match="coordinate system"):
        export_mesh(mesh, tmp_path / "m.stl", coords="xyz")
    assert os.listdir(tmp_path) == []


def test_read_mesh_errors(tmp_path):
    with pytest.raises(ExportError, match="No such mesh file"):
        read_mesh(tmp_path / "absent.stl")
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"not a ply file at all")
    with pytest.raises(ExportError, match="Could not read"):
        read_mesh(bad)


def test_longest_name_works_with_a_short_temporary_name(tmp_path, model, monkeypatch):
    from workstation.io.atomic_write import TEMP_NAME_MAX, temporary_prefix

    mesh, _ = model
    limit = os.pathconf(tmp_path, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    target = tmp_path / ("m" * (limit - 4) + ".stl")
    seen: list[str] = []
    original = mesh_export._write_stl_binary

    def spying_writer(handle, mesh, vertices, space):
        seen.extend(os.listdir(tmp_path))  # mid-write: only the temporary file exists
        original(handle, mesh, vertices, space)

    monkeypatch.setattr(mesh_export, "_write_stl_binary", spying_writer)
    export_mesh(mesh, target)
    assert len(seen) == 1 and seen[0].startswith(temporary_prefix(target))
    assert len(seen[0]) <= TEMP_NAME_MAX
    assert os.listdir(tmp_path) == [target.name]
    assert len(trimesh.load(target).faces) == mesh.n_faces
