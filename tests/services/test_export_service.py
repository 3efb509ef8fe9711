"""Export service: file names, several models in one job, segmentations by extension."""

from __future__ import annotations

import os
from pathlib import Path

import nibabel
import nrrd
import numpy as np
import pytest

from workstation.core.errors import Cancelled, ExportError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken
from workstation.core.segmentation import Segmentation
from workstation.io.mesh_export import export_mesh, file_coordinate_system
from workstation.services import export

SHAPE = (5, 6, 7)
AFFINE = np.array(
    [[0.0, 0.0, 0.8, -10.0], [0.0, 0.8, 0.0, 5.0], [2.0, 0.0, 0.1, 30.0], [0.0, 0.0, 0.0, 1.0]]
)


def _mesh(name: str = "Bone") -> Mesh:
    vertices = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]]
    faces = [[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]
    return Mesh(np.array(vertices), np.array(faces), name=name)


def _segmentation() -> Segmentation:
    segmentation = Segmentation(SHAPE, AFFINE)
    mask = np.zeros(SHAPE, dtype=bool)
    mask[1:4, 2:5, 3:6] = True
    segmentation.add("Bone", mask=mask)
    return segmentation


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("Bone", "Bone"),
        ("Left mandible (v2)", "Left_mandible_v2"),
        ("Schädel", "Sch_del"),
        ("../../etc/passwd", "etc_passwd"),
        ("...", "model"),
        ("", "model"),
        ("tumour.final", "tumour.final"),
    ],
)
def test_safe_file_name(name, stem):
    assert export.safe_file_name(name) == stem


def test_export_targets_are_distinct_ignoring_case(tmp_path):
    targets = export.export_targets(["Bone", "bone", "Bone", "Skin"], tmp_path, ".stl")
    assert targets == [
        tmp_path / "Bone.stl",
        tmp_path / "bone_2.stl",
        tmp_path / "Bone_3.stl",
        tmp_path / "Skin.stl",
    ]
    assert export.export_targets(["Head"], "out", ".nii.gz") == [Path("out") / "Head.nii.gz"]


def test_format_filters_for_file_dialogs():
    assert export.format_filters("mesh") == [
        (".stl", "STL (*.stl)"),
        (".obj", "Wavefront OBJ (*.obj)"),
        (".ply", "PLY (*.ply)"),
        (".3mf", "3D Manufacturing Format (*.3mf)"),
        (".dcm", "DICOM Encapsulated STL (*.dcm)"),
    ]
    assert [ext for ext, _ in export.format_filters("segmentation")] == [
        ".seg.nrrd",
        ".nrrd",
        ".nii.gz",
        ".nii",
        ".dcm",
    ]
    assert all(text.endswith(f"(*{ext})") for ext, text in export.format_filters("segmentation"))


@pytest.mark.parametrize(
    ("path", "kind", "extension", "expected"),
    [
        ("out/labels.nii.gz", "segmentation", ".nrrd", "out/labels.nrrd"),
        ("out/labels.nrrd", "segmentation", ".nii.gz", "out/labels.nii.gz"),
        ("out/labels", "segmentation", ".nii", "out/labels.nii"),
        ("out/model.v2.STL", "mesh", ".obj", "out/model.v2.obj"),
        ("out/model.txt", "mesh", ".ply", "out/model.txt.ply"),
    ],
)
def test_with_extension(path, kind, extension, expected):
    assert export.with_extension(path, kind, extension) == Path(expected)


def test_export_models_writes_each_format_as_export_mesh_does(tmp_path):
    items = [(_mesh(f"Model {ext}"), tmp_path / f"model{ext}") for ext in (".stl", ".obj", ".ply")]
    reports: list[tuple[float, str]] = []
    written = export.export_models(items, "ras", progress=lambda *a: reports.append(a))
    assert written == [path for _, path in items]
    for mesh, path in items:
        reference = export_mesh(mesh, tmp_path / f"reference{path.suffix}", coords="ras")
        assert path.read_bytes() == reference.read_bytes()
        assert file_coordinate_system(path) == "ras"
    assert reports == [
        (0.0, "Writing model.stl"),
        (1 / 3, "Writing model.obj"),
        (2 / 3, "Writing model.ply"),
        (1.0, "Done"),
    ]


def test_export_models_checks_every_target_before_writing(tmp_path):
    items = [(_mesh(), tmp_path / "a.stl"), (_mesh(), tmp_path / "b.vtk")]
    with pytest.raises(ExportError, match=r"unknown mesh format '\.vtk'"):
        export.export_models(items)
    items = [(_mesh(), tmp_path / "a.stl"), (_mesh(), tmp_path / "missing" / "b.stl")]
    with pytest.raises(ExportError, match="does not exist"):
        export.export_models(items)
    assert os.listdir(tmp_path) == []


def test_export_models_stops_when_cancelled(tmp_path):
    token = CancelToken()
    items = [(_mesh(), tmp_path / "a.stl"), (_mesh(), tmp_path / "b.stl")]

    def progress(fraction: float, text: str) -> None:
        if fraction > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        export.export_models(items, progress=progress, cancel=token)
    assert os.listdir(tmp_path) == ["a.stl"]


def test_export_models_of_nothing(tmp_path):
    assert export.export_models([]) == []


def test_write_segmentation_by_extension(tmp_path):
    segmentation = _segmentation()
    mask = segmentation.segments[0].mask
    nrrd_path = export.write_segmentation(segmentation, tmp_path / "labels.nrrd")
    data, header = nrrd.read(str(nrrd_path), index_order="C")
    np.testing.assert_array_equal(data == 1, mask)
    assert header["Segment0_Name"] == "Bone"
    for name in ("labels.nii.gz", "labels.nii"):
        path = export.write_segmentation(segmentation, str(tmp_path / name))
        assert path == tmp_path / name
        image = nibabel.load(path)
        np.testing.assert_array_equal(np.asarray(image.dataobj).transpose(2, 1, 0) == 1, mask)
    assert sorted(os.listdir(tmp_path)) == ["labels.nii", "labels.nii.gz", "labels.nrrd"]


def test_write_segmentation_refuses_unknown_formats(tmp_path):
    expected = r"use one of \.seg\.nrrd, \.nrrd, \.nii\.gz, \.nii, \.dcm\."
    with pytest.raises(ExportError, match=expected):
        export.write_segmentation(_segmentation(), tmp_path / "labels.stl")
    with pytest.raises(ExportError, match="unknown segmentation format"):
        export.check_export_path("segmentation", tmp_path / "labels.mha")
    assert export.check_export_path("segmentation", tmp_path / "a.nii.gz") == tmp_path / "a.nii.gz"
    assert os.listdir(tmp_path) == []


def test_write_segmentation_reports_progress_and_honours_cancel(tmp_path):
    reports: list[float] = []
    export.write_segmentation(
        _segmentation(), tmp_path / "a.nrrd", progress=lambda f, t: reports.append(f)
    )
    assert reports[-1] == 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        export.write_segmentation(_segmentation(), tmp_path / "b.nii.gz", cancel=token)
    assert os.listdir(tmp_path) == ["a.nrrd"]
