"""Open a study as the window does: scan a path, choose the stack to show, load it.

Qt-free, so the window runs it in a job and the command line or a script can call it
too.  Opening never changes anything by itself: the caller puts the result into its
Session only when the whole call succeeded (a cancelled or failed open changes nothing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from workstation.core.errors import NotAVolumeError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.volume import Volume
from workstation.io.dicom.model import ScanResult, Stack
from workstation.services.loading import SCAN_SHARE, choose_stack

if TYPE_CHECKING:
    from workstation.io.encryption import KeySource
    from workstation.services.dicom_database import DicomDatabase


@dataclass
class OpenedStudy:
    """What opening a path gave: its scan and, when one was loaded, a stack's volume."""

    path: str
    scan: ScanResult
    stack: Stack | None = None
    volume: Volume | None = None
    #: why this stack was chosen (empty when none was loaded)
    reason: str = ""
    #: why no volume was loaded although one was asked for (empty otherwise)
    note: str = ""


def load_stack_volume(
    stack: Stack, progress: ProgressCallback = no_progress, cancel: CancelToken | None = None
) -> Volume:
    """Load one stack as a Volume; NotAVolumeError for a stack that is no 3D image.

    Identified images need the permission view-identified (PermissionDenied otherwise);
    every load is recorded in the audit trail.
    """
    from workstation.io.dicom.load import load_stack
    from workstation.services.access import opening

    if not stack.loadable_3d:
        raise NotAVolumeError(
            f"{stack.label or stack.stack_id} is a {stack.kind} stack of {len(stack.frames)} "
            "image(s) and cannot be shown as a 3D volume."
        )
    with opening([stack.identity]):  # view-identified for identified images; audited
        return load_stack(stack, progress=progress, cancel=cancel)


def open_study(
    path: str | os.PathLike[str],
    series: str | None = None,
    auto_load: bool = True,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> OpenedStudy:
    """Scan ``path`` and load the requested stack, or the one best for a bone model.

    Without ``series`` and ``auto_load`` only the scan is returned (the user picks a
    stack).  A path without any 3D stack is no error here: the scan comes back with a
    ``note`` saying what was found, so the study browser can still list it.
    """
    from workstation.io.dicom.scan import scan_path

    text = str(path)
    scan = scan_path(text, progress=sub_progress(progress, 0.0, SCAN_SHARE), cancel=cancel)
    return _choose_and_load(text, text, scan, series, auto_load, progress, cancel)


def open_database_study(
    study_uid: str,
    series: str | None = None,
    auto_load: bool = True,
    database: DicomDatabase | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    key: KeySource | None = None,
) -> OpenedStudy:
    """Open a study of the local database as ``open_study`` opens a folder.

    The study's stored files are scanned (``DicomDatabase.scan_study``), then the same
    stack choice and load follow.  ``database`` None opens the default database for
    the call (with ``key`` when it is encrypted).  ``OpenedStudy.path`` is the
    database folder.  An encrypted database's files are read from decrypted copies in
    a private folder that lives until the next study is opened or the process ends.
    """
    from workstation.services.dicom_database import DicomDatabase

    if database is None:
        with DicomDatabase.open(key=key) as opened:
            return open_database_study(study_uid, series, auto_load, opened, progress, cancel)
    text = str(database.location)
    scan = database.scan_study(
        study_uid, progress=sub_progress(progress, 0.0, SCAN_SHARE), cancel=cancel
    )
    named = f"study {study_uid} of the database"
    return _choose_and_load(text, named, scan, series, auto_load, progress, cancel)


def _choose_and_load(
    text: str,
    named: str,
    scan: ScanResult,
    series: str | None,
    auto_load: bool,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> OpenedStudy:
    """Choose the stack (messages name the input ``named``) and load it, after the scan."""
    if not series and not auto_load:
        return OpenedStudy(text, scan)
    try:
        stack, _automatic, reason = choose_stack(scan, series, named, purpose="model")
    except NotAVolumeError as problem:
        if series:
            raise
        return OpenedStudy(text, scan, note=str(problem))
    volume = load_stack_volume(stack, sub_progress(progress, SCAN_SHARE, 1.0), cancel)
    return OpenedStudy(text, scan, stack, volume, reason=reason)
