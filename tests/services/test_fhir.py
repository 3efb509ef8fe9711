"""FHIR ImagingStudy of a synthetic study: every value against the UIDs and counts written."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pydicom
import pytest
from fhir.resources.imagingstudy import ImagingStudy as ImagingStudyR5
from fhir.resources.R4B.imagingstudy import ImagingStudy as ImagingStudyR4

from tests.support.dicom_factory import write_series
from workstation.core.errors import DicomReadError, ExportError, SeriesNotFoundError
from workstation.services.fhir import (
    facts_from_database,
    facts_from_path,
    imaging_study,
    person_name,
    started_text,
    study_facts,
)

STUDY = "1.2.826.0.1.3680043.8.498.400"
CT_SERIES = "1.2.826.0.1.3680043.8.498.401"
MR_SERIES = "1.2.826.0.1.3680043.8.498.402"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"
MR_CLASS = "1.2.840.10008.5.1.4.1.1.4"
WADO = "http://pacs.example/dicom-web"


def _tag(paths, **values):
    """Set header values in written files (what the factory does not write)."""
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        ds.save_as(path)


def _sops(paths):
    return {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in paths}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A CT (5 slices, HEAD) and an MR (3 slices, odd body part) of one study, +0100."""
    folder = tmp_path_factory.mktemp("study")
    volume = np.zeros((5, 8, 8), dtype=np.int16)
    ct = write_series(
        folder / "ct",
        volume,
        study_uid=STUDY,
        series_uid=CT_SERIES,
        series_number=2,
        patient_id="PAT-7",
        series_description="Head CT",
    )
    mr = write_series(
        folder / "mr",
        volume[:3],
        modality="MR",
        study_uid=STUDY,
        series_uid=MR_SERIES,
        series_number=5,
        patient_id="PAT-7",
        series_description="T1",
    )
    _tag(ct, BodyPartExamined="HEAD", TimezoneOffsetFromUTC="+0100", AccessionNumber="ACC9")
    _tag(mr, BodyPartExamined="LEFT TOE", TimezoneOffsetFromUTC="+0100", AccessionNumber="ACC9")
    (folder / "notes.txt").write_text("not DICOM")
    return folder, _sops(ct), _sops(mr)


def _series(resource, uid):
    [series] = [item for item in resource["series"] if item["uid"] == uid]
    return series


def test_r4_resource_values(study):
    folder, ct_sops, mr_sops = study
    facts = facts_from_path(folder)
    resource = imaging_study(facts, "R4")
    parsed = ImagingStudyR4.model_validate(resource)  # it is valid R4
    assert parsed.status == "available"
    assert resource["identifier"][0] == {"system": "urn:dicom:uid", "value": f"urn:oid:{STUDY}"}
    assert resource["identifier"][1]["value"] == "ACC9"
    assert resource["subject"]["identifier"]["value"] == "PAT-7"
    assert resource["subject"]["display"] == "Synthetic, Patient"
    assert resource["started"] == "2026-01-01T12:00:00+01:00"
    assert resource["numberOfSeries"] == 2
    assert resource["numberOfInstances"] == len(ct_sops) + len(mr_sops) == 8
    dcm = "http://dicom.nema.org/resources/ontology/DCM"
    assert resource["modality"] == [{"system": dcm, "code": "CT"}, {"system": dcm, "code": "MR"}]
    assert [item["uid"] for item in resource["series"]] == [CT_SERIES, MR_SERIES]  # by number
    ct, mr = _series(resource, CT_SERIES), _series(resource, MR_SERIES)
    assert (ct["number"], ct["numberOfInstances"], ct["description"]) == (2, 5, "Head CT")
    assert ct["modality"] == {"system": dcm, "code": "CT"}
    assert ct["bodySite"] == {
        "system": "http://snomed.info/sct",
        "code": "69536005",
        "display": "Head",
    }
    assert mr["bodySite"] == {"display": "LEFT TOE"}  # not in the table: the term as text
    assert {item["uid"] for item in ct["instance"]} == ct_sops
    assert {item["uid"] for item in mr["instance"]} == mr_sops
    assert {item["sopClass"]["code"] for item in ct["instance"]} == {f"urn:oid:{CT_CLASS}"}
    assert {item["sopClass"]["code"] for item in mr["instance"]} == {f"urn:oid:{MR_CLASS}"}
    assert all(item["sopClass"]["system"] == "urn:ietf:rfc:3986" for item in mr["instance"])
    assert [item["number"] for item in ct["instance"]] == [1, 2, 3, 4, 5]
    assert "contained" not in resource and "endpoint" not in resource
    assert "endpoint" not in ct


def test_r5_resource_values_and_endpoint(study):
    folder, ct_sops, _ = study
    resource = imaging_study(facts_from_path(folder), "R5", wado_base=WADO)
    ImagingStudyR5.model_validate(resource)  # it is valid R5
    assert resource["numberOfInstances"] == 8
    ct = _series(resource, CT_SERIES)
    dcm = "http://dicom.nema.org/resources/ontology/DCM"
    assert ct["modality"] == {"coding": [{"system": dcm, "code": "CT"}]}
    assert ct["bodySite"]["concept"]["coding"][0]["code"] == "69536005"
    assert _series(resource, MR_SERIES)["bodySite"] == {"concept": {"text": "LEFT TOE"}}
    assert {item["uid"] for item in ct["instance"]} == ct_sops
    [endpoint] = resource["contained"]
    assert endpoint["resourceType"] == "Endpoint" and endpoint["address"] == WADO
    assert endpoint["connectionType"][0]["coding"][0]["code"] == "dicom-wado-rs"
    assert resource["endpoint"] == [{"reference": "#wado"}]
    assert ct["endpoint"] == [{"reference": "#wado"}]


def test_r4_endpoint(study):
    folder, _, _ = study
    resource = imaging_study(facts_from_path(folder), "r4", wado_base=WADO)
    ImagingStudyR4.model_validate(resource)
    [endpoint] = resource["contained"]
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
    assert endpoint["address"] == WADO and endpoint["status"] == "active"


def test_several_studies_need_a_choice(study, tmp_path):
    folder, _, _ = study
    other = "1.2.826.0.1.3680043.8.498.499"
    write_series(tmp_path / "other", np.zeros((2, 4, 4), np.int16), study_uid=other)
    locations = [
        str(p) for p in [*folder.rglob("*"), *(tmp_path / "other").iterdir()] if p.is_file()
    ]
    studies = study_facts(locations)
    assert set(studies) == {STUDY, other}
    both = tmp_path / "both"
    both.mkdir()
    for index, location in enumerate(locations):
        shutil.copy(location, both / f"f{index}")
    with pytest.raises(SeriesNotFoundError, match="holds 2 studies; choose one with --study") as e:
        facts_from_path(both)
    assert STUDY in str(e.value) and other in str(e.value)
    assert facts_from_path(both, other).number_of_instances == 2
    with pytest.raises(SeriesNotFoundError, match=r"1\.2\.3 is not in"):
        facts_from_path(both, "1.2.3")


def test_no_dicom_and_bad_version(tmp_path, study):
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(DicomReadError, match="No DICOM study"):
        facts_from_path(tmp_path)
    with pytest.raises(ExportError, match="R4 or R5"):
        imaging_study(facts_from_path(study[0]), "R3")


def test_started_and_names():
    assert started_text("20260101", "120000", "+0100") == "2026-01-01T12:00:00+01:00"
    assert started_text("20260101", "0930", "-0500") == "2026-01-01T09:30:00-05:00"
    assert started_text("20260101", "093015.5", "", "+0000") == "2026-01-01T09:30:15+00:00"
    assert started_text("20260101", "", "+0100") == "2026-01-01"
    assert started_text("", "120000") == ""
    assert started_text("20260101", "120000")[-6] in "+-"  # the local zone's offset
    assert person_name("Doe^John^Q") == "Doe, John Q"
    assert person_name("Doe") == "Doe"


@pytest.mark.skipif(
    importlib.util.find_spec("workstation.services.dicom_database") is None,
    reason="the local DICOM database is not available",
)
def test_from_the_database(study, tmp_path):
    from workstation.services.dicom_database import DicomDatabase

    folder, ct_sops, mr_sops = study
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(folder)
    facts = facts_from_database(STUDY, tmp_path / "db")
    assert facts.number_of_instances == len(ct_sops | mr_sops)
    assert set(facts.series) == {CT_SERIES, MR_SERIES}
