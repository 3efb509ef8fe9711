"""The open case as a case report's content (Qt-free), for File → Case report….

``content_from_session`` gathers what the report shows from the window's session: the
loaded volume's patient and study header, the volume and a snapshot of its segments,
every shown model (mesh, colour, opacity, statistics, the files exported for it), segment
statistics, measurements, planning objects, a guide's printability report, the
provenance records of exported models, and dose and QC when the caller has them: what
``services.case_report.content_from_project`` gathers from the same case once saved.
``session_content`` is the quick part (snapshots only, safe on the UI thread while the
user goes on editing) and ``add_segment_statistics`` the slow part (a worker may run
it); ``content_from_session`` is both.  ``session_dose`` reads the study's dose from
the images the window already scanned.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from workstation.core.case_report_content import ReportContent, ReportModel
from workstation.core.errors import Cancelled, PlanError, ReportError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.dicom.model import ScanResult
from workstation.services.session import ModelEntry, Session


def session_title(session: Session) -> str:
    """The report's title, as ``workstation report`` gives it (a saved case: its project)."""
    from workstation.services.case_report import report_title

    if session.volume is None:
        return "Case report"
    name = Path(session.project_path).stem if session.project_path else ""
    return report_title(session.volume.source.identity, name)


def _model_files(session: Session) -> dict[str, list[str]]:
    """Model name → the file names its provenance records list (in export order)."""
    files: dict[str, list[str]] = {}
    for record in session.provenance:
        name = (record.get("model") or {}).get("name")
        if not isinstance(name, str):
            continue
        names = files.setdefault(name, [])
        for entry in record.get("files", []) or []:
            file_name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(file_name, str) and file_name not in names:
                names.append(file_name)
    return files


def _report_model(entry: ModelEntry, files: dict[str, list[str]]) -> ReportModel:
    mesh = copy.copy(entry.mesh)  # the name may change in the window meanwhile
    return ReportModel(
        name=entry.name,
        mesh=mesh,
        color=tuple(float(c) for c in entry.color),  # type: ignore[arg-type]
        opacity=float(entry.opacity),
        statistics=copy.deepcopy(entry.statistics),
        files=list(files.get(entry.name, [])),
    )


def _guide_report(session: Session) -> dict[str, Any] | None:
    """The printability report of the case's (first) guide model, when it has one."""
    from workstation.services.case_report import GUIDE_REPORT_KEY

    for entry in session.models.values():
        report = entry.parameters.get(GUIDE_REPORT_KEY)
        if isinstance(report, dict):
            return copy.deepcopy(report)
    return None


def session_content(
    session: Session,
    *,
    created: str = "",
    dose: dict[str, Any] | None = None,
    qc: dict[str, Any] | None = None,
) -> ReportContent:
    """The report content of the open case without segment statistics (snapshots only).

    ReportError (one line) when no series is loaded.
    """
    volume = session.volume
    if volume is None:
        raise ReportError("Load a series before making a case report.")
    editor = session.editor
    files = _model_files(session)
    facts: dict[str, str] = {}
    if session.project_path:
        facts["Project"] = Path(session.project_path).name
    warnings = list(volume.warnings)
    if session.read_only:
        warnings.append("The case's source images changed since it was saved (read-only).")
    return ReportContent(
        title=session_title(session),
        identity=volume.source.identity,
        volume=volume,
        segmentation=None if editor is None else editor.segmentation.snapshot(),
        models=[_report_model(entry, files) for entry in session.models.values() if entry.visible],
        measurements=list(session.measurements),
        planning=list(session.planning),
        guide_report=_guide_report(session),
        dose=copy.deepcopy(dose),
        qc=copy.deepcopy(qc),
        provenance=copy.deepcopy(session.provenance),
        warnings=warnings,
        created=created,
        facts=facts,
    )


def add_segment_statistics(content: ReportContent) -> ReportContent:
    """Fill the per-segment statistics of ``content`` from its volume and segmentation."""
    from workstation.services.segment_statistics import segment_summary

    if content.volume is not None and content.segmentation is not None:
        content.segment_statistics = segment_summary(content.volume, content.segmentation)
    return content


def content_from_session(
    session: Session,
    *,
    created: str = "",
    dose: dict[str, Any] | None = None,
    qc: dict[str, Any] | None = None,
) -> ReportContent:
    """Everything the case report of the open case shows (``created``: ISO 8601 UTC)."""
    return add_segment_statistics(session_content(session, created=created, dose=dose, qc=qc))


def session_dose(
    session: Session,
    reference_levels: str | None = None,
    warnings: list[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict[str, Any] | None:
    """The loaded study's dose (``StudyDose.to_json()``) from the window's scan, or None."""
    volume, scan = session.volume, session.scan
    if volume is None or scan is None:
        return None
    study = volume.source.identity.study_uid
    return study_dose(scan, study, reference_levels, warnings, progress, cancel)


def study_dose(
    scan: ScanResult,
    study_uid: str,
    reference_levels: str | None = None,
    warnings: list[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> dict[str, Any] | None:
    """One study's dose from a scan (a sample of each series' images and the files holding
    no image, such as dose reports), so nothing is scanned again.

    None when the study has no dose information; when its files cannot be read, a line
    is added to ``warnings`` (an unusable ``reference_levels`` table raises its PlanError).
    """
    from workstation.services.dose import doses_for_scan

    try:
        doses = doses_for_scan(scan, reference_levels, progress, cancel)
    except (Cancelled, PlanError):
        raise
    except WorkstationError as error:
        if warnings is not None:
            warnings.append(f"Dose not read: {error.message}")
        return None
    found = next((dose for dose in doses if dose.study_uid == study_uid), None)
    return None if found is None else found.to_json()
