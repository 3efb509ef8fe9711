"""Small synthetic studies with known UIDs for the database tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.support.dicom_factory import write_series

BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, computed here independently of the store."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_study(
    folder: Path,
    *,
    patient_id: str = "P001",
    study_uid: str | None = None,
    slices: int = 4,
    modality: str = "CT",
    description: str = "Synthetic series",
    series_number: int = 1,
) -> list[Path]:
    """One series of ``slices`` small images; returns the file paths."""
    data = np.arange(slices * 6 * 8, dtype=np.int16).reshape(slices, 6, 8)
    return write_series(
        folder,
        data,
        modality=modality,
        study_uid=study_uid,
        patient_id=patient_id,
        series_description=description,
        series_number=series_number,
        slice_step=2.0,
    )


def write_non_image(path: Path, study_uid: str, patient_id: str = "P001") -> str:
    """A DICOM instance without pixel data (a Basic Text SR); returns its SOP Instance UID."""
    ds = Dataset()
    sop = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = BASIC_TEXT_SR
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = sop
    ds.PatientID = patient_id
    ds.PatientName = "Synthetic^Patient"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "SR"
    ds.SeriesDescription = "Report"
    ds.StudyDate = "20260101"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return sop


def blob_files(database: Path) -> list[Path]:
    """Every blob file under a database folder."""
    return sorted((database / "blobs").rglob("*.dcm"))
