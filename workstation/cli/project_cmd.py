"""``workstation project info|open CASE.wsproj``: what a project holds, or open it in the window.

``info`` reads the project (checking every member's SHA-256), looks for its source images
(the recorded folder, ``--source DIR``, the embedded copy) and hashes them, with
progress on a terminal, then lists sources, segments, models, planning objects and
measurements; ``--json`` prints the same as one object.  ``open`` opens the case in the
window, as ``workstation view CASE.wsproj`` does.  ``open_for_mesh`` is how ``workstation
mesh CASE.wsproj`` gets a project's volume and segments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from workstation.cli.commands import command_help
from workstation.cli.keys_cmd import add_opening_options, opening_key_from
from workstation.cli.progress import finish_progress, progress_for
from workstation.cli.view_cmd import LAYOUT_CHOICES
from workstation.core.errors import ProjectError
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress

SOURCE_HELP = "folder holding the project's source DICOM when it is no longer where it was read"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``project`` subcommand with its ``info`` and ``open`` actions."""
    parser = subparsers.add_parser(
        "project",
        help=command_help("project"),
        description=(
            "A project (.wsproj) holds a whole case: the record of its source DICOM (UIDs, "
            "folder, SHA-256 of every file), the segments and the operations that made "
            "them, the models, measurements, planning objects and the view."
        ),
    )
    actions = parser.add_subparsers(dest="project_action", metavar="ACTION", required=True)
    info = actions.add_parser(
        "info",
        help="list sources (found? unchanged?), segments, models, planning objects, measurements",
        description="Read a project and check its source files; the case is not changed.",
    )
    info.add_argument("path", help="project file (.wsproj)")
    info.add_argument("--source", metavar="DIR", help=SOURCE_HELP)
    info.add_argument("--json", action="store_true", help="print everything as one JSON object")
    add_opening_options(info)
    info.set_defaults(func=run_info)
    opener = actions.add_parser(
        "open",
        help="open the case in the workstation window",
        description="Open a project in the window (the same as workstation view CASE.wsproj).",
    )
    opener.add_argument("path", help="project file (.wsproj)")
    opener.add_argument("--source", metavar="DIR", help=SOURCE_HELP)
    opener.add_argument("--layout", choices=LAYOUT_CHOICES, help="view layout (default: four)")
    opener.add_argument("--size", metavar="WxH", help="window size, e.g. 1600x1000")
    opener.set_defaults(func=run_open)


def is_project_path(path: str | None) -> bool:
    """True for a path with the project extension (``.wsproj``)."""
    return bool(path) and str(path).lower().endswith(".wsproj")


def run_open(args: argparse.Namespace) -> int:
    """Open the project in the window (``workstation view CASE.wsproj --source DIR``)."""
    from workstation.cli import view_cmd

    if not is_project_path(args.path):
        raise ProjectError(f"{args.path} is not a project file (.wsproj)")
    view_args = argparse.Namespace(
        path=args.path,
        series=None,
        screenshot=None,
        mesh_preset=None,
        layout=args.layout,
        size=args.size,
        source=args.source,
    )
    return int(view_cmd.run(view_args) or 0)


# -- info -----------------------------------------------------------------------------------
def _source_status(
    contents: Any, path: Path, source: str | None, progress: ProgressCallback, cancel: CancelToken
) -> list[dict[str, Any]]:
    """Whether each source series is found (where) and whether every file matches."""
    from workstation.services import project
    from workstation.services.project_sources import SourcesNotFound, find_sources

    statuses = []
    count = max(len(contents.sources), 1)
    for index, series in enumerate(contents.sources):
        status: dict[str, Any] = {
            "series_instance_uid": series.series_uid,
            "study_instance_uid": series.study_uid,
            "frame_of_reference_uid": series.frame_of_reference_uid,
            "modality": series.modality,
            "description": series.series_description,
            "recorded_folder": series.folder,
            "files": len(series.files),
            "bytes": series.total_bytes,
            "embedded": any(
                isinstance(item, dict) and item.get("series_index") == index
                for item in contents.manifest.get("embedded_sources") or []
            ),
        }
        try:
            found = find_sources(
                series,
                path.name,
                source,
                lambda i=index: project.extract_embedded_sources(path, contents.manifest, i),
                sub_progress(progress, index / count, (index + 1) / count),
                cancel,
            )
        except SourcesNotFound as error:
            status.update(found=False, found_in=None, matches=False, missing=error.names_missing)
            status.update(changed=[], message=str(error))
        else:
            check = found.check
            status.update(
                found=not check.missing,
                found_in="embedded copy" if found.embedded else found.root,
                matches=check.ok,
                missing=list(check.missing),
                changed=list(check.changed),
                message=check.message() or f"all {check.checked} files match",
            )
        statuses.append(status)
    return statuses


def project_summary(path: Path, source: str | None, progress: ProgressCallback) -> dict[str, Any]:
    """Everything ``project info`` reports, JSON-ready."""
    from workstation.services.project import read_project

    cancel = CancelToken()
    contents = read_project(path, sub_progress(progress, 0.0, 0.3), cancel)
    manifest = contents.manifest
    segmentation = contents.segmentation
    voxel_mm3 = segmentation.voxel_volume_mm3 if segmentation is not None else 0.0
    segments = [
        {
            "id": segment.segment_id,
            "name": segment.name,
            "voxels": segment.voxel_count,
            "volume_mm3": round(segment.voxel_count * voxel_mm3, 3),
            "color": list(segment.color),
            "visible": segment.visible,
            "locked": segment.locked,
        }
        for segment in (segmentation.segments if segmentation is not None else [])
    ]
    models = [
        {
            "id": model.model_id,
            "name": model.name,
            "triangles": model.mesh.n_faces,
            "vertices": model.mesh.n_vertices,
            "volume_mm3": round(model.mesh.signed_volume(), 3),
            "segment_id": model.segment_id,
            "visible": model.visible,
            "opacity": model.opacity,
        }
        for model in contents.models
    ]
    return {
        "project": str(path),
        "schema_version": manifest.get("schema_version"),
        "software_version": manifest.get("software_version"),
        "created": manifest.get("created"),
        "modified": manifest.get("modified"),
        "sources": _source_status(contents, path, source, sub_progress(progress, 0.3, 1.0), cancel),
        "segments": segments,
        "models": models,
        "planning": [item.to_dict() for item in contents.planning],
        "measurements": [item.to_dict() for item in contents.measurements],
        "operations": len(contents.operations),
    }


def run_info(args: argparse.Namespace) -> int:
    """Print what the project holds (JSON with --json)."""
    path = Path(args.path)
    if not is_project_path(args.path):
        raise ProjectError(f"{args.path} is not a project file (.wsproj)")
    progress = progress_for(args.json)
    from workstation.io.encryption import opening_key

    try:
        with opening_key(opening_key_from(args)):
            summary = project_summary(path, args.source, progress)
    finally:
        finish_progress(progress)
    if args.json:
        json.dump(summary, sys.stdout)
        sys.stdout.write("\n")
    else:
        print("\n".join(_summary_lines(summary)))
    return 0


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"Project {summary['project']} (format {summary['schema_version']}, workstation "
        f"{summary['software_version']}; created {summary['created']}, "
        f"modified {summary['modified']})",
        f"Sources ({len(summary['sources'])}):",
    ]
    for status in summary["sources"]:
        title = " ".join(part for part in (status["modality"], status["description"]) if part)
        lines.append(
            f"  {title or status['series_instance_uid']}: {status['files']} files, "
            f"{status['bytes'] / 1e6:.1f} MB, read from {status['recorded_folder']}"
            + (" (embedded in the project)" if status["embedded"] else "")
        )
        if not status["found"]:
            lines.append(f"    NOT FOUND: {status['message']}")
        elif status["changed"]:
            lines.append(f"    found in {status['found_in']}: CHANGED: {status['message']}")
        else:
            lines.append(f"    found in {status['found_in']}: {status['message']}")
    lines.append(f"Segments ({len(summary['segments'])}):")
    lines += [
        f"  {item['name']}: {item['voxels']:,} voxels, {item['volume_mm3']:,.1f} mm^3"
        for item in summary["segments"]
    ]
    lines.append(f"Models ({len(summary['models'])}):")
    lines += [
        f"  {item['name']}: {item['triangles']:,} triangles, {item['volume_mm3']:,.1f} mm^3"
        for item in summary["models"]
    ]
    lines.append(f"Planning objects ({len(summary['planning'])})")
    lines.append(f"Measurements ({len(summary['measurements'])}):")
    lines += [
        f"  {item['kind']}: {item['text'] or item['name']}" for item in summary["measurements"]
    ]
    return lines


# -- for `workstation mesh CASE.wsproj` ---------------------------------------------------
def open_for_mesh(
    path: str,
    source: str | None,
    allow_changed: bool,
    progress: ProgressCallback,
    cancel: Any,
    key: Any = None,
) -> tuple[Any, Any, list[str], Any]:
    """(LoadedVolume, SegmentEditor, warnings, the sources as hashed) of a project, for
    building a model from it.

    Refuses (ProjectError naming the files) when source files changed, unless
    ``allow_changed``: then the warning is printed on stderr and returned.
    """
    from workstation.services.loading import LoadedVolume
    from workstation.services.project import open_project

    opened = open_project(path, source, progress, cancel, key=key)
    name = Path(path).name
    warnings: list[str] = []
    if opened.read_only:
        if not allow_changed:
            raise ProjectError(
                f"{opened.check.message()}: {name} was made from other images, so no model "
                "is built from it (--allow-changed-sources builds one anyway)."
            )
        warnings.append(f"{opened.check.message()}: built from changed source images")
        print(f"workstation: warning: {warnings[-1]}", file=sys.stderr)
    reason = f"the series recorded in {name} (found in {opened.source_root})"
    loaded = LoadedVolume(opened.volume, opened.stack, opened.scan, False, reason)
    return loaded, opened.editor, warnings, opened.series
