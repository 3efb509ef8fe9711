"""Synthetic identified cases for the de-identification tests: known PHI in known files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from tests.support.dicom_factory import sphere_array, write_series

#: PHI written into every file of patient A (and B with its own name and ID).
PHI_A = {
    "PatientName": "Doeish^Janette",
    "PatientID": "MRN7788123",
    "PatientBirthDate": "19610412",
    "AccessionNumber": "ACC99887766",
    "InstitutionName": "Saint Example Hospital",
    "StudyDescription": "Thorax Janette followup",
    "SeriesDescription": "Oblique Janette series",
    "ReferringPhysicianName": "Referrix^Doctorwho",
}
PHI_B = {**PHI_A, "PatientName": "Smithly^Bobbert", "PatientID": "MRN5544332"}


@dataclass
class Case:
    """An input folder, its files, the PHI strings in it and its original UIDs."""

    root: Path
    files: list[Path] = field(default_factory=list)
    phi: set[str] = field(default_factory=set)
    uids: set[str] = field(default_factory=set)

    def hashes(self) -> dict[Path, str]:
        """SHA-256 of every file under the root (to prove the input is never changed)."""
        return {
            path: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(self.root.rglob("*"))
            if path.is_file()
        }


def _stamp(paths: list[Path], phi: dict[str, str], study_date: str, case: Case) -> None:
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword, value in phi.items():
            setattr(ds, keyword, value)
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
        ds.save_as(path, enforce_file_format=True)
        case.files.append(path)
        case.uids.update(
            str(ds[keyword].value)
            for keyword in (
                "StudyInstanceUID",
                "SeriesInstanceUID",
                "SOPInstanceUID",
                "FrameOfReferenceUID",
            )
        )
    case.phi.update(value for key, value in phi.items())
    case.phi.update(part for key, value in phi.items() if "^" in value for part in value.split("^"))


def write_case(root: Path, *, size: int = 24, slices: int = 8) -> Case:
    """Patient A with two studies (oblique; gantry tilt), patient B with one, plus junk."""
    case = Case(root)
    centre = ((slices - 1) / 2, (size - 1) / 2, (size - 1) / 2)
    stored = sphere_array(
        (slices, size, size), lambda s, r, c: (s, r, c), [centre], [size / 3], 700, -100
    )
    cos, sin = np.cos(np.radians(20)), np.sin(np.radians(20))
    c2, s2 = np.cos(np.radians(15)), np.sin(np.radians(15))
    oblique = write_series(
        root / "Janette_Doeish" / "study1" / "oblique",
        stored,
        row_cosine=(cos, sin, 0.0),
        col_cosine=(-sin * c2, cos * c2, s2),
        pixel_spacing=(0.8, 0.7),
        slice_step=1.5,
        origin=(-10.0, 20.0, 30.0),
        patient_id=PHI_A["PatientID"],
        series_number=3,
    )
    _stamp(oblique, PHI_A, "20260105", case)
    tilt = np.radians(15)
    tilted = write_series(
        root / "Janette_Doeish" / "study2" / "tilt",
        stored,
        col_cosine=(0.0, np.cos(tilt), -np.sin(tilt)),
        slice_step=(0.0, 0.0, 2.0),
        gantry_tilt=15.0,
        patient_id=PHI_A["PatientID"],
        series_number=4,
    )
    _stamp(tilted, PHI_A, "20260305", case)
    other = write_series(
        root / "Bobbert_Smithly" / "ct",
        stored,
        patient_id=PHI_B["PatientID"],
        series_number=2,
    )
    _stamp(other, PHI_B, "20260105", case)
    (root / "Janette_Doeish" / "notes.txt").write_text("not DICOM\n")
    return case


def output_bytes(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def leaks(data: bytes, values: set[str]) -> list[str]:
    """The ``values`` that occur in ``data`` (as ASCII, case-insensitive)."""
    lowered = data.lower()
    return sorted(value for value in values if value and value.lower().encode() in lowered)
