"""Segmentation to NRRD and NIfTI: labels per layer and segment, exact voxel-to-patient maps.

Files are read back with pynrrd, nibabel and ITK (SimpleITK), independent readers, and every
corner voxel is placed where the volume's affine puts it: on axial anisotropic, double-oblique,
sheared (gantry tilt) and reversed grids.
"""

from __future__ import annotations

import gzip
import os
import struct

import nibabel
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk

from tests.io.segmentation_cases import SHAPE, box, four_segments
from tests.processing.spheres import grid_affine
from workstation.core import geometry
from workstation.core.errors import Cancelled, ExportError
from workstation.core.progress import CancelToken
from workstation.core.segmentation import Segmentation
from workstation.io import segmentation_nifti, segmentation_nrrd
from workstation.io.progress_stream import ProgressStream
from workstation.io.segment_labels import label_layers
from workstation.io.segmentation_nifti import write_segmentation_nifti
from workstation.io.segmentation_nrrd import write_segmentation_nrrd
from workstation.io.writers import writer_for

GRIDS = {
    "axial anisotropic": np.array(
        [
            [0.0, 0.0, 0.62, -40.0],
            [0.0, 0.71, 0.0, -25.5],
            [2.5, 0.0, 0.0, 100.25],
            [0.0, 0.0, 0.0, 1.0],
        ]
    ),
    "double-oblique": grid_affine("double-oblique", SHAPE),
    "sheared (gantry tilt)": grid_affine("axial", SHAPE, tilt_degrees=15.0),
    "tilted double-oblique, reversed": grid_affine(
        "double-oblique", SHAPE, tilt_degrees=-7.0, reverse=True
    ),
    "sagittal": grid_affine("sagittal", SHAPE, pixel_spacing=(0.5, 0.45), slice_spacing=3.0),
}

BONE_TERMINOLOGY = (
    "Segmentation category and type - 3D Slicer General Anatomy list"
    "~SCT^85756007^Tissue~SCT^272673000^Bone~^^~Anatomic codes - DICOM master list~^^~^^"
)




#: (layer, label) of each segment above, in segment order.
PLACES = [(0, 1), (0, 2), (1, 1), (0, 3)]


def _corners() -> np.ndarray:
    last = np.array(SHAPE) - 1
    return np.array([[s, r, c] for s in (0, last[0]) for r in (0, last[1]) for c in (0, last[2])])


def _lps(affine: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return geometry.index_to_lps(affine, indices)


# -- NRRD ---------------------------------------------------------------------------------
@pytest.mark.parametrize("grid", GRIDS)
def test_nrrd_voxel_to_lps_is_the_volume_affine(tmp_path, grid):
    affine = GRIDS[grid]
    segmentation = four_segments(affine)
    path = write_segmentation_nrrd(segmentation, tmp_path / "labels.nrrd")
    data, header = nrrd.read(str(path), index_order="C")
    assert header["space"] == "left-posterior-superior"
    assert header["type"] == "uint8" and header["encoding"] == "gzip"
    assert header["kinds"] == ["list", "domain", "domain", "domain"]
    assert data.shape == (*SHAPE, 2)  # C order: (slice, row, col, layer)
    directions = header["space directions"]
    assert np.all(np.isnan(directions[0]))  # the layer axis has no direction
    column_step, row_step, slice_step = directions[1:]
    origin = header["space origin"]
    for s, r, c in _corners():
        placed = origin + c * column_step + r * row_step + s * slice_step
        np.testing.assert_allclose(placed, _lps(affine, [s, r, c])[0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(
        np.column_stack([slice_step, row_step, column_step]), affine[:3, :3]
    )
    np.testing.assert_array_equal(origin, affine[:3, 3])


@pytest.mark.parametrize("grid", ["axial anisotropic", "sheared (gantry tilt)"])
def test_nrrd_labels_per_layer_and_segment(tmp_path, grid):
    segmentation = four_segments(GRIDS[grid])
    path = write_segmentation_nrrd(segmentation, tmp_path / "labels.nrrd")
    data, header = nrrd.read(str(path), index_order="C")
    assert data.dtype == np.uint8
    for index, (segment, (layer, label)) in enumerate(zip(segmentation, PLACES, strict=True)):
        key = f"Segment{index}_"
        assert header[key + "ID"] == segment.segment_id
        assert header[key + "Name"] == segment.name
        assert [float(v) for v in header[key + "Color"].split()] == list(segment.color)
        assert (int(header[key + "Layer"]), int(header[key + "LabelValue"])) == (layer, label)
        np.testing.assert_array_equal(data[..., layer] == label, segment.mask)
    assert set(np.unique(data[..., 0])) == {0, 1, 2}
    assert set(np.unique(data[..., 1])) == {0, 1}
    fortran, _ = nrrd.read(str(path))  # NRRD axis order: the layer is the first axis
    assert fortran.shape == (2, SHAPE[2], SHAPE[1], SHAPE[0])
    np.testing.assert_array_equal(fortran[1].transpose(2, 1, 0), data[..., 1])


def test_nrrd_extents_and_terminology_follow_slicer(tmp_path):
    path = write_segmentation_nrrd(four_segments(GRIDS["double-oblique"]), tmp_path / "s.nrrd")
    header = nrrd.read_header(str(path))
    # Slicer crops a layer to the extent of its first segment: each carries its layer's
    assert header["Segment0_Extent"] == "0 10 0 5 1 6"  # column, row, slice (min max)
    assert header["Segment1_Extent"] == "0 10 0 5 1 6"
    assert header["Segment2_Extent"] == "6 9 4 7 3 4"  # alone in layer 1
    assert header["Segment3_Extent"] == "0 10 0 5 1 6"  # empty, in a layer that is not
    assert header["Segment0_Tags"] == f"TerminologyEntry:{BONE_TERMINOLOGY}|"
    assert header["Segment1_Tags"] == ""  # uncoded: no tags, as Slicer writes it
    assert not any(key.startswith("Segment4_") for key in header)


def test_nrrd_single_layer_is_3d(tmp_path):
    affine = GRIDS["tilted double-oblique, reversed"]
    segmentation = Segmentation(SHAPE, affine)
    first = segmentation.add("A", mask=box(slice(0, 3), slice(0, 9), slice(0, 11)))
    second = segmentation.add("B", mask=box(slice(4, 7), slice(2, 3), slice(5, 6)))
    path = write_segmentation_nrrd(segmentation, tmp_path / "two.nrrd")
    data, header = nrrd.read(str(path), index_order="C")
    assert data.shape == SHAPE and header["dimension"] == 3
    assert header["kinds"] == ["domain", "domain", "domain"]
    np.testing.assert_array_equal(data == 1, first.mask)
    np.testing.assert_array_equal(data == 2, second.mask)
    column_step, row_step, slice_step = header["space directions"]
    for s, r, c in _corners():
        placed = header["space origin"] + c * column_step + r * row_step + s * slice_step
        np.testing.assert_allclose(placed, _lps(affine, [s, r, c])[0], rtol=0, atol=1e-9)


def test_nrrd_names_keep_any_language_on_one_line(tmp_path):
    segmentation = Segmentation(SHAPE, GRIDS["axial anisotropic"])
    segmentation.add("Schädel – links\nzweite Zeile", mask=box(slice(0, 1)))
    path = write_segmentation_nrrd(segmentation, tmp_path / "names.nrrd")
    head = path.read_bytes().split(b"\n\n", 1)[0].decode("utf-8")
    assert "Segment0_Name:=Schädel – links zweite Zeile" in head.splitlines()
    data, _ = nrrd.read(str(path), index_order="C")
    np.testing.assert_array_equal(data == 1, segmentation.segments[0].mask)


def test_more_than_255_segments_of_a_layer_go_on_in_another(tmp_path):
    segmentation = Segmentation(SHAPE, GRIDS["axial anisotropic"])
    voxels = np.argwhere(np.ones(SHAPE, dtype=bool))[:300]
    for number, (s, r, c) in enumerate(voxels):
        segmentation.add(
            f"Voxel {number}", mask=box(slice(s, s + 1), slice(r, r + 1), slice(c, c + 1))
        )
    path = write_segmentation_nrrd(segmentation, tmp_path / "many.nrrd")
    data, header = nrrd.read(str(path), index_order="C")
    assert data.shape == (*SHAPE, 2)
    assert (header["Segment254_Layer"], header["Segment254_LabelValue"]) == ("0", "255")
    assert (header["Segment255_Layer"], header["Segment255_LabelValue"]) == ("1", "1")
    s, r, c = voxels[299]
    assert data[s, r, c, 1] == 45


def test_segmentation_without_segments_keeps_its_grid(tmp_path):
    affine = GRIDS["sagittal"]
    path = write_segmentation_nrrd(Segmentation(SHAPE, affine), tmp_path / "none.nrrd")
    data, header = nrrd.read(str(path), index_order="C")
    assert data.shape == SHAPE and not data.any()
    np.testing.assert_array_equal(header["space origin"], affine[:3, 3])
    assert not any(key.startswith("Segment0_") for key in header)


def test_overlapping_segments_go_into_two_layers():
    layers = label_layers(four_segments(GRIDS["axial anisotropic"]))
    assert layers.count == 2
    assert [(p.segment.name, p.layer, p.label) for p in layers.placements] == [
        ("Bone", 0, 1),
        ("Vessel", 0, 2),
        ("Tumour", 1, 1),
        ("Empty", 0, 3),
    ]


# -- NIfTI --------------------------------------------------------------------------------
def _ras(affine_lps: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Independent of the writer: LPS of our indices, then x and y negated."""
    return _lps(affine_lps, indices) * np.array([-1.0, -1.0, 1.0])


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("extension", [".nii.gz", ".nii"])
def test_nifti_voxel_to_ras_is_the_volume_affine(tmp_path, grid, extension):
    affine = GRIDS[grid]
    path = write_segmentation_nifti(four_segments(affine), tmp_path / f"labels{extension}")
    image = nibabel.load(path)
    header = image.header
    assert image.shape == (SHAPE[2], SHAPE[1], SHAPE[0], 2)  # (i, j, k, layer) = (col, row, slice)
    assert int(header["sform_code"]) == 1
    sheared = geometry.is_sheared(affine)
    assert int(header["qform_code"]) == (0 if sheared else 1)
    sform = header.get_sform()
    qform = header.get_qform()
    for s, r, c in _corners():
        expected = _ras(affine, [s, r, c])[0]
        np.testing.assert_allclose((sform @ [c, r, s, 1.0])[:3], expected, rtol=0, atol=1e-4)
        np.testing.assert_allclose(image.affine @ [c, r, s, 1.0], [*expected, 1.0], atol=1e-4)
        if not sheared:
            np.testing.assert_allclose((qform @ [c, r, s, 1.0])[:3], expected, rtol=0, atol=1e-3)
    np.testing.assert_allclose(header.get_zooms()[:3], geometry.voxel_spacing(affine)[::-1], 1e-6)


@pytest.mark.parametrize("extension", [".nii.gz", ".nii"])
def test_nifti_labels_per_layer_and_segment(tmp_path, extension):
    segmentation = four_segments(GRIDS["double-oblique"])
    path = write_segmentation_nifti(segmentation, tmp_path / f"labels{extension}")
    raw = path.read_bytes()
    if extension == ".nii.gz":
        assert raw[:2] == b"\x1f\x8b"
        raw = gzip.decompress(raw)
    assert struct.unpack("<i", raw[:4])[0] == 348 and raw[344:348] == b"n+1\0"
    image = nibabel.load(path)
    data = np.asarray(image.dataobj)
    assert data.dtype == np.uint8
    assert image.header.get_intent()[0] == "label"
    assert image.header.get_xyzt_units()[0] == "mm"
    for segment, (layer, label) in zip(segmentation, PLACES, strict=True):
        np.testing.assert_array_equal((data[..., layer] == label).transpose(2, 1, 0), segment.mask)


def test_nifti_single_layer_is_3d(tmp_path):
    segmentation = Segmentation(SHAPE, GRIDS["sheared (gantry tilt)"])
    segment = segmentation.add("A", mask=box(slice(2, 5), slice(1, 3), slice(0, 4)))
    image = nibabel.load(write_segmentation_nifti(segmentation, tmp_path / "one.nii.gz"))
    assert image.shape == (SHAPE[2], SHAPE[1], SHAPE[0])
    np.testing.assert_array_equal(np.asarray(image.dataobj).transpose(2, 1, 0) == 1, segment.mask)


# -- ITK, the reader 3D Slicer uses -------------------------------------------------------
#: (grid, file name): NRRD on every grid; NIfTI where not sheared, as ITK opens no sheared
#: NIfTI (it needs orthonormal directions, and a NIfTI has no other way to hold shear).
ITK_CASES = [(grid, "labels.nrrd") for grid in GRIDS] + [
    (grid, "labels.nii.gz") for grid in GRIDS if not geometry.is_sheared(GRIDS[grid])
]


@pytest.mark.parametrize(("grid", "name"), ITK_CASES)
def test_itk_reads_labels_where_the_volume_has_them(tmp_path, grid, name):
    affine = GRIDS[grid]
    segmentation = four_segments(affine)
    path = writer_for("segmentation", name).write(segmentation, tmp_path / name)
    image = sitk.ReadImage(str(path))
    extra = (0.0,) * (image.GetDimension() - 3)  # NIfTI: 4D; NRRD: 2 components per voxel
    for s, r, c in _corners():
        placed = image.TransformContinuousIndexToPhysicalPoint(
            (float(c), float(r), float(s), *extra)
        )
        np.testing.assert_allclose(placed[:3], _lps(affine, [s, r, c])[0], rtol=0, atol=1e-4)
    data = sitk.GetArrayFromImage(image)
    if image.GetDimension() == 4:
        data = np.moveaxis(data, 0, -1)  # (layer, slice, row, col) -> (slice, row, col, layer)
    for segment, (layer, label) in zip(segmentation, PLACES, strict=True):
        np.testing.assert_array_equal(data[..., layer] == label, segment.mask)


# -- atomic writing -------------------------------------------------------------------------
WRITERS = [write_segmentation_nrrd, write_segmentation_nifti]
NAMES = {write_segmentation_nrrd: "labels.nrrd", write_segmentation_nifti: "labels.nii.gz"}


def _fail_mid_write(monkeypatch, writer) -> None:
    """Make ``writer`` raise a full-disk error after part of its data went out."""
    if writer is write_segmentation_nrrd:
        original = segmentation_nrrd._slab_bytes

        def failing_slab_bytes(layers, index, scratch):
            if index > 0:  # the first slab went out
                raise OSError(28, "No space left on device")
            return original(layers, index, scratch)

        monkeypatch.setattr(segmentation_nrrd, "_slab_bytes", failing_slab_bytes)
    else:

        class FailingStream(ProgressStream):
            def write(self, data):
                if self.written:
                    raise OSError(28, "No space left on device")
                return super().write(data)

        monkeypatch.setattr(segmentation_nifti, "ProgressStream", FailingStream)


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: NAMES[w])
def test_failing_write_keeps_the_previous_file(tmp_path, monkeypatch, writer):
    target = tmp_path / NAMES[writer]
    target.write_bytes(b"previous version")
    _fail_mid_write(monkeypatch, writer)
    with pytest.raises(ExportError, match="No space left"):
        writer(four_segments(GRIDS["double-oblique"]), target)
    assert target.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == [target.name]


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: NAMES[w])
def test_failing_first_write_leaves_no_file(tmp_path, monkeypatch, writer):
    _fail_mid_write(monkeypatch, writer)
    with pytest.raises(ExportError, match="No space left"):
        writer(four_segments(GRIDS["axial anisotropic"]), tmp_path / NAMES[writer])
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: NAMES[w])
def test_cancel_mid_write_keeps_the_previous_file(tmp_path, writer):
    target = tmp_path / NAMES[writer]
    target.write_bytes(b"previous version")
    token = CancelToken()
    reports: list[float] = []

    def progress(fraction: float, text: str) -> None:
        reports.append(fraction)
        if fraction > 0.1:
            token.cancel()

    with pytest.raises(Cancelled):
        writer(four_segments(GRIDS["sagittal"]), target, progress=progress, cancel=token)
    assert target.read_bytes() == b"previous version"
    assert os.listdir(tmp_path) == [target.name]
    assert 0.1 < max(reports) < 1.0


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: NAMES[w])
def test_progress_runs_to_the_end(tmp_path, writer):
    reports: list[tuple[float, str]] = []
    writer(
        four_segments(GRIDS["sagittal"]),
        tmp_path / NAMES[writer],
        progress=lambda *a: reports.append(a),
    )
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert reports[-1][1] == f"Writing {NAMES[writer]}"


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: NAMES[w])
def test_bad_folder_fails_before_any_work(tmp_path, writer):
    with pytest.raises(ExportError, match="does not exist"):
        writer(four_segments(GRIDS["sagittal"]), tmp_path / "missing" / NAMES[writer])
    assert os.listdir(tmp_path) == []
