"""A case plan's models: their options, building them and writing them as ``workstation mesh``.

The options of a model are those ``workstation mesh`` builds from its flags (the plan's
threshold or preset, the model's options, the model's name), so the default plan's
``bone.stl`` is the file ``workstation mesh DIR -o bone.stl`` writes, byte for byte.
With an operation list the segments are replayed once and each model is made of its
segment, as ``mesh --ops`` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.case_plan import ModelSpec, Plan
from workstation.core.operations import Record
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.core.segmentation import Segment
from workstation.core.volume import Volume
from workstation.io.dicom.model import Stack
from workstation.io.source_files import SourceSeries
from workstation.io.writers import writer_for
from workstation.services.export import safe_file_name
from workstation.services.modeling import (
    DEFAULT_PRESET,
    ModelOptions,
    ModelResult,
    make_model_from_volume,
    make_segment_model,
)
from workstation.services.provenance_export import options_record, write_model
from workstation.services.segment_editor import SegmentEditor
from workstation.services.session import MODEL_COLOURS


@dataclass
class BuiltModel:
    """One model of a case: its spec, options, result, segment and written files."""

    spec: ModelSpec
    options: ModelOptions
    result: ModelResult
    segment: Segment | None = None
    color: tuple[float, float, float] = MODEL_COLOURS[0]
    files: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)


def model_options(plan: Plan, spec: ModelSpec) -> ModelOptions:
    """The ModelOptions of one model of ``plan`` (those ``workstation mesh`` flags make)."""
    chosen = {key: value for key, value in spec.options.items()}
    segmentation = plan.segmentation
    if segmentation.uses_operations:
        options = ModelOptions(preset=DEFAULT_PRESET, name=spec.name, **chosen)
    else:
        options = ModelOptions(
            preset=None if segmentation.lower is not None else segmentation.preset,
            lower=segmentation.lower,
            upper=segmentation.upper,
            largest=segmentation.largest,
            seed_lps=segmentation.seed_lps,
            name=spec.name,
            **chosen,
        )
    options.validate()
    return options


def operation_lists(plan: Plan) -> tuple[list[Record], list[Record]]:
    """The plan's segments and operations as the lists ``replay`` takes."""
    segmentation = plan.segmentation
    return (
        [dict(record) for record in segmentation.segments],
        [dict(record) for record in segmentation.operations],
    )


def build_models(
    plan: Plan,
    volume: Volume,
    editor: SegmentEditor | None,
    progress: ProgressCallback,
    cancel: CancelToken,
    timings: dict[str, float],
) -> list[BuiltModel]:
    """Every model of the plan (an operation plan's from ``editor``'s segments)."""
    import time

    from workstation.services.segmenting import segment_to_model

    built: list[BuiltModel] = []
    count = len(plan.models)
    for number, spec in enumerate(plan.models):
        cancel.raise_if_cancelled()
        began = time.perf_counter()
        part = sub_progress(progress, number / count, (number + 1) / count)
        options = model_options(plan, spec)
        segment = None
        if plan.segmentation.uses_operations:
            assert editor is not None
            segment = segment_to_model(editor, spec.segment)
            result = make_segment_model(volume, segment, options, part, cancel)
            color = tuple(float(c) for c in segment.color)
        else:
            result = make_model_from_volume(volume, options, part, cancel)
            color = MODEL_COLOURS[number % len(MODEL_COLOURS)]
        timings[f"model {spec.name}"] = round(time.perf_counter() - began, 4)
        built.append(BuiltModel(spec, options, result, segment, color))  # type: ignore[arg-type]
    return built


def write_models(
    plan: Plan,
    built: list[BuiltModel],
    folder: Path,
    source_series: SourceSeries,
    stack: Stack,
    volume: Volume,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> list[str]:
    """Write each model in each of its formats with its provenance record; the file names.

    One record per model lists all its files (``write_provenance`` keeps the entries of
    a model's other formats).  A ``.dcm`` model gets the source series' context.
    """
    from workstation.io.dicom.source_context import source_context

    operations = None
    if plan.segmentation.uses_operations:
        segments, records = operation_lists(plan)
        operations = [*segments, *records]
    names: list[str] = []
    context = None
    jobs = [(model, fmt) for model in built for fmt in model.spec.formats]
    for number, (model, fmt) in enumerate(jobs):
        cancel.raise_if_cancelled()
        path = folder / f"{safe_file_name(model.spec.name)}.{fmt}"
        progress(number / len(jobs), f"Writing {path.name}")
        if not model.record:
            model.record = options_record(
                [source_series],
                model.options,
                model.result.statistics.as_dict(),
                model.result.mesh.name or model.options.name,
                operations,
                model.segment,
            )
        source = None
        if writer_for("mesh", path).needs_source:
            context = context or source_context(stack, volume)
            source = context
        finished = write_model(
            model.result.mesh,
            path,
            model.record,
            coords=model.options.coords,
            binary=not model.spec.ascii,
            source=source,
            identities=[volume.source.identity],
        )
        model.files.append(path.name)
        model.record = {**model.record, "files": _merged(model.record, finished)}
        names += [path.name, _record_name(path)]
    progress(1.0, "Models written")
    return list(dict.fromkeys(names))


def _merged(record: dict[str, Any], finished: dict[str, Any]) -> list[dict[str, Any]]:
    """The file entries of a model's record so far plus those just written."""
    entries = {entry["name"]: entry for entry in record.get("files", [])}
    entries.update({entry["name"]: entry for entry in finished.get("files", [])})
    return list(entries.values())


def _record_name(path: Path) -> str:
    from workstation.services.provenance import provenance_path

    return provenance_path(path).name
