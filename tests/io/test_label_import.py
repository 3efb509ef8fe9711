"""Multi-label NIfTI and NRRD label maps as segments, with label tables in every supported form.

Files are written with nibabel and pynrrd (independent writers) in RAS, oblique and sheared;
every expected voxel position is computed from the stored NIfTI/NRRD matrices themselves.
"""

from __future__ import annotations

import json

import nibabel
import nrrd
import numpy as np
import pytest

from tests.processing.spheres import rotation
from workstation.core import geometry
from workstation.core.errors import MemoryLimitError, SegmentationError
from workstation.core.segmentation import Segmentation
from workstation.io.label_tables import LabelEntry, parse_caret_xml, read_label_table
from workstation.io.readers import reader_for
from workstation.io.segmentation_nifti_read import read_segmentation_nifti
from workstation.io.segmentation_nrrd import write_segmentation_nrrd
from workstation.io.segmentation_nrrd_read import read_segmentation_nrrd

#: NIfTI (i, j, k) sizes: all different, so any swapped axis shows.
SIZE = (11, 9, 7)
VALUES = (1, 4, 200)

#: Voxel (i, j, k) -> RAS mm matrices.
OBLIQUE = np.eye(4)
OBLIQUE[:3, :3] = rotation("z", 25.0) @ rotation("x", -12.0) @ np.diag([0.8, 0.7, 2.5])
OBLIQUE[:3, 3] = (-40.25, 31.5, -12.0)
SHEARED = np.array(
    [
        [-0.9, 0.0, 0.0, 60.0],
        [0.0, -0.9, 0.6, 80.0],  # the slice step leans along y: gantry tilt
        [0.0, 0.0, 1.25, -150.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
AFFINES = {"oblique": OBLIQUE, "sheared": SHEARED}
TO_LPS = np.array([-1.0, -1.0, 1.0])


def label_data(dtype=np.uint8) -> np.ndarray:
    """Labels on NIfTI axes (i, j, k): three boxes, one touching the last corner."""
    data = np.zeros(SIZE, dtype=dtype)
    data[1:4, 2:5, 0:2] = VALUES[0]
    data[5:9, 0:3, 3:6] = VALUES[1]
    data[9:, 6:, 5:] = VALUES[2]
    return data


def write_nifti(path, data, affine=OBLIQUE, sform_code=1, qform_code=1, extension=None):
    image = nibabel.Nifti1Image(data, affine, dtype=data.dtype)
    image.set_sform(affine, code=sform_code)
    image.set_qform(affine, code=qform_code)
    if extension is not None:
        image.header.extensions.append(nibabel.nifti1.Nifti1Extension(0, extension))
    nibabel.save(image, str(path))
    return path


def expected_lps(matrix: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """LPS of NIfTI voxels (N, 3) under a stored voxel-to-RAS matrix."""
    ras = np.asarray(ijk, float) @ matrix[:3, :3].T + matrix[:3, 3]
    return ras * TO_LPS


def check_voxels(imported, data, matrix, names):
    """Every structure holds exactly its value's voxels, each at its LPS point."""
    assert [s.name for s in imported.structures] == list(names)
    for structure, value in zip(imported.structures, VALUES, strict=True):
        mask = imported.mask(structure)
        ijk = np.argwhere(data == value)
        ours = np.argwhere(mask)
        assert len(ours) == len(ijk)
        assert {tuple(v) for v in ours[:, ::-1]} == {tuple(v) for v in ijk}  # (k,j,i) = (s,r,c)
        placed = geometry.index_to_lps(imported.affine, ijk[:, ::-1])
        np.testing.assert_allclose(placed, expected_lps(matrix, ijk), rtol=0, atol=1e-9)
        assert mask[tuple(ijk[:, ::-1].T)].all()


# -- NIfTI -------------------------------------------------------------------------------------
@pytest.mark.parametrize("grid", AFFINES)
@pytest.mark.parametrize("extension", [".nii", ".nii.gz"])
def test_multi_label_nifti_gives_one_segment_per_value(tmp_path, grid, extension):
    data = label_data()
    path = write_nifti(tmp_path / f"labels{extension}", data, AFFINES[grid])
    imported = reader_for("segmentation", path).read(path)
    stored = nibabel.load(str(path)).header.get_sform()  # float32, as the file holds it
    check_voxels(imported, data, stored, ["Label 1", "Label 4", "Label 200"])
    assert imported.source == "NIfTI label map" and imported.warnings == []
    assert imported.shape == SIZE[::-1]


def test_sform_is_preferred_then_qform_and_neither_is_refused(tmp_path):
    data = label_data()
    shifted = OBLIQUE.copy()
    shifted[:3, 3] += (5.0, 0.0, 0.0)
    image = nibabel.Nifti1Image(data, OBLIQUE)
    image.set_qform(shifted, code=1)
    image.set_sform(OBLIQUE, code=2)
    nibabel.save(image, str(tmp_path / "both.nii"))
    both = read_segmentation_nifti(tmp_path / "both.nii")
    check_voxels(both, data, image.header.get_sform(), ["Label 1", "Label 4", "Label 200"])

    write_nifti(tmp_path / "qform.nii", data, OBLIQUE, sform_code=0, qform_code=1)
    qform_only = read_segmentation_nifti(tmp_path / "qform.nii")
    stored_q = nibabel.load(str(tmp_path / "qform.nii")).header.get_qform()
    check_voxels(qform_only, data, stored_q, ["Label 1", "Label 4", "Label 200"])

    write_nifti(tmp_path / "none.nii", data, OBLIQUE, sform_code=0, qform_code=0)
    with pytest.raises(SegmentationError, match=r"none\.nii: has no orientation"):
        read_segmentation_nifti(tmp_path / "none.nii")


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.uint32, np.int64])
def test_integer_labels_of_any_width(tmp_path, dtype):
    data = label_data(dtype)
    data[data == 200] = 70000 if np.iinfo(dtype).max > 70000 else 3000
    path = write_nifti(tmp_path / "wide.nii.gz", data)
    imported = read_segmentation_nifti(path)
    big = int(data.max())
    assert [s.label for s in imported.structures] == [1, 4, big]
    assert np.count_nonzero(imported.mask(imported.structures[2])) == np.count_nonzero(data == big)


def test_whole_valued_float_and_scaled_data_are_labels_fractions_are_not(tmp_path):
    data = label_data().astype(np.float32)
    imported = read_segmentation_nifti(write_nifti(tmp_path / "float.nii", data))
    assert [s.label for s in imported.structures] == list(VALUES)
    scaled = nibabel.Nifti1Image(label_data(), OBLIQUE)
    scaled.header.set_slope_inter(2.0, 0.0)
    nibabel.save(scaled, str(tmp_path / "scaled.nii"))
    assert [s.label for s in read_segmentation_nifti(tmp_path / "scaled.nii").structures] == [
        2,
        8,
        400,
    ]
    data[0, 0, 0] = 0.5
    with pytest.raises(SegmentationError, match="not whole numbers"):
        read_segmentation_nifti(write_nifti(tmp_path / "fraction.nii", data))


def test_4d_nifti_is_refused_and_a_single_volume_4d_is_read(tmp_path):
    data = np.stack([label_data(), label_data()], axis=-1)
    with pytest.raises(SegmentationError, match=r"4D image \(2 volumes\)"):
        read_segmentation_nifti(write_nifti(tmp_path / "two.nii.gz", data))
    single = read_segmentation_nifti(write_nifti(tmp_path / "one.nii.gz", data[..., :1]))
    assert single.shape == SIZE[::-1] and len(single.structures) == 3


def test_the_memory_limit_is_checked_before_the_voxels_are_read(tmp_path, monkeypatch):
    path = write_nifti(tmp_path / "big.nii.gz", np.zeros((200, 200, 100), np.int16))
    monkeypatch.setenv("WORKSTATION_MEMORY_LIMIT", "10M")
    with pytest.raises(MemoryLimitError, match=r"reading big\.nii\.gz \(4,000,000 voxels\)"):
        read_segmentation_nifti(path)


def test_broken_nifti_is_refused_in_one_line(tmp_path):
    path = tmp_path / "broken.nii.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(SegmentationError) as caught:
        read_segmentation_nifti(path)
    assert "broken.nii.gz" in str(caught.value) and "\n" not in str(caught.value)


# -- label tables ----------------------------------------------------------------------------
ITKSNAP = """\
################################################
# ITK-SnAP Label Description File
#    IDX   = Zero-based index
#    -R-   = Red color component (0..255)
#    LABEL = Label description
################################################
    0     0    0    0        0  0  0    "Clear Label"
    1   255    0    0        1  1  1    "Liver"
    4     0  255    0        1  1  1    "Right kidney"
  200     0    0  255        1  1  1    "Tumour "quoted" part"
"""
SLICER = """\
# Color table file labels.ctbl
# 3 values
0 Background 0 0 0 0
1 Liver 255 0 0 255
4 Right_kidney 0 255 0 255
200 Tumour 0 0 255 255
"""
TABLES = {
    "labels.txt": ITKSNAP,
    "labels.ctbl": SLICER,
    "flat.json": json.dumps({"1": "Liver", "4": "Right kidney", "200": "Tumour"}),
    "coloured.json": json.dumps(
        {"1": {"name": "Liver", "color": [255, 0, 0]}, "4": "Right kidney", "200": "Tumour"}
    ),
    "list.json": json.dumps(
        [
            {"value": 1, "name": "Liver", "color": [1.0, 0.0, 0.0]},
            {"value": 4, "name": "Right kidney"},
            {"value": 200, "name": "Tumour"},
        ]
    ),
    "dataset.json": json.dumps(
        {"name": "x", "labels": {"background": 0, "Liver": 1, "Right kidney": 4, "Tumour": 200}}
    ),
    "class_map.json": json.dumps({"total": {"1": "Liver", "4": "Right kidney", "200": "Tumour"}}),
    "table.csv": "LabelValue,Name,Color_R,Color_G,Color_B,Color_A\n"
    "1,Liver,255,0,0,255\n4,Right kidney,0,255,0,255\n200,Tumour,0,0,255,255\n",
    "plain.csv": "1,Liver\n4,Right kidney\n200,Tumour\n",
}
NAMES = {
    "labels.txt": ["Liver", "Right kidney", 'Tumour "quoted" part'],
    "labels.ctbl": ["Liver", "Right_kidney", "Tumour"],
}


@pytest.mark.parametrize("name", TABLES)
def test_label_tables_of_each_kind_name_the_segments(tmp_path, name):
    (tmp_path / name).write_text(TABLES[name], encoding="utf-8")
    table = read_label_table(tmp_path / name)
    data = label_data()
    path = write_nifti(tmp_path / "labels.nii.gz", data, SHEARED)
    imported = read_segmentation_nifti(path, table)
    names = NAMES.get(name, ["Liver", "Right kidney", "Tumour"])
    check_voxels(imported, data, nibabel.load(str(path)).header.get_sform(), names)
    coloured = name in ("labels.txt", "labels.ctbl", "coloured.json", "list.json", "table.csv")
    liver = imported.structures[0]
    assert liver.color == ((1.0, 0.0, 0.0) if coloured else None)
    assert imported.warnings == []


def test_values_missing_from_the_table_are_named_and_reported(tmp_path):
    (tmp_path / "partial.json").write_text(json.dumps({"1": "Liver", "7": "Spleen"}))
    data = label_data()
    imported = read_segmentation_nifti(
        write_nifti(tmp_path / "l.nii", data), read_label_table(tmp_path / "partial.json")
    )
    assert [s.name for s in imported.structures] == ["Liver", "Label 4", "Label 200"]
    assert imported.warnings == ["label(s) 4, 200 of l.nii are not in the label table"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.txt", '  1 255 0 0 1 1 1 "A"\n  x y z\n', "line 2"),
        ("bad.ctbl", "1 Liver 255 0\n", "line 1 is not 'index name r g b a'"),
        ("bad.json", "{not json", "not JSON"),
        ("tasks.json", json.dumps({"a": {"1": "x"}, "b": {"1": "y"}}), "2 tasks"),
        ("bad.csv", "1,Liver,300,0,0\n", "row 1"),
        ("empty.json", "{}", "names no label"),
    ],
)
def test_broken_label_tables_are_refused_in_one_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(SegmentationError, match=message) as caught:
        read_label_table(tmp_path / name)
    assert name in str(caught.value) and "\n" not in str(caught.value)


def caret_xml(label_map: dict[int, str]) -> bytes:
    """The label table XML as TotalSegmentator's add_label_map_to_nifti builds it."""
    colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]]
    body = ""
    for key, name in label_map.items():
        red, green, blue = colours[key % len(colours)]
        body += (
            f'<Label Key="{key}" Red="{red / 255}" Green="{green / 255}" Blue="{blue / 255}"'
            f' Alpha="1"><![CDATA[{name}]]></Label>\n'
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?> <CaretExtension>  '
        '<Date><![CDATA[2013-07-14T05:45:09]]></Date>   <VolumeInformation Index="0">   '
        "<LabelTable>\n"
        + body
        + "\n  </LabelTable>  <StudyMetaDataLinkSet>  </StudyMetaDataLinkSet>  <VolumeType>"
        "<![CDATA[Label]]></VolumeType>   </VolumeInformation></CaretExtension>\n              "
    )
    return xml.encode("utf-8")


def test_totalsegmentator_names_in_the_header_extension(tmp_path):
    names = {1: "spleen", 4: "kidney_right", 200: "liver", 7: "stomach"}
    data = label_data()
    path = write_nifti(tmp_path / "total.nii.gz", data, OBLIQUE, extension=caret_xml(names))
    imported = read_segmentation_nifti(path)
    assert imported.source == "TotalSegmentator label map"
    check_voxels(
        imported,
        data,
        nibabel.load(str(path)).header.get_sform(),
        ["spleen", "kidney_right", "liver"],
    )
    assert imported.structures[0].color == (0.0, 1.0, 0.0)  # colours[1 % 4]
    assert imported.structures[1].color == (1.0, 0.0, 0.0)  # colours[4 % 4]
    # a table the user gives wins over the names the file carries
    (tmp_path / "mine.json").write_text(json.dumps({"4": "Right kidney"}))
    renamed = read_segmentation_nifti(path, read_label_table(tmp_path / "mine.json"))
    assert [s.name for s in renamed.structures] == ["spleen", "Right kidney", "liver"]
    assert parse_caret_xml(caret_xml({3: "x"})) == {3: LabelEntry("x", (1.0, 1.0, 0.0))}


# -- plain NRRD label maps -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("space", "to_lps"),
    [
        ("right-anterior-superior", (-1.0, -1.0, 1.0)),
        ("RAS", (-1.0, -1.0, 1.0)),
        ("left-anterior-superior", (1.0, -1.0, 1.0)),
        ("left-posterior-superior", (1.0, 1.0, 1.0)),
        ("scanner-xyz", (1.0, 1.0, 1.0)),
    ],
)
def test_nrrd_label_map_in_any_patient_space_lands_in_lps(tmp_path, space, to_lps):
    data = label_data(np.int16)  # NRRD axis order (i, j, k), as pynrrd's default writes
    directions = SHEARED[:3, :3].T  # one row per axis
    origin = SHEARED[:3, 3]
    header = {"space": space, "space directions": directions, "space origin": origin}
    path = tmp_path / "labels.nrrd"
    nrrd.write(str(path), data, header)
    imported = read_segmentation_nrrd(path)
    assert imported.source == "NRRD label map"
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = directions.T, origin
    flip = np.asarray(to_lps)
    for structure, value in zip(imported.structures, VALUES, strict=True):
        ijk = np.argwhere(data == value)
        assert imported.mask(structure)[tuple(ijk[:, ::-1].T)].all()
        placed = geometry.index_to_lps(imported.affine, ijk[:, ::-1])
        file_space = ijk @ matrix[:3, :3].T + matrix[:3, 3]
        np.testing.assert_allclose(placed, file_space * flip, rtol=0, atol=1e-9)
    assert [s.name for s in imported.structures] == ["Label 1", "Label 4", "Label 200"]


def test_nrrd_label_map_takes_names_from_a_table(tmp_path):
    (tmp_path / "labels.txt").write_text(ITKSNAP)
    header = {"space": "LPS", "space directions": np.eye(3), "space origin": np.zeros(3)}
    nrrd.write(str(tmp_path / "seg.nrrd"), label_data(), header)
    imported = read_segmentation_nrrd(
        tmp_path / "seg.nrrd", read_label_table(tmp_path / "labels.txt")
    )
    assert [s.name for s in imported.structures][:2] == ["Liver", "Right kidney"]
    assert imported.structures[1].color == (0.0, 1.0, 0.0)


def test_a_slicer_file_with_a_label_table_keeps_its_own_names(tmp_path):
    segmentation = Segmentation((3, 4, 5), np.eye(4))
    segmentation.add("Bone", mask=np.ones((3, 4, 5), dtype=bool))
    path = write_segmentation_nrrd(segmentation, tmp_path / "s.seg.nrrd")
    imported = read_segmentation_nrrd(path, {1: LabelEntry("Liver")})
    assert [s.name for s in imported.structures] == ["Bone"]
    assert imported.warnings == ["s.seg.nrrd names its own segments: the label table was not used"]
