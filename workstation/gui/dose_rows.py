"""The study browser's Dose rows: each study's dose, read off the UI thread after a scan.

``DoseRows.start(scan)`` reads the dose of the scan's studies in a background job
(``services.dose.doses_for_scan``: a sample of each series' headers and the dose reports
the scan skipped as non-images), then hands them to the browser, which adds one "Dose"
row per study with dose figures: "CTDIvol 12.3 mGy · DLP 456 mGy·cm", a tooltip listing
the events, and a warning mark when a reference level is exceeded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from workstation.gui.workers import JobError, JobRunner
from workstation.io.dicom.model import ScanResult

if TYPE_CHECKING:  # the dose service (pydicom) loads on the first scan, not at start-up
    from workstation.services.dose import StudyDose

#: Tooltip lines listing events; the rest are counted.
MAX_LISTED_EVENTS = 12


def _value(value: float) -> str:
    return f"{value:.4g}"


def dose_summary(study: StudyDose) -> str:
    """'CTDIvol 12.3 mGy · DLP 456 mGy·cm' (or the MR / US figures); '' without any."""
    from workstation.services.dose import series_figures_text

    ctdis = [event.ctdivol_mgy for event in study.events if event.ctdivol_mgy is not None]
    ctdis += [item.figures["ctdivol_mgy"] for item in study.series if "ctdivol_mgy" in item.figures]
    parts = []
    if ctdis:
        parts.append(f"CTDIvol {_value(max(ctdis))} mGy")
    total = study.total_dlp_mgycm
    if total is not None:
        parts.append(f"DLP {_value(total)} mGy·cm")
    if parts:
        return " · ".join(parts)
    others = [
        series_figures_text(item.to_json())
        for item in study.series
        if item.figures and "ctdivol_mgy" not in item.figures
    ]
    return " | ".join(text for text in others if text)


def dose_tooltip(study: StudyDose) -> str:
    """The events, the per-series figures, the reference level checks and any warnings."""
    from workstation.services.dose import series_figures_text

    lines: list[str] = []
    events = study.events
    for number, event in enumerate(events[:MAX_LISTED_EVENTS], start=1):
        figures = [
            f"CTDIvol {_value(event.ctdivol_mgy)} mGy" if event.ctdivol_mgy is not None else "",
            f"DLP {_value(event.dlp_mgycm)} mGy·cm" if event.dlp_mgycm is not None else "",
            f"{event.phantom} phantom" if event.phantom else "",
            f"{_value(event.scanning_length_mm)} mm"
            if event.scanning_length_mm is not None
            else "",
        ]
        name = " / ".join(p for p in (event.protocol, event.target_region) if p) or "event"
        lines.append(f"{number}. {name}: " + ", ".join(f for f in figures if f))
    if len(events) > MAX_LISTED_EVENTS:
        lines.append(f"… and {len(events) - MAX_LISTED_EVENTS} more events")
    if study.total_dlp_mgycm is not None:
        lines.append(f"Accumulated DLP {_value(study.total_dlp_mgycm)} mGy·cm")
    for item in study.series:
        text = series_figures_text(item.to_json())
        if text:
            lines.append(f"Series {item.description or item.series_uid}: {text}")
    if study.exam is not None and study.table is not None:
        lines.append(f"Reference levels: {study.table.name}, exam {study.exam.title}")
        lines += [f"  {check.line()}" for check in study.checks]
    lines += [f"⚠ {warning}" for warning in study.warnings]
    return "\n".join(lines)


class DoseRows(QObject):
    """Runs the dose read of a scan in the background and delivers the studies once."""

    def __init__(
        self, deliver: Callable[[ScanResult, list[StudyDose]], None], parent: QObject
    ) -> None:
        super().__init__(parent)
        self._deliver = deliver
        self.runner = JobRunner(self, max_threads=1)
        self.last_error: JobError | None = None

    def start(self, scan: ScanResult | None) -> None:
        """Stop any running read and start one for ``scan`` (nothing for None)."""
        self.runner.cancel_all()
        if scan is None or not scan.stacks:
            return
        from workstation.services.dose import doses_for_scan

        self.runner.submit(
            "Dose",
            doses_for_scan,
            scan,
            on_result=lambda studies, scan=scan: self._delivered(scan, studies),
            on_error=self._failed,
            foreground=False,
        )

    def _delivered(self, scan: ScanResult, studies: list[StudyDose]) -> None:
        import shiboken6

        if shiboken6.isValid(self):  # the browser may be gone while the read ran
            self._deliver(scan, studies)

    def _failed(self, error: JobError) -> None:
        self.last_error = error  # a dose that cannot be read leaves the browser as it is

    def busy(self) -> bool:
        """True while a read runs."""
        return bool(self.runner.jobs)
