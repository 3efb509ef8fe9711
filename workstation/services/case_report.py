"""Case reports: gather what a case holds and write it as a PDF or HTML report.

``write_report`` renders the pictures (``processing.report_images``: the three slice views
and the 3D views of the models) and hands them with the content to the "report" writer of
the file's extension (``io.report_pdf``, ``io.report_html``).  ``content_from_project``
gathers a saved case (its segments, models, measurements, planning objects, a guide's
printability report and the provenance records); ``content_from_source`` a DICOM folder
or zip when there is no project (the series, and a bone model when asked).  Dose and QC
records come from ``services.dose`` and ``services.qc`` (``dose_record``, ``qc_record``);
a report without them says "not available".  The GUI (File → Case report…), ``workstation
report`` and batch all go through ``write_report``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.core.case_report_content import ReportContent, ReportModel
from workstation.core.errors import ReportError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.provenance import SeriesIdentity
from workstation.core.volume import Volume
from workstation.io.atomic_write import check_writable_path
from workstation.io.dicom.model import Stack
from workstation.services.access import exporting, file_object

if TYPE_CHECKING:
    from workstation.services.project import OpenedProject

#: The extensions ``write_report`` writes (the registry's "report" formats).
REPORT_EXTENSIONS = (".pdf", ".html")

#: The model parameter key of a guide's printability report (as the window saves it).
GUIDE_REPORT_KEY = "guide_report"


def report_title(identity: SeriesIdentity, name: str = "") -> str:
    """The report's title: "Case report" and what the case is."""
    what = name or identity.study_description or identity.series_description
    return f"Case report: {what}" if what else "Case report"


def check_report_path(path: str | os.PathLike[str]) -> Path:
    """The report's path, checked: a known extension, a writable place (ReportError)."""
    target = Path(path)
    if target.suffix.lower() not in REPORT_EXTENSIONS:
        raise ReportError(
            f"Cannot write the report '{target.name}': give a file ending in "
            f"{' or '.join(REPORT_EXTENSIONS)}."
        )
    return check_writable_path(target)


def write_report(
    content: ReportContent,
    path: str | os.PathLike[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """Write ``content`` as a report at ``path`` (.pdf or .html, atomically); returns it.

    Equal content gives a byte-identical file.
    """
    from workstation.io.writers import writer_for
    from workstation.processing.report_images import report_pictures

    target = check_report_path(path)
    writer = writer_for("report", target)
    with exporting([content.identity]) as scope:  # export permission; audited
        progress(0.0, "Drawing the report's pictures")
        pictures = report_pictures(content)
        if cancel is not None:
            cancel.raise_if_cancelled()
        written: Path = writer.write(
            content, target, pictures=pictures, progress=sub_progress(progress, 0.6, 1.0),
            cancel=cancel,
        )
        scope.add(file_object(written))
    return written


# -- dose and QC ----------------------------------------------------------------------------
def dose_record(
    source: str | os.PathLike[str],
    study_uid: str,
    reference_levels: str | os.PathLike[str] | None = None,
    warnings: list[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> tuple[dict[str, Any] | None, Any]:
    """The dose record (``StudyDose.to_json()``) of ``study_uid`` in ``source`` and the
    StudyDose itself; (None, None) when none is found (a line added to ``warnings``).

    An unusable reference-level table raises its PlanError.
    """
    try:
        from workstation.services.dose import read_study_doses
    except ImportError:
        return None, None
    try:
        doses = read_study_doses(source, reference_levels, progress, cancel)
    except WorkstationError as error:
        if reference_levels is not None and type(error).__name__ == "PlanError":
            raise
        if warnings is not None:
            warnings.append(f"Dose not read: {error.message}")
        return None, None
    for study in doses:
        if not study_uid or study.study_uid == study_uid:
            return study.to_json(), study
    return None, None


def qc_record(
    stack: Stack,
    rules_path: str | os.PathLike[str],
    volume: Volume | None = None,
    study_dose: Any = None,
) -> dict[str, Any] | None:
    """The QC record (``SeriesQc.to_json()``) of one series against a rule file.

    PlanError (one line) when the rule file cannot be used; None when QC is not installed.
    """
    try:
        from workstation.services.qc import check_stack, load_rules
    except ImportError:
        return None
    rules = load_rules(rules_path)
    ctdivol = None
    if study_dose is not None:
        ctdivol = study_dose.ctdivol_for_series(stack.identity.series_uid)
    result = check_stack(stack, rules, ctdivol_mgy=ctdivol, volume=volume)
    record: dict[str, Any] = result.to_json()
    return record


# -- gathering ------------------------------------------------------------------------------
def _model_files(provenance: list[dict[str, Any]], name: str) -> list[str]:
    """The files the provenance records list for a model of this name."""
    files: list[str] = []
    for record in provenance:
        model = record.get("model") if isinstance(record, dict) else None
        if isinstance(model, dict) and model.get("name") == name:
            entries = record.get("files")
            if isinstance(entries, list):
                files += [str(e.get("name")) for e in entries if isinstance(e, dict)]
    return files


def content_from_project(
    opened: OpenedProject,
    *,
    dose: dict[str, Any] | None = None,
    qc: dict[str, Any] | None = None,
    created: str = "",
) -> ReportContent:
    """A report of an opened project: its series, segments, models, measurements, planning
    objects, a guide's printability report, provenance and warnings."""
    from workstation.services.segment_statistics import segment_summary

    contents = opened.contents
    volume = opened.volume
    segmentation = opened.editor.segmentation
    models = []
    guide_report: dict[str, Any] | None = None
    for saved in contents.models:
        if saved.visible:
            models.append(ReportModel(
                saved.name, saved.mesh, saved.color, saved.opacity, dict(saved.statistics),
                _model_files(contents.provenance, saved.name),
            ))
        report = saved.parameters.get(GUIDE_REPORT_KEY)
        if guide_report is None and isinstance(report, dict):
            guide_report = report
    identity = volume.source.identity
    return ReportContent(
        title=report_title(identity, opened.path.stem),
        identity=identity,
        volume=volume,
        segmentation=segmentation,
        models=models,
        segment_statistics=segment_summary(volume, segmentation) if len(segmentation) else [],
        measurements=list(contents.measurements),
        planning=list(contents.planning),
        guide_report=guide_report,
        dose=dose,
        qc=qc,
        provenance=[dict(record) for record in contents.provenance],
        warnings=[*opened.warnings, *volume.warnings],
        created=created,
        facts={"Project": opened.path.name},
    )


def content_from_volume(
    volume: Volume,
    *,
    mesh_preset: str | None = None,
    dose: dict[str, Any] | None = None,
    qc: dict[str, Any] | None = None,
    created: str = "",
    name: str = "",
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ReportContent:
    """A report of a loaded series with no project: its slices, and with ``mesh_preset``
    a model made as ``workstation mesh --preset`` makes it."""
    models = []
    facts: dict[str, str] = {}
    if mesh_preset:
        from workstation.services.modeling import ModelOptions, make_model_from_volume

        options = ModelOptions(preset=mesh_preset, name=mesh_preset)
        options.validate()
        result = make_model_from_volume(volume, options, progress, cancel)
        models.append(ReportModel(
            result.mesh.name or mesh_preset, result.mesh, result.mesh.color, 1.0,
            result.statistics.as_dict(),
        ))
        lower, upper = result.threshold or (None, None)
        if lower is not None:
            above = f"{lower:g}" if upper is None else f"{lower:g} to {upper:g}"
            facts["Model"] = f"{mesh_preset} preset, threshold {above} {volume.units}"
    identity = volume.source.identity
    return ReportContent(
        title=report_title(identity, name),
        identity=identity,
        volume=volume,
        models=models,
        dose=dose,
        qc=qc,
        warnings=[*volume.warnings],
        created=created,
        facts=facts,
    )


def content_from_source(
    source: str | os.PathLike[str],
    *,
    series: str | None = None,
    mesh_preset: str | None = None,
    qc_rules: str | os.PathLike[str] | None = None,
    reference_levels: str | os.PathLike[str] | None = None,
    created: str = "",
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ReportContent:
    """A report of a DICOM folder, file or zip: the series (``series`` or the one
    ``workstation mesh`` picks), its study's dose, QC against ``qc_rules``, and with
    ``mesh_preset`` a model."""
    from workstation.services.loading import load_volume

    if qc_rules is not None:
        qc_record_rules_check(qc_rules)
    loaded = load_volume(source, series, sub_progress(progress, 0.0, 0.35), cancel,
                         purpose="model")
    volume = loaded.volume
    warnings: list[str] = []
    dose, study = dose_record(source, volume.source.identity.study_uid, reference_levels,
                              warnings, sub_progress(progress, 0.35, 0.5), cancel)
    qc = None if qc_rules is None else qc_record(loaded.stack, qc_rules, volume, study)
    content = content_from_volume(
        volume, mesh_preset=mesh_preset, dose=dose, qc=qc, created=created,
        progress=sub_progress(progress, 0.5, 1.0), cancel=cancel,
    )
    content.warnings += warnings
    return content


def qc_record_rules_check(rules_path: str | os.PathLike[str]) -> None:
    """Read a QC rule file before any image is loaded (its PlanError comes first)."""
    try:
        from workstation.services.qc import load_rules
    except ImportError:
        return
    load_rules(rules_path)
