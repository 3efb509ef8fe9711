"""A scan lists DICOM SEG and Encapsulated STL files as derived objects of their series,
never as image stacks or skipped files; a folder of only such objects says so."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.io.dicom_seg_cases import series_case, two_segments
from tests.io.test_dicom_seg import EVEN
from workstation.core.errors import DicomReadError
from workstation.io.dicom.scan import scan_path
from workstation.io.dicom_seg import write_dicom_seg

STL_CLASS = "1.2.840.10008.5.1.4.1.1.104.3"


def write_stl_object(path, case, title="Mandible model") -> str:
    """A minimal Encapsulated STL object of the case's study, referencing its series."""
    sop_uid = generate_uid()
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = STL_CLASS
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = STL_CLASS
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "M3D"
    ds.PatientID = "SYNTH001"
    ds.StudyInstanceUID = case.source.study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = case.frame_uid
    ds.DocumentTitle = title
    ds.MIMETypeOfEncapsulatedDocument = "model/stl"
    referenced = Dataset()
    referenced.SeriesInstanceUID = case.series_uid
    ds.ReferencedSeriesSequence = [referenced]
    ds.EncapsulatedDocument = b"solid x\nendsolid x\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return sop_uid


@pytest.fixture
def study(tmp_path):
    """A series with a SEG and an Encapsulated STL beside it (in a subfolder)."""
    case = series_case(tmp_path / "study" / "images", EVEN)
    seg = write_dicom_seg(two_segments(case.volume), tmp_path / "study" / "seg.dcm", case.source)
    stl_uid = write_stl_object(tmp_path / "study" / "results" / "model.dcm", case)
    return case, seg, stl_uid


def test_seg_and_stl_are_listed_as_derived_objects(study, tmp_path):
    case, seg, stl_uid = study
    scan = scan_path(tmp_path / "study")
    assert [stack.identity.series_uid for stack in scan.stacks] == [case.series_uid]
    assert len(scan.stacks[0].frames) == len(EVEN)
    assert scan.skipped == []
    assert scan.n_files_examined == len(EVEN) + 2
    by_kind = {item.kind: item for item in scan.derived}
    assert set(by_kind) == {"seg", "stl"}
    segment = by_kind["seg"]
    assert segment.location == str(seg)
    assert segment.label == "Mandible bone, Lesion"  # what it holds, not the generic series name
    assert segment.study_uid == case.source.study_uid
    assert segment.frame_of_reference_uid == case.frame_uid
    assert segment.referenced_series_uids == (case.series_uid,)
    assert segment.identity.modality == "SEG"
    model = by_kind["stl"]
    assert model.sop_instance_uid == stl_uid
    assert model.label == "Mandible model"
    assert model.referenced_series_uids == (case.series_uid,)


def test_copies_of_one_object_are_listed_once(study, tmp_path):
    _, seg, _ = study
    shutil.copy(seg, tmp_path / "study" / "images" / "copy-of-seg.dcm")
    scan = scan_path(tmp_path / "study")
    assert sorted(item.kind for item in scan.derived) == ["seg", "stl"]
    assert [(Path(item.path).name, item.reason) for item in scan.skipped] == [
        ("seg.dcm", "another copy of copy-of-seg.dcm")
    ] or [(Path(item.path).name, item.reason) for item in scan.skipped] == [
        ("copy-of-seg.dcm", "another copy of seg.dcm")
    ]


def test_parallel_scan_lists_them_too(tmp_path):
    positions = [(0.0, 0.0, float(i)) for i in range(60)]
    case = series_case(tmp_path / "big", positions)
    write_dicom_seg(two_segments(case.volume), tmp_path / "big" / "seg.dcm", case.source)
    scan = scan_path(tmp_path / "big", workers=2)
    assert [item.kind for item in scan.derived] == ["seg"]
    assert len(scan.stacks[0].frames) == 60


def test_a_folder_of_only_results_says_what_it_holds(study, tmp_path):
    _, seg, _ = study
    only = tmp_path / "only"
    only.mkdir()
    shutil.copy(seg, only / "seg.dcm")
    shutil.copytree(tmp_path / "study" / "results", only / "results")
    with pytest.raises(DicomReadError, match="No DICOM images found") as caught:
        scan_path(only)
    assert "1 DICOM SEG, 1 Encapsulated STL" in caught.value.message


def test_objects_inside_a_zip(study, tmp_path):
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in (tmp_path / "study").rglob("*"):
            if path.is_file():
                handle.write(path, path.relative_to(tmp_path))
    scan = scan_path(archive)
    locations = sorted(item.location for item in scan.derived)
    assert locations[1].endswith("study/seg.dcm") and "::" in locations[1]
