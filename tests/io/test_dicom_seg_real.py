"""DICOM SEG on irregular stacks (spacing that is no multiple of one step) and on real CT:
written, valid for dciodvfy, and read back onto the volume with the voxels of every slice
that lies on a source frame."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from tests.io.dicom_seg_cases import series_case, two_segments
from tests.io.test_dicom_seg import dciodvfy_errors
from tests.support.shared_data import shared_data_path
from workstation.core.errors import ExportError, SegmentationError
from workstation.core.segmentation import Segmentation
from workstation.io.dicom.source_context import source_context
from workstation.io.dicom_seg import write_dicom_seg
from workstation.io.dicom_seg_read import read_dicom_seg
from workstation.services.loading import load_volume
from workstation.services.segmentation_import import import_segmentation
from workstation.services.segmenting import replay, shortcut_operations

IRREGULAR_Z = [0.0, 1.1, 2.2, 5.0, 9.0, 10.1, 12.0, 13.3]


def source_slices(volume, positions) -> list[int]:
    """The volume slice nearest each source position (through the volume's affine)."""
    inverse = np.linalg.inv(volume.affine)
    return [int(np.rint((inverse @ (*p, 1.0))[0])) for p in positions]


def test_irregular_stack_round_trip(tmp_path):
    positions = [(0.0, 0.3 * z, z) for z in IRREGULAR_Z]  # tilted as well
    case = series_case(tmp_path / "series", positions)
    assert case.volume.shape[0] != len(positions)  # the loader resampled the stack
    segmentation = two_segments(case.volume)
    path = write_dicom_seg(segmentation, tmp_path / "out.dcm", case.source)
    assert dciodvfy_errors(path) == []
    imported = read_dicom_seg(path)
    assert len(imported.warnings) == 1 and "unevenly spaced" in imported.warnings[0]
    result = import_segmentation(path, case.volume)
    slices = source_slices(case.volume, positions)
    for original, back in zip(segmentation.segments, result.segments, strict=False):
        np.testing.assert_array_equal(back.mask[slices], original.mask[slices])


def _bone_round_trip(tmp_path, folder: str) -> tuple[object, object, list[int]]:
    loaded = load_volume(shared_data_path(folder))
    operations = shortcut_operations(
        loaded.volume,
        preset="bone",
        lower=None,
        upper=None,
        largest=True,
        seed_lps=None,
        name=None,
    )
    editor = replay(loaded.volume, [], operations)
    source = source_context(loaded.stack, loaded.volume)
    path = write_dicom_seg(editor.segmentation, tmp_path / "bone.dcm", source)
    assert dciodvfy_errors(path) == []
    result = import_segmentation(path, loaded.volume)
    positions = [frame.position for frame in source.frames]
    slices = source_slices(loaded.volume, positions)
    return editor.segmentation.segments[0].mask, result.segments[0].mask, slices


def test_real_ct_round_trip_is_exact(tmp_path):
    original, back, _ = _bone_round_trip(tmp_path, "ct_abdomen_tcia_pancreas")
    assert original.sum() > 100_000
    np.testing.assert_array_equal(back, original)


@pytest.mark.parametrize("folder", ["ct_head_ge_gantry_tilt_dcmqa"])
def test_real_tilted_uneven_ct_matches_on_the_source_slices(tmp_path, folder):
    original, back, slices = _bone_round_trip(tmp_path, folder)
    assert len(set(slices)) >= 20
    assert original[slices].sum() > 100_000
    np.testing.assert_array_equal(back[slices], original[slices])


@pytest.mark.parametrize("vendor", ["Philips", "Siemens_XA10"])
def test_real_enhanced_mr_frames_round_trip(tmp_path, vendor):
    loaded = load_volume(shared_data_path(f"enhanced_mr_dcmqa_enh/dicom/{vendor}"), purpose="view")
    source = source_context(loaded.stack, loaded.volume)
    assert len({frame.location for frame in source.frames}) == 1  # one multi-frame file
    segmentation = Segmentation.for_volume(loaded.volume)
    depth, rows, cols = loaded.volume.shape
    mask = np.zeros(loaded.volume.shape, dtype=bool)
    mask[depth // 4 : 3 * depth // 4 + 1, rows // 4 : rows // 2, cols // 3 : 2 * cols // 3] = True
    segmentation.add("Box", (1.0, 0.0, 0.0), mask)
    path = write_dicom_seg(segmentation, tmp_path / "box.dcm", source)
    assert dciodvfy_errors(path) == []
    numbers = {
        int(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedFrameNumber)
        for item in pydicom.dcmread(path).PerFrameFunctionalGroupsSequence
    }
    assert len(numbers) == mask.any(axis=(1, 2)).sum()
    result = import_segmentation(path, loaded.volume)
    np.testing.assert_array_equal(result.segments[0].mask, mask)


def test_source_without_frame_of_reference_is_refused(tmp_path):
    loaded = load_volume(shared_data_path("ct_head_slicer_64px"))
    segmentation = Segmentation.for_volume(loaded.volume)
    segmentation.add("All", None, np.ones(loaded.volume.shape, dtype=bool))
    source = source_context(loaded.stack, loaded.volume)
    with pytest.raises(ExportError, match="no Frame of Reference UID"):
        write_dicom_seg(segmentation, tmp_path / "x.dcm", source)
    assert not (tmp_path / "x.dcm").exists()


def test_a_third_party_seg_reads(tmp_path):
    path = shared_data_path("pydicom_test_files/liver_1frame.dcm")
    ds = pydicom.dcmread(path)
    imported = read_dicom_seg(path)
    (structure,) = imported.structures
    assert structure.name == "Liver"
    assert (structure.type.value, structure.type.scheme) == ("T-62000", "SRT")
    assert imported.shape == (1, int(ds.Rows), int(ds.Columns))
    frame = ds.PerFrameFunctionalGroupsSequence[0]
    np.testing.assert_allclose(
        imported.affine[:3, 3],
        [float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient],
    )
    assert int(imported.mask(structure).sum()) == int(ds.pixel_array.astype(bool).sum()) > 1000
    np.testing.assert_array_equal(imported.mask(structure)[0], ds.pixel_array.astype(bool))


def test_an_undecodable_seg_is_refused_with_a_message():
    path = shared_data_path("pydicom_data_store/liver_deflate.dcm")
    with pytest.raises(SegmentationError, match="Cannot decode the DICOM SEG's pixel data"):
        read_dicom_seg(path)
