"""A case's other outputs: segmentation files, the project, dose, QC and the report.

Each writes into the case folder and returns the names it wrote.  Dose, QC and the
report come from their own services (``services.dose``, ``services.qc``,
``services.case_report``), imported when a plan asks for them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.core.case_plan import Plan
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.volume import Volume
from workstation.io.atomic_write import atomic_write
from workstation.io.dicom.model import ScanResult, Stack
from workstation.io.source_files import SourceSeries
from workstation.services.segment_editor import SegmentEditor

if TYPE_CHECKING:
    from workstation.services.case_models import BuiltModel

SEGMENTATION_STEM = "segmentation"
PROJECT_NAME = "case.wsproj"
DOSE_NAME = "dose.json"
QC_NAME = "qc.json"
REPORT_STEM = "report"


@dataclass
class CaseFacts:
    """What one case has once its models are built (for the project and the report)."""

    plan: Plan
    case_id: str
    label: str
    scan: ScanResult
    stack: Stack
    volume: Volume
    source_root: str
    source_series: SourceSeries
    editor: SegmentEditor | None
    models: list[BuiltModel]
    warnings: list[str] = field(default_factory=list)
    dose: dict[str, Any] | None = None
    qc: dict[str, Any] | None = None


def write_json(path: Path, record: dict[str, Any]) -> str:
    """Write ``record`` as indented JSON (atomically); its file name."""
    with atomic_write(path) as handle:
        handle.write((json.dumps(record, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return path.name


def write_segmentations(facts: CaseFacts, folder: Path, cancel: CancelToken) -> list[str]:
    """``segmentation.<fmt>`` for each format the plan asks for, as ``workstation segment``."""
    from workstation.io.dicom.source_context import source_context
    from workstation.io.writers import writer_for
    from workstation.services.export import write_segmentation

    assert facts.editor is not None
    names = []
    for fmt in facts.plan.segmentation.formats:
        cancel.raise_if_cancelled()
        path = folder / f"{SEGMENTATION_STEM}.{fmt}"
        needs = writer_for("segmentation", path).needs_source
        write_segmentation(
            facts.editor.segmentation,
            path,
            cancel=cancel,
            source=source_context(facts.stack, facts.volume) if needs else None,
            identities=[facts.volume.source.identity],
        )
        names.append(path.name)
    return names


def write_case_project(facts: CaseFacts, folder: Path, embed_sources: bool) -> str:
    """``case.wsproj``: the segments, their operations and every model with its record."""
    from workstation.services.project import contents_from_session, save_project
    from workstation.services.session import Session

    assert facts.editor is not None
    session = Session()
    session.set_scan(facts.scan, facts.source_root)
    session.set_volume_with_editor(facts.volume, facts.stack, facts.editor)
    session.sources = facts.source_series
    for model in facts.models:
        from dataclasses import asdict

        from workstation.services.modeling import segment_model_options

        options = model.options
        if model.segment is not None:
            options = segment_model_options(model.segment, options)
        session.add_model(
            model.result.mesh,
            model.result.statistics.as_dict(),
            model.spec.name,
            model.color,
            None if model.segment is None else model.segment.segment_id,
            asdict(options),
            operations=[dict(record) for record in facts.editor.operations],
        )
    session.provenance = [dict(model.record) for model in facts.models]
    contents = contents_from_session(session)
    save_project(folder / PROJECT_NAME, contents, embed_sources=embed_sources)
    return PROJECT_NAME


def study_dose(
    plan: Plan,
    source: str,
    study_uid: str,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Any | None:
    """The StudyDose of the case's study (dose reports and images of ``source``), or None."""
    from workstation.services.dose import read_study_doses

    doses = read_study_doses(source, plan.reference_levels, progress, cancel)
    return next((dose for dose in doses if dose.study_uid == study_uid), None)


def series_qc(plan: Plan, stack: Stack, volume: Volume, dose: Any | None) -> Any:
    """The SeriesQc of the case's series under the plan's rules (CTDIvol from ``dose``)."""
    from workstation.services.qc import check_stack, load_rules

    assert plan.qc_rules is not None
    rules = load_rules(plan.qc_rules)
    ctdivol = None if dose is None else dose.ctdivol_for_series(volume.source.identity.series_uid)
    return check_stack(stack, rules, ctdivol_mgy=ctdivol, volume=volume)


def write_reports(
    facts: CaseFacts,
    folder: Path,
    created: str,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> list[str]:
    """``report.pdf`` / ``report.html`` of the case (pictures first, then the figures)."""
    from workstation.core.case_report_content import ReportContent, ReportModel
    from workstation.services.case_report import write_report
    from workstation.services.segment_statistics import segment_summary

    plan = facts.plan
    editor = facts.editor
    content = ReportContent(
        title=f"{plan.name}: {facts.label or facts.case_id}",
        identity=facts.volume.source.identity,
        volume=facts.volume,
        segmentation=None if editor is None else editor.segmentation,
        models=[
            ReportModel(
                name=model.spec.name,
                mesh=model.result.mesh,
                color=model.color,
                statistics=model.result.statistics.as_dict(),
                files=list(model.files),
            )
            for model in facts.models
        ],
        segment_statistics=[]
        if editor is None
        else segment_summary(facts.volume, editor.segmentation),
        dose=facts.dose,
        qc=facts.qc,
        provenance=[dict(model.record) for model in facts.models],
        warnings=list(facts.warnings),
        created=created,
        facts={"Plan": plan.name, "Plan digest": plan.digest()[:16], "Case": facts.case_id},
    )
    names = []
    for number, fmt in enumerate(plan.report):
        cancel.raise_if_cancelled()
        part = _part(progress, number, len(plan.report))
        written = write_report(content, folder / f"{REPORT_STEM}.{fmt}", part, cancel)
        names.append(Path(written).name)
    return names


def _part(progress: ProgressCallback, number: int, count: int) -> ProgressCallback:
    from workstation.core.progress import sub_progress

    return sub_progress(progress, number / count, (number + 1) / count)
