"""Writers registry: formats by kind and extension, longest extension first, clear refusals."""

from __future__ import annotations

import copy
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workstation.core.errors import ExportError
from workstation.core.mesh import Mesh
from workstation.io import writers
from workstation.io.mesh_export import export_mesh
from workstation.io.segmentation_nifti import write_segmentation_nifti
from workstation.io.segmentation_nrrd import write_segmentation_nrrd

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(monkeypatch):
    """The registry as loaded, restored after the test (tests register extra writers)."""
    writers.formats("mesh")
    monkeypatch.setattr(writers.REGISTRY, "entries", copy.deepcopy(writers.REGISTRY.entries))
    return writers


def _tetrahedron() -> Mesh:
    vertices = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]]
    return Mesh(np.array(vertices), np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]))


def test_mesh_formats_in_menu_order():
    assert writers.formats("mesh") == [
        (".stl", "STL"),
        (".obj", "Wavefront OBJ"),
        (".ply", "PLY"),
        (".3mf", "3D Manufacturing Format"),
        (".dcm", "DICOM Encapsulated STL"),
    ]


def test_segmentation_formats():
    extensions = [extension for extension, _ in writers.formats("segmentation")]
    assert extensions == [".seg.nrrd", ".nrrd", ".nii.gz", ".nii", ".dcm"]
    assert all(description for _, description in writers.formats("segmentation"))


@pytest.mark.parametrize(
    ("kind", "name", "function"),
    [
        ("mesh", "model.stl", export_mesh),
        ("mesh", "MODEL.3MF", export_mesh),
        ("segmentation", "labels.nrrd", write_segmentation_nrrd),
        ("segmentation", "labels.nii", write_segmentation_nifti),
        ("segmentation", "Labels.NII.GZ", write_segmentation_nifti),
        ("segmentation", "scan.v2.nii.gz", write_segmentation_nifti),
    ],
)
def test_writer_for_matches_extension_case_insensitively(tmp_path, kind, name, function):
    writer = writers.writer_for(kind, tmp_path / name)
    assert writer.write is function and writer.kind == kind
    assert name.lower().endswith(writer.extension)


def test_longest_matching_extension_wins(registry):
    def seg_nrrd(data, path, **options):
        return Path(path)

    def gzip_anything(data, path, **options):
        return Path(path)

    registry.register_writer("segmentation", ".seg.nrrd", seg_nrrd, "Slicer segmentation")
    registry.register_writer("segmentation", ".gz", gzip_anything, "Compressed")
    assert registry.writer_for("segmentation", "case.seg.nrrd").write is seg_nrrd
    assert registry.writer_for("segmentation", "case.nrrd").write is write_segmentation_nrrd
    assert registry.writer_for("segmentation", "case.nii.gz").write is write_segmentation_nifti
    assert registry.writer_for("segmentation", "case.tar.gz").write is gzip_anything
    assert (".seg.nrrd", "Slicer segmentation") in registry.formats("segmentation")


def test_one_call_registers_several_extensions(registry):
    def writer(data, path, **options):
        return Path(path)

    registry.register_writer("mesh", (".x3d", ".X3DV"), writer, "X3D")
    assert registry.writer_for("mesh", "a.x3dv").write is writer
    assert registry.formats("mesh")[-2:] == [(".x3d", "X3D"), (".x3dv", "X3D")]


@pytest.mark.parametrize(
    ("kind", "name", "shown", "supported"),
    [
        ("mesh", "model.vtk", "'.vtk'", ".stl, .obj, .ply, .3mf, .dcm"),
        ("mesh", "model", "'(none)'", ".stl, .obj, .ply, .3mf, .dcm"),
        ("segmentation", "labels.mha", "'.mha'", ".seg.nrrd, .nrrd, .nii.gz, .nii, .dcm"),
        ("segmentation", "labels.gz", "'.gz'", ".seg.nrrd, .nrrd, .nii.gz, .nii, .dcm"),
        ("segmentation", ".nrrd", "'(none)'", ".seg.nrrd, .nrrd, .nii.gz, .nii, .dcm"),
    ],
)
def test_unknown_extension_names_the_supported_ones(tmp_path, kind, name, shown, supported):
    with pytest.raises(ExportError) as caught:
        writers.writer_for(kind, tmp_path / name)
    assert str(caught.value) == (
        f"Cannot write '{name}': unknown {kind} format {shown}; use one of {supported}."
    )


def test_programming_errors_are_not_user_errors(registry):
    with pytest.raises(ValueError, match="unknown kind"):
        registry.writer_for("volume", "a.nrrd")
    with pytest.raises(ValueError, match="unknown kind"):
        registry.register_writer("meshes", ".stl", export_mesh, "STL")
    with pytest.raises(ValueError, match="starts with a dot"):
        registry.register_writer("mesh", "stl", export_mesh, "STL")


def test_every_listed_module_registers_a_writer(registry):
    for name in registry.WRITER_MODULES:
        module = importlib.import_module(name)
        registered = [
            writer
            for kind in registry.KINDS
            for writer in registry.REGISTRY.entries[kind].values()
            if writer.write.__module__ == module.__name__
        ]
        assert registered, f"{name} registers no writer"


def test_writer_modules_load_on_first_use_only():
    code = (
        "import sys\n"
        "from workstation.io import writers\n"
        "before = [n for n in writers.WRITER_MODULES if n in sys.modules]\n"
        "writers.formats('segmentation')\n"
        "after = [n for n in writers.WRITER_MODULES if n in sys.modules]\n"
        "print(before, after == list(writers.WRITER_MODULES), 'nibabel' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.split() == ["[]", "True", "False"]  # listing formats needs no nibabel


@pytest.mark.parametrize("extension", [".stl", ".obj", ".ply"])
def test_registered_mesh_writer_gives_export_mesh_bytes(tmp_path, extension):
    mesh = _tetrahedron()
    direct = export_mesh(mesh, tmp_path / f"direct{extension}", coords="ras")
    writer = writers.writer_for("mesh", tmp_path / f"registry{extension}")
    through = writer.write(mesh, tmp_path / f"registry{extension}", coords="ras")
    assert through.read_bytes() == direct.read_bytes()
