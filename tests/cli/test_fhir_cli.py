"""`workstation fhir`: an ImagingStudy file of a synthetic study, R4 and R5, and its errors."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pydicom
import pytest
from fhir.resources.imagingstudy import ImagingStudy as ImagingStudyR5
from fhir.resources.R4B.imagingstudy import ImagingStudy as ImagingStudyR4

from tests.support.cli import run_workstation
from tests.support.dicom_factory import write_series

STUDY = "1.2.826.0.1.3680043.8.498.500"
SERIES = "1.2.826.0.1.3680043.8.498.501"
WADO = "https://pacs.example/dicom-web"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """One CT series of 4 slices in a known study; returns the folder and the SOP UIDs."""
    folder = tmp_path_factory.mktemp("study")
    paths = write_series(folder, np.zeros((4, 6, 6), np.int16), study_uid=STUDY, series_uid=SERIES)
    return folder, {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths}


def test_r4_file(tmp_path, study):
    folder, sops = study
    out = tmp_path / "study.json"
    done = run_workstation("fhir", str(folder), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "1 series, 4 instances" in done.stdout
    resource = json.loads(out.read_text())
    ImagingStudyR4.model_validate(resource)
    assert resource["identifier"][0]["value"] == f"urn:oid:{STUDY}"
    assert (resource["numberOfSeries"], resource["numberOfInstances"]) == (1, 4)
    [series] = resource["series"]
    assert series["uid"] == SERIES and {item["uid"] for item in series["instance"]} == sops
    assert "contained" not in resource


def test_r5_with_endpoint_printed_and_written(tmp_path, study):
    folder, _ = study
    out = tmp_path / "study.json"
    done = run_workstation(
        "fhir", str(folder), "--fhir-version", "R5", "--wado-base", WADO, "-o", str(out), "--json"
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed == json.loads(out.read_text())
    ImagingStudyR5.model_validate(printed)
    assert printed["contained"][0]["address"] == WADO
    assert printed["series"][0]["modality"]["coding"][0]["code"] == "CT"


def test_errors_are_one_line_with_exit_codes(tmp_path, study):
    folder, _ = study
    write_series(tmp_path / "both" / "other", np.zeros((2, 4, 4), np.int16))
    for path in folder.iterdir():
        (tmp_path / "both" / path.name).write_bytes(path.read_bytes())
    out = tmp_path / "x.json"
    done = run_workstation("fhir", str(tmp_path / "both"), "-o", str(out))
    assert done.returncode == 5 and "choose one with --study" in done.stderr
    assert STUDY in done.stderr and "Traceback" not in done.stderr and not out.exists()
    done = run_workstation("fhir", str(tmp_path / "both"), "--study", STUDY, "-o", str(out))
    assert done.returncode == 0 and json.loads(out.read_text())["numberOfInstances"] == 4
    done = run_workstation("fhir", "-o", str(tmp_path / "y.json"))
    assert done.returncode == 2 and "--study UID" in done.stderr
    done = run_workstation("fhir", str(tmp_path / "missing"), "-o", str(tmp_path / "y.json"))
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(
    importlib.util.find_spec("workstation.services.dicom_database") is None,
    reason="the local DICOM database is not available",
)
def test_study_from_the_local_database(tmp_path, study):
    from workstation.services.dicom_database import DicomDatabase

    folder, sops = study
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(folder)
    out = tmp_path / "db.json"
    done = run_workstation(
        "fhir", "--study", STUDY, "--database", str(tmp_path / "db"), "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    resource = json.loads(out.read_text())
    assert {item["uid"] for item in resource["series"][0]["instance"]} == sops
    done = run_workstation(
        "fhir", "--study", "1.2.3", "--database", str(tmp_path / "db"), "-o", str(out)
    )
    assert done.returncode == 15 and "1.2.3" in done.stderr and "Traceback" not in done.stderr
