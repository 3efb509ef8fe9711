"""Build synthetic CT Radiation Dose SRs to TID 10011, and put dose attributes on images.

A test states each event's figures once (``Event``), writes the report with
``write_dose_sr`` and compares what the workstation reads with the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

XRAY_DOSE_SR = "1.2.840.10008.5.1.4.1.1.88.67"
COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
HEAD_PHANTOM = ("113690", "DCM", "IEC Head Dosimetry Phantom")
BODY_PHANTOM = ("113691", "DCM", "IEC Body Dosimetry Phantom")


@dataclass
class Event:
    """One CT Acquisition (irradiation event) as the report states it."""

    protocol: str = "Head routine"
    target_region: tuple[str, str, str] = ("T-D1100", "SRT", "Head")
    acquisition_type: tuple[str, str, str] = ("P5-08001", "SRT", "Spiral Acquisition")
    event_uid: str = ""
    ctdivol: float | str | None = 45.5
    ctdivol_unit: str = "mGy"
    dlp: float | str | None = 700.25
    dlp_unit: str = "mGy.cm"
    phantom: tuple[str, str, str] | None = HEAD_PHANTOM
    scanning_length: float | None = 150.0
    length_unit: str = "mm"
    exposure_time: float | None = 4.5
    with_dose_container: bool = True


def code(value: str, scheme: str, meaning: str) -> Dataset:
    """A code sequence item."""
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _item(value_type: str, concept: tuple[str, str, str], relation: str = "CONTAINS") -> Dataset:
    item = Dataset()
    item.RelationshipType = relation
    item.ValueType = value_type
    item.ConceptNameCodeSequence = DicomSequence([code(*concept)])
    return item


def container(concept: tuple[str, str, str], children: Sequence[Dataset]) -> Dataset:
    """A CONTAINER content item holding ``children``."""
    item = _item("CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = DicomSequence(list(children))
    return item


def num(concept: tuple[str, str, str], value: float | str, unit: str) -> Dataset:
    """A NUM content item with a UCUM unit."""
    item = _item("NUM", concept)
    measured = Dataset()
    # A non-numeric text is stored as it is (a malformed report), past pydicom's checks.
    raw = str(value).encode("latin-1")
    raw += b" " * (len(raw) % 2)
    measured[0x0040A30A] = RawDataElement(Tag(0x0040A30A), "DS", len(raw), raw, 0, False, True)
    measured.MeasurementUnitsCodeSequence = DicomSequence([code(unit, "UCUM", unit)])
    item.MeasuredValueSequence = DicomSequence([measured])
    return item


def text(concept: tuple[str, str, str], value: str) -> Dataset:
    """A TEXT content item."""
    item = _item("TEXT", concept)
    item.TextValue = value
    return item


def coded(concept: tuple[str, str, str], value: tuple[str, str, str]) -> Dataset:
    """A CODE content item."""
    item = _item("CODE", concept)
    item.ConceptCodeSequence = DicomSequence([code(*value)])
    return item


def uidref(concept: tuple[str, str, str], value: str) -> Dataset:
    """A UIDREF content item."""
    item = _item("UIDREF", concept)
    item.UID = value
    return item


def acquisition(event: Event) -> Dataset:
    """A CT Acquisition container (113819) for one event."""
    children = [
        text(("125203", "DCM", "Acquisition Protocol"), event.protocol),
        coded(("123014", "DCM", "Target Region"), event.target_region),
        coded(("113820", "DCM", "CT Acquisition Type"), event.acquisition_type),
        uidref(("113769", "DCM", "Irradiation Event UID"), event.event_uid or generate_uid()),
    ]
    parameters = []
    if event.exposure_time is not None:
        parameters.append(num(("113824", "DCM", "Exposure Time"), event.exposure_time, "s"))
    if event.scanning_length is not None:
        parameters.append(
            num(("113825", "DCM", "Scanning Length"), event.scanning_length, event.length_unit)
        )
    children.append(container(("113822", "DCM", "CT Acquisition Parameters"), parameters))
    if event.with_dose_container:
        dose = []
        if event.ctdivol is not None:
            dose.append(num(("113830", "DCM", "Mean CTDIvol"), event.ctdivol, event.ctdivol_unit))
        if event.phantom is not None:
            dose.append(coded(("113835", "DCM", "CTDIw Phantom Type"), event.phantom))
        if event.dlp is not None:
            dose.append(num(("113838", "DCM", "DLP"), event.dlp, event.dlp_unit))
        children.append(container(("113829", "DCM", "CT Dose"), dose))
    return container(("113819", "DCM", "CT Acquisition"), children)


def write_dose_sr(
    path: str | Path,
    events: Sequence[Event],
    *,
    total_dlp: float | str | None = 1400.5,
    total_unit: str = "mGy.cm",
    study_uid: str | None = None,
    study_description: str = "CT HEAD",
    sop_class: str = XRAY_DOSE_SR,
    title: tuple[str, str, str] = ("113701", "DCM", "X-Ray Radiation Dose Report"),
    with_accumulated: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a CT Radiation Dose SR (TID 10011) with ``events`` and return its path."""
    ds = Dataset()
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = "SYNTH001"
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.StudyDate = "20260101"
    ds.StudyDescription = study_description
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 997
    ds.Modality = "SR"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = DicomSequence([code(*title)])
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    children: list[Dataset] = [
        coded(
            ("121058", "DCM", "Procedure reported"),
            ("P5-08000", "SRT", "Computed Tomography X-Ray"),
        )
    ]
    if with_accumulated:
        accumulated = [
            num(("113812", "DCM", "Total Number of Irradiation Events"), len(events), "{events}")
        ]
        if total_dlp is not None:
            accumulated.append(
                num(("113813", "DCM", "CT Dose Length Product Total"), total_dlp, total_unit)
            )
        children.append(container(("113811", "DCM", "CT Accumulated Dose Data"), accumulated))
    children += [acquisition(event) for event in events]
    ds.ContentSequence = DicomSequence(children)
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def add_image_dose(
    paths: Sequence[Path], values: Sequence[dict[str, Any]] | dict[str, Any]
) -> None:
    """Set dose attributes (pydicom keywords) on image files, one dict per file or one for all."""
    per_file = [values] * len(paths) if isinstance(values, dict) else list(values)
    for path, attributes in zip(paths, per_file, strict=True):
        ds = pydicom.dcmread(path)
        for keyword, value in attributes.items():
            setattr(ds, keyword, value)
        ds.save_as(path, enforce_file_format=True)
