"""Where a case plan comes from: a plan file, or a project whose models it rebuilds.

A project (``.wsproj``) gives the plan that remakes its case on another series: its
operation list, and one model per saved model (its name, its segment by name, the
options it was built with), written as STL.  A project without models (as
``workstation segment -o CASE.wsproj`` saves one) gives a model per non-empty segment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workstation.core.case_plan import (
    MODEL_OPTION_DEFAULTS,
    PLAN_FORMAT,
    Plan,
    parse_plan,
    read_plan,
)
from workstation.core.errors import PlanError
from workstation.io.encryption import KeySource
from workstation.services.project import ProjectContents, is_project_path


def load_plan(path: str | os.PathLike[str], key: KeySource | None = None) -> Plan:
    """The plan of a ``.json`` plan file, or of a ``.wsproj`` project (``key`` opens an
    encrypted one); PlanError or ProjectError (one line) when it cannot be read."""
    if is_project_path(path):
        from workstation.services.project import read_project

        contents = read_project(path, key=key)
        return plan_from_project(contents, where=Path(path).name)
    return read_plan(Path(path))


def plan_from_project(contents: ProjectContents, where: str = "the project") -> Plan:
    """The plan that rebuilds a project's models from its operation list (STL each)."""
    if not contents.operations:
        raise PlanError(f"{where} records no segmentation operations, so no plan rebuilds it.")
    names = _segment_names(contents)
    models: list[dict[str, Any]] = []
    for saved in contents.models:
        segment = names.get(saved.segment_id or "")
        if segment is None:
            continue  # not made of one of its segments (imported or tool-made): not rebuilt
        options = {
            key: saved.parameters[key] for key in MODEL_OPTION_DEFAULTS if key in saved.parameters
        }
        models.append({"name": saved.name, "segment": segment, "options": options})
    if not models:
        models = [{"name": name, "segment": name} for name in _filled_segments(contents)]
    if not models:
        raise PlanError(f"{where} holds no segment with voxels, so there is no model to rebuild.")
    number_repeated_names(models)
    document = {
        "format": PLAN_FORMAT,
        "name": f"Plan of {where}",
        "segmentation": {"segments": [], "operations": [dict(r) for r in contents.operations]},
        "models": models,
    }
    return parse_plan(document, ".", where=where)


def _segment_names(contents: ProjectContents) -> dict[str, str]:
    """Segment id → name in the project's segmentation."""
    if contents.segmentation is None:
        return {}
    return {segment.segment_id: segment.name for segment in contents.segmentation}


def _filled_segments(contents: ProjectContents) -> list[str]:
    if contents.segmentation is None:
        return []
    return [segment.name for segment in contents.segmentation if not segment.empty]


def number_repeated_names(models: list[dict[str, Any]]) -> None:
    """Number repeated model names ("Bone", "Bone 2"): a plan's models each need a name."""
    used: set[str] = set()
    for model in models:
        name, number = model["name"], 2
        while name.casefold() in used:
            name, number = f"{model['name']} {number}", number + 1
        used.add(name.casefold())
        model["name"] = name
