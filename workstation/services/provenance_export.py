"""Writing a model with its provenance record, and the record's parts from a session.

``write_model`` writes a mesh, its record beside it (``OUT.provenance.json``) and, in a
3MF file, inside it; ``BackgroundSources`` hashes the source files while a model is
being built; ``record_parts`` snapshots what a session knows about one of its models.
The record itself is ``provenance.model_record``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from workstation.core.errors import Cancelled, ExportError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.provenance import SeriesIdentity
from workstation.core.segmentation import Segment
from workstation.core.volume import Volume
from workstation.io.dicom.model import Stack
from workstation.io.mesh_export import MetadataValue
from workstation.io.source_files import SourceSeries, describe_sources
from workstation.io.writers import source_options, writer_for
from workstation.services.access import exporting, file_object, identities_of
from workstation.services.modeling import ModelOptions, segment_model_options
from workstation.services.provenance import (
    METADATA_NAME,
    file_entry,
    model_record,
    provenance_path,
    write_provenance,
)
from workstation.services.segment_editor import SegmentEditor
from workstation.services.session import ModelEntry, Session


def threemf_metadata(record: dict[str, Any], digest: dict[str, str]) -> dict[str, MetadataValue]:
    """3MF metadata of a record: Designer, CreationDate and the record itself.

    The record inside the file carries ``content_sha256``, the digest of the file's
    model part without the record's own line (a file cannot hold its own hash); the
    writer hands that digest over, and it is kept in ``digest["content_sha256"]``.
    """

    def embedded(content: str) -> str:
        digest["content_sha256"] = content
        inside = {key: value for key, value in record.items() if key != "files"}
        inside["content_sha256"] = content
        return json.dumps(inside, sort_keys=True, separators=(",", ":"))

    return {
        "Designer": str(record.get("user", "unknown")),
        "CreationDate": str(record.get("created", ""))[:10],
        METADATA_NAME: embedded,
    }


def write_model(
    mesh: Mesh,
    path: str | os.PathLike[str],
    record: dict[str, Any],
    coords: str = "lps",
    binary: bool = True,
    source: object | None = None,
    identities: Sequence[SeriesIdentity | None] | None = None,
) -> dict[str, Any]:
    """Write ``mesh`` (format by extension) and its record beside it; returns the record.

    The returned record is ``record`` with ``files`` holding this file's entry (the
    SHA-256 of the bytes on disk); a 3MF file also holds the record in its metadata.
    ``source`` (a ``DicomSourceContext``) goes to writers that need it (.dcm).
    ``identities`` are the model's source series (default: ``source``'s, else unknown,
    which counts as identified): the export needs export-identified, or
    export-deidentified for de-identified sources, and is audited with the file's SHA-256.
    """
    known = identities_of(source) if identities is None else identities
    with exporting(known) as scope:
        finished = write_model_file(mesh, path, record, coords, binary, source)
        scope.add(file_object(path))
    return finished


def write_model_file(
    mesh: Mesh,
    path: str | os.PathLike[str],
    record: dict[str, Any],
    coords: str = "lps",
    binary: bool = True,
    source: object | None = None,
) -> dict[str, Any]:
    """``write_model`` without its permission check and audit (for a caller doing both)."""
    writer = writer_for("mesh", path)
    digest: dict[str, str] = {}
    options: dict[str, Any] = {"coords": coords, "metadata": threemf_metadata(record, digest)}
    options.update(source_options(writer, source))
    if not binary:
        options["binary"] = False
    written = Path(writer.write(mesh, path, **options))
    entry = file_entry(written, coords)
    if "content_sha256" in digest:
        entry["content_sha256"] = digest["content_sha256"]
    finished = {**record, "files": [entry]}
    try:
        write_provenance(written, finished)
    except OSError as error:
        raise ExportError(
            f"Wrote {written.name} but not its provenance record "
            f"{provenance_path(written).name}: {error}"
        ) from None
    return finished


class BackgroundSources:
    """Hashes a loaded volume's source files in a thread while other work goes on.

    ``result()`` waits for the hashes; ``stop()`` cancels and waits (call it in a
    ``finally`` so that no thread outlives the command).
    """

    def __init__(
        self, stack: Stack, volume: Volume, root: str, known: SourceSeries | None = None
    ) -> None:
        self._cancel = CancelToken()
        self._sources: SourceSeries | None = known
        self._error: BaseException | None = None
        #: seconds the hashing took (0 until it ends, and when ``known`` was given)
        self.seconds = 0.0
        self._thread: threading.Thread | None = None
        if known is None:  # else hashed already (a project's verified sources)
            self._thread = threading.Thread(
                target=self._run, args=(stack, volume, root), name="hash-sources", daemon=True
            )
            self._thread.start()

    def _run(self, stack: Stack, volume: Volume, root: str) -> None:
        began = time.perf_counter()
        try:
            self._sources = describe_sources(stack, volume, root, no_progress, self._cancel)
        except BaseException as error:  # handed to the caller by result()
            self._error = error
        finally:
            self.seconds = time.perf_counter() - began

    def result(self) -> SourceSeries:
        """The hashed sources; ExportError when a source file could not be read."""
        if self._thread is not None:
            self._thread.join()
        if isinstance(self._error, Cancelled):
            raise Cancelled()
        if self._error is not None:
            raise ExportError(f"Cannot record where the model came from: {self._error}")
        assert self._sources is not None
        return self._sources

    def stop(self) -> None:
        """Stop hashing (if it still runs) and wait for the thread."""
        self._cancel.cancel()
        if self._thread is not None:
            self._thread.join()


def session_sources(
    session: Session, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
) -> list[SourceSeries]:
    """The session's source series for a record (hashed once; [] without a loaded stack).

    ExportError when a source file can no longer be read.
    """
    try:
        sources = session.ensure_sources(progress, cancel)
    except OSError as error:
        raise ExportError(f"Cannot record where the models came from: {error}") from None
    return [] if sources is None else [sources]


def _operations_of(entry: ModelEntry, editor: SegmentEditor | None) -> list[dict[str, Any]]:
    """The operations that made the model's segment: those of when it was built, if known."""
    if entry.operations is not None:
        return [dict(record) for record in entry.operations]
    return [dict(record) for record in editor.operations] if editor else []


def record_parts(entry: ModelEntry, editor: SegmentEditor | None) -> dict[str, Any]:
    """``model_record``'s arguments but the sources, for a session's model, copied now.

    Take it where the editor is changed (the UI thread), then hash the sources and call
    ``model_record(sources=..., **parts)`` in the background.  The segment's name is its
    current one, or (segment deleted since) the name the model was built under.
    """
    name: str | None = None
    if entry.segment_id is not None:
        try:
            name = editor.segmentation.by_id(entry.segment_id).name if editor else None
        except KeyError:
            name = None
        name = name or str(entry.parameters.get("name") or entry.name)
    return {
        "operations": _operations_of(entry, editor),
        "segment_name": name,
        "segment_id": entry.segment_id,
        "parameters": dict(entry.parameters),
        "statistics": dict(entry.statistics),
        "model_name": entry.name,
    }


def options_record(
    sources: list[SourceSeries],
    options: ModelOptions,
    statistics: dict[str, Any],
    model_name: str,
    operations: list[dict[str, Any]] | None = None,
    segment: Segment | None = None,
) -> dict[str, Any]:
    """The record of a model made as ``workstation mesh`` makes it.

    Straight from the image by ``options`` (no operations, no segment), or, with
    ``segment``, of that segment of the replayed ``operations`` (the options it was
    built with, as the window records them).
    """
    parameters = options if segment is None else segment_model_options(segment, options)
    return model_record(
        sources=sources,
        operations=list(operations or []),
        segment_name=None if segment is None else segment.name,
        segment_id=None if segment is None else segment.segment_id,
        parameters=asdict(parameters),
        statistics=statistics,
        model_name=model_name,
    )
