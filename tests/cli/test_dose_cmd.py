"""``workstation dose``: the readable table, EXCEEDED lines with exit 0, one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from tests.support.cli import run_workstation
from tests.support.dicom_factory import write_series
from tests.support.dose_sr import BODY_PHANTOM, Event, add_image_dose, write_dose_sr


def _case(root: Path) -> str:
    study = generate_uid()
    paths = write_series(
        root / "ct", np.zeros((3, 4, 4), np.int16), study_uid=study, series_description="Head 5mm"
    )
    add_image_dose(
        paths, [{"CTDIvol": value, "StudyDescription": "CT HEAD"} for value in (40.0, 52.25, 41.0)]
    )
    write_dose_sr(
        root / "sr.dcm",
        [
            Event(protocol="Head routine", ctdivol=52.25, dlp=612.5, scanning_length=145.0),
            Event(
                protocol="Neck",
                target_region=("T-D1600", "SRT", "Neck"),
                ctdivol=9.5,
                dlp=88.0,
                phantom=BODY_PHANTOM,
                scanning_length=95.5,
            ),
        ],
        total_dlp=700.5,
        study_uid=study,
        study_description="CT HEAD",
    )
    return study


def test_text_table_and_exceeded_exit_zero(tmp_path: Path) -> None:
    _case(tmp_path)
    result = run_workstation("dose", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Head routine" in out and "Neck" in out and "612.5" in out and "95.5" in out
    assert "head" in out and "body" in out
    assert "Accumulated DLP: 700.5 mGy·cm" in out
    assert "CTDIvol 52.25 mGy [max of 3 image(s)]" in out
    assert "CTDIvol 52.25 mGy, level 47 mGy: EXCEEDED" in out
    assert "DLP 700.5 mGy·cm, level 790 mGy·cm: within" in out
    assert "1 reference level(s) EXCEEDED" in out
    assert "Traceback" not in result.stderr


def test_json_is_one_object(tmp_path: Path) -> None:
    study = _case(tmp_path)
    result = run_workstation("dose", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    (record,) = document["studies"]
    assert record["study_uid"] == study and document["exceeded"] == 1
    assert [e["dlp_mgycm"] for e in record["reports"][0]["events"]] == [612.5, 88.0]
    assert record["total_dlp_mgycm"] == 700.5
    assert record["series"][0]["ctdivol_mgy"] == 52.25
    assert record["exceeded"] == ["Head (Acute stroke): CTDIvol 52.25 mGy, level 47 mGy: EXCEEDED"]


def test_other_table_and_errors_in_one_line(tmp_path: Path) -> None:
    _case(tmp_path / "in")
    table = tmp_path / "levels.toml"
    table.write_text(
        '[[exams]]\nname = "Any head"\nctdivol_mgy = 60\ndlp_mgycm = 600\n'
        '[exams.match]\nstudy_description = "*HEAD*"\n',
        encoding="utf-8",
    )
    result = run_workstation("dose", str(tmp_path / "in"), "--reference-levels", str(table))
    assert result.returncode == 0, result.stderr
    assert "DLP 700.5 mGy·cm, level 600 mGy·cm: EXCEEDED" in result.stdout
    assert "CTDIvol 52.25 mGy, level 60 mGy: within" in result.stdout
    table.write_text("[[exams]]\nname = 'x'\n", encoding="utf-8")
    bad = run_workstation("dose", str(tmp_path / "in"), "--reference-levels", str(table))
    assert bad.returncode == 20 and len(bad.stderr.strip().splitlines()) == 1
    missing = run_workstation("dose", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    result = run_workstation("dose", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"path": str(tmp_path), "studies": [], "exceeded": 0}


def test_series_linked_to_an_event_and_ultrasound_figures(tmp_path: Path) -> None:
    study, event = generate_uid(), generate_uid()
    linked = write_series(
        tmp_path / "ct",
        np.zeros((2, 4, 4), np.int16),
        study_uid=study,
        series_description="Recon 2",
    )
    add_image_dose(linked, {"IrradiationEventUID": event})
    write_dose_sr(tmp_path / "sr.dcm", [Event(event_uid=event, ctdivol=14.5)], study_uid=study)
    us = write_series(
        tmp_path / "us", np.zeros((1, 4, 4), np.int16), modality="US", series_description="Liver"
    )
    add_image_dose(us, {"MechanicalIndex": "1.1", "SoftTissueThermalIndex": "0.4"})
    result = run_workstation("dose", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Series CT Recon 2: CTDIvol 14.5 mGy (dose report event)\n" in result.stdout
    assert "Series US Liver: MI 1.1 · TIS 0.4 [max of 1 image(s)]" in result.stdout
