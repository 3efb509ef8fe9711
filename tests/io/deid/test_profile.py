"""The engine: nothing identifying survives, dates shift, UIDs map, the IOD stays readable."""

from __future__ import annotations

import datetime
import io
import re

import numpy as np
import pydicom
import pytest

from tests.io.deid.phi_data import (
    marker,
    original_date,
    original_uid,
    phi_dataset,
    table_tags,
)
from tests.support.dicom_factory import write_series
from workstation.io.deid.actions import operations
from workstation.io.deid.keys import key_from_secret
from workstation.io.deid.options import DEFAULT_OPTIONS, DeidOption
from workstation.io.deid.profile import DeidSettings, deidentify_dataset
from workstation.io.deid.uid_map import date_offset_days, deidentified_uid, pseudonym_id

KEY = key_from_secret(bytes(range(32)))
OTHER_KEY = key_from_secret(bytes(range(1, 33)))
MARKER = re.compile(rb"PHI(?:\d{4}(?:TQ|NQ|T|N)|[A-Z]+)")
GEOMETRY = ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing",
            "SliceThickness", "Rows", "Columns", "RescaleSlope", "RescaleIntercept")  # fmt: skip


def run(options: frozenset[DeidOption], key=KEY) -> tuple[pydicom.Dataset, bytes, object]:
    ds = phi_dataset()
    report = deidentify_dataset(ds, DeidSettings(key, options))
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return ds, buffer.getvalue(), report


def shifted(date: str, days: int) -> str:
    day = datetime.datetime.strptime(date, "%Y%m%d").date() + datetime.timedelta(days=days)
    return day.strftime("%Y%m%d")


@pytest.mark.parametrize("options", [frozenset(), DEFAULT_OPTIONS])
def test_no_recognisable_value_survives(options) -> None:
    original = phi_dataset()
    ds, data, report = run(options)
    assert MARKER.findall(data) == []
    assert b"1.2.826.0.1.3680043.99." not in data
    assert report.removed_private == 5
    if not options:  # without the date option no original date survives either
        for index, _tag, _vr in table_tags():
            assert original_date(index).encode() not in data
    for name in GEOMETRY:
        assert ds[name].value == original[name].value
    assert ds.PixelData == original.PixelData
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert "SourceApplicationEntityTitle" not in ds.file_meta


def test_basic_profile_actions_and_type2_attributes() -> None:
    ds, _, report = run(frozenset())
    assert ds.PatientID == pseudonym_id(KEY, "PHIPATIENTID")
    assert str(ds.PatientName) == "ANONYMOUS^" + ds.PatientID[5:]
    assert ds.StudyDate == "" and ds.AccessionNumber == "" and ds.PatientBirthDate == ""
    assert "InstitutionName" not in ds and "SeriesDescription" not in ds
    assert ds.ContentDate == "19000101"  # Z/D → D: Type 1 in the enhanced IODs
    assert "AcquisitionDate" not in ds  # X/Z → X
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert 0x50023000 not in ds and 0x60023000 not in ds and 0x60024000 not in ds
    assert report.actions["X"] > 300 and report.actions["U"] > 40
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100"]
    assert {item.CodingSchemeDesignator for item in ds.DeidentificationMethodCodeSequence} == {
        "DCM"
    }
    assert "2026c" in ds.DeidentificationMethod


def test_dates_shift_by_the_patient_offset_everywhere() -> None:
    ds, _, _ = run(DEFAULT_OPTIONS)
    days = date_offset_days(KEY, "PHIPATIENTID")
    checked = 0
    nested = ds.SharedFunctionalGroupsSequence[0]
    for index, tag, vr in table_tags():
        if vr not in ("DA", "DT"):
            continue
        for where in (ds, nested):
            value = where[tag].value
            assert value[:8] == shifted(original_date(index), days), hex(tag)
            if vr == "DT":
                assert value[8:] == "101112"
            checked += 1
    assert checked > 150
    assert ds.StudyTime == "101112"  # times are kept
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113107"]


def test_uids_map_consistently_and_standard_uids_stay() -> None:
    original = phi_dataset()
    ds, _, _ = run(DEFAULT_OPTIONS)
    new_sop = deidentified_uid(KEY, original.SOPInstanceUID)
    assert ds.SOPInstanceUID == new_sop
    assert ds.SourceImageSequence[0].ReferencedSOPInstanceUID == new_sop
    assert ds.SharedFunctionalGroupsSequence[0].ReferencedSOPInstanceUID == new_sop
    assert ds.SharedFunctionalGroupsSequence[0].FrameOfReferenceUID == ds.FrameOfReferenceUID
    assert ds.FrameOfReferenceUID == deidentified_uid(KEY, original.FrameOfReferenceUID)
    assert ds.SOPClassUID == original.SOPClassUID
    assert ds.SourceImageSequence[0].ReferencedSOPClassUID == original.SOPClassUID
    item = ds.ReferencedImageSequence[0]  # X/Z/U*: kept, UIDs inside replaced
    assert item.ReferencedSOPInstanceUID == deidentified_uid(
        KEY, original.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    )
    index = next(i for i, tag, _ in table_tags() if tag == 0x0020000D)
    assert ds.StudyInstanceUID == deidentified_uid(KEY, original_uid(index, "T"))


def test_same_key_same_bytes_other_key_other_uids() -> None:
    _, first, _ = run(DEFAULT_OPTIONS)
    _, second, _ = run(DEFAULT_OPTIONS)
    assert first == second
    ds, _, _ = run(DEFAULT_OPTIONS, OTHER_KEY)
    mine, _, _ = run(DEFAULT_OPTIONS)
    assert ds.SOPInstanceUID != mine.SOPInstanceUID and ds.PatientID != mine.PatientID


def test_retain_uids_keeps_every_uid() -> None:
    original = phi_dataset()
    ds, _, _ = run(DEFAULT_OPTIONS | {DeidOption.RETAIN_UIDS})
    assert ds.SOPInstanceUID == original.SOPInstanceUID
    assert ds.StudyInstanceUID == original.StudyInstanceUID
    assert "113110" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


def test_retain_patient_characteristics_and_device_identity() -> None:
    options = DEFAULT_OPTIONS | {
        DeidOption.RETAIN_PATIENT_CHARACTERISTICS,
        DeidOption.RETAIN_DEVICE_IDENTITY,
    }
    original = phi_dataset()
    ds, data, _ = run(options)
    for keyword in ("PatientAge", "PatientSex", "PatientWeight", "PatientSize",
                    "SmokingStatus", "DeviceSerialNumber", "StationName", "DetectorID",
                    "GantryID", "PlateID"):  # fmt: skip
        assert ds[keyword].value == original[keyword].value, keyword
    kept = operations(frozenset(options), False)
    allowed = {marker(index, level).encode() for index, tag, _ in table_tags()
               if kept.get(tag) == "K" for level in ("T", "N", "TQ", "NQ")}  # fmt: skip
    survivors = set(MARKER.findall(data))
    assert survivors and survivors <= allowed, survivors - allowed
    assert b"PHIFAMILY" not in data and b"PHIPATIENTID" not in data
    codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
    assert {"113108", "113109"} <= codes


def test_clean_descriptors_keeps_text_without_phi() -> None:
    ds = phi_dataset()
    ds.SeriesDescription = "CT head PHIFAMILY 2021-03-04 PHIPATIENTID contrast"
    ds.StudyDescription = "phigiven follow-up 04.03.2021 at PHI0100T"
    ds.InstitutionName = "PHI0100T"
    ds.ProtocolName = "Routine head"
    deidentify_dataset(ds, DeidSettings(KEY, DEFAULT_OPTIONS | {DeidOption.CLEAN_DESCRIPTORS}))
    assert ds.SeriesDescription == "CT head contrast"
    assert ds.StudyDescription == "follow-up at"
    assert ds.ProtocolName == "Routine head"
    assert "113105" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


def test_retain_safe_private_keeps_only_the_safe_list() -> None:
    ds, data, report = run(DEFAULT_OPTIONS | {DeidOption.RETAIN_SAFE_PRIVATE})
    assert ds[0x0019100C].value == 1000  # Siemens B value
    assert ds[0x00190010].value == "SIEMENS MR HEADER"
    assert 0x00191099 not in ds and 0x00091001 not in ds and 0x00090010 not in ds
    assert report.removed_private == 3
    assert b"PHIPRIV" not in data


def test_burned_in_annotation_needs_review_and_pixel_code() -> None:
    ds = phi_dataset()
    ds.BurnedInAnnotation = "YES"
    report = deidentify_dataset(ds, DeidSettings(KEY, DEFAULT_OPTIONS))
    assert report.needs_review == ["Burned In Annotation is YES"]
    ds = phi_dataset()
    deidentify_dataset(ds, DeidSettings(KEY, DEFAULT_OPTIONS | {DeidOption.CLEAN_PIXEL_DATA}))
    assert "113101" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")
def test_unreadable_dates_become_dummies() -> None:
    ds = pydicom.Dataset()
    ds.PatientID = "X1"
    ds.StudyDate = "2021XX04"
    ds.AcquisitionDateTime = "2021"
    ds.add_new(0x00441234, "UN", b"ABCD")  # even group: an attribute newer than the dictionary
    report = deidentify_dataset(ds, DeidSettings(KEY, DEFAULT_OPTIONS))
    assert ds.StudyDate == "19000101"
    assert re.fullmatch(r"(19|20)\d\d", ds.AcquisitionDateTime)
    assert any("unreadable date" in note for note in report.notes)
    assert any("unknown to the dictionary" in note for note in report.notes)


def test_real_ct_header_stays_loadable(tmp_path) -> None:
    stored = np.full((1, 512, 512), -1000, dtype=np.int16)
    paths = write_series(tmp_path / "ct", stored, patient_id="P1")
    header = pydicom.dcmread(paths[0])
    pixels = header.PixelData
    settings = DeidSettings(KEY, DEFAULT_OPTIONS)
    ds = pydicom.dcmread(paths[0])
    deidentify_dataset(ds, settings)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    again = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert again.PixelData == pixels
    assert again.StudyDate == shifted("20260101", date_offset_days(KEY, "P1"))
    assert b"Synthetic^Patient" not in buffer.getvalue()


def test_a_kept_attribute_still_naming_the_patient_is_marked_for_review() -> None:
    from pydicom.dataset import Dataset

    from workstation.io.deid.keys import new_key
    from workstation.io.deid.profile import DeidSettings, deidentify_dataset

    ds = Dataset()
    ds.PatientName = "Doe^Johanna"
    ds.PatientID = "MRN55501"
    ds.SequenceName = "Doe Johanna t1"  # kept by the profile, written by a careless scanner
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    report = deidentify_dataset(ds, DeidSettings(new_key(), frozenset()))
    assert report.needs_review == ["the patient's name or ID still appears in SequenceName"]
    clean = Dataset()
    clean.PatientName, clean.PatientID, clean.SequenceName = "Doe^Johanna", "MRN55501", "tse2d1"
    assert deidentify_dataset(clean, DeidSettings(new_key(), frozenset())).needs_review == []
