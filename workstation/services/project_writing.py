"""Write a project's members: segments, operations, models, records and embedded sources.

``write_members`` fills an ``ArchiveWriter`` with everything but the manifest, with
progress and cancel checks between members and between slabs of the voxels;
``keep_backup`` makes ``CASE.wsproj.bak`` the version about to be replaced.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workstation.core.errors import ExportError, ProjectError
from workstation.core.operations import operations_document
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.core.segmentation import Segmentation
from workstation.io.atomic_write import atomic_write
from workstation.io.project_archive import ArchiveWriter, safe_member_name
from workstation.io.project_members import SegmentationEncoding, ply_parts, segment_properties
from workstation.io.source_files import SourceSeries, location_in
from workstation.io.sources import open_binary
from workstation.services import project_reading as names

if TYPE_CHECKING:
    from workstation.services.project import ProjectContents, SavedModel

BACKUP_SUFFIX = ".bak"
#: Bytes streamed at a time when embedding a source file or copying a backup.
COPY_CHUNK = 1 << 20


def _model_members(models: list[SavedModel]) -> list[str]:
    names: list[str] = []
    for model in models:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", model.model_id).strip("._") or "model"
        candidate, number = stem, 2
        while f"models/{candidate}.ply" in names:
            candidate, number = f"{stem}_{number}", number + 1
        names.append(f"models/{candidate}.ply")
    return names


def _source_member(series_index: int, count: int, name: str) -> str:
    member = f"sources/{name}" if count == 1 else f"sources/{series_index}/{name}"
    if not safe_member_name(member):
        raise ProjectError(f"Cannot embed the source file {name!r}: its name is not a plain path")
    return member


def _embed(
    writer: ArchiveWriter, sources: list[SourceSeries], cancel: CancelToken, report: Any
) -> list[dict[str, Any]]:
    """Copy every source file into ``sources/``; refuses a file that changed since hashing."""
    entries = []
    total = sum(len(series.files) for series in sources) or 1
    done = 0
    for index, series in enumerate(sources):
        members: dict[str, str] = {}
        for item in series.files:
            cancel.raise_if_cancelled()
            member = _source_member(index, len(sources), item.name)
            location = location_in(series.folder, item.name)
            try:
                with open_binary(location) as handle:
                    digest = writer.add_chunks(
                        member, iter(functools.partial(handle.read, COPY_CHUNK), b""), True
                    )
            except OSError as error:
                raise ProjectError(f"Cannot embed the source file {item.name}: {error}") from None
            if digest != item.sha256:
                raise ProjectError(
                    f"Cannot embed the source file {item.name}: it changed since it was loaded."
                )
            members[item.name] = member
            done += 1
            report(done / total, "Embedding the source images")
        entries.append({"series_index": index, "members": members})
    return entries


def grid_record(segmentation: Segmentation | None) -> dict[str, Any] | None:
    if segmentation is None:
        return None
    return {
        "shape": list(segmentation.shape),
        "affine": np.asarray(segmentation.affine, dtype=np.float64).tolist(),
        "frame_of_reference_uid": segmentation.frame_of_reference_uid,
    }


def write_members(
    writer: ArchiveWriter,
    contents: ProjectContents,
    embed_sources: bool,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> list[dict[str, Any]]:
    """Every member but the manifest; returns the embedded sources' table."""
    segmentation = contents.segmentation
    mesh_share = 0.3 if contents.models else 0.0
    voxel_end = 0.9 - mesh_share - (0.4 if embed_sources else 0.0)
    if segmentation is not None:
        progress(0.0, "Saving the segments")
        encoding = SegmentationEncoding(segmentation, cancel)
        slabs = sub_progress(progress, 0.05, max(voxel_end, 0.1))
        writer.add_chunks(
            names.SEGMENTATION,
            encoding.chunks(lambda done, total: slabs(done / total, "Saving the segments")),
            large=encoding.raw_bytes >= 2**31 - 1,
        )
        del encoding
        writer.add_json(names.SEGMENTS, segment_properties(segmentation))
    writer.add_json(names.OPERATIONS, operations_document(contents.operations))
    records = []
    report = sub_progress(progress, max(voxel_end, 0.1), max(voxel_end, 0.1) + mesh_share)
    for number, (model, member) in enumerate(
        zip(contents.models, _model_members(contents.models), strict=True)
    ):
        cancel.raise_if_cancelled()
        writer.add_chunks(member, ply_parts(model.mesh))
        records.append(_model_record(model, member, writer.members[member]["sha256"]))
        report((number + 1) / len(contents.models), "Saving the models")
    writer.add_json(names.MODELS, records)
    writer.add_json(names.MEASUREMENTS, [item.to_dict() for item in contents.measurements])
    writer.add_json(names.PLANNING, [item.to_dict() for item in contents.planning])
    writer.add_json(names.VIEW, dict(contents.view))
    writer.add_json(names.PROVENANCE, list(contents.provenance))
    if not embed_sources:
        return []
    return _embed(writer, contents.sources, cancel, sub_progress(progress, 0.5, 0.95))


def _model_record(model: SavedModel, member: str, sha256: str) -> dict[str, Any]:
    return {
        "model_id": model.model_id,
        "name": model.name,
        "color": [float(c) for c in model.color],
        "opacity": float(model.opacity),
        "visible": bool(model.visible),
        "segment_id": model.segment_id,
        "parameters": dict(model.parameters),
        "statistics": dict(model.statistics),
        "report": list(model.mesh.report),
        "operations": None if model.operations is None else list(model.operations),
        "member": member,
        "sha256": sha256,
        "triangles": model.mesh.n_faces,
        "vertices": model.mesh.n_vertices,
    }


def keep_backup(target: Path) -> None:
    """Make ``CASE.wsproj.bak`` the current ``CASE.wsproj`` (a hard link, else a copy)."""
    if not target.is_file():
        return
    backup = target.with_name(target.name + BACKUP_SUFFIX)
    link = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(3)}.bak-link")
    try:
        os.link(target, link)
        os.replace(link, backup)
        return
    except OSError:
        _unlink(link)
    try:
        with atomic_write(backup) as out, open(target, "rb") as previous:
            shutil.copyfileobj(previous, out, COPY_CHUNK)
    except (OSError, ExportError) as error:
        raise ProjectError(f"Cannot keep the previous version as {backup.name}: {error}") from None


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
