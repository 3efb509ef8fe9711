"""Read CT Radiation Dose SR (TID 10011): irradiation events and the accumulated DLP.

A CT dose report is the SOP class X-Ray Radiation Dose SR (``...88.67``), or an Enhanced /
Comprehensive SR (``...88.22`` / ``...88.33``) whose document title is (113701, DCM,
"X-Ray Radiation Dose Report") and that holds CT containers.  Reading never raises on
content: a missing container, a non-numeric value or a unit that cannot be converted
becomes a warning (one line) and the figure stays unknown (None).
"""

from __future__ import annotations

import warnings as python_warnings
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from workstation.core.errors import DicomReadError
from workstation.io.dicom.headers import read_header
from workstation.io.sources import display_name

XRAY_DOSE_SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.67"
ENHANCED_SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.22"
COMPREHENSIVE_SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.33"
#: SR classes that may hold the dose template when their title says so.
GENERAL_SR_CLASSES = frozenset({ENHANCED_SR_CLASS, COMPREHENSIVE_SR_CLASS})

Code = tuple[str, str]  # (code value, coding scheme designator)

DOSE_REPORT_TITLE: Code = ("113701", "DCM")
ACCUMULATED: Code = ("113811", "DCM")
DLP_TOTAL: Code = ("113813", "DCM")
ACQUISITION: Code = ("113819", "DCM")
PROTOCOL: Code = ("125203", "DCM")
TARGET_REGION: Code = ("123014", "DCM")
ACQUISITION_TYPE: Code = ("113820", "DCM")
EVENT_UID: Code = ("113769", "DCM")
PARAMETERS: Code = ("113822", "DCM")
EXPOSURE_TIME: Code = ("113824", "DCM")
SCANNING_LENGTH: Code = ("113825", "DCM")
CT_DOSE: Code = ("113829", "DCM")
MEAN_CTDIVOL: Code = ("113830", "DCM")
PHANTOM: Code = ("113835", "DCM")
DLP: Code = ("113838", "DCM")

#: Phantom codes and the names a user reads.
PHANTOMS = {("113690", "DCM"): "head", ("113691", "DCM"): "body"}

#: UCUM units accepted per quantity, with the factor to the unit the workstation reports.
DOSE_UNITS = {"mGy": 1.0, "Gy": 1000.0, "cGy": 10.0, "uGy": 0.001}
DLP_UNITS = {"mGy.cm": 1.0, "Gy.cm": 1000.0, "cGy.cm": 10.0, "mGy.mm": 0.1, "uGy.cm": 0.001}
LENGTH_UNITS = {"mm": 1.0, "cm": 10.0, "m": 1000.0}
TIME_UNITS = {"s": 1.0, "ms": 0.001, "min": 60.0}


@dataclass
class DoseEvent:
    """One CT irradiation event (a CT Acquisition container) of a dose report."""

    protocol: str = ""
    target_region: str = ""
    acquisition_type: str = ""
    irradiation_event_uid: str = ""
    ctdivol_mgy: float | None = None
    dlp_mgycm: float | None = None
    phantom: str = ""  # "head", "body", or the code meaning of another phantom
    scanning_length_mm: float | None = None
    exposure_time_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The event as plain JSON (keys as the attributes)."""
        return {
            "protocol": self.protocol,
            "target_region": self.target_region,
            "acquisition_type": self.acquisition_type,
            "irradiation_event_uid": self.irradiation_event_uid,
            "ctdivol_mgy": self.ctdivol_mgy,
            "dlp_mgycm": self.dlp_mgycm,
            "phantom": self.phantom,
            "scanning_length_mm": self.scanning_length_mm,
            "exposure_time_s": self.exposure_time_s,
        }


@dataclass
class DoseReport:
    """What one CT Radiation Dose SR says: its events and accumulated DLP, with warnings."""

    location: str
    study_uid: str = ""
    study_date: str = ""
    study_description: str = ""
    sop_instance_uid: str = ""
    events: list[DoseEvent] = field(default_factory=list)
    total_dlp_mgycm: float | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON: file name, UIDs, events, total DLP and warnings."""
        return {
            "file": display_name(self.location),
            "sop_instance_uid": self.sop_instance_uid,
            "total_dlp_mgycm": self.total_dlp_mgycm,
            "events": [event.to_json() for event in self.events],
            "warnings": list(self.warnings),
        }


def _text(ds: Dataset, keyword: str) -> str:
    try:
        value = ds.get(keyword)
    except Exception:  # a malformed element reads as absent
        return ""
    return " ".join(str(value).split()) if value is not None else ""


def _raw_text(ds: Dataset, keyword: str) -> str:
    """The value as text, or its stored bytes when pydicom cannot convert it."""
    text = _text(ds, keyword)
    if text:
        return text
    try:
        raw = ds.get_item(keyword)
    except Exception:
        return ""
    value = getattr(raw, "value", None)
    if isinstance(value, bytes):
        return " ".join(value.decode("latin-1").split())
    return ""


def _items(ds: Dataset, keyword: str) -> list[Dataset]:
    try:
        value = ds.get(keyword)
    except Exception:
        return []
    return list(value) if value else []


def _code(item: Dataset | None) -> Code | None:
    if item is None:
        return None
    value = _text(item, "CodeValue") or _text(item, "LongCodeValue")
    return (value, _text(item, "CodingSchemeDesignator")) if value else None


def _concept(item: Dataset) -> Code | None:
    names = _items(item, "ConceptNameCodeSequence")
    return _code(names[0]) if names else None


def _meaning(item: Dataset) -> str:
    return _text(item, "CodeMeaning") or _text(item, "CodeValue")


def is_dose_report(ds: Dataset) -> bool:
    """True for an X-Ray Radiation Dose SR, or a general SR titled as one."""
    sop_class = _text(ds, "SOPClassUID")
    if sop_class == XRAY_DOSE_SR_CLASS:
        return True
    return sop_class in GENERAL_SR_CLASSES and _concept(ds) == DOSE_REPORT_TITLE


def _children(item: Dataset) -> list[Dataset]:
    return _items(item, "ContentSequence")


def _find(items: list[Dataset], concept: Code) -> list[Dataset]:
    return [item for item in items if _concept(item) == concept]


class _Reader:
    """Collects warnings while reading values out of content items."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def number(
        self, items: list[Dataset], concept: Code, units: dict[str, float], what: str
    ) -> float | None:
        """The first NUM item of ``concept`` in ``units`` (converted), None when unknown."""
        found = _find(items, concept)
        if not found:
            return None
        measured = _items(found[0], "MeasuredValueSequence")
        if not measured:
            self.warnings.append(f"{what} has no measured value")
            return None
        raw = _raw_text(measured[0], "NumericValue")
        try:
            value = float(raw)
        except ValueError:
            self.warnings.append(f"{what} is not a number ({raw!r})")
            return None
        if value != value or value in (float("inf"), float("-inf")):
            self.warnings.append(f"{what} is not a finite number ({raw!r})")
            return None
        unit_items = _items(measured[0], "MeasurementUnitsCodeSequence")
        unit = _text(unit_items[0], "CodeValue") if unit_items else ""
        if unit not in units:
            expected = ", ".join(units)
            self.warnings.append(
                f"{what} is in {unit or 'no unit'!r}, not a known unit ({expected}); ignored"
            )
            return None
        return value * units[unit]

    def text(self, items: list[Dataset], concept: Code) -> str:
        """A TEXT, CODE or UIDREF item's value as text ('' when absent)."""
        found = _find(items, concept)
        if not found:
            return ""
        item = found[0]
        codes = _items(item, "ConceptCodeSequence")
        if codes:
            return _meaning(codes[0])
        return _text(item, "TextValue") or _text(item, "UID")

    def phantom(self, items: list[Dataset]) -> str:
        """'head', 'body' or the meaning of another CTDIw phantom code ('' when absent)."""
        found = _find(items, PHANTOM)
        if not found:
            return ""
        codes = _items(found[0], "ConceptCodeSequence")
        if not codes:
            self.warnings.append("CTDIw Phantom Type has no code")
            return ""
        code = _code(codes[0])
        return PHANTOMS.get(code, _meaning(codes[0])) if code else _meaning(codes[0])


def _event(reader: _Reader, container: Dataset, number: int) -> DoseEvent:
    items = _children(container)
    event = DoseEvent(
        protocol=reader.text(items, PROTOCOL),
        target_region=reader.text(items, TARGET_REGION),
        acquisition_type=reader.text(items, ACQUISITION_TYPE),
        irradiation_event_uid=reader.text(items, EVENT_UID),
    )
    where = f"event {number}" + (f" ({event.protocol})" if event.protocol else "")
    parameters = _find(items, PARAMETERS)
    if parameters:
        values = _children(parameters[0])
        event.scanning_length_mm = reader.number(
            values, SCANNING_LENGTH, LENGTH_UNITS, f"Scanning Length of {where}"
        )
        event.exposure_time_s = reader.number(
            values, EXPOSURE_TIME, TIME_UNITS, f"Exposure Time of {where}"
        )
    doses = _find(items, CT_DOSE)
    if not doses:
        reader.warnings.append(f"{where} has no CT Dose container (no CTDIvol or DLP)")
        return event
    values = _children(doses[0])
    event.ctdivol_mgy = reader.number(values, MEAN_CTDIVOL, DOSE_UNITS, f"Mean CTDIvol of {where}")
    event.dlp_mgycm = reader.number(values, DLP, DLP_UNITS, f"DLP of {where}")
    event.phantom = reader.phantom(values)
    return event


def dose_report_from_dataset(ds: Dataset, location: str) -> DoseReport:
    """The events and accumulated DLP of a parsed dose report; problems become warnings."""
    reader = _Reader()
    report = DoseReport(
        location=location,
        study_uid=_text(ds, "StudyInstanceUID"),
        study_date=_text(ds, "StudyDate"),
        study_description=_text(ds, "StudyDescription"),
        sop_instance_uid=_text(ds, "SOPInstanceUID"),
    )
    items = _children(ds)
    if not items:
        reader.warnings.append("the dose report has no content")
    acquisitions = _find(items, ACQUISITION)
    report.events = [_event(reader, item, n) for n, item in enumerate(acquisitions, start=1)]
    accumulated = _find(items, ACCUMULATED)
    if accumulated:
        report.total_dlp_mgycm = reader.number(
            _children(accumulated[0]), DLP_TOTAL, DLP_UNITS, "CT Dose Length Product Total"
        )
    elif items:
        reader.warnings.append("the dose report has no CT Accumulated Dose Data")
    if items and not acquisitions:
        reader.warnings.append("the dose report lists no CT Acquisition (no events)")
    name = display_name(location)
    report.warnings = [f"{name}: {warning}" for warning in reader.warnings]
    return report


def read_dose_report(location: str) -> DoseReport | None:
    """The dose report in the file at ``location``; None when it is not one.

    Raises DicomReadError when the file cannot be read at all.
    """
    with python_warnings.catch_warnings():
        python_warnings.simplefilter("ignore")
        ds = read_header(location)
        if not is_dose_report(ds):
            return None
        try:
            return dose_report_from_dataset(ds, location)
        except Exception as error:  # a structure so odd that tolerant reading still failed
            raise DicomReadError(
                f"Cannot read the dose report {display_name(location)}: {error}",
                f"unreadable dose report: {type(error).__name__}: {error}",
            ) from error
