"""The open case as a case plan, and a case plan run on the open series (Qt-free).

``plan_from_session`` turns what the user did in the window into the one plan format:
the segment editor's operation list (every edit in order, as ``workstation segment``
replays it) and one model per model built from a segment, with the options it was built
with (``ModelEntry.parameters``, the keys of ``MODEL_OPTION_DEFAULTS``).

``apply_plan`` runs a plan on the open series: the plan's operations become edits of the
session's editor (one undo step each) and its models are built with the plan's options
by the services the Models panel uses, with the options ``run_case`` gives them
(``case_models.model_options``), so the window and batch make the same models.  The
window runs the same steps through its edit queue and job runner (``gui.plan_actions``):
``plan_records`` → edits, ``plan_model_jobs`` → ``build_plan_models`` in a job →
``add_plan_models``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from workstation.core.case_plan import (
    MODEL_OPTION_DEFAULTS,
    PLAN_FORMAT,
    ModelSpec,
    Plan,
    parse_plan,
)
from workstation.core.errors import PlanError
from workstation.core.operations import Record
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.segmentation import Segment
from workstation.core.volume import Volume
from workstation.services.modeling import (
    ModelOptions,
    ModelResult,
    make_model_from_volume,
    make_segment_model,
    segment_model_options,
)
from workstation.services.segment_editor import SegmentEditor
from workstation.services.session import ModelEntry, Session

#: Share of ``apply_plan``'s progress taken by the edits (the models take the rest).
EDITS_SHARE = 0.3


# -- the open case as a plan -------------------------------------------------------------------
def plan_from_session(session: Session, name: str = "Case plan") -> Plan:
    """The plan that remakes the open case on a series: its operations and its models.

    Models made of a segment become the plan's models (their names, their segment by
    name, the options they were built with, STL each); models made otherwise (imported,
    cut or combined) are not part of it.  Without such models, each non-empty segment
    gets one.  PlanError (one line) when there is nothing to put in a plan.
    """
    editor = _editor_of(session, "saving a case plan")
    operations = [dict(record) for record in editor.operations]
    if not operations:
        raise PlanError(
            "The case has no segmentation edits yet: threshold or paint a segment before "
            "saving a case plan."
        )
    names = {segment.segment_id: segment.name for segment in editor.segmentation}
    models: list[dict[str, Any]] = []
    for entry in session.models.values():
        segment = names.get(entry.segment_id or "")
        if segment is None:
            continue
        options = {
            key: _plain(entry.parameters[key])
            for key in MODEL_OPTION_DEFAULTS
            if key in entry.parameters
        }
        models.append({"name": entry.name, "segment": segment, "options": options})
    if not models:
        models = [
            {"name": segment.name, "segment": segment.name}
            for segment in editor.segmentation
            if not segment.empty
        ]
    if not models:
        raise PlanError(
            "No segment of the case holds voxels, so a plan would make no model: threshold "
            "or paint a segment first."
        )
    from workstation.services.plan_sources import number_repeated_names

    number_repeated_names(models)
    identity = session.identity
    document = {
        "format": PLAN_FORMAT,
        "name": name.strip() or "Case plan",
        "series": {"modality": identity.modality if identity is not None else ""},
        "segmentation": {"segments": [], "operations": operations},
        "models": models,
    }
    return parse_plan(document, ".", where="the case plan")


def _plain(value: Any) -> Any:
    """A JSON value of a model parameter (tuples as lists)."""
    return list(value) if isinstance(value, tuple) else value


def _editor_of(session: Session, doing: str) -> SegmentEditor:
    """The session's editor; PlanError when no series is loaded or the case is read-only."""
    if session.editor is None or session.volume is None:
        raise PlanError(f"Load a series before {doing}.")
    return session.editor


# -- a plan on the open series -----------------------------------------------------------------
@dataclass
class PlanModelJob:
    """One model of a plan to build on the open series.

    ``segment`` is a snapshot of the segment to model (None: the model is made straight
    from the image, as ``run_case`` makes a preset or threshold plan's model);
    ``segment_id`` is the session's segment the model belongs to.
    """

    spec: ModelSpec
    options: ModelOptions
    segment: Segment | None
    segment_id: str | None
    color: tuple[float, float, float]


@dataclass
class PlanModel:
    """A built model of a plan: its job and the modelling result."""

    job: PlanModelJob
    result: ModelResult


def plan_records(plan: Plan, volume: Volume) -> list[Record]:
    """The edits a plan makes on ``volume``: its segments and operations, or its threshold
    as the operations ``workstation mesh`` means (a preset resolved on this volume)."""
    segmentation = plan.segmentation
    if segmentation.uses_operations:
        added = [{**dict(record), "op": "add_segment"} for record in segmentation.segments]
        return added + [dict(record) for record in segmentation.operations]
    from workstation.services.segmenting import shortcut_operations

    return shortcut_operations(
        volume,
        preset=segmentation.preset,
        lower=segmentation.lower,
        upper=segmentation.upper,
        largest=segmentation.largest,
        seed_lps=segmentation.seed_lps,
    )


def check_applicable(session: Session, plan: Plan, records: list[Record]) -> None:
    """PlanError (one line) before any edit when the plan cannot run on the open case."""
    editor = _editor_of(session, "applying a case plan")
    if session.read_only:
        raise PlanError(
            "This case is read-only (its source images changed): load the series again to "
            "apply a plan."
        )
    from workstation.services.case_checks import check_plan_models

    check_plan_models(plan)
    present = {name.casefold() for name in editor.segmentation.names}
    for record in records:
        if record.get("op") == "add_segment" and str(record.get("name", "")).casefold() in present:
            raise PlanError(
                f"The case already has a segment called {record['name']!r}, which the plan "
                "adds: rename or remove it first, or load the series again."
            )


def plan_model_jobs(plan: Plan, session: Session, records: list[Record]) -> list[PlanModelJob]:
    """The plan's models on the session's segments (snapshots: edits may follow)."""
    from workstation.services.case_models import model_options
    from workstation.services.segmenting import segment_to_model
    from workstation.services.session import MODEL_COLOURS

    editor = _editor_of(session, "building a plan's models")
    jobs = []
    for number, spec in enumerate(plan.models):
        options = model_options(plan, spec)
        if plan.segmentation.uses_operations:
            segment = segment_to_model(editor, spec.segment)
            snapshot = replace(segment, mask=segment.mask.copy())
            color = tuple(float(c) for c in segment.color)
            jobs.append(PlanModelJob(spec, options, snapshot, segment.segment_id, color))  # type: ignore[arg-type]
            continue
        added = next((r["name"] for r in records if r.get("op") == "add_segment"), None)
        found = None if added is None else editor.segmentation.by_name(added)
        color = MODEL_COLOURS[number % len(MODEL_COLOURS)]
        jobs.append(
            PlanModelJob(spec, options, None, None if found is None else found.segment_id, color)
        )
    return jobs


def build_plan_models(
    volume: Volume,
    jobs: list[PlanModelJob],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[PlanModel]:
    """Build each model (may run in a worker thread: it reads only the snapshots)."""
    token = cancel or CancelToken()
    built = []
    count = max(len(jobs), 1)
    for number, job in enumerate(jobs):
        token.raise_if_cancelled()
        part = sub_progress(progress, number / count, (number + 1) / count)
        part(0.0, f"Model {job.spec.name}")
        if job.segment is not None:
            result = make_segment_model(volume, job.segment, job.options, part, token)
        else:
            result = make_model_from_volume(volume, job.options, part, token)
        built.append(PlanModel(job, result))
    progress(1.0, "Models built")
    return built


def add_plan_models(
    session: Session, built: list[PlanModel], operations: list[Record]
) -> list[ModelEntry]:
    """Add built models to the session, each remembering its segment and options."""
    entries = []
    for model in built:
        job = model.job
        options = job.options
        if job.segment is not None:
            options = segment_model_options(job.segment, options)
        entries.append(
            session.add_model(
                model.result.mesh,
                model.result.statistics.as_dict(),
                name=job.spec.name,
                color=job.color,
                segment_id=job.segment_id,
                parameters=asdict(options),
                operations=[dict(record) for record in operations],
            )
        )
    return entries


def undo_steps(editor: SegmentEditor, count: int) -> int:
    """Undo the last ``count`` steps of ``editor`` (a plan's edits); how many were undone."""
    undone = 0
    while undone < count and editor.undo():
        undone += 1
    return undone


def apply_plan(
    session: Session,
    plan: Plan,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[ModelEntry]:
    """Run ``plan`` on the open series on the caller's thread; the models it added.

    Each operation is one undo step of the session's editor; when an edit or a model
    fails (or ``cancel`` fires) the plan's edits are undone again and the error raised,
    so the case is as it was.
    """
    token = cancel or CancelToken()
    editor = _editor_of(session, "applying a case plan")
    assert session.volume is not None
    volume = session.volume
    records = plan_records(plan, volume)
    check_applicable(session, plan, records)
    committed = 0
    try:
        for index, record in enumerate(records):
            token.raise_if_cancelled()
            progress(EDITS_SHARE * index / len(records), f"Edit {index + 1} of {len(records)}")
            editor.apply(record, index, no_progress, token)
            committed += 1
        jobs = plan_model_jobs(plan, session, records)
        built = build_plan_models(volume, jobs, sub_progress(progress, EDITS_SHARE, 1.0), token)
    except BaseException:
        undo_steps(editor, committed)
        raise
    entries = add_plan_models(session, built, editor.operations)
    progress(1.0, "Plan applied")
    return entries
