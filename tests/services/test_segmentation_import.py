"""Importing segmentation files onto a volume: same grid, crops, resampling, refusal, replay.

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
    import_records,
    import_segmentation,
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
