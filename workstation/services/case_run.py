"""One case of a plan: a series in, its models, files, dose, QC and report out, into a folder.

``run_case`` does what ``workstation mesh`` / ``workstation segment`` do for one series,
driven by a case plan (``core.case_plan``): optional de-identification first (the rest
runs on the de-identified copy), the segmentation (preset, threshold or operation list),
each model in each format with its provenance record, segmentation files, a project,
dose, protocol QC and the case report.  ``check_plan`` refuses a plan that cannot work
before any case runs.  Requests and results are plain picklable data: batch ships them
between Dask processes.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workstation.core.case_plan import Plan
from workstation.core.errors import NotAVolumeError, PlanError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress

#: Share of a case's progress per stage (load, models, other outputs).
_LOAD, _MODELS = 0.25, 0.8


@dataclass
class CaseRequest:
    """One case to run: its stable id (the case folder's name), source and series."""

    case_id: str
    #: a local folder, file or .zip holding the study
    source: str
    #: the series (or stack) to use; "" = the one ``workstation mesh`` picks
    series_uid: str = ""
    #: what a user recognises (shown in progress and summary)
    label: str = ""


@dataclass
class CaseResult:
    """What a case produced (``run_case`` returns only "done"; batch records "failed")."""

    case_id: str
    status: str
    series_uid: str = ""
    stack_id: str = ""
    #: paths relative to the case folder
    outputs: list[str] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    #: {"models": {name: MeshStatistics.as_dict()}, "segments": segment_summary records}
    statistics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    qc: dict[str, Any] | None = None
    dose: dict[str, Any] | None = None
    reason: str = ""
    worker: str = ""

    def to_json(self) -> dict[str, Any]:
        """The result as a plain JSON object (``from_json`` reads it back)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        """A result from ``to_json``'s object (unknown keys ignored)."""
        known = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


def check_plan(plan: Plan) -> None:
    """PlanError (one line, naming the key) for a plan no case could run."""
    from workstation.services.case_checks import check_plan_files, check_plan_models

    check_plan_models(plan)
    check_plan_files(plan)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _timed(timings: dict[str, float], name: str, began: float) -> None:
    timings[name] = round(time.perf_counter() - began, 4)


def run_case(
    plan: Plan,
    request: CaseRequest,
    folder: str | os.PathLike[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> CaseResult:
    """Run ``plan`` on the request's series, writing every output into ``folder``.

    ``folder`` exists and is empty; on an error some outputs may be there (batch removes
    the folder).  Raises WorkstationError with a one-line message when the case cannot
    be done, Cancelled when ``cancel`` fires.
    """
    target = Path(folder)
    if not target.is_dir():
        raise PlanError(f"The case folder {target} does not exist.")
    token = cancel or CancelToken()
    timings: dict[str, float] = {}
    copy = None
    try:
        source = request.source
        series = request.series_uid or plan.series.series_uid or None
        warnings: list[str] = []
        if plan.deidentify is not None:
            from workstation.services.case_deid import deidentify_case

            began = time.perf_counter()
            copy = deidentify_case(
                plan.deidentify, source, series, target, sub_progress(progress, 0, 0.1), token
            )
            source, series = str(copy.folder), copy.series
            warnings += copy.warnings
            _timed(timings, "deidentify", began)
        result = _run(plan, request, source, series, target, warnings, timings, progress, token)
    finally:
        if copy is not None:
            copy.remove()
    result.outputs = _outputs(target, result.outputs)
    timings["total"] = round(sum(timings.values()), 4)
    result.timings_s = timings
    progress(1.0, "Done")
    return result


def _run(
    plan: Plan,
    request: CaseRequest,
    source: str,
    series: str | None,
    target: Path,
    warnings: list[str],
    timings: dict[str, float],
    progress: ProgressCallback,
    token: CancelToken,
) -> CaseResult:
    """Load the series and run the rest of the case on it."""
    from workstation.services.loading import load_volume
    from workstation.services.provenance_export import BackgroundSources

    began = time.perf_counter()
    loaded = load_volume(source, series, sub_progress(progress, 0.1, _LOAD), token, "model")
    _timed(timings, "load", began)
    volume = loaded.volume
    # the source files are hashed for the provenance records while the models are built
    sources = BackgroundSources(loaded.stack, volume, source)
    try:
        return _build(plan, request, loaded, sources, source, target, warnings, timings,
                      progress, token)  # fmt: skip
    finally:
        sources.stop()


def _build(
    plan: Plan,
    request: CaseRequest,
    loaded: Any,
    sources: Any,
    source: str,
    target: Path,
    warnings: list[str],
    timings: dict[str, float],
    progress: ProgressCallback,
    token: CancelToken,
) -> CaseResult:
    """The case once its series is loaded: models, their files and the other outputs."""
    from workstation.core.audit_actions import AuditAction
    from workstation.services.access import require_export
    from workstation.services.case_models import build_models, write_models
    from workstation.services.case_outputs import CaseFacts

    volume = loaded.volume
    require_export([volume.source.identity], AuditAction.EXPORT)  # refused before meshing
    if min(volume.shape) < 2:
        raise NotAVolumeError(
            f"The chosen series is a single image ({volume.dims[0]} x {volume.dims[1]}); "
            "a 3D model needs a stack of slices."
        )
    warnings[:0] = list(volume.warnings)
    editor = _editor(plan, volume, timings, progress, token)
    built = build_models(
        plan, volume, editor, sub_progress(progress, 0.35, _MODELS), token, timings
    )
    began = time.perf_counter()
    source_series = sources.result()
    outputs = write_models(
        plan, built, target, source_series, loaded.stack, volume,
        sub_progress(progress, _MODELS, 0.85), token,
    )  # fmt: skip
    _timed(timings, "export", began)
    facts = CaseFacts(
        plan, request.case_id, request.label, loaded.scan, loaded.stack, volume, source,
        source_series, editor, built, warnings,
    )  # fmt: skip
    outputs += _extras(facts, target, source, timings, sub_progress(progress, 0.85, 1.0), token)
    statistics: dict[str, Any] = {
        "models": {model.spec.name: model.result.statistics.as_dict() for model in built},
        "segments": _segments(facts),
    }
    result = CaseResult(
        case_id=request.case_id,
        status="done",
        series_uid=volume.source.identity.series_uid,
        stack_id=loaded.stack.stack_id,
        outputs=outputs,
        statistics=statistics,
        warnings=list(dict.fromkeys(warnings)),
        qc=facts.qc,
        dose=facts.dose,
    )
    return result


def _needs_editor(plan: Plan) -> bool:
    """True when the case needs the segments as voxels (files, project, report)."""
    return bool(
        plan.segmentation.uses_operations
        or plan.segmentation.formats
        or plan.project
        or plan.report
    )


def _editor(
    plan: Plan,
    volume: Any,
    timings: dict[str, float],
    progress: ProgressCallback,
    token: CancelToken,
) -> Any:
    """The segments: the plan's operation list replayed, or its threshold as operations."""
    if not _needs_editor(plan):
        return None
    from workstation.services.case_models import operation_lists
    from workstation.services.segmenting import replay, shortcut_operations

    began = time.perf_counter()
    segmentation = plan.segmentation
    if segmentation.uses_operations:
        segments, operations = operation_lists(plan)
    else:
        segments = []
        operations = shortcut_operations(
            volume,
            preset=segmentation.preset,
            lower=segmentation.lower,
            upper=segmentation.upper,
            largest=segmentation.largest,
            seed_lps=segmentation.seed_lps,
        )
    editor = replay(volume, segments, operations, sub_progress(progress, _LOAD, 0.35), token)
    _timed(timings, "segment", began)
    return editor


def _segments(facts: Any) -> list[dict[str, Any]]:
    if facts.editor is None:
        return []
    from workstation.services.segment_statistics import segment_summary

    return segment_summary(facts.volume, facts.editor.segmentation)


def _extras(
    facts: Any,
    target: Path,
    source: str,
    timings: dict[str, float],
    progress: ProgressCallback,
    token: CancelToken,
) -> list[str]:
    """Segmentation files, project, dose, QC and report, in that order; their names."""
    from workstation.services import case_outputs as out

    plan: Plan = facts.plan
    names: list[str] = []
    if plan.segmentation.formats:
        began = time.perf_counter()
        names += out.write_segmentations(facts, target, token)
        _timed(timings, "segmentation", began)
    if plan.project:
        began = time.perf_counter()
        # the de-identified copy goes away or moves with the case folder: embed it
        names.append(out.write_case_project(facts, target, plan.deidentify is not None))
        _timed(timings, "project", began)
    dose = None
    if plan.dose:
        began = time.perf_counter()
        study = facts.volume.source.identity.study_uid
        dose = out.study_dose(plan, source, study, sub_progress(progress, 0.0, 0.3), token)
        if dose is not None:
            facts.dose = dose.to_json()
            names.append(out.write_json(target / out.DOSE_NAME, facts.dose))
            facts.warnings += list(dose.exceeded())
        _timed(timings, "dose", began)
    if plan.qc_rules is not None:
        began = time.perf_counter()
        checked = out.series_qc(plan, facts.stack, facts.volume, dose)
        facts.qc = checked.to_json()
        names.append(out.write_json(target / out.QC_NAME, facts.qc))
        if checked.status != "pass":
            facts.warnings += [f"QC {checked.status}: {line}" for line in checked.reasons()]
        _timed(timings, "qc", began)
    if plan.report:
        began = time.perf_counter()
        names += out.write_reports(facts, target, _now(), sub_progress(progress, 0.3, 1.0), token)
        _timed(timings, "report", began)
    return names


def _outputs(target: Path, written: list[str]) -> list[str]:
    """The written names that exist, then any folder kept (``deidentified/``)."""
    from workstation.services.case_deid import KEPT_FOLDER

    names = [name for name in dict.fromkeys(written) if (target / name).exists()]
    if (target / KEPT_FOLDER).is_dir():
        names.append(f"{KEPT_FOLDER}/")
    return names
