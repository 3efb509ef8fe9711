"""DICOM SEG writing: frames on the source frames (tilted, uneven, multi-frame), references,
names, codes and colours, read back voxel for voxel, and dciodvfy finds no error."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

from tests.io.dicom_seg_cases import (
    enhanced_case,
    frame_facts,
    neoplasm,
    series_case,
    two_segments,
)
from workstation.core.errors import Cancelled, ExportError
from workstation.core.progress import CancelToken
from workstation.core.segmentation import Segmentation
from workstation.io.dicom_seg import write_dicom_seg
from workstation.io.dicom_seg_read import read_dicom_seg
from workstation.io.writers import writer_for
from workstation.services.export import write_segmentation
from workstation.services.segmentation_import import place_on_volume

EVEN = [(0.0, 0.0, 2.0 * i) for i in range(8)]
TILTED = [(0.0, 0.6 * i, 2.0 * i) for i in range(8)]  # sheared: the step leaves the normal
UNEVEN_Z = [0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0]  # slice 4 missing: resampled at 1 mm
UNEVEN = [(0.0, 0.0, z) for z in UNEVEN_Z]


def dciodvfy_errors(path) -> list[str]:
    """The lines dciodvfy starts with 'Error' for ``path``."""
    if shutil.which("dciodvfy") is None:
        pytest.fail("dciodvfy (Debian package dicom3tools) is not installed")
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
    return [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]


def check_frames(case, segmentation, path, volume_index, omit_empty=True) -> None:
    """Every frame sits on its source frame and holds the segment's voxels of that slice.

    ``omit_empty``: empty frames are left out (a volume that is the stack itself); else
    (a resampled stack) every source frame has a frame for every segment.
    """
    written = [segment for segment in segmentation.segments if not segment.empty]
    facts = frame_facts(path)
    found = set()
    for fact in facts:
        if case.sop_uids.count(fact["sop_uid"]) == 1:
            source_slice = case.sop_uids.index(fact["sop_uid"])
            assert fact["frame_number"] is None
        else:  # one multi-frame file: the frame number says which frame
            source_slice = next(
                j for j, p in enumerate(case.positions) if np.allclose(p, fact["position"])
            )
            assert fact["sop_uid"] == case.sop_uids[0]
            assert int(fact["frame_number"]) == len(case.positions) - source_slice
        np.testing.assert_allclose(fact["position"], case.positions[source_slice], atol=1e-6)
        mask = written[fact["segment"] - 1].mask
        expected = mask[volume_index(source_slice)]
        np.testing.assert_array_equal(fact["pixels"], expected)
        found.add((fact["segment"], source_slice))
    wanted = {
        (number + 1, j)
        for number, segment in enumerate(written)
        for j in range(len(case.positions))
        if segment.mask[volume_index(j)].any() or not omit_empty
    }
    assert found == wanted  # empty frames omitted, no frame missing


def check_header(case, path) -> pydicom.Dataset:
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4"
    assert ds.SegmentationType == "BINARY"
    assert ds.Modality == "SEG"
    assert ds.StudyInstanceUID == case.source.study_uid
    assert ds.FrameOfReferenceUID == case.frame_uid
    assert ds.Manufacturer == "Surgical Planning Workstation"
    assert ds.SeriesDescription == "Segmentation"
    referenced = ds.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == case.series_uid
    assert {item.ReferencedSOPInstanceUID for item in referenced.ReferencedInstanceSequence} == (
        set(case.sop_uids)
    )
    assert dciodvfy_errors(path) == []
    return ds


@pytest.mark.parametrize("positions", [EVEN, TILTED], ids=["axial", "gantry-tilt"])
def test_seg_frames_are_the_source_frames(tmp_path, positions):
    case = series_case(tmp_path / "series", positions)
    for j, position in enumerate(positions):  # the volume keeps the source slices in order
        np.testing.assert_allclose(case.volume.affine @ (j, 0, 0, 1), (*position, 1), atol=1e-6)
    segmentation = two_segments(case.volume)
    path = write_dicom_seg(segmentation, tmp_path / "out.dcm", case.source)
    ds = check_header(case, path)
    assert [item.SegmentLabel for item in ds.SegmentSequence] == ["Mandible bone", "Lesion"]
    assert [item.SegmentAlgorithmType for item in ds.SegmentSequence] == [
        "SEMIAUTOMATIC",
        "MANUAL",
    ]
    check_frames(case, segmentation, path, lambda j: j)

    imported = read_dicom_seg(path)
    placed = place_on_volume(imported, case.volume, path)
    assert [s.name for s in placed.segments] == ["Mandible bone", "Lesion"]
    for original, back in zip(segmentation.segments, placed.segments, strict=False):
        np.testing.assert_array_equal(back.mask, original.mask)


def test_uneven_stack_frames_take_the_nearest_volume_slice(tmp_path):
    case = series_case(tmp_path / "series", UNEVEN)
    assert case.volume.shape[0] == 9  # resampled onto a 1 mm grid
    np.testing.assert_allclose(case.volume.affine[:3, 0], (0, 0, 1), atol=1e-9)
    segmentation = two_segments(case.volume)
    path = write_dicom_seg(segmentation, tmp_path / "out.dcm", case.source)
    check_header(case, path)
    assert len(case.source.frames) == 8
    check_frames(case, segmentation, path, lambda j: int(UNEVEN_Z[j]), omit_empty=False)
    placed = place_on_volume(read_dicom_seg(path), case.volume, path)
    on_source = [int(z) for z in UNEVEN_Z]
    for original, back in zip(segmentation.segments, placed.segments, strict=False):
        np.testing.assert_array_equal(back.mask[on_source], original.mask[on_source])
        assert not back.mask[4].any()  # no source frame at 4 mm: nothing there in the SEG


def test_multiframe_source_frames_are_referenced_by_number(tmp_path):
    case = enhanced_case(tmp_path / "series", EVEN)
    segmentation = two_segments(case.volume)
    path = write_dicom_seg(segmentation, tmp_path / "out.dcm", case.source)
    assert dciodvfy_errors(path) == []
    check_frames(case, segmentation, path, lambda j: j)


def test_names_colours_and_codes_round_trip(tmp_path):
    case = series_case(tmp_path / "series", EVEN)
    segmentation = two_segments(case.volume)
    category, kind = neoplasm()
    segmentation.update(segmentation.segments[1].segment_id, category=category, type=kind)
    path = write_dicom_seg(segmentation, tmp_path / "out.dcm", case.source)
    imported = read_dicom_seg(path)
    assert imported.source == "DICOM Segmentation"
    back = {structure.name: structure for structure in imported.structures}
    assert set(back) == {"Mandible bone", "Lesion"}
    for segment in segmentation.segments[:2]:
        structure = back[segment.name]
        assert structure.category == segment.category
        assert structure.type == segment.type
        np.testing.assert_allclose(structure.color, segment.color, atol=1.5 / 255)
        assert structure.segment_id == segment.segment_id


def test_uncoded_segments_get_tissue_or_the_term_of_their_name(tmp_path):
    case = series_case(tmp_path / "series", EVEN)
    segmentation = Segmentation.for_volume(case.volume)
    mask = np.zeros(case.volume.shape, bool)
    mask[2, 3:5, 3:5] = True
    segmentation.add("bone", (1.0, 1.0, 1.0), mask)
    segmentation.add("Region 7", (0.0, 0.0, 0.0), mask)
    ds = pydicom.dcmread(write_dicom_seg(segmentation, tmp_path / "out.dcm", case.source))
    types = [item.SegmentedPropertyTypeCodeSequence[0].CodeValue for item in ds.SegmentSequence]
    categories = [
        item.SegmentedPropertyCategoryCodeSequence[0].CodeValue for item in ds.SegmentSequence
    ]
    assert types == ["272673000", "85756007"]  # SNOMED CT Bone, Tissue
    assert categories == ["85756007", "85756007"]


def test_refusals(tmp_path):
    case = series_case(tmp_path / "series", EVEN)
    empty = Segmentation.for_volume(case.volume)
    empty.add("Nothing")
    with pytest.raises(ExportError, match="empty"):
        write_dicom_seg(empty, tmp_path / "a.dcm", case.source)
    segmentation = two_segments(case.volume)
    with pytest.raises(ExportError, match="DICOM series"):
        write_segmentation(segmentation, tmp_path / "b.dcm")  # no source given
    other = Segmentation((3, 4, 5), np.eye(4))
    other.add("x", None, np.ones((3, 4, 5), bool))
    with pytest.raises(ExportError, match="grid"):
        write_dicom_seg(other, tmp_path / "c.dcm", case.source)
    assert not list(tmp_path.glob("*.dcm"))
    assert writer_for("segmentation", "x.dcm").needs_source


def test_write_segmentation_passes_the_source(tmp_path):
    case = series_case(tmp_path / "series", TILTED)
    segmentation = two_segments(case.volume)
    path = write_segmentation(segmentation, tmp_path / "out.dcm", source=case.source)
    check_frames(case, segmentation, path, lambda j: j)


def test_progress_and_cancel(tmp_path):
    case = series_case(tmp_path / "series", EVEN)
    segmentation = two_segments(case.volume)
    reports: list[float] = []
    write_dicom_seg(
        segmentation, tmp_path / "a.dcm", case.source, progress=lambda f, _t: reports.append(f)
    )
    assert reports == sorted(reports) and reports[-1] == 1.0
    token = CancelToken()

    def cancel_half_way(fraction: float, _text: str) -> None:
        if fraction > 0.3:
            token.cancel()

    with pytest.raises(Cancelled):
        write_dicom_seg(segmentation, tmp_path / "b.dcm", case.source, cancel_half_way, token)
    assert sorted(p.name for p in tmp_path.glob("*.dcm")) == ["a.dcm"]
