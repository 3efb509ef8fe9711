"""Checking a case plan before any case runs: formats, presets, options and named files.

Each problem is a one-line PlanError naming the plan key, so a batch of 300 cases fails
at once instead of 300 times.
"""

from __future__ import annotations

from workstation.core.case_plan import Plan
from workstation.core.errors import PlanError, WorkstationError
from workstation.io.writers import Writer, writer_for


def check_plan_models(plan: Plan) -> None:
    """The segmentation and every model: known formats, preset and options, distinct files."""
    from workstation.processing.presets import get_preset
    from workstation.services.case_models import model_options
    from workstation.services.export import safe_file_name

    segmentation = plan.segmentation
    if not segmentation.uses_operations and segmentation.lower is None:
        try:
            get_preset(segmentation.preset or "")
        except WorkstationError as error:
            raise PlanError(f"segmentation.preset: {error}") from None
    for fmt in segmentation.formats:
        _known("segmentation", fmt, "segmentation.formats")
    known = _segment_names(plan)
    stems: dict[str, str] = {}
    for index, model in enumerate(plan.models):
        where = f"models[{index}]"
        for fmt in model.formats:
            writer = _known("mesh", fmt, f"{where}.formats")
            if writer.needs_source and (model.ascii or model.options.get("coords") == "ras"):
                raise PlanError(
                    f"{where}: a .dcm model (Encapsulated STL) is binary STL in the images' "
                    "LPS coordinates: drop ascii and coords ras"
                )
        try:
            model_options(plan, model)
        except WorkstationError as error:
            raise PlanError(f"{where}.options: {error}") from None
        except TypeError as error:
            raise PlanError(f"{where}.options: {error}") from None
        if known is not None and model.segment is not None and model.segment not in known:
            listed = ", ".join(repr(name) for name in known) or "none"
            raise PlanError(
                f"{where}.segment: the operation list makes no segment called "
                f"{model.segment!r}; its segments are: {listed}"
            )
        stem = safe_file_name(model.name).casefold()
        if stem in stems:
            raise PlanError(
                f"{where}.name: {model.name!r} and {stems[stem]!r} would write the same "
                "files; give the models names that differ in letters or digits"
            )
        stems[stem] = model.name


def _known(kind: str, fmt: str, where: str) -> Writer:
    """The writer of ``fmt``; PlanError naming ``where`` when no writer knows it."""
    try:
        return writer_for(kind, f"case.{fmt}")
    except WorkstationError as error:
        raise PlanError(f"{where}: {error}") from None


def check_plan_files(plan: Plan) -> None:
    """De-identification settings, the QC rule file and the reference-level table load."""
    if plan.deidentify is not None:
        from workstation.services.case_deid import deid_settings

        deid_settings(plan.deidentify)
    if plan.qc_rules is not None:
        from workstation.services.qc import load_rules

        try:
            load_rules(plan.qc_rules)
        except PlanError as error:
            raise PlanError(f"qc.rules: {error}") from None
    if plan.reference_levels is not None:
        _check_levels(plan.reference_levels)


def _check_levels(path: str) -> None:
    """PlanError when the dose reference-level table does not load."""
    from workstation.services.dose import reference_table

    try:
        reference_table(path)
    except WorkstationError as error:
        raise PlanError(f"dose.reference_levels: {error}") from None


def _segment_names(plan: Plan) -> list[str] | None:
    """The segments an operation list ends with, by name; None when it cannot be told
    before it runs (islands ``split`` names its pieces) or for a threshold plan."""
    segmentation = plan.segmentation
    if not segmentation.uses_operations:
        return None
    names: list[str] = []
    for record in (*segmentation.segments, *segmentation.operations):
        op = record.get("op")
        if op == "islands" and record.get("mode") == "split":
            return None
        if op in ("add_segment", "duplicate_segment"):
            names.append(str(record["name"]))
        elif op == "rename_segment":
            names = [str(record["name"]) if n == record["segment"] else n for n in names]
        elif op == "remove_segment":
            names = [n for n in names if n != record["segment"]]
    return names
