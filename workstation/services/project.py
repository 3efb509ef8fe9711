"""Projects: one ``.wsproj`` file holds a whole case, saved atomically, reopened exactly.

A project is a zip archive (``io/project_archive``) of these members (schema version 1):

- ``manifest.json``: ``format``, ``schema_version``, ``software_version``, ``created`` and
  ``modified`` (UTC, ISO 8601); ``sources``: per source series its Study, Series and SOP
  Instance UIDs, Frame of Reference UID, the folder it was read from and every file's
  name, size and SHA-256 (``io/source_files.SourceSeries``); ``grid``: the shape, the
  4x4 voxel-to-LPS affine and the Frame of Reference of the segmentation;
  ``embedded_sources``: which members hold embedded source files (``[]`` when none);
  ``members``: the SHA-256 and size of every other member (checked on reading);
- ``segmentation.seg.nrrd``: the segments as a 3D Slicer .seg.nrrd (gzip, stored);
  ``segments.json``: their order and the properties a .seg.nrrd cannot carry exactly;
- ``operations.json``: the operation list that made them (``{"segments": [],
  "operations": [...]}``, as *Export operations* writes it);
- ``models.json`` + ``models/<model id>.ply``: each model's name, colour, opacity,
  visibility, segment, parameters, statistics and member; the meshes are binary PLY in
  LPS millimetres with float64 vertices (``io/project_members``);
- ``measurements.json``, ``planning.json`` (planning objects), ``view.json`` (the view
  state), ``provenance.json`` (records of exported models);
- ``sources/<recorded name>`` (``sources/<n>/<name>`` for the n-th of several series)
  when the source DICOM is embedded.

Saving writes a temporary file and renames it over the project (``atomic_write``), so
a failure or a kill leaves the previous file intact; the previous version is kept as
``CASE.wsproj.bak`` (a hard link, or a copy where links are not possible).  Opening
finds the sources (``project_sources``), checks every file's SHA-256, loads the volume
and checks it has the grid the segments were made on; a changed source file makes the
case read-only, with the file named.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from workstation import __version__
from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.errors import EncryptionError, ExportError, ProjectError
from workstation.core.measurements import Measurement
from workstation.core.mesh import Mesh
from workstation.core.permissions import Permission
from workstation.core.planning import PlanningObject
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.segmentation import Segmentation
from workstation.core.volume import Volume
from workstation.io.atomic_write import atomic_write, check_writable_path
from workstation.io.dicom.model import ScanResult, Stack
from workstation.io.encryption import EncryptingWriter, KeySource, opening_key
from workstation.io.project_archive import ArchiveReader, ArchiveWriter, safe_member_name
from workstation.io.project_members import MemberError
from workstation.io.source_files import SourceCheck, SourceSeries, describe_sources, file_sha256
from workstation.services import project_reading, project_writing
from workstation.services.access import file_object, guarded, opening
from workstation.services.project_migrations import CURRENT_VERSION
from workstation.services.project_sources import (
    SourcesNotFound,
    embedded_cache_folder,
    find_sources,
)
from workstation.services.segment_editor import SegmentEditor
from workstation.services.session import ModelEntry, Session

PROJECT_EXTENSION = ".wsproj"
SCHEMA_VERSION: int = CURRENT_VERSION
FORMAT = project_reading.FORMAT
BACKUP_SUFFIX = ".bak"
#: Bytes streamed at a time when embedding a source file.
COPY_CHUNK = 1 << 20

__all__ = [
    "PROJECT_EXTENSION",
    "SCHEMA_VERSION",
    "OpenedProject",
    "ProjectContents",
    "SavedModel",
    "SourcesNotFound",
    "apply_to_session",
    "contents_from_session",
    "open_project",
    "read_manifest",
    "read_project",
    "save_editor_project",
    "save_project",
    "show_contents",
    "write_project",
]


@dataclass
class SavedModel:
    """One model as a project stores it."""

    model_id: str
    name: str
    color: tuple[float, float, float]
    opacity: float
    visible: bool
    segment_id: str | None
    parameters: dict[str, Any]
    statistics: dict[str, Any]
    mesh: Mesh
    #: the segmentation's operation list when the model was built (None: not known)
    operations: list[dict[str, Any]] | None = None

    @classmethod
    def from_entry(cls, entry: ModelEntry) -> SavedModel:
        """The stored form of a session's model."""
        red, green, blue = (float(c) for c in entry.color)
        return cls(
            entry.model_id,
            entry.name,
            (red, green, blue),
            float(entry.opacity),
            bool(entry.visible),
            entry.segment_id,
            dict(entry.parameters),
            dict(entry.statistics),
            entry.mesh,
            None if entry.operations is None else [dict(r) for r in entry.operations],
        )


@dataclass
class ProjectContents:
    """Everything a project holds (``manifest`` is filled by ``read_project``)."""

    sources: list[SourceSeries] = field(default_factory=list)
    segmentation: Segmentation | None = None
    operations: list[dict[str, Any]] = field(default_factory=list)
    models: list[SavedModel] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    planning: list[PlanningObject] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)
    provenance: list[dict[str, Any]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class OpenedProject:
    """A project opened against its sources: the volume loaded, the editor ready."""

    path: Path
    contents: ProjectContents
    scan: ScanResult
    stack: Stack
    volume: Volume
    editor: SegmentEditor
    source_root: str
    check: SourceCheck
    read_only: bool
    warnings: list[str] = field(default_factory=list)
    #: the series record as found (its files' names and folder where they are now)
    series: SourceSeries | None = None


def is_project_path(path: str | os.PathLike[str]) -> bool:
    """True for a path with the project extension (``.wsproj``)."""
    return str(path).lower().endswith(PROJECT_EXTENSION)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- from a session ------------------------------------------------------------------------
def contents_from_session(
    session: Session,
    view: dict[str, Any] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> ProjectContents:
    """The case of ``session`` as project contents (hashing its sources once, if needed).

    The contents share the session's arrays (segment masks, meshes): save them before
    the next edit, or copy them.
    """
    if session.volume is None or session.editor is None:
        raise ProjectError("There is no case to save: open a series first.")
    sources = session.sources
    if sources is None:
        if session.stack is None or not session.source_path:
            raise ProjectError("The source files of the loaded series are not known.")
        try:
            sources = describe_sources(
                session.stack, session.volume, session.source_path, progress, cancel
            )
        except OSError as error:
            raise ProjectError(f"Cannot record the source files: {error}") from None
        session.sources = sources
    editor = session.editor
    return ProjectContents(
        sources=[sources],
        segmentation=editor.segmentation,
        operations=[dict(record) for record in editor.operations],
        models=[SavedModel.from_entry(entry) for entry in session.models.values()],
        measurements=list(session.measurements.items),
        planning=list(session.planning.items),
        view=dict(view or {}),
        provenance=[dict(record) for record in session.provenance],
    )


# -- saving --------------------------------------------------------------------------------
def _target(path: str | os.PathLike[str]) -> Path:
    if not is_project_path(path):
        raise ProjectError(f"A project file name ends in {PROJECT_EXTENSION}: {path}")
    try:
        return check_writable_path(path)
    except ExportError as error:
        raise ProjectError(str(error)) from None


def write_project(
    path: str | os.PathLike[str],
    contents: ProjectContents,
    *,
    embed_sources: bool = False,
    backup: bool = True,
    extra_manifest: dict[str, Any] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    encryption: KeySource | None = None,
) -> Path:
    """Write ``contents`` to ``path`` atomically (``save_project`` with the choices open).

    ``backup`` keeps the previous file as ``.bak``; ``extra_manifest`` adds keys to the
    manifest (a recovery file records whose case it is); ``encryption`` seals the archive
    (``io/encryption``: the same zip bytes, streamed through AES-256-GCM).
    """
    target = _target(path)
    token = cancel or CancelToken()
    with opening_key(encryption):  # an encrypted previous version keeps its creation time
        created = contents.manifest.get("created") or _created_of(target) or _now()
    try:
        with atomic_write(target) as handle:
            sealed = None if encryption is None else EncryptingWriter(handle, encryption)
            writer = ArchiveWriter(handle if sealed is None else sealed)  # type: ignore[arg-type]
            try:
                embedded = project_writing.write_members(
                    writer, contents, embed_sources, progress, token
                )
                token.raise_if_cancelled()
                writer.finish(
                    {
                        "format": FORMAT,
                        "schema_version": SCHEMA_VERSION,
                        "software": "surgical planning workstation",
                        "software_version": __version__,
                        "created": created,
                        "modified": _now(),
                        "sources": [series.to_dict() for series in contents.sources],
                        "grid": project_writing.grid_record(contents.segmentation),
                        "embedded_sources": embedded,
                        **(extra_manifest or {}),
                    }
                )
            except BaseException:
                writer.abort()
                raise
            if sealed is not None:
                sealed.finish()
            handle.flush()
            os.fsync(handle.fileno())  # the new file is on disk before the backup moves
            if backup:
                project_writing.keep_backup(target)
    except ExportError as error:
        raise ProjectError(str(error)) from None
    except (MemberError, TypeError, ValueError) as error:
        raise ProjectError(f"Cannot save {target.name}: {error}") from None
    progress(1.0, f"Saved {target.name}")
    return target


def save_project(
    path: str | os.PathLike[str],
    contents: ProjectContents,
    *,
    embed_sources: bool = False,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    encryption: KeySource | None = None,
) -> Path:
    """Save a project atomically; the previous file stays as ``CASE.wsproj.bak``;
    ``encryption`` (a passphrase or keyring KeySource) writes it encrypted.

    Audited SAVE_PROJECT with the file's SHA-256; embedding the source images needs the
    permission view-identified.
    """
    needed = Permission.VIEW_IDENTIFIED if embed_sources else None
    objects = [AuditObject("project", str(path))]
    with guarded(needed, AuditAction.SAVE_PROJECT, objects) as scope:
        written = write_project(
            path,
            contents,
            embed_sources=embed_sources,
            progress=progress,
            cancel=cancel,
            encryption=encryption,
        )
        scope.add(file_object(written))
    return written


def _created_of(target: Path) -> str | None:
    """The creation time of the project already at ``target`` (kept across saves)."""
    if not target.is_file():
        return None
    try:
        created = read_manifest(target).get("created")
    except (ProjectError, EncryptionError, OSError):
        return None
    return str(created) if created else None


# -- reading -------------------------------------------------------------------------------
def read_manifest(path: str | os.PathLike[str], key: KeySource | None = None) -> dict[str, Any]:
    """The (migrated) manifest of a project, without reading its other members."""
    with opening_key(key), ArchiveReader(path) as archive:
        return project_reading.read_manifest(archive).manifest


def read_project(
    path: str | os.PathLike[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    key: KeySource | None = None,
) -> ProjectContents:
    """Read (and migrate) a project; one-line ProjectError naming a damaged member.

    An encrypted project needs ``key`` (or an enclosing ``encryption.opening_key``)."""
    token = cancel or CancelToken()
    with opening_key(key), ArchiveReader(path) as archive:
        document = project_reading.read_manifest(archive)
        parts = project_reading.read_members(archive, document, progress, token)
    models = [SavedModel(**item) for item in parts.models]
    return ProjectContents(
        sources=parts.sources,
        segmentation=parts.segmentation,
        operations=parts.operations,
        models=models,
        measurements=parts.measurements,
        planning=parts.planning,
        view=parts.view,
        provenance=parts.provenance,
        manifest=document.manifest,
    )


# -- opening against the sources ----------------------------------------------------------
def extract_embedded_sources(project: Path, manifest: dict[str, Any], index: int) -> str | None:
    """Extract series ``index``'s embedded files to the cache folder; None when not embedded."""
    entry = next(
        (
            item
            for item in manifest.get("embedded_sources") or []
            if isinstance(item, dict) and item.get("series_index") == index
        ),
        None,
    )
    if entry is None:
        return None
    folder = embedded_cache_folder(str(manifest.get("manifest_sha256", "unknown")))
    table = manifest.get("members", {})
    with ArchiveReader(project) as archive:
        for name, member in dict(entry.get("members", {})).items():
            record = table.get(member) if isinstance(table, dict) else None
            if not safe_member_name(str(name)) or not isinstance(record, dict):
                raise ProjectError(f"{project.name} is damaged: bad embedded source {name!r}")
            target = folder / str(name)
            if target.is_file() and _same_file(target, record):
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise ProjectError(f"Cannot extract the embedded sources: {error}") from None
            archive.extract(str(member), target, str(record["sha256"]), project_reading.MAX_FILE)
    return str(folder)


def _same_file(path: Path, record: dict[str, Any]) -> bool:
    try:
        if path.stat().st_size != record.get("size"):
            return False
        return file_sha256(str(path))[0] == record.get("sha256")
    except OSError:
        return False


def _grid_problem(manifest: dict[str, Any], volume: Volume) -> str | None:
    grid = manifest.get("grid")
    if not isinstance(grid, dict):
        return None
    shape = tuple(int(n) for n in grid.get("shape", ()))
    affine = np.asarray(grid.get("affine"), dtype=np.float64)
    if shape != volume.shape:
        made = "x".join(str(n) for n in reversed(shape))
        found = "x".join(str(n) for n in volume.dims)
        return f"they give a {found} grid, the case was made on {made}"
    if affine.shape != (4, 4) or not np.allclose(affine, volume.affine, atol=1e-6):
        return "they lie elsewhere in the patient than the images the case was made on"
    return None


def open_project(
    path: str | os.PathLike[str],
    source: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    key: KeySource | None = None,
) -> OpenedProject:
    """Read a project, find and verify its sources, load the volume, prepare the editor.

    SourcesNotFound (a ProjectError with ``names_missing`` and ``recorded_folder``) when no
    place holds the files: call again with ``source=DIR``.  ``key`` opens an encrypted one.
    """
    with opening_key(key):
        return _open_project(path, source, progress, cancel)


def _open_project(
    path: str | os.PathLike[str],
    source: str | None,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> OpenedProject:
    from workstation.io.dicom.load import load_stack

    project = Path(path)
    token = cancel or CancelToken()
    contents = read_project(project, sub_progress(progress, 0.0, 0.15), token)
    if not contents.sources:
        raise ProjectError(f"{project.name} records no source images, so it cannot be opened.")
    found = find_sources(
        contents.sources[0],
        project.name,
        source,
        lambda: extract_embedded_sources(project, contents.manifest, 0),
        sub_progress(progress, 0.15, 0.55),
        token,
    )
    read_only = bool(found.check.changed)
    warnings = list(found.warnings)
    if found.embedded:
        warnings.append(f"The source images come from the copy embedded in {project.name}.")
    if read_only:
        warnings.append(
            f"{found.check.message()}: {project.name} is shown read-only, as its source "
            "images no longer match the ones it was made from."
        )
    with opening([found.stack.identity], AuditAction.OPEN_PROJECT) as scope:
        scope.add(AuditObject("project", str(project)))  # view-identified for identified images
        volume = load_stack(found.stack, sub_progress(progress, 0.55, 1.0), token)
    problem = _grid_problem(contents.manifest, volume)
    segmentation = contents.segmentation or Segmentation.for_volume(volume)
    if problem is None and not segmentation.same_grid(volume):
        problem = "their Frame of Reference differs from the case's"
    if problem is not None:
        changed = f" ({found.check.message()})" if found.check.changed else ""
        raise ProjectError(
            f"The images found at {found.root} do not fit {project.name}: {problem}{changed}."
        )
    editor = SegmentEditor(volume, segmentation)
    editor.operations = [dict(record) for record in contents.operations]
    progress(1.0, f"Opened {project.name}")
    return OpenedProject(
        project,
        contents,
        found.scan,
        found.stack,
        volume,
        editor,
        found.root,
        found.check,
        read_only,
        warnings,
        found.series,
    )


def apply_to_session(session: Session, opened: OpenedProject) -> None:
    """Show an opened project in ``session``: volume, segments, models, measurements…"""
    contents = opened.contents
    session.set_scan(opened.scan, opened.source_root)
    session.set_volume_with_editor(opened.volume, opened.stack, opened.editor)
    show_contents(session, contents)
    recorded = contents.sources[0] if contents.sources else None
    session.sources = recorded if opened.read_only or opened.series is None else opened.series
    session.project_path = str(opened.path)
    session.read_only = opened.read_only
    session.set_modified(False)


def show_contents(session: Session, contents: ProjectContents) -> None:
    """Add a project's models, measurements, planning objects and provenance records to a
    session whose volume and editor are already set (the models keep their ids)."""
    for saved in contents.models:
        entry = session.add_model(
            saved.mesh,
            saved.statistics,
            saved.name,
            saved.color,
            saved.segment_id,
            saved.parameters,
            model_id=saved.model_id,
            operations=saved.operations,
        )
        session.update_model(entry.model_id, opacity=saved.opacity, visible=saved.visible)
    session.measurements.replace_all(list(contents.measurements))
    session.planning.replace_all(list(contents.planning))
    session.provenance = [dict(record) for record in contents.provenance]


def save_editor_project(
    path: str | os.PathLike[str],
    stack: Stack,
    volume: Volume,
    source_path: str,
    editor: SegmentEditor,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    encryption: KeySource | None = None,
) -> Path:
    """Save a new project of ``editor``'s segments and operations on ``volume`` (no models),
    its sources (read from ``source_path``) hashed now: ``workstation segment -o CASE.wsproj``."""
    _target(path)  # a bad name fails before the hashing
    session = Session()
    session.set_scan(None, source_path)
    session.set_volume_with_editor(volume, stack, editor)
    contents = contents_from_session(session, None, sub_progress(progress, 0.0, 0.5), cancel)
    return save_project(
        path,
        contents,
        progress=sub_progress(progress, 0.5, 1.0),
        cancel=cancel,
        encryption=encryption,
    )
