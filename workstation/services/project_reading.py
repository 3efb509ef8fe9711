"""Read a project's members back: the manifest (migrated), segments, models and records.

Every member is read with a size limit and checked against the SHA-256 the manifest
lists (``io/project_archive``); a member that is absent, damaged or does not decode is
named in a one-line ProjectError.  The memory a segmentation needs is known from the
manifest's grid and checked before its voxels are inflated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workstation.core.errors import ProjectError
from workstation.core.measurements import Measurement
from workstation.core.memory_budget import check_memory
from workstation.core.operations import OperationError, parse_operations
from workstation.core.planning import PlanningObject
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.core.segmentation import Segmentation
from workstation.io.project_archive import MANIFEST, MAX_MANIFEST_BYTES, ArchiveReader, sha256_hex
from workstation.io.project_members import MemberError, decode_ply, decode_segmentation
from workstation.io.source_files import SourceSeries
from workstation.services.project_migrations import CURRENT_VERSION, migrate

#: The ``format`` value of every project manifest.
FORMAT = "surgical-planning-workstation-project"

SEGMENTATION = "segmentation.seg.nrrd"
SEGMENTS = "segments.json"
OPERATIONS = "operations.json"
MODELS = "models.json"
MEASUREMENTS = "measurements.json"
PLANNING = "planning.json"
VIEW = "view.json"
PROVENANCE = "provenance.json"

#: Largest member read: a mesh or the compressed segmentation; an embedded source file.
MAX_BINARY = 4 << 30
MAX_FILE = 4 << 30
#: Most segments a project may hold.
MAX_SEGMENTS = 100_000


@dataclass
class ManifestDocument:
    """A project's manifest (migrated to the current format) and its member names."""

    manifest: dict[str, Any]
    #: member name in the current layout -> its name in the zip
    names: dict[str, str]

    def sha256(self, zip_name: str) -> str | None:
        """The SHA-256 the manifest records for a member (None when it records none)."""
        record = self.manifest.get("members", {}).get(zip_name)
        return str(record["sha256"]) if isinstance(record, dict) and "sha256" in record else None


@dataclass
class ReadParts:
    """The decoded members of a project (models as SavedModel keyword arguments)."""

    sources: list[SourceSeries] = field(default_factory=list)
    segmentation: Segmentation | None = None
    operations: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    planning: list[PlanningObject] = field(default_factory=list)
    view: dict[str, Any] = field(default_factory=dict)
    provenance: list[dict[str, Any]] = field(default_factory=list)


def _not_a_project(archive: ArchiveReader, why: str) -> ProjectError:
    return ProjectError(f"{archive.path.name} is not a workstation project ({why})")


def _damaged(archive: ArchiveReader, why: str) -> ProjectError:
    return ProjectError(f"{archive.path.name} is damaged: {why}")


def read_manifest(archive: ArchiveReader) -> ManifestDocument:
    """The manifest, checked and migrated; ProjectError for a newer or foreign file."""
    if not archive.has(MANIFEST):
        raise _not_a_project(archive, "it has no manifest.json")
    raw = archive.read(MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise _damaged(archive, f"its manifest.json is not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _not_a_project(archive, "its manifest.json is not a project manifest")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise _damaged(archive, f"its manifest.json states no format version ({version!r})")
    members = manifest.get("members", {})
    if not isinstance(members, dict):
        raise _damaged(archive, "its manifest.json has no member table")
    document = migrate(
        {"manifest": manifest, "members": {name: name for name in members}},
        version,
        archive.path.name,
        CURRENT_VERSION,
    )
    migrated = dict(document["manifest"])
    migrated["manifest_sha256"] = sha256_hex(raw)
    return ManifestDocument(migrated, {str(k): str(v) for k, v in document["members"].items()})


# -- members ---------------------------------------------------------------------------------
class _Members:
    """Reads members by their current-layout names, each checked against the manifest."""

    def __init__(self, archive: ArchiveReader, document: ManifestDocument) -> None:
        self.archive = archive
        self.document = document

    def json(self, name: str, kind: type, default: Any) -> Any:
        zip_name = self.document.names.get(name)
        if zip_name is None:
            return default
        value = self.archive.read_json(zip_name, self.document.sha256(zip_name))
        if not isinstance(value, kind):
            raise _damaged(self.archive, f"the member {zip_name} is not a JSON {kind.__name__}")
        return value

    def binary(self, name: str) -> bytes:
        zip_name = self.document.names.get(name)
        if zip_name is None:
            raise _damaged(self.archive, f"the member {name} is missing")
        sha = self.document.sha256(zip_name)
        if sha is None:
            raise _damaged(self.archive, f"the manifest lists no SHA-256 for {zip_name}")
        # the bytes, and about twice as much again for what is decoded from them
        check_memory(3 * self.archive.size_of(zip_name), f"Reading {zip_name}")
        return self.archive.read(zip_name, MAX_BINARY, sha)


def _sources(archive: ArchiveReader, manifest: dict[str, Any]) -> list[SourceSeries]:
    records = manifest.get("sources", [])
    if not isinstance(records, list):
        raise _damaged(archive, "its manifest's sources are not a list")
    try:
        return [SourceSeries.from_dict(record) for record in records]
    except (ValueError, TypeError, AttributeError) as error:
        raise _damaged(archive, f"its manifest's sources: {error}") from None


def _grid(archive: ArchiveReader, grid: Any) -> tuple[tuple[int, int, int], np.ndarray, str]:
    try:
        shape = tuple(int(n) for n in grid["shape"])
        affine = np.asarray(grid["affine"], dtype=np.float64)
        frame = str(grid.get("frame_of_reference_uid", ""))
    except (KeyError, TypeError, ValueError) as error:
        raise _damaged(archive, f"its manifest's grid is malformed ({error})") from None
    if len(shape) != 3 or min(shape) < 1 or affine.shape != (4, 4):
        raise _damaged(archive, "its manifest's grid is malformed")
    if not np.all(np.isfinite(affine)):
        raise _damaged(archive, "its manifest's grid is not finite")
    return shape, affine, frame  # type: ignore[return-value]


def _segmentation(members: _Members, manifest: dict[str, Any]) -> Segmentation | None:
    archive = members.archive
    if manifest.get("grid") is None:
        return None
    shape, affine, frame = _grid(archive, manifest["grid"])
    properties = members.json(SEGMENTS, dict, None)
    if properties is None:
        raise _damaged(archive, f"the member {SEGMENTS} is missing")
    count = len(properties.get("order", ()))
    if count > MAX_SEGMENTS:
        raise _damaged(archive, f"it claims {count:,} segments")
    voxels = int(np.prod(shape, dtype=np.int64))
    check_memory(voxels * (count + 1), f"Reading the {count} segment(s) of {archive.path.name}")
    data = members.binary(SEGMENTATION)
    try:
        return decode_segmentation(data, properties, shape, affine, frame)  # type: ignore[arg-type]
    except MemberError as error:
        raise _damaged(archive, f"the member {SEGMENTATION}: {error}") from None
    except ValueError as error:  # a malformed affine in the grid
        raise _damaged(archive, f"its segmentation grid: {error}") from None


def _operations(members: _Members) -> list[dict[str, Any]]:
    document = members.json(OPERATIONS, dict, {"segments": [], "operations": []})
    try:
        segments, operations = parse_operations(document)
    except OperationError as error:
        raise _damaged(members.archive, f"the member {OPERATIONS}: {error}") from None
    return segments + operations


def _models(
    members: _Members, progress: ProgressCallback, cancel: CancelToken
) -> list[dict[str, Any]]:
    archive = members.archive
    records = members.json(MODELS, list, [])
    models = []
    for number, record in enumerate(records):
        cancel.raise_if_cancelled()
        try:
            member = str(record["member"])
            name = str(record["name"])
            red, green, blue = (float(c) for c in record["color"])
            segment_id = record.get("segment_id")
            fields = {
                "model_id": str(record["model_id"]),
                "name": name,
                "color": (red, green, blue),
                "opacity": float(record.get("opacity", 1.0)),
                "visible": bool(record.get("visible", True)),
                "segment_id": None if segment_id is None else str(segment_id),
                "parameters": dict(record.get("parameters") or {}),
                "statistics": dict(record.get("statistics") or {}),
                "operations": _model_operations(record.get("operations")),
            }
        except (KeyError, TypeError, ValueError) as error:
            raise _damaged(archive, f"the member {MODELS}: model {number}: {error}") from None
        try:
            mesh = decode_ply(members.binary(member), name)
        except MemberError as error:
            raise _damaged(archive, f"the member {member}: {error}") from None
        mesh.report = [str(line) for line in record.get("report", [])]
        fields["mesh"] = mesh
        models.append(fields)
        progress((number + 1) / len(records), "Reading the models")
    return models


def _model_operations(value: Any) -> list[dict[str, Any]] | None:
    """A model's operation list (None when not recorded); ValueError when malformed."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("its operations are not a list of records")
    return [dict(item) for item in value]


def _measurements(members: _Members) -> list[Measurement]:
    try:
        return [Measurement.from_dict(record) for record in members.json(MEASUREMENTS, list, [])]
    except (ValueError, TypeError, AttributeError) as error:
        raise _damaged(members.archive, f"the member {MEASUREMENTS}: {error}") from None


def _planning(members: _Members) -> list[PlanningObject]:
    """The planning objects, each record checked; ids must be distinct."""
    objects: list[PlanningObject] = []
    for number, record in enumerate(members.json(PLANNING, list, [])):
        try:
            obj = PlanningObject.from_dict(record)
        except (ValueError, TypeError, AttributeError) as error:
            raise _damaged(
                members.archive, f"the member {PLANNING}: object {number}: {error}"
            ) from None
        if any(other.object_id == obj.object_id for other in objects):
            raise _damaged(
                members.archive, f"the member {PLANNING}: the id {obj.object_id!r} appears twice"
            )
        objects.append(obj)
    return objects


def read_members(
    archive: ArchiveReader,
    document: ManifestDocument,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> ReadParts:
    """Every member of a project, decoded and checked."""
    members = _Members(archive, document)
    manifest = document.manifest
    progress(0.0, f"Reading {archive.path.name}")
    parts = ReadParts(sources=_sources(archive, manifest))
    parts.segmentation = _segmentation(members, manifest)
    cancel.raise_if_cancelled()
    progress(0.6, "Reading the operations")
    parts.operations = _operations(members)
    parts.models = _models(members, sub_progress(progress, 0.6, 0.95), cancel)
    parts.measurements = _measurements(members)
    parts.planning = _planning(members)
    parts.view = members.json(VIEW, dict, {})
    parts.provenance = members.json(PROVENANCE, list, [])
    progress(1.0, f"Read {archive.path.name}")
    return parts
