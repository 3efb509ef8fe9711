"""Synthetic studies with known patients, dates and modalities for the DIMSE tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from tests.support.dicom_factory import write_series
from workstation.io.pacs.client import DimseEndpoint


@dataclass
class Series:
    """One written series: its UIDs, modality and files (SOP Instance UID -> path)."""

    study_uid: str
    series_uid: str
    modality: str
    description: str
    files: dict[str, Path] = field(default_factory=dict)


@dataclass
class Study:
    """One written study: patient, date, description and its series."""

    patient_id: str
    patient_name: str
    study_uid: str
    date: str
    description: str
    series: list[Series] = field(default_factory=list)

    @property
    def files(self) -> dict[str, Path]:
        """Every file of the study by SOP Instance UID."""
        return {uid: path for s in self.series for uid, path in s.files.items()}


def _write_study(
    folder: Path,
    patient_id: str,
    patient_name: str,
    date: str,
    description: str,
    series_specs: list[tuple[str, str, int]],
    seed: int,
) -> Study:
    study = Study(patient_id, patient_name, generate_uid(), date, description)
    rng = np.random.default_rng(seed)
    for number, (modality, series_description, n_slices) in enumerate(series_specs, 1):
        series_uid = generate_uid()
        stored = rng.integers(-1000, 2000, size=(n_slices, 6, 7)).astype(np.int16)
        paths = write_series(
            folder / series_uid,
            stored,
            modality=modality,
            study_uid=study.study_uid,
            series_uid=series_uid,
            patient_id=patient_id,
            series_description=series_description,
            series_number=number,
        )
        series = Series(study.study_uid, series_uid, modality, series_description)
        for path in paths:
            ds = pydicom.dcmread(path)
            ds.PatientName = patient_name
            ds.StudyDate = date
            ds.StudyDescription = description
            ds.save_as(path, enforce_file_format=True)
            series.files[str(ds.SOPInstanceUID)] = path
        study.series.append(series)
    return study


def write_studies(folder: Path) -> list[Study]:
    """Three studies of two patients: CT head (2 series), MR knee and CT+MR chest."""
    return [
        _write_study(
            folder,
            "PAT-A",
            "Alpha^Anna",
            "20240105",
            "Head CT",
            [("CT", "Axial bone", 4), ("CT", "Axial soft", 3)],
            seed=1,
        ),
        _write_study(
            folder,
            "PAT-B",
            "Beta^Bert",
            "20250310",
            "Knee MR",
            [("MR", "Sagittal PD", 5)],
            seed=2,
        ),
        _write_study(
            folder,
            "PAT-B",
            "Beta^Bert",
            "20250420",
            "Chest CT",
            [("CT", "Lung", 3), ("MR", "Cardiac", 2)],
            seed=3,
        ),
    ]


def endpoint_of(server: object, ae_title: str = "ORTHANC") -> DimseEndpoint:
    """The DIMSE endpoint of a test Orthanc."""
    return DimseEndpoint(ae_title, "127.0.0.1", int(server.dicom_port))  # type: ignore[attr-defined]


def pixels(data: bytes | Path) -> np.ndarray:
    """The pixel array of a Part 10 file given as bytes or a path."""
    from io import BytesIO

    source = BytesIO(data) if isinstance(data, bytes) else data
    return pydicom.dcmread(source).pixel_array
