"""Study dose: reports and image figures per study, CTDIvol per series, reference levels."""

from __future__ import annotations

import json
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.support.dicom_factory import write_series
from tests.support.dose_sr import BODY_PHANTOM, Event, add_image_dose, write_dose_sr
from tests.support.shared_data import shared_data_path
from workstation.core.errors import PlanError
from workstation.io.dicom.scan import scan_path
from workstation.services import dose as dose_service
from workstation.services.dose import (
    default_reference_levels,
    doses_for_scan,
    read_study_doses,
    reference_table,
)
from workstation.services.dose_reading import read_dose_facts


def _bundled() -> dict:
    return tomllib.loads(default_reference_levels().read_text(encoding="utf-8"))


def _bundled_exam(name: str) -> dict:
    return next(exam for exam in _bundled()["exams"] if exam["name"] == name)


def _head_study(
    root: Path,
    *,
    ctdivol: list[float],
    event_ctdi: float,
    dlp_total: float,
    description: str = "CT HEAD",
) -> dict:
    """A CT series with per-image CTDIvol, a second series linked only by event UID, an SR."""
    study = generate_uid()
    events = [generate_uid(), generate_uid()]
    first = write_series(
        root / "s1", np.zeros((len(ctdivol), 4, 4), np.int16), study_uid=study, series_number=1
    )
    add_image_dose(
        first,
        [
            {"CTDIvol": value, "IrradiationEventUID": events[0], "StudyDescription": description}
            for value in ctdivol
        ],
    )
    second = write_series(
        root / "s2", np.zeros((2, 4, 4), np.int16), study_uid=study, series_number=2
    )
    add_image_dose(second, {"IrradiationEventUID": events[1], "StudyDescription": description})
    write_dose_sr(
        root / "sr.dcm",
        [
            Event(event_uid=events[0], ctdivol=max(ctdivol), dlp=300.0),
            Event(
                protocol="Angio",
                event_uid=events[1],
                ctdivol=event_ctdi,
                dlp=150.0,
                phantom=BODY_PHANTOM,
            ),
        ],
        total_dlp=dlp_total,
        study_uid=study,
        study_description=description,
    )
    return {
        "study": study,
        "series": [str(pydicom.dcmread(p[0]).SeriesInstanceUID) for p in (first, second)],
    }


def test_study_from_report_and_images(tmp_path: Path) -> None:
    case = _head_study(tmp_path, ctdivol=[20.0, 33.5, 21.0], event_ctdi=12.5, dlp_total=450.0)
    (study,) = read_study_doses(tmp_path)
    assert study.study_uid == case["study"]
    assert study.total_dlp_mgycm == 450.0
    assert [event.ctdivol_mgy for event in study.events] == [33.5, 12.5]
    first, second = case["series"]
    assert study.ctdivol_for_series(first) == 33.5  # the largest per-image value
    assert study.ctdivol_source(first) == "images"
    assert study.ctdivol_for_series(second) == 12.5  # via the Irradiation Event UID
    assert study.ctdivol_source(second) == "dose report"
    assert study.ctdivol_for_series("1.2.3.4") is None
    series = {item.series_uid: item for item in study.series}
    assert (series[first].images, series[first].images_read) == (3, 3)
    assert study.exceeded() == []


def test_reference_levels_from_the_bundled_table(tmp_path: Path) -> None:
    head = _bundled_exam("Head")
    _head_study(
        tmp_path,
        ctdivol=[10.0],
        event_ctdi=head["ctdivol_mgy"] + 3.0,
        dlp_total=head["dlp_mgycm"] - 10.0,
    )
    (study,) = read_study_doses(tmp_path)
    assert study.exam is not None and study.exam.title == "Head (Acute stroke)"
    checks = {check.quantity: check for check in study.checks}
    assert checks["CTDIvol"].value == head["ctdivol_mgy"] + 3.0
    assert checks["CTDIvol"].level == head["ctdivol_mgy"] and checks["CTDIvol"].exceeded
    assert checks["DLP"].value == head["dlp_mgycm"] - 10.0 and not checks["DLP"].exceeded
    (line,) = study.exceeded()
    assert "CTDIvol" in line and "EXCEEDED" in line and f"level {head['ctdivol_mgy']:g}" in line
    record = json.loads(json.dumps(study.to_json()))
    assert record["reference_levels"]["exam"] == "Head (Acute stroke)"
    assert {c["quantity"]: c["exceeded"] for c in record["reference_levels"]["checks"]} == {
        "CTDIvol": True,
        "DLP": False,
    }


def test_bundled_table_quotes_the_ukhsa_2024_values() -> None:
    levels = {
        exam["name"]: (exam.get("ctdivol_mgy"), exam.get("dlp_mgycm"))
        for exam in _bundled()["exams"]
    }
    # Table 1 "Adult CT examinations", UKHSA NDRLs from 20 November 2024.
    assert levels["Head"] == (47, 790)
    assert levels["Paranasal sinuses"] == (12, 160)
    assert levels["Cervical spine"] == (16, 400)
    assert levels["Chest"] == (8.5, 290)
    assert levels["CT pulmonary angiography (CTPA)"] == (9.1, 310)
    assert levels["Abdomen and pelvis"] == (10, 530)
    assert levels["Kidneys, ureters, bladder"] == (6.3, 290)
    assert levels["Chest, abdomen, pelvis"] == (None, 660)
    table = reference_table()
    assert len(table.exams) == 13 and "UKHSA" in table.name


def test_first_matching_exam_wins(tmp_path: Path) -> None:
    table = reference_table()
    cap = table.exam_for({"study_description": ["CT CHEST ABDOMEN PELVIS"]})
    chest = table.exam_for({"study_description": ["CT Chest"]})
    assert cap is not None and cap.name == "Chest, abdomen, pelvis"
    assert chest is not None and chest.name == "Chest"
    assert table.exam_for({"study_description": ["MR KNEE"]}) is None


def test_custom_table_by_protocol_and_body_part(tmp_path: Path) -> None:
    table = tmp_path / "local.toml"
    table.write_text(
        '[table]\nname = "Local"\n[[exams]]\nname = "Angio"\nctdivol_mgy = 10\n'
        '[exams.match]\nprotocol = ["*ANGIO*"]\nbody_part_examined = "HEAD"\n',
        encoding="utf-8",
    )
    study_uid = generate_uid()
    paths = write_series(tmp_path / "in" / "s", np.zeros((1, 4, 4), np.int16), study_uid=study_uid)
    add_image_dose(paths, {"CTDIvol": 9.0, "BodyPartExamined": "HEAD"})
    write_dose_sr(
        tmp_path / "in" / "sr.dcm", [Event(protocol="Angio", ctdivol=12.0)], study_uid=study_uid
    )
    (study,) = read_study_doses(tmp_path / "in", table)
    assert study.exam is not None and study.exam.name == "Angio"
    assert study.exceeded() == ["Angio: CTDIvol 12 mGy, level 10 mGy: EXCEEDED"]
    assert study.to_json()["reference_levels"]["table"] == "Local"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[exams]]\nname = 'A'\n[exams.match]\nstudy_description = '*'\n", "gives no level"),
        (
            "[[exams]]\nname = 'A'\nctdivol_mgy = 'x'\n[exams.match]\nprotocol = '*'\n",
            "must be a number",
        ),
        ("[[exams]]\nname = 'A'\nctdivol_mgy = 5\n", "no [exams.match]"),
        ("[[exams]]\nname = 'A'\nctdivol_mgy = 5\n[exams.match]\nkvp = '*'\n", "unknown keys kvp"),
        ("[table]\nname = 'x'\n", "lists no [[exams]]"),
        ("not toml = = 1", "not valid TOML"),
    ],
)
def test_bad_tables_are_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError) as raised:
        reference_table(path)
    assert message in raised.value.message and "\n" not in raised.value.message
    with pytest.raises(PlanError):
        reference_table(tmp_path / "missing.toml")


def test_several_studies_and_a_study_without_dose(tmp_path: Path) -> None:
    _head_study(tmp_path / "a", ctdivol=[5.0], event_ctdi=4.0, dlp_total=100.0)
    plain = write_series(tmp_path / "b", np.zeros((2, 4, 4), np.int16))
    studies = read_study_doses(tmp_path)
    assert len(studies) == 2
    without = next(s for s in studies if s.study_uid == pydicom.dcmread(plain[0]).StudyInstanceUID)
    assert without.reports == [] and without.checks == [] and without.total_dlp_mgycm is None
    assert without.to_json()["reference_levels"]["exam"] is None


def test_zip_and_single_file_sources(tmp_path: Path) -> None:
    _head_study(tmp_path / "in", ctdivol=[7.5], event_ctdi=4.0, dlp_total=222.0)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in (tmp_path / "in").rglob("*"):
            if path.is_file():
                handle.write(path, path.relative_to(tmp_path))
    (study,) = read_study_doses(archive)
    assert (
        study.total_dlp_mgycm == 222.0
        and max(item.figures.get("ctdivol_mgy", 0) for item in study.series) == 7.5
    )
    (alone,) = read_study_doses(tmp_path / "in" / "sr.dcm")
    assert alone.total_dlp_mgycm == 222.0 and alone.series == []


def test_total_from_events_when_the_report_has_none(tmp_path: Path) -> None:
    write_dose_sr(tmp_path / "sr.dcm", [Event(dlp=100.5), Event(dlp=50.25)], with_accumulated=False)
    (study,) = read_study_doses(tmp_path)
    assert study.total_dlp_mgycm == pytest.approx(150.75)
    assert any("no CT Accumulated Dose Data" in warning for warning in study.warnings)


def test_from_a_scan_samples_each_series(tmp_path: Path, monkeypatch) -> None:
    values = [float(n) for n in range(1, 11)]
    case = _head_study(tmp_path, ctdivol=values, event_ctdi=3.0, dlp_total=99.0)
    monkeypatch.setattr(dose_service, "MAX_IMAGES_PER_SERIES", 4)
    scan = scan_path(tmp_path, workers=1)
    assert any(item.reason.startswith("no image data") for item in scan.skipped)
    (study,) = doses_for_scan(scan)
    series = study.series_dose(case["series"][0])
    assert series is not None and (series.images, series.images_read) == (10, 4)
    assert study.ctdivol_for_series(case["series"][0]) == 10.0  # last image is sampled
    assert study.total_dlp_mgycm == 99.0


def test_time_limit_stops_and_says_so(tmp_path: Path) -> None:
    paths = write_series(tmp_path, np.zeros((3, 4, 4), np.int16))
    facts = read_dose_facts([str(path) for path in paths], time_limit_s=0.0)
    assert facts.files_read < 3
    assert any("stopped reading dose attributes" in warning for warning in facts.warnings)


def test_real_mr_sar_is_the_largest_over_images() -> None:
    folder = shared_data_path("mr_sag_t1_hfp_dcmqa_decubitus/dicom")
    files = sorted(path for path in folder.iterdir() if path.is_file())
    expected = max(float(pydicom.dcmread(p, stop_before_pixels=True).SAR) for p in files)
    (study,) = read_study_doses(folder)
    (series,) = study.series
    assert series.figures["sar_wkg"] == expected
    assert series.images_read == len(files)
    assert study.checks == []  # an MR study is not compared with CT levels


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on the file's odd UIDs
def test_whole_shared_collection_reads_without_error() -> None:
    root = shared_data_path()
    ct = root / "pydicom_data_store" / "bad_sequence.dcm"
    ds = pydicom.dcmread(ct, stop_before_pixels=True, force=True)
    studies = read_study_doses(root)  # malformed and hostile files among them
    assert len({study.study_uid for study in studies}) == len(studies)
    study = next(s for s in studies if s.study_uid == ds.StudyInstanceUID)
    assert study.ctdivol_for_series(ds.SeriesInstanceUID) == float(ds.CTDIvol)
    assert study.ctdivol_source(ds.SeriesInstanceUID) == "images"
