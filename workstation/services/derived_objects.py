"""Open a DICOM SEG or Encapsulated STL found in a study on the volume of its source series.

A derived object belongs to the series it was made on: it is opened only on that
series' loaded volume (same Frame of Reference, and the series it references when it
names one), and its segments go through the import service and the segment editor, so
opening a SEG is one undo step and one replayable ``import_segmentation`` operation.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.errors import SegmentationError
from workstation.core.mesh import Mesh
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.io.dicom.derived import KIND_NAMES
from workstation.io.dicom.model import DerivedObject
from workstation.io.sources import is_zip_location, open_binary
from workstation.processing.mesh_statistics import mesh_statistics
from workstation.services.segmentation_import import import_records
from workstation.services.session import Session

#: Where a derived object inside a zip is copied to be read (under the temporary folder).
EXTRACT_FOLDER = "surgical-planning-workstation-derived"


def check_matches_volume(session: Session, derived: DerivedObject) -> None:
    """Refuse ``derived`` when no volume is loaded or it was made on another series."""
    what = KIND_NAMES.get(derived.kind, derived.kind)
    if session.volume is None or session.editor is None:
        raise SegmentationError(f"Load the series the {what} was made on before opening it.")
    identity = (
        session.stack.identity if session.stack is not None else session.volume.source.identity
    )
    ours = identity.frame_of_reference_uid
    if derived.frame_of_reference_uid and ours and derived.frame_of_reference_uid != ours:
        raise SegmentationError(
            f"The {what} '{derived.label}' is in another Frame of Reference "
            f"({derived.frame_of_reference_uid}) than the loaded series ({ours}); "
            "load the series it was made on."
        )
    series = identity.series_uid
    if derived.referenced_series_uids and series not in derived.referenced_series_uids:
        raise SegmentationError(
            f"The {what} '{derived.label}' was made on series "
            f"{', '.join(derived.referenced_series_uids)}, not on the loaded series {series}; "
            "load that series first."
        )


def local_file(derived: DerivedObject) -> Path:
    """A file holding the object: its own path, or a copy of a zip member in the temp folder."""
    if not is_zip_location(derived.location):
        path = Path(derived.location)
        if not path.is_file():
            raise SegmentationError(f"The file {path} of '{derived.label}' is missing.")
        return path
    folder = Path(tempfile.gettempdir()) / EXTRACT_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{derived.sop_instance_uid or 'object'}.dcm"
    with open_binary(derived.location) as source, open(target, "wb") as handle:
        shutil.copyfileobj(source, handle)
    return target


def seg_import_records(
    session: Session,
    derived: DerivedObject,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[dict[str, Any]]:
    """Check a DICOM SEG against the loaded series and make its ``import_segmentation`` record.

    Reads the file but changes nothing: a window applies the record through its edit
    queue, ``open_seg_on_session`` through the editor.
    """
    if derived.kind != "seg":
        raise SegmentationError(f"'{derived.label}' is not a DICOM SEG.")
    check_matches_volume(session, derived)
    return import_records(local_file(derived), progress=progress, cancel=cancel)


def open_seg_on_session(
    session: Session,
    derived: DerivedObject,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[str]:
    """Add the segments of a DICOM SEG to the loaded volume (one undo step); their names."""
    records = seg_import_records(session, derived, sub_progress(progress, 0.0, 0.1), cancel)
    editor = session.editor
    assert editor is not None  # checked with the records
    before = {segment.segment_id for segment in editor.segmentation.segments}
    editor.apply_all(records, sub_progress(progress, 0.1, 1.0), cancel)
    return [
        segment.name for segment in editor.segmentation.segments if segment.segment_id not in before
    ]


@dataclass
class DerivedModel:
    """An Encapsulated STL's model, ready for ``Session.add_model``."""

    mesh: Mesh
    statistics: dict[str, Any]
    name: str
    parameters: dict[str, Any]


def read_stl_model(
    session: Session,
    derived: DerivedObject,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> DerivedModel:
    """Check an Encapsulated STL against the loaded series and read its model.

    The model keeps where it came from in its parameters (the object's SOP Instance and
    Series UIDs), which its provenance record names when it is exported again.  Changes
    nothing: ``open_stl_on_session`` (or a window, on its UI thread) adds it.
    """
    from workstation.io.encapsulated_stl import read_encapsulated_stl

    if derived.kind != "stl":
        raise SegmentationError(f"'{derived.label}' is not an Encapsulated STL.")
    check_matches_volume(session, derived)
    token = cancel or CancelToken()
    progress(0.0, f"Reading {derived.label}")
    model = read_encapsulated_stl(local_file(derived))
    ours = session.stack.identity if session.stack is not None else None
    if ours is not None and model.frame_of_reference_uid not in ("", ours.frame_of_reference_uid):
        raise SegmentationError(
            f"The Encapsulated STL '{model.name}' is in another Frame of Reference "
            f"({model.frame_of_reference_uid}) than the loaded series; load the series it "
            "was made on."
        )
    token.raise_if_cancelled()
    progress(0.8, "Measuring the model")
    return DerivedModel(
        mesh=model.mesh,
        statistics=mesh_statistics(model.mesh).as_dict(),
        name=model.name or derived.label,
        parameters={
            "source": "encapsulated-stl",
            "sop_instance_uid": model.sop_instance_uid,
            "series_uid": model.series_uid,
        },
    )


def open_stl_on_session(
    session: Session,
    derived: DerivedObject,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> list[str]:
    """Add the model of an Encapsulated STL to the loaded volume's models; its name."""
    found = read_stl_model(session, derived, sub_progress(progress, 0.0, 0.9), cancel)
    entry = session.add_model(
        found.mesh, statistics=found.statistics, name=found.name, parameters=found.parameters
    )
    progress(1.0, "Done")
    return [entry.name]
