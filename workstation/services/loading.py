"""Scan a path, choose the stack to load (asked for, or the best 3D volume) and load it."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from workstation.core.errors import NotAVolumeError, SeriesNotFoundError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.volume import Volume
from workstation.io.dicom.header_geometry import join_words
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.model import ScanResult, Stack
from workstation.io.dicom.scan import scan_path

#: Share of the overall progress spent scanning headers (the rest is loading pixels).
SCAN_SHARE = 0.3

#: How a stack kind reads in "found ..." messages: (singular, plural).
KIND_WORDS = {
    "volume": ("image stack", "image stacks"),
    "single-slice": ("single image", "single images"),
    "localizer": ("localizer", "localizers"),
    "secondary-capture": ("secondary capture", "secondary captures"),
    "multi-volume": ("multi-volume stack", "multi-volume stacks"),
    "unsupported": ("unsupported stack", "unsupported stacks"),
}


@dataclass
class LoadedVolume:
    """A loaded volume with the scan it came from and why its stack was chosen."""

    volume: Volume
    stack: Stack
    scan: ScanResult
    chosen_automatically: bool
    reason: str


def describe_stacks(stacks: list[Stack]) -> str:
    """Short count of stacks by kind, e.g. '1 single image and 2 localizers'."""
    counts = Counter(stack.kind for stack in stacks)
    parts = []
    for kind, count in counts.items():
        singular, plural = KIND_WORDS.get(kind, (f"{kind} stack", f"{kind} stacks"))
        parts.append(f"{count} {singular if count == 1 else plural}")
    return join_words(parts) if parts else "no images"


def _first_reason(stacks: list[Stack]) -> str:
    """' (why: ...)' from the first unsupported stack's first warning, or ''."""
    for stack in stacks:
        if stack.kind == "unsupported" and stack.warnings:
            return f" ({stack.warnings[0]})"
    return ""


def choose_stack(
    scan: ScanResult, series: str | None, path: str | os.PathLike[str]
) -> tuple[Stack, bool, str]:
    """The stack to load, whether it was chosen automatically, and why."""
    if series:
        try:
            stack = scan.find(series)
        except KeyError:
            available = ", ".join(dict.fromkeys(s.stack_id for s in scan.stacks)) or "none"
            raise SeriesNotFoundError(
                f"Series {series} is not in {path}; available: {available}"
            ) from None
        return stack, False, f"series {series} was requested"
    stack = scan.best_volume()
    if stack is None:
        raise NotAVolumeError(
            f"No 3D image stack in {path}: found {describe_stacks(scan.stacks)}"
            + _first_reason(scan.stacks)
        )
    others = [other for other in scan.stacks if other is not stack]
    if not others:
        return stack, True, "it is the only image stack"
    reason = (
        f"most likely 3D volume of {len(scan.stacks)} stacks "
        f"({len(stack.frames)} images, confidence {stack.confidence:.2f}); "
        f"also found {describe_stacks(others)}"
    )
    return stack, True, reason


def load_volume(
    path: str | os.PathLike[str],
    series: str | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> LoadedVolume:
    """Scan ``path``, pick the requested series (or the best 3D stack) and load it."""
    scan = scan_path(path, sub_progress(progress, 0.0, SCAN_SHARE), cancel)
    stack, automatic, reason = choose_stack(scan, series, path)
    volume = load_stack(stack, sub_progress(progress, SCAN_SHARE, 1.0), cancel)
    return LoadedVolume(volume, stack, scan, automatic, reason)
