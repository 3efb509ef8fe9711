"""Export: output file names and the writing of models and segmentations, for both front-ends.

Formats come from the writers registry (``workstation.io.writers``): the extension of
each target chooses its writer, so a new format needs no change here.  Nothing here
imports Qt; long writes take ``progress`` and ``cancel`` like every long operation.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workstation.core.errors import ExportError
from workstation.core.mesh import Mesh
from workstation.core.operations import operations_document
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.provenance import SeriesIdentity
from workstation.core.segmentation import Segmentation
from workstation.io.atomic_write import atomic_write, check_writable_path
from workstation.io.writers import formats, source_options, writer_for
from workstation.services.access import exporting, file_object, identities_of
from workstation.services.provenance import provenance_path
from workstation.services.provenance_export import write_model_file


def safe_file_name(name: str) -> str:
    """A model name turned into a portable file name stem."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return stem or "model"


def export_targets(names: list[str], folder: str | Path, extension: str) -> list[Path]:
    """One distinct path in ``folder`` per model name (suffixes _2, _3 for repeats)."""
    targets: list[Path] = []
    used: set[str] = set()
    for name in names:
        stem = safe_file_name(name)
        candidate, number = stem, 2
        while candidate.lower() in used:
            candidate, number = f"{stem}_{number}", number + 1
        used.add(candidate.lower())
        targets.append(Path(folder) / f"{candidate}{extension}")
    return targets


def format_filters(kind: str) -> list[tuple[str, str]]:
    """(extension, file dialog filter such as "STL (*.stl)") of every format of ``kind``."""
    return [(extension, f"{text} (*{extension})") for extension, text in formats(kind)]


def with_extension(path: str | os.PathLike[str], kind: str, extension: str) -> Path:
    """``path`` ending in ``extension`` instead of its own format's (".nii.gz" counts whole)."""
    target = Path(path)
    try:
        current = writer_for(kind, target).extension
    except ExportError:  # no known extension: keep the whole name
        return target.with_name(target.name + extension)
    return target.with_name(target.name[: -len(current)] + extension)


def check_export_path(kind: str, path: str | os.PathLike[str]) -> Path:
    """Check up front that ``path`` names a known format of ``kind`` and can be written."""
    writer_for(kind, path)
    return check_writable_path(path)


def export_models(
    items: list[tuple[Mesh, Path]],
    coords: str = "lps",
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    provenance: list[dict[str, Any]] | None = None,
    records: list[dict[str, Any]] | None = None,
    source: object | None = None,
    identities: Sequence[SeriesIdentity | None] | None = None,
) -> list[Path]:
    """Write each (mesh, path) in the format of its extension, in ``coords``; returns the paths.

    Every target is checked before the first is written, so a bad name fails at once.
    ``provenance`` holds one record per item (``provenance.model_record``): each file
    is then written with its record (beside it as ``OUT.provenance.json``, inside a 3MF
    file too), and the finished records (with the file's SHA-256) are appended to
    ``records`` when given.  ``source`` (the models' ``DicomSourceContext``) goes to
    the writers that need it (Encapsulated STL, .dcm).  ``identities`` are the models'
    source series (default: ``source``'s, else unknown): exporting needs the permission
    export-identified, or export-deidentified when every source is de-identified; the
    export is audited with the SHA-256 of every written file.
    """
    token = cancel or CancelToken()
    if provenance is not None and len(provenance) != len(items):
        raise ValueError(f"{len(provenance)} provenance records for {len(items)} models")
    jobs = [
        (mesh, check_export_path("mesh", path), writer_for("mesh", path)) for mesh, path in items
    ]
    if provenance is not None:
        for _, path, _ in jobs:
            check_writable_path(provenance_path(path))
    written: list[Path] = []
    with exporting(identities_of(source) if identities is None else identities) as scope:
        for number, (mesh, path, writer) in enumerate(jobs):
            progress(number / len(jobs), f"Writing {path.name}")
            token.raise_if_cancelled()
            if provenance is None:
                options = source_options(writer, source)
                written.append(Path(writer.write(mesh, path, coords=coords, **options)))
            else:
                finished = write_model_file(mesh, path, provenance[number], coords, source=source)
                written.append(path)
                if records is not None:
                    records.append(finished)
            scope.add(file_object(written[-1]))
    progress(1.0, "Done")
    return written


def write_segmentation(
    segmentation: Segmentation,
    path: str | os.PathLike[str],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    source: object | None = None,
    identities: Sequence[SeriesIdentity | None] | None = None,
) -> Path:
    """Write ``segmentation`` in the format of ``path``'s extension (.nrrd, .nii.gz, .dcm, …).

    ``source`` (the volume's ``DicomSourceContext``) goes to the writers that need it
    (DICOM SEG); a SEG without it is refused with a message.  ``identities`` (default:
    ``source``'s) decide the permission needed, as for ``export_models``; audited.
    """
    writer = writer_for("segmentation", path)
    options = source_options(writer, source)
    with exporting(identities_of(source) if identities is None else identities) as scope:
        written = Path(
            writer.write(segmentation, path, progress=progress, cancel=cancel, **options)
        )
        scope.add(file_object(written))
    return written


def write_operations(path: str | Path, operations: list[dict[str, Any]]) -> Path:
    """Save an operation list as ``{"segments": [], "operations": [...]}`` (atomically)."""
    target = check_writable_path(path)
    text = json.dumps(operations_document(operations), indent=2) + "\n"
    with atomic_write(target) as handle:
        handle.write(text.encode("utf-8"))
    return target
