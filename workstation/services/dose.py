"""Radiation dose of studies: dose reports, per-image dose figures and reference levels.

``read_study_doses(source)`` finds every study in a folder, file or zip and gives one
``StudyDose`` each: the events of its CT Radiation Dose SRs (TID 10011) and their
accumulated DLP, the per-series figures images carry (CT CTDIvol, MR SAR and dB/dt, US
mechanical and thermal indices) and the comparison with a table of diagnostic reference
levels (the bundled example table unless another is given).  ``doses_for_scan`` does the
same from a scan the caller already has (the study browser).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.dicom.model import ScanResult
from workstation.io.dose_attributes import ImageDose, spread_sample
from workstation.io.dose_sr import DoseEvent, DoseReport
from workstation.io.reference_levels import ReferenceLevel, ReferenceTable, load_reference_table
from workstation.io.sources import check_input_path, iter_locations
from workstation.resources_path import resources_dir
from workstation.services.dose_reading import DoseFacts, read_dose_facts

#: The example table used when none is given (resources/dose/README.md says where from).
DEFAULT_TABLE_NAME = "uk-ndrl-2024-adult-ct.toml"
#: Images of one series read for its figures when the caller has a scan (evenly spread).
MAX_IMAGES_PER_SERIES = 100
#: The scan's skip reason of files without pixels: SRs among them may be dose reports.
NO_IMAGE_REASON = "no image data"

#: Per-series figures: name in the record, what a user reads, unit.
FIGURES = (
    ("ctdivol_mgy", "CTDIvol", "mGy"),
    ("sar_wkg", "SAR", "W/kg"),
    ("dbdt_ts", "dB/dt", "T/s"),
    ("mechanical_index", "MI", ""),
    ("bone_thermal_index", "TIB", ""),
    ("cranial_thermal_index", "TIC", ""),
    ("soft_tissue_thermal_index", "TIS", ""),
)


def _number(value: float, unit: str = "") -> str:
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit else text


def series_figures_text(series: dict[str, Any]) -> str:
    """'CTDIvol 12.3 mGy · SAR 0.47 W/kg (IEC_WHOLE_BODY)' for a series record (to_json)."""
    parts = []
    for key, name, unit in FIGURES:
        value = series.get(key)
        if value is None:
            continue
        text = f"{name} {_number(value, unit)}"
        if key == "sar_wkg" and series.get("sar_model"):
            text += f" ({series['sar_model']})"
        if key == "ctdivol_mgy" and series.get("ctdivol_from") == "dose report":
            text += " (dose report event)"
        parts.append(text)
    return " · ".join(parts)


def default_reference_levels() -> Path:
    """The bundled example table of diagnostic reference levels."""
    return resources_dir() / "dose" / DEFAULT_TABLE_NAME


def reference_table(path: str | os.PathLike[str] | None = None) -> ReferenceTable:
    """The table at ``path`` (the bundled example when None); PlanError when unusable."""
    return load_reference_table(default_reference_levels() if path is None else path)


@dataclass
class SeriesDose:
    """The dose figures of one series' images: the largest value over the images read."""

    series_uid: str
    modality: str = ""
    description: str = ""
    body_part_examined: str = ""
    images: int = 0  # images of the series found
    images_read: int = 0  # images whose attributes were read
    figures: dict[str, float] = field(default_factory=dict)  # FIGURES names, maxima
    sar_model: str = ""
    irradiation_event_uids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: UIDs, counts, every figure (null when unknown), linked events."""
        record: dict[str, Any] = {
            "series_uid": self.series_uid,
            "modality": self.modality,
            "description": self.description,
            "images": self.images,
            "images_read": self.images_read,
        }
        record.update({name: self.figures.get(name) for name, _, _ in FIGURES})
        record["sar_model"] = self.sar_model
        record["irradiation_event_uids"] = list(self.irradiation_event_uids)
        return record


@dataclass(frozen=True)
class DoseCheck:
    """One comparison with a reference level; ``value`` None when the study has no figure."""

    exam: str
    quantity: str  # "CTDIvol" (per sequence, mGy) or "DLP" (per examination, mGy·cm)
    value: float | None
    level: float

    @property
    def unit(self) -> str:
        """mGy for CTDIvol, mGy·cm for DLP."""
        return "mGy" if self.quantity == "CTDIvol" else "mGy·cm"

    @property
    def exceeded(self) -> bool:
        """True when the value is above the level."""
        return self.value is not None and self.value > self.level

    def line(self) -> str:
        """'Head (acute stroke): DLP 912 mGy·cm EXCEEDS the level 790 mGy·cm' and the like."""
        if self.value is None:
            return f"{self.exam}: {self.quantity} not known (level {self.level:g} {self.unit})"
        verdict = "EXCEEDED" if self.exceeded else "within"
        return (
            f"{self.exam}: {self.quantity} {self.value:.4g} {self.unit}, level "
            f"{self.level:g} {self.unit}: {verdict}"
        )

    def to_json(self) -> dict[str, Any]:
        """{exam, quantity, value, level, unit, exceeded}."""
        return {
            "exam": self.exam,
            "quantity": self.quantity,
            "value": self.value,
            "level": self.level,
            "unit": self.unit,
            "exceeded": self.exceeded,
        }


@dataclass
class StudyDose:
    """One study's dose, from its dose reports and images, compared with reference levels."""

    study_uid: str
    study_date: str = ""
    study_description: str = ""
    reports: list[DoseReport] = field(default_factory=list)
    series: list[SeriesDose] = field(default_factory=list)
    table: ReferenceTable | None = None
    exam: ReferenceLevel | None = None
    checks: list[DoseCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def events(self) -> list[DoseEvent]:
        """Every irradiation event of every dose report, in order."""
        return [event for report in self.reports for event in report.events]

    @property
    def total_dlp_mgycm(self) -> float | None:
        """Accumulated DLP: each report's total (or the sum of its events' DLP), summed."""
        totals = [_report_total(report) for report in self.reports]
        known = [total for total in totals if total is not None]
        return sum(known) if known else None

    def series_dose(self, series_uid: str) -> SeriesDose | None:
        """The figures of one series, or None when it is not in this study."""
        return next((item for item in self.series if item.series_uid == series_uid), None)

    def ctdivol_source(self, series_uid: str) -> str | None:
        """Where ``ctdivol_for_series`` takes its value: "images", "dose report" or None."""
        series = self.series_dose(series_uid)
        if series is not None and "ctdivol_mgy" in series.figures:
            return "images"
        return "dose report" if self._linked_ctdivol(series) is not None else None

    def ctdivol_for_series(self, series_uid: str) -> float | None:
        """CTDIvol of a series in mGy: the largest per-image value over its images read,
        else the largest of the dose report events its images name (Irradiation Event UID),
        else None."""
        series = self.series_dose(series_uid)
        if series is not None and "ctdivol_mgy" in series.figures:
            return series.figures["ctdivol_mgy"]
        return self._linked_ctdivol(series)

    def _linked_ctdivol(self, series: SeriesDose | None) -> float | None:
        if series is None or not series.irradiation_event_uids:
            return None
        uids = set(series.irradiation_event_uids)
        values = [
            event.ctdivol_mgy
            for event in self.events
            if event.irradiation_event_uid in uids and event.ctdivol_mgy is not None
        ]
        return max(values) if values else None

    def exceeded(self) -> list[str]:
        """One line per reference level exceeded (empty when none is)."""
        return [check.line() for check in self.checks if check.exceeded]

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: the ``dose --json`` study record (keys in the README)."""
        series = []
        for item in self.series:
            record = item.to_json()
            record["ctdivol_mgy"] = self.ctdivol_for_series(item.series_uid)
            record["ctdivol_from"] = self.ctdivol_source(item.series_uid)
            series.append(record)
        table = self.table
        return {
            "study_uid": self.study_uid,
            "study_date": self.study_date,
            "study_description": self.study_description,
            "reports": [report.to_json() for report in self.reports],
            "total_dlp_mgycm": self.total_dlp_mgycm,
            "series": series,
            "reference_levels": {
                "table": table.name if table else None,
                "path": table.path if table else None,
                "source": table.source if table else None,
                "exam": self.exam.title if self.exam else None,
                "checks": [check.to_json() for check in self.checks],
            },
            "exceeded": self.exceeded(),
            "warnings": list(self.warnings),
        }


def _report_total(report: DoseReport) -> float | None:
    if report.total_dlp_mgycm is not None:
        return report.total_dlp_mgycm
    dlps = [event.dlp_mgycm for event in report.events]
    if dlps and all(value is not None for value in dlps):
        return sum(value for value in dlps if value is not None)
    return None


def _series_dose(images: list[ImageDose], total: int) -> SeriesDose:
    """The maxima of the images' figures; the SAR model of the largest SAR."""
    first = images[0]
    series = SeriesDose(
        series_uid=first.series_uid,
        modality=first.modality,
        description=first.series_description or first.protocol_name,
        body_part_examined=first.body_part_examined,
        images=total,
        images_read=len(images),
    )
    for image in images:
        for name, value in image.figures().items():
            if value > series.figures.get(name, float("-inf")):
                series.figures[name] = value
                if name == "sar_wkg":
                    series.sar_model = image.sar_model
        series.irradiation_event_uids.extend(image.irradiation_event_uids)
    series.irradiation_event_uids = list(dict.fromkeys(series.irradiation_event_uids))
    return series


def _facts(study: StudyDose, images: list[ImageDose]) -> dict[str, list[str]]:
    """What reference level patterns are matched against, per match key."""
    return {
        "study_description": [study.study_description]
        + [report.study_description for report in study.reports]
        + [image.study_description for image in images],
        "protocol": [event.protocol for event in study.events]
        + [image.protocol_name for image in images]
        + [item.description for item in study.series],
        "body_part_examined": [item.body_part_examined for item in study.series],
        "target_region": [event.target_region for event in study.events],
    }


def compare_with_levels(study: StudyDose, table: ReferenceTable, images: list[ImageDose]) -> None:
    """Fill ``study.exam`` and ``study.checks`` from the first exam of ``table`` it matches."""
    study.table = table
    study.exam = table.exam_for(_facts(study, images))
    if study.exam is None:
        return
    exam = study.exam
    if exam.ctdivol_mgy is not None:
        values = [event.ctdivol_mgy for event in study.events if event.ctdivol_mgy is not None]
        if not values:
            values = [
                item.figures["ctdivol_mgy"]
                for item in study.series
                if "ctdivol_mgy" in item.figures
            ]
        study.checks.append(
            DoseCheck(exam.title, "CTDIvol", max(values) if values else None, exam.ctdivol_mgy)
        )
    if exam.dlp_mgycm is not None:
        study.checks.append(DoseCheck(exam.title, "DLP", study.total_dlp_mgycm, exam.dlp_mgycm))


def _has_ct_dose(study: StudyDose) -> bool:
    """True when the study has a dose report or a per-image CTDIvol (what the levels cover)."""
    return bool(study.reports) or any("ctdivol_mgy" in item.figures for item in study.series)


def assemble_studies(
    facts: DoseFacts, table: ReferenceTable, series_sizes: dict[str, int] | None = None
) -> list[StudyDose]:
    """Group what was read by study and compare each with the reference levels."""
    studies: dict[str, StudyDose] = {}
    by_series: dict[tuple[str, str], list[ImageDose]] = {}
    for image in facts.images:
        study = studies.setdefault(image.study_uid, StudyDose(study_uid=image.study_uid))
        study.study_date = study.study_date or image.study_date
        study.study_description = study.study_description or image.study_description
        by_series.setdefault((image.study_uid, image.series_uid), []).append(image)
    for report in facts.reports:
        study = studies.setdefault(report.study_uid, StudyDose(study_uid=report.study_uid))
        study.reports.append(report)
        study.study_date = study.study_date or report.study_date
        study.study_description = study.study_description or report.study_description
        study.warnings.extend(report.warnings)
    for (study_uid, series_uid), images in by_series.items():
        total = (series_sizes or {}).get(series_uid, len(images))
        studies[study_uid].series.append(_series_dose(images, total))
    for study in studies.values():
        images = [image for image in facts.images if image.study_uid == study.study_uid]
        if _has_ct_dose(study):
            compare_with_levels(study, table, images)
        else:
            study.table = table
        study.warnings.extend(facts.warnings)
    return sorted(studies.values(), key=lambda study: (study.study_date, study.study_uid))


def read_study_doses(
    source: str | os.PathLike[str],
    reference_levels: str | os.PathLike[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[StudyDose]:
    """One StudyDose per study found under ``source`` (folder, file or .zip; maybe none).

    Raises InputPathError for a missing path and PlanError for an unusable table.
    """
    table = reference_table(reference_levels)
    root = check_input_path(source)
    if root.is_file() and root.name.upper() == "DICOMDIR":
        root = root.parent
    progress(0.0, "Listing files")
    locations = list(iter_locations(root))
    facts = read_dose_facts(locations, progress=progress, cancel=cancel)
    return assemble_studies(facts, table)


def doses_for_scan(
    scan: ScanResult,
    reference_levels: str | os.PathLike[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[StudyDose]:
    """``read_study_doses`` of what a scan found: up to MAX_IMAGES_PER_SERIES images per
    series (evenly spread) and every file the scan skipped for holding no image."""
    table = reference_table(reference_levels)
    frames: dict[str, list[str]] = {}
    for stack in scan.stacks:
        locations = frames.setdefault(stack.identity.series_uid, [])
        locations.extend(frame.location for frame in stack.frames)
    sizes = {uid: len(dict.fromkeys(locations)) for uid, locations in frames.items()}
    chosen = [
        location
        for locations in frames.values()
        for location in spread_sample(list(dict.fromkeys(locations)), MAX_IMAGES_PER_SERIES)
    ]
    candidates = [item.path for item in scan.skipped if item.reason.startswith(NO_IMAGE_REASON)]
    facts = read_dose_facts(chosen, candidates, progress, cancel)
    return assemble_studies(facts, table, sizes)
