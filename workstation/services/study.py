"""Open a study as the window does: scan a path, choose the stack to show, load it.

Qt-free, so the window runs it in a job and the command line or a script can call it
too.  Opening never changes anything by itself: the caller puts the result into its
Session only when the whole call succeeded (a cancelled or failed open changes nothing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from workstation.core.errors import NotAVolumeError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.volume import Volume
from workstation.io.dicom.model import ScanResult, Stack
from workstation.services.loading import SCAN_SHARE, choose_stack


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
    """Load one stack as a Volume; NotAVolumeError for a stack that is no 3D image."""
    from workstation.io.dicom.load import load_stack

    if not stack.loadable_3d:
        raise NotAVolumeError(
            f"{stack.label or stack.stack_id} is a {stack.kind} stack of {len(stack.frames)} "
            "image(s) and cannot be shown as a 3D volume."
        )
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
    if not series and not auto_load:
        return OpenedStudy(text, scan)
    try:
        stack, _automatic, reason = choose_stack(scan, series, text, purpose="model")
    except NotAVolumeError as problem:
        if series:
            raise
        return OpenedStudy(text, scan, note=str(problem))
    volume = load_stack_volume(stack, sub_progress(progress, SCAN_SHARE, 1.0), cancel)
    return OpenedStudy(text, scan, stack, volume, reason=reason)
