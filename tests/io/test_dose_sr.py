"""CT Radiation Dose SR (TID 10011) and per-image dose attributes, read back exactly."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from tests.support.dicom_factory import write_enhanced_ct, write_series
from tests.support.dose_sr import (
    BODY_PHANTOM,
    COMPREHENSIVE_SR,
    Event,
    add_image_dose,
    write_dose_sr,
)
from tests.support.shared_data import shared_data_path
from workstation.io.dose_attributes import read_image_dose, spread_sample
from workstation.io.dose_sr import read_dose_report


def test_events_and_total_read_as_written(tmp_path: Path) -> None:
    uids = [generate_uid(), generate_uid()]
    events = [
        Event(
            protocol="Head routine",
            event_uid=uids[0],
            ctdivol=45.5,
            dlp=700.25,
            scanning_length=150.0,
            exposure_time=4.5,
        ),
        Event(
            protocol="Neck angio",
            target_region=("T-D1600", "SRT", "Neck"),
            acquisition_type=("113804", "DCM", "Sequenced Acquisition"),
            event_uid=uids[1],
            ctdivol=12.75,
            dlp=310.5,
            phantom=BODY_PHANTOM,
            scanning_length=240.0,
            exposure_time=6.0,
        ),
    ]
    path = write_dose_sr(tmp_path / "dose.dcm", events, total_dlp=1011.0)
    report = read_dose_report(str(path))
    assert report is not None and report.warnings == []
    assert report.total_dlp_mgycm == 1011.0
    assert [event.protocol for event in report.events] == ["Head routine", "Neck angio"]
    first, second = report.events
    assert (first.ctdivol_mgy, first.dlp_mgycm, first.phantom) == (45.5, 700.25, "head")
    assert (first.scanning_length_mm, first.exposure_time_s) == (150.0, 4.5)
    assert first.target_region == "Head" and first.acquisition_type == "Spiral Acquisition"
    assert (second.ctdivol_mgy, second.dlp_mgycm, second.phantom) == (12.75, 310.5, "body")
    assert second.target_region == "Neck" and second.acquisition_type == "Sequenced Acquisition"
    assert [event.irradiation_event_uid for event in report.events] == uids
    ds = pydicom.dcmread(path)
    assert report.sop_instance_uid == ds.SOPInstanceUID
    assert report.study_uid == ds.StudyInstanceUID


def test_units_are_converted_from_ucum(tmp_path: Path) -> None:
    event = Event(
        ctdivol=0.0125,
        ctdivol_unit="Gy",
        dlp=31.5,
        dlp_unit="cGy.cm",
        scanning_length=12.5,
        length_unit="cm",
    )
    path = write_dose_sr(tmp_path / "dose.dcm", [event], total_dlp=3.15, total_unit="Gy.cm")
    report = read_dose_report(str(path))
    assert report is not None and report.warnings == []
    (read,) = report.events
    assert read.ctdivol_mgy == pytest.approx(12.5)
    assert read.dlp_mgycm == pytest.approx(315.0)
    assert read.scanning_length_mm == pytest.approx(125.0)
    assert report.total_dlp_mgycm == pytest.approx(3150.0)


def test_wrong_unit_and_non_numeric_values_warn(tmp_path: Path) -> None:
    event = Event(ctdivol="about ten", dlp=5.0, dlp_unit="mSv", scanning_length=None)
    path = write_dose_sr(tmp_path / "dose.dcm", [event], total_dlp="n/a")
    report = read_dose_report(str(path))
    assert report is not None
    (read,) = report.events
    assert read.ctdivol_mgy is None and read.dlp_mgycm is None
    assert report.total_dlp_mgycm is None
    text = "\n".join(report.warnings)
    assert "Mean CTDIvol of event 1 (Head routine) is not a number ('about ten')" in text
    assert "'mSv', not a known unit" in text
    assert "CT Dose Length Product Total is not a number" in text
    assert all(warning.startswith("dose.dcm: ") for warning in report.warnings)
    assert all("\n" not in warning for warning in report.warnings)


def test_missing_containers_warn(tmp_path: Path) -> None:
    path = write_dose_sr(
        tmp_path / "dose.dcm", [Event(with_dose_container=False)], with_accumulated=False
    )
    report = read_dose_report(str(path))
    assert report is not None and report.total_dlp_mgycm is None
    assert report.events[0].ctdivol_mgy is None
    text = "\n".join(report.warnings)
    assert "has no CT Dose container" in text
    assert "no CT Accumulated Dose Data" in text
    empty = write_dose_sr(tmp_path / "empty.dcm", [], with_accumulated=False)
    report = read_dose_report(str(empty))
    assert report is not None and report.events == []
    assert any("lists no CT Acquisition" in warning for warning in report.warnings)


def test_content_item_without_measured_value_warns(tmp_path: Path) -> None:
    path = write_dose_sr(tmp_path / "dose.dcm", [Event()])
    ds = pydicom.dcmread(path)
    acquisition = ds.ContentSequence[2]
    dose = next(
        i
        for i in acquisition.ContentSequence
        if i.ValueType == "CONTAINER" and i.ConceptNameCodeSequence[0].CodeValue == "113829"
    )
    del dose.ContentSequence[0].MeasuredValueSequence
    ds.save_as(path)
    report = read_dose_report(str(path))
    assert report is not None and report.events[0].ctdivol_mgy is None
    assert report.events[0].dlp_mgycm == 700.25
    assert any(
        "Mean CTDIvol of event 1 (Head routine) has no measured value" in w for w in report.warnings
    )


def test_general_sr_only_with_the_dose_report_title(tmp_path: Path) -> None:
    titled = write_dose_sr(tmp_path / "a.dcm", [Event(ctdivol=8.0)], sop_class=COMPREHENSIVE_SR)
    report = read_dose_report(str(titled))
    assert report is not None and report.events[0].ctdivol_mgy == 8.0
    other = write_dose_sr(
        tmp_path / "b.dcm",
        [Event()],
        sop_class=COMPREHENSIVE_SR,
        title=("18748-4", "LN", "Diagnostic Imaging Report"),
    )
    assert read_dose_report(str(other)) is None


def test_real_sr_that_is_no_dose_report() -> None:
    path = shared_data_path("pydicom_test_files/test-SR.dcm")
    assert read_dose_report(str(path)) is None


def test_report_inside_a_zip(tmp_path: Path) -> None:
    path = write_dose_sr(tmp_path / "dose.dcm", [Event(ctdivol=3.25)])
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(path, "sub/dose.dcm")
    report = read_dose_report(f"{archive}::sub/dose.dcm")
    assert report is not None and report.events[0].ctdivol_mgy == 3.25


def test_image_attributes_read_exactly(tmp_path: Path) -> None:
    event = generate_uid()
    paths = write_series(tmp_path / "ct", np.zeros((2, 4, 4), np.int16))
    add_image_dose(
        paths,
        [
            {"CTDIvol": 11.5, "IrradiationEventUID": event},
            {"CTDIvol": 13.25, "IrradiationEventUID": event},
        ],
    )
    doses = [read_image_dose(str(path)) for path in paths]
    assert [dose.ctdivol_mgy for dose in doses] == [11.5, 13.25]
    assert all(dose.irradiation_event_uids == (event,) for dose in doses)
    assert doses[0].modality == "CT" and doses[0].problems == []
    mr = write_series(tmp_path / "mr", np.zeros((1, 4, 4), np.int16), modality="MR")
    add_image_dose(
        mr, {"SAR": "0.875", "dBdt": "12.5", "SpecificAbsorptionRateDefinition": "IEC_WHOLE_BODY"}
    )
    dose = read_image_dose(str(mr[0]))
    assert (dose.sar_wkg, dose.dbdt_ts, dose.sar_model) == (0.875, 12.5, "IEC_WHOLE_BODY")
    us = write_series(tmp_path / "us", np.zeros((1, 4, 4), np.int16), modality="US")
    add_image_dose(
        us,
        {
            "MechanicalIndex": "1.2",
            "BoneThermalIndex": "0.4",
            "CranialThermalIndex": "0.6",
            "SoftTissueThermalIndex": "0.3",
        },
    )
    dose = read_image_dose(str(us[0]))
    assert dose.figures() == {
        "mechanical_index": 1.2,
        "bone_thermal_index": 0.4,
        "cranial_thermal_index": 0.6,
        "soft_tissue_thermal_index": 0.3,
    }


def test_enhanced_ct_functional_groups(tmp_path: Path) -> None:
    path = write_enhanced_ct(tmp_path / "enh.dcm", np.zeros((3, 4, 4), np.int16))
    ds = pydicom.dcmread(path)
    event = generate_uid()
    for index, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        exposure = Dataset()
        exposure.CTDIvol = 5.0 + index
        group.CTExposureSequence = DicomSequence([exposure])
    item = Dataset()
    item.IrradiationEventUID = event
    ds.SharedFunctionalGroupsSequence[0].IrradiationEventIdentificationSequence = DicomSequence(
        [item]
    )
    ds.save_as(path)
    dose = read_image_dose(str(path))
    assert dose.ctdivol_mgy == 7.0  # the largest over its frames
    assert dose.irradiation_event_uids == (event,)


def test_unreadable_files_never_raise(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 10)
    dose = read_image_dose(str(junk))
    assert dose.figures() == {}
    bad = write_series(tmp_path / "bad", np.zeros((1, 4, 4), np.int16))
    add_image_dose(bad, {"CTDIvol": float("nan")})
    assert read_image_dose(str(bad[0])).ctdivol_mgy is None


def test_spread_sample_keeps_ends_and_count() -> None:
    items = [str(n) for n in range(1000)]
    picked = spread_sample(items, 50)
    assert len(picked) == 50 and picked[0] == "0" and picked[-1] == "999"
    assert spread_sample(items[:3], 50) == ["0", "1", "2"]


def test_real_ctdivol_and_sar_match_pydicom() -> None:
    ct = shared_data_path("pydicom_data_store/bad_sequence.dcm")
    expected = float(pydicom.dcmread(ct, stop_before_pixels=True, force=True).CTDIvol)
    assert read_image_dose(str(ct)).ctdivol_mgy == expected
    folder = shared_data_path("mr_sag_t1_hfp_dcmqa_decubitus")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".json")
    checked = 0
    for path in files[:5]:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        dose = read_image_dose(str(path))
        assert dose.sar_wkg == float(ds.SAR) and dose.dbdt_ts == float(ds.dBdt)
        assert dose.modality == "MR"
        checked += 1
    assert checked == 5


def test_enhanced_mr_sar_in_the_timing_functional_group() -> None:
    from workstation.io.dose_attributes import image_dose_from_dataset

    ds = Dataset()
    ds.Modality = "MR"
    group = Dataset()
    timing = Dataset()
    sar_items = []
    for definition, value in (("IEC_WHOLE_BODY", 1.25), ("IEC_HEAD", 2.5)):
        item = Dataset()
        item.SpecificAbsorptionRateDefinition = definition
        item.SpecificAbsorptionRateValue = value
        sar_items.append(item)
    timing.SpecificAbsorptionRateSequence = DicomSequence(sar_items)
    group.MRTimingAndRelatedParametersSequence = DicomSequence([timing])
    ds.SharedFunctionalGroupsSequence = DicomSequence([group])
    dose = image_dose_from_dataset(ds, "enhanced-mr.dcm")
    assert (dose.sar_wkg, dose.sar_model) == (2.5, "IEC_HEAD")  # the largest, with its model
