"""Surgical guides as a user task: read a plan and its bone, build the guide, write it.

``load_plan`` reads PLAN.json (relative paths then resolve against its folder),
``load_bone`` finds the bone the plan names (a mesh file, a project's model or a model
of the open case) in LPS millimetres, ``generate_guide`` builds the guide and its
printability report, and ``write_guide`` writes the guide, its provenance record beside
it (the plan, the bone's SHA-256 and path, the software) and the report.  Everything is
checked before the first byte is written; each file is written atomically, and when a
later one fails the earlier ones are removed, so an error leaves no guide and no report.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workstation.core.errors import (
    ExportError,
    GuidePlanError,
    InputPathError,
    WorkstationError,
)
from workstation.core.guide_plan import GuidePlan, parse_plan
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.atomic_write import atomic_write, check_writable_path
from workstation.io.mesh_export import check_output_path, read_mesh
from workstation.io.source_files import SourceSeries, file_sha256
from workstation.io.writers import writer_for
from workstation.processing.guides.guide_builder import GuideResult, build_guide
from workstation.services.access import exporting, file_object
from workstation.services.provenance import (
    file_entry,
    model_record,
    plain_json,
    provenance_path,
    read_provenance,
    write_provenance,
)
from workstation.services.provenance_export import threemf_metadata
from workstation.services.session import Session

__all__ = [
    "GuideResult",
    "bone_description",
    "bone_path",
    "check_guide_outputs",
    "generate_guide",
    "guide_record",
    "load_bone",
    "load_plan",
    "mesh_sha256",
    "report_json",
    "write_guide",
]

#: The report keys that summarise the guide in its provenance record.
RECORD_STATISTICS = ("watertight", "manifold", "components", "volume_mm3", "bounds_lps")


# -- the plan -----------------------------------------------------------------------------
def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object that gives no key twice (the second would silently win)."""
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise GuidePlanError(f"Guide plan: the key {key!r} is given twice.")
        record[key] = value
    return record


def load_plan(path: str | os.PathLike[str]) -> GuidePlan:
    """Read and check PLAN.json; its folder becomes the plan's ``base_dir``.

    InputPathError when the file is missing or unreadable; GuidePlanError (one line,
    naming the file and the key) when it is no valid plan.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise InputPathError(f"No such guide plan: {source}")
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputPathError(f"Cannot read the guide plan {source}: {error}") from None
    try:
        record = json.loads(text, object_pairs_hook=_unique_keys)
        return parse_plan(record, base_dir=str(source.absolute().parent))
    except json.JSONDecodeError as error:
        raise GuidePlanError(
            f"Guide plan {source.name} is not valid JSON: {error.msg} "
            f"(line {error.lineno}, column {error.colno})."
        ) from None
    except GuidePlanError as error:
        message = error.message.replace("Guide plan:", f"Guide plan {source.name}:", 1)
        raise GuidePlanError(message) from None


def _resolved(plan: GuidePlan, name: str) -> Path:
    path = Path(name).expanduser()
    if not path.is_absolute() and plan.base_dir:
        path = Path(plan.base_dir) / path
    return path


def bone_path(plan: GuidePlan) -> Path | None:
    """The file the bone is read from (a mesh file or a project); None for the open case."""
    if plan.bone.path is not None:
        return _resolved(plan, plan.bone.path)
    if plan.bone.project is not None:
        return _resolved(plan, plan.bone.project)
    return None


# -- the bone -----------------------------------------------------------------------------
def _named_model(models: list[tuple[str, Mesh]], name: str, where: str) -> Mesh:
    found = [mesh for model_name, mesh in models if model_name == name]
    if len(found) == 1:
        return found[0]
    if found:
        raise GuidePlanError(
            f"Guide plan: bone: {where} has {len(found)} models named {name!r}; rename one."
        )
    names = ", ".join(repr(model_name) for model_name, _ in models) or "none"
    raise GuidePlanError(
        f"Guide plan: bone: {where} has no model named {name!r} (models: {names})."
    )


def _project_bone(project: Path, name: str) -> Mesh:
    from workstation.services.project import read_project

    if not project.is_file():
        raise InputPathError(f"Guide plan: bone: no such project: {project}")
    contents = read_project(project)
    models = [(model.name, model.mesh) for model in contents.models]
    mesh = _named_model(models, name, project.name)
    return Mesh(mesh.vertices, mesh.faces, name=name, color=mesh.color)


def _file_bone(path: Path) -> Mesh:
    if not path.is_file():
        raise InputPathError(f"Guide plan: bone: no such mesh file: {path}")
    try:
        bone = read_mesh(path)  # LPS: a file that declares SPACE=RAS is converted
    except ExportError as error:
        raise InputPathError(f"Guide plan: bone: {error}") from None
    if bone.n_faces == 0:
        raise InputPathError(f"Guide plan: bone: {path} holds no triangles (is it a mesh?).")
    return bone


def load_bone(plan: GuidePlan, session: Session | None = None) -> Mesh:
    """The bone the plan names, in LPS mm.

    A mesh file (STL/OBJ/PLY/3MF; one declaring ``SPACE=RAS`` is converted), a model of a
    project file by name, or (``{"model": name}``) a model of ``session`` by name.
    InputPathError for a missing or unreadable file; GuidePlanError for a model name
    that is not there (the message lists the names) or a bone without triangles.
    """
    reference = plan.bone
    if reference.kind == "file":
        bone = _file_bone(_resolved(plan, str(reference.path)))
    elif reference.kind == "project":
        bone = _project_bone(_resolved(plan, str(reference.project)), str(reference.model))
    else:
        if session is None:
            raise GuidePlanError(
                f"Guide plan: bone {{'model': {reference.model!r}}} names a model of the case "
                'open in the window; give a mesh file or {"project": ..., "model": ...}.'
            )
        models = [(entry.name, entry.mesh) for entry in session.models.values()]
        mesh = _named_model(models, str(reference.model), "the open case")
        bone = Mesh(mesh.vertices, mesh.faces, name=str(reference.model), color=mesh.color)
    if bone.n_faces == 0:
        raise GuidePlanError(f"Guide plan: bone: {reference.describe()} has no triangles.")
    return bone


def mesh_sha256(mesh: Mesh) -> str:
    """SHA-256 of a mesh's geometry (float64 vertices, then int64 faces, little-endian)."""
    digest = hashlib.sha256()
    digest.update(mesh.vertices.astype("<f8", copy=False).tobytes())
    digest.update(mesh.faces.astype("<i8", copy=False).tobytes())
    return digest.hexdigest()


# -- building -----------------------------------------------------------------------------
def generate_guide(
    plan: GuidePlan,
    bone: Mesh,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> GuideResult:
    """Build the guide on ``bone``; GuidePlanError when the plan cannot be built, Cancelled."""
    (cancel or CancelToken()).raise_if_cancelled()
    return build_guide(plan, bone, progress, cancel)


# -- writing ------------------------------------------------------------------------------
def report_json(report: dict[str, Any]) -> str:
    """The report as JSON text (sorted keys, indented; non-finite numbers as null)."""
    return json.dumps(plain_json(report), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _record_sources(plan: GuidePlan | None, session: Session | None) -> list[SourceSeries]:
    """The source images behind the bone, where known (its record, its project, the case)."""
    raw: list[Any] = []
    path = bone_path(plan) if plan is not None else None
    if plan is not None and plan.bone.kind == "file" and path is not None:
        with contextlib.suppress(InputPathError, OSError):
            raw = list(read_provenance(provenance_path(path)).get("sources", []))
    elif plan is not None and plan.bone.kind == "project" and path is not None:
        from workstation.services.project import read_manifest

        with contextlib.suppress(WorkstationError, OSError):  # then the bone was not read
            raw = list(read_manifest(path).get("sources", []))
    elif session is not None and session.sources is not None:
        return [session.sources]
    sources = []
    for item in raw:
        with contextlib.suppress(KeyError, TypeError, ValueError):
            sources.append(SourceSeries.from_dict(item))
    return sources


def bone_description(plan: GuidePlan | None, bone: Mesh | None) -> dict[str, Any]:
    """What the record says of the bone: reference, file path and SHA-256, mesh SHA-256."""
    described: dict[str, Any] = {}
    if plan is not None:
        described["reference"] = plan.bone.to_value()
        path = bone_path(plan)
        if path is not None:
            described["path"] = str(path.absolute())
            try:
                described["sha256"], described["size"] = file_sha256(str(path))
            except OSError:
                described["sha256"] = None
    if bone is not None:
        described["name"] = bone.name
        described["mesh_sha256"] = mesh_sha256(bone)
        described["triangles"] = bone.n_faces
        described.setdefault("sha256", described["mesh_sha256"])
    return described


def guide_record(
    result: GuideResult,
    plan: GuidePlan | None = None,
    bone: Mesh | None = None,
    session: Session | None = None,
) -> dict[str, Any]:
    """The guide's provenance record (without its files): the plan and the bone it seats on."""
    bone_facts = bone_description(plan, bone)
    statistics = {key: result.report.get(key) for key in RECORD_STATISTICS}
    statistics["triangles"] = result.guide.n_faces
    parameters = {
        "tool": "guide",
        "plan": None if plan is None else plan.to_dict(),
        "bone": bone_facts,
    }
    record = model_record(
        sources=_record_sources(plan, session),
        operations=[],
        segment_name=None,
        segment_id=None,
        parameters=parameters,
        statistics=plain_json(statistics),
        model_name=result.guide.name,
    )
    record["inputs"] = [bone_facts]
    return record


def _same(first: Path, second: Path) -> bool:
    """True when two paths name one file (links followed; a file need not exist yet)."""
    with contextlib.suppress(OSError):
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
    return os.path.normcase(first.resolve()) == os.path.normcase(second.resolve())


def check_guide_outputs(
    output: str | os.PathLike[str],
    report_path: str | os.PathLike[str] | None = None,
    inputs: Sequence[str | os.PathLike[str] | None] = (),
) -> tuple[Path, Path, Path | None]:
    """Check where the guide, its record and the report go, before any work.

    ExportError for an unknown format, a folder that cannot be written, a report path
    that is the guide or its record, or an output that is one of ``inputs`` (the plan,
    the bone file: inputs are never overwritten).
    """
    target = check_output_path(output)
    record_path = check_writable_path(provenance_path(target))
    report = None if report_path is None else check_writable_path(report_path)
    if report is not None and (_same(report, target) or _same(report, record_path)):
        raise ExportError(
            f"The report {report.name} would overwrite the guide or its provenance record; "
            "give another --report path."
        )
    for source in (Path(item) for item in inputs if item is not None):
        for written in (target, record_path, report):
            if written is not None and _same(written, source):
                raise ExportError(
                    f"Writing {written.name} would overwrite the input {source.name}; "
                    "give another output path."
                )
    return target, record_path, report


def _remove(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


def write_guide(
    result: GuideResult,
    output: str | os.PathLike[str],
    report_path: str | os.PathLike[str] | None = None,
    plan: GuidePlan | None = None,
    bone: Mesh | None = None,
    *,
    coords: str = "lps",
    session: Session | None = None,
) -> dict[str, Path | None]:
    """Write the guide (format by extension), its provenance record and the report.

    Returns the written paths ({"guide", "provenance", "report"}).  Each file is written
    atomically; when a later one cannot be written the earlier ones are removed and the
    error (ExportError) is raised, so no guide is left without its record and report.
    A 3MF guide also holds its record in its metadata.
    """
    bone_file = None if plan is None else bone_path(plan)
    target, record_path, report = check_guide_outputs(output, report_path, [bone_file])
    report_text = report_json(result.report).encode("utf-8")
    record = guide_record(result, plan, bone, session)
    digest: dict[str, str] = {}
    options: dict[str, Any] = {"coords": coords, "metadata": threemf_metadata(record, digest)}
    written: list[Path] = []
    # an export: export-identified, or export-deidentified for a de-identified session
    with exporting([None if session is None else session.identity]) as scope:
        try:
            writer_for("mesh", target).write(result.guide, target, **options)
            written.append(target)
            entry = file_entry(target, coords)
            if "content_sha256" in digest:
                entry["content_sha256"] = digest["content_sha256"]
            written.append(write_provenance(target, {**record, "files": [entry]}))
            if report is not None:
                with atomic_write(report) as handle:
                    handle.write(report_text)
                written.append(report)
        except BaseException as error:
            _remove(written)
            if isinstance(error, OSError):
                raise ExportError(f"Could not write the guide {target.name}: {error}") from None
            raise
        scope.add(file_object(target))
    return {"guide": target, "provenance": record_path, "report": report}
