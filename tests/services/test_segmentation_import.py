"""Importing segmentation files onto a volume: same grid, crops, resampling, refusal, replay.

Choosing structures by name happens before placing, so the memory check counts only the
chosen ones; the chooser's list (names, voxel counts) is checked against numpy counts.

Resampled voxels are checked against the brute-force nearest-neighbour oracle of the
resampling tests; the import operation is checked through a real SegmentEditor: one undo
step, a replay that gives the same voxels, and a clear error when the file changed.
"""

from __future__ import annotations

import hashlib
import json

import nibabel
import numpy as np
import pytest

from tests.processing.spheres import rotation
from tests.processing.test_label_resampling import brute_force
from workstation.core import geometry
from workstation.core.coded_concepts import COMMON_TERMS
from workstation.core.errors import InputPathError, MemoryLimitError, SegmentationError
from workstation.core.operations import OperationError, normalise, parse_operations
from workstation.core.segmentation import Segmentation
from workstation.core.volume import Volume
from workstation.io.segmentation_nifti_read import SWAP_I_K
from workstation.io.segmentation_nrrd import write_segmentation_nrrd
from workstation.services.export import write_operations
from workstation.services.segment_editor import SegmentEditor
from workstation.services.segmentation_import import (
    StructureInfo,
    import_records,
    import_segmentation,
    list_structures,
)

SHAPE = (12, 14, 16)  # slices, rows, columns
AFFINE = np.array(
    [
        [0.0, 0.0, 0.8, -6.0],
        [0.0, 0.9, 0.0, 4.0],
        [1.25, 0.0, 0.0, 30.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
BONE_CATEGORY, BONE_TYPE = COMMON_TERMS["Bone"]


def volume() -> Volume:
    return Volume(np.zeros(SHAPE, dtype=np.int16), AFFINE.copy(), units="HU")


def _box(*ranges: slice) -> np.ndarray:
    mask = np.zeros(SHAPE, dtype=bool)
    mask[ranges] = True
    return mask


def seg_nrrd(path, affine=AFFINE) -> Segmentation:
    segmentation = Segmentation(SHAPE, affine)
    segmentation.add(
        "Bone",
        (0.9, 0.8, 0.7),
        _box(slice(2, 6), slice(3, 9), slice(4, 10)),
        category=BONE_CATEGORY,
        type=BONE_TYPE,
    )
    segmentation.add("Tumour", (0.2, 0.6, 0.3), _box(slice(4, 8), slice(5, 10), slice(6, 12)))
    write_segmentation_nrrd(segmentation, path)
    return segmentation


#: A coarser (about 2x), shifted and rotated grid, LPS; labels 1, 2, 5.
COARSE = np.eye(4)
COARSE[:3, :3] = rotation("z", 21.0) @ np.column_stack(
    [[0.0, 0.0, 2.6], [0.0, 1.8, 0.0], [1.6, 0.0, 0.0]]
)
COARSE[:3, 3] = (-4.3, 5.1, 31.7)
COARSE_SHAPE = (6, 8, 9)


def coarse_labels() -> np.ndarray:
    labels = np.zeros(COARSE_SHAPE, dtype=np.uint8)
    labels[1:4, 1:5, 2:6] = 1
    labels[3:5, 4:7, 1:4] = 2
    labels[0, 0, 0] = 5
    return labels


def write_coarse_nifti(path, labels=None, affine=COARSE):
    labels = coarse_labels() if labels is None else labels
    ras = geometry.LPS_TO_RAS @ affine @ SWAP_I_K
    image = nibabel.Nifti1Image(labels.transpose(2, 1, 0), ras)
    image.set_sform(ras, code=1)
    nibabel.save(image, str(path))
    stored = nibabel.load(str(path)).header.get_sform()
    return geometry.LPS_TO_RAS @ stored @ SWAP_I_K  # the LPS affine the file holds


# -- placing on the volume ---------------------------------------------------------------
def test_a_file_on_the_volumes_grid_imports_as_it_is(tmp_path):
    written = seg_nrrd(tmp_path / "case.seg.nrrd")
    result = import_segmentation(tmp_path / "case.seg.nrrd", volume())
    assert result.warnings == [] and result.source == "3D Slicer segmentation"
    assert result.segmentation.same_grid(volume())
    for original, imported in zip(written, result.segments, strict=True):
        assert (imported.name, imported.color) == (original.name, original.color)
        assert (imported.category, imported.type) == (original.category, original.type)
        np.testing.assert_array_equal(imported.mask, original.mask)


def test_a_coarser_rotated_file_is_resampled_by_nearest_neighbour(tmp_path):
    path = tmp_path / "coarse.nii.gz"
    stored = write_coarse_nifti(path)
    result = import_segmentation(path, volume())
    assert result.warnings[-1] == (
        "coarse.nii.gz: resampled from 1.6 x 1.8 x 2.6 mm onto the volume's grid "
        "(nearest neighbour)"
    )
    expected = brute_force(coarse_labels(), stored, SHAPE, AFFINE)
    assert [s.name for s in result.segments] == ["Label 1", "Label 2", "Label 5"]
    for segment, value in zip(result.segments, (1, 2, 5), strict=True):
        np.testing.assert_array_equal(segment.mask, expected == value, err_msg=segment.name)
    assert result.segments[0].mask.any() and result.segments[1].mask.any()


def test_a_partly_outside_file_says_how_much_is_left_out(tmp_path):
    labels = np.ones((4, 4, 4), dtype=np.uint8)
    affine = AFFINE.copy()
    affine[:3, 3] = geometry.index_to_lps(AFFINE, [[0, 0, 14]])[0]  # columns 14..17 of 0..15
    path = tmp_path / "edge.nii"
    write_coarse_nifti(path, labels, affine)
    result = import_segmentation(path, volume())
    assert result.warnings == ["50.0% of the labelled voxels of edge.nii lie outside the volume"]
    assert np.count_nonzero(result.segments[0].mask) == 4 * 4 * 2


def test_a_file_that_does_not_overlap_is_refused_naming_both_extents(tmp_path):
    far = COARSE.copy()
    far[:3, 3] += (400.0, 0.0, 0.0)
    path = tmp_path / "far.nii.gz"
    write_coarse_nifti(path, affine=far)
    with pytest.raises(SegmentationError) as caught:
        import_segmentation(path, volume())
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("far.nii.gz does not overlap the volume: its grid spans x ")
    low, high = geometry.bounding_box(SHAPE, AFFINE)
    assert f"the volume x {low[0]:.1f} to {high[0]:.1f}, y {low[1]:.1f} to {high[1]:.1f}" in message


def test_an_import_larger_than_the_memory_limit_is_refused(tmp_path, monkeypatch):
    seg_nrrd(tmp_path / "case.seg.nrrd")
    monkeypatch.setenv("WORKSTATION_MEMORY_LIMIT", "30K")  # reading fits, the import not
    with pytest.raises(MemoryLimitError, match="importing 2 segments"):
        import_segmentation(tmp_path / "case.seg.nrrd", volume())


def test_a_missing_file_or_unknown_format_is_refused(tmp_path):
    with pytest.raises(InputPathError, match="does not exist"):
        import_segmentation(tmp_path / "none.seg.nrrd", volume())
    (tmp_path / "labels.mha").write_bytes(b"x")
    with pytest.raises(InputPathError, match="unknown segmentation format"):
        import_segmentation(tmp_path / "labels.mha", volume())


# -- the operation -----------------------------------------------------------------------------
def test_import_records_hold_the_file_and_its_sha256(tmp_path):
    path = tmp_path / "case.seg.nrrd"
    seg_nrrd(path)
    (record,) = import_records(path)
    assert record == {
        "op": "import_segmentation",
        "path": str(path.resolve()),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "label_table": None,
        "names": None,
    }


def test_an_import_is_one_undo_step_and_one_recorded_operation(tmp_path):
    path = tmp_path / "coarse.nii.gz"
    write_coarse_nifti(path)
    editor = SegmentEditor(volume())
    editor.apply({"op": "add_segment", "name": "Label 1"})
    (record,) = import_records(path)
    pending = editor.apply(record)
    assert editor.segmentation.names == ["Label 1", "Label 1 2", "Label 2", "Label 5"]
    assert editor.operations[-1] == record
    assert any("resampled" in note for note in pending.notes)
    assert pending.notes[-1] == "Imported 3 segment(s) from coarse.nii.gz"
    assert editor.undo_description() == "Import coarse.nii.gz"
    assert editor.undo()
    assert editor.segmentation.names == ["Label 1"]
    assert editor.redo()
    assert editor.segmentation.names == ["Label 1", "Label 1 2", "Label 2", "Label 5"]


def test_the_import_replays_from_an_operations_file(tmp_path):
    path = tmp_path / "coarse.nii.gz"
    write_coarse_nifti(path)
    table = tmp_path / "names.json"
    table.write_text(json.dumps({"1": "Liver", "2": "Spleen", "5": "Stray"}))
    first = SegmentEditor(volume())
    first.apply_all(import_records(path, table, names=["Spleen", "Liver"]))
    assert first.segmentation.names == ["Spleen", "Liver"]
    saved = write_operations(tmp_path / "ops.json", first.operations)
    segments, operations = parse_operations(json.loads(saved.read_text()))
    again = SegmentEditor(volume())
    again.apply_all(segments + operations)
    for one, two in zip(first.segmentation, again.segmentation, strict=True):
        assert one.name == two.name
        np.testing.assert_array_equal(one.mask, two.mask)


def test_an_altered_or_missing_file_fails_the_replay_naming_it(tmp_path):
    path = tmp_path / "case.seg.nrrd"
    seg_nrrd(path)
    records = import_records(path)
    seg_nrrd(path)  # written again: the same bytes
    SegmentEditor(volume()).apply_all(records)  # unchanged content replays
    segmentation = Segmentation(SHAPE, AFFINE)
    segmentation.add("Other", mask=_box(slice(0, 1)))
    write_segmentation_nrrd(segmentation, path)
    with pytest.raises(
        OperationError,
        match=r"operation 0 \(import_segmentation\): .*"
        r"case\.seg\.nrrd changed since it was imported",
    ):
        SegmentEditor(volume()).apply_all(records)
    path.unlink()
    with pytest.raises(OperationError, match=r"case\.seg\.nrrd is missing"):
        SegmentEditor(volume()).apply_all(records)


def test_unknown_names_and_bad_records_are_refused(tmp_path):
    path = tmp_path / "case.seg.nrrd"
    seg_nrrd(path)
    (record,) = import_records(path)
    with pytest.raises(
        OperationError, match="has no segment 'Liver' \\(it has 'Bone', 'Tumour'\\)"
    ):
        SegmentEditor(volume()).apply({**record, "names": ["Liver"]})
    with pytest.raises(OperationError, match="sha256 must be 64 hexadecimal digits"):
        normalise({**record, "sha256": "abc"})
    with pytest.raises(OperationError, match="names must be a non-empty list"):
        normalise({**record, "names": []})


def test_a_file_that_does_not_overlap_fails_the_operation_in_one_line(tmp_path):
    far = COARSE.copy()
    far[:3, 3] += (0.0, -300.0, 0.0)
    path = tmp_path / "far.nii"
    write_coarse_nifti(path, affine=far)
    editor = SegmentEditor(volume())
    with pytest.raises(OperationError, match=r"far\.nii does not overlap the volume") as caught:
        editor.apply(import_records(path)[0])
    assert "\n" not in str(caught.value)
    assert editor.segmentation.names == [] and editor.operations == []


# -- choosing structures -----------------------------------------------------------------------
def ten_labels() -> np.ndarray:
    """Labels 1..10 on the volume's grid, label n in slice n (rows and columns vary in size)."""
    labels = np.zeros(SHAPE, dtype=np.uint8)
    for value in range(1, 11):
        labels[value, : value + 2, : 16 - value] = value
    return labels


def test_names_are_chosen_before_the_memory_check(tmp_path, monkeypatch):
    path = tmp_path / "total.nii.gz"
    labels = ten_labels()
    write_coarse_nifti(path, labels, AFFINE)
    voxels = int(np.prod(SHAPE))
    # The import needs a byte per voxel and mask plus 8 per layer: 3 masks fit, 10 do not.
    monkeypatch.setenv("WORKSTATION_MEMORY_LIMIT", str(voxels * (3 + 8)))
    with pytest.raises(MemoryLimitError, match="importing 10 segments"):
        import_segmentation(path, volume())
    result = import_segmentation(path, volume(), names=["Label 7", "Label 2"])
    assert [segment.name for segment in result.segments] == ["Label 7", "Label 2"]
    assert result.segmentation.same_grid(volume())
    for segment, value in zip(result.segments, (7, 2), strict=True):
        np.testing.assert_array_equal(segment.mask, labels == value, err_msg=segment.name)
        assert np.count_nonzero(segment.mask) == (value + 2) * (16 - value)


def test_names_on_a_resampled_file_and_a_second_layer(tmp_path):
    path = tmp_path / "coarse.nii.gz"
    stored = write_coarse_nifti(path)
    result = import_segmentation(path, volume(), names=["Label 5", "Label 1"])
    expected = brute_force(coarse_labels(), stored, SHAPE, AFFINE)
    assert [s.name for s in result.segments] == ["Label 5", "Label 1"]
    for segment, value in zip(result.segments, (5, 1), strict=True):
        np.testing.assert_array_equal(segment.mask, expected == value, err_msg=segment.name)
    written = seg_nrrd(tmp_path / "case.seg.nrrd")  # Bone and Tumour overlap: two layers
    (tumour,) = import_segmentation(tmp_path / "case.seg.nrrd", volume(), names=["Tumour"]).segments
    assert tumour.name == "Tumour" and tumour.color == (0.2, 0.6, 0.3)
    np.testing.assert_array_equal(tumour.mask, written.by_name("Tumour").mask)


def test_an_unknown_name_is_refused_before_placing(tmp_path):
    seg_nrrd(tmp_path / "case.seg.nrrd")
    with pytest.raises(
        SegmentationError,
        match=r"^case\.seg\.nrrd has no segment 'Liver', 'Lung' \(it has 'Bone', 'Tumour'\)$",
    ):
        import_segmentation(tmp_path / "case.seg.nrrd", volume(), names=["Bone", "Liver", "Lung"])


def test_list_structures_counts_the_voxels_of_each_label(tmp_path):
    path = tmp_path / "total.nii.gz"
    labels = ten_labels()
    labels[0, 0, :3] = 200  # a value the table does not name
    write_coarse_nifti(path, labels, AFFINE)
    table = tmp_path / "names.json"
    table.write_text(
        json.dumps({str(v): {"name": f"organ {v}", "color": [v, 0, 0]} for v in range(1, 11)})
    )
    structures = list_structures(path, table)
    values, counts = np.unique(labels[labels != 0], return_counts=True)
    assert [s.label for s in structures] == values.tolist()
    assert [s.voxels for s in structures] == counts.tolist()
    assert [s.name for s in structures] == [f"organ {v}" for v in range(1, 11)] + ["Label 200"]
    assert {s.layer for s in structures} == {0}
    assert structures[2].color == pytest.approx((3 / 255, 0.0, 0.0))
    assert all(isinstance(s, StructureInfo) for s in structures)


def test_list_structures_of_a_layered_seg_nrrd(tmp_path):
    written = seg_nrrd(tmp_path / "case.seg.nrrd")
    structures = list_structures(tmp_path / "case.seg.nrrd")
    assert [s.name for s in structures] == ["Bone", "Tumour"]
    assert sorted(s.layer for s in structures) == [0, 1]  # they overlap
    for info, segment in zip(structures, written, strict=True):
        assert info.voxels == np.count_nonzero(segment.mask)
        assert info.color == segment.color


def test_the_share_outside_counts_only_the_chosen_structures(tmp_path):
    labels = np.zeros((4, 4, 8), dtype=np.uint8)
    labels[..., :4] = 1  # columns 10..13 of the volume's 0..15: inside
    labels[..., 4:] = 2  # columns 14..17: half outside
    affine = AFFINE.copy()
    affine[:3, 3] = geometry.index_to_lps(AFFINE, [[0, 0, 10]])[0]
    path = tmp_path / "edge.nii"
    write_coarse_nifti(path, labels, affine)
    outside = "of the labelled voxels of edge.nii lie outside the volume"
    assert import_segmentation(path, volume()).warnings == [f"25.0% {outside}"]
    assert import_segmentation(path, volume(), names=["Label 2"]).warnings == [f"50.0% {outside}"]
    (inside,) = import_segmentation(path, volume(), names=["Label 1"]).segments
    assert np.count_nonzero(inside.mask) == 4 * 4 * 4
    assert import_segmentation(path, volume(), names=["Label 1"]).warnings == []
