"""Scan a path, choose the stack to load (asked for, or the best for a purpose) and load it.

For a bone model (purpose "model") the best stack is CT with thin slices and a bone or
sharp kernel (``stack_fitness``); for viewing ("view") the most likely diagnostic volume.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

from workstation.core.errors import NotAVolumeError, SeriesNotFoundError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.core.volume import Volume
from workstation.io.dicom.header_geometry import join_words
from workstation.io.dicom.kernels import BONE, SHARP, SOFT, describe_kernel, kernel_family
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.model import Purpose, ScanResult, Stack
from workstation.io.dicom.scan import scan_path
from workstation.io.dicom.stack_fitness import format_mm, slice_mm
from workstation.services.access import opening

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

#: How another stack's kernel family reads in "also found ..." of a bone model's reason.
FAMILY_WORDS = {BONE: "bone ", SHARP: "sharp-kernel ", SOFT: "soft-tissue "}


@dataclass
class LoadedVolume:
    """A loaded volume with the scan it came from and why its stack was chosen."""

    volume: Volume
    stack: Stack
    scan: ScanResult
    chosen_automatically: bool
    reason: str


def _kind_counts(stacks: list[Stack]) -> list[str]:
    """Counts of stacks by kind: ['1 single image', '2 localizers']."""
    counts = Counter(stack.kind for stack in stacks)
    parts = []
    for kind, count in counts.items():
        singular, plural = KIND_WORDS.get(kind, (f"{kind} stack", f"{kind} stacks"))
        parts.append(f"{count} {singular if count == 1 else plural}")
    return parts


def describe_stacks(stacks: list[Stack]) -> str:
    """Short count of stacks by kind, e.g. '1 single image and 2 localizers'."""
    return join_words(_kind_counts(stacks)) or "no images"


def model_facts(stack: Stack) -> str:
    """Why a stack suits a bone model: '0.6 mm slices, bone kernel B70f'."""
    facts = []
    modality = stack.identity.modality
    if modality != "CT":
        facts.append(f"{modality or 'unknown modality'} (no CT image stack)")
    size = slice_mm(stack)
    if size is not None:
        facts.append(f"{format_mm(size)} mm slices")
    kernel = describe_kernel(stack.convolution_kernel)
    if kernel:
        facts.append(kernel)
    return ", ".join(facts) or f"{len(stack.frames)} images"


def _volume_words(stack: Stack) -> tuple[str, str]:
    """('soft-tissue ', ' of 5 mm slices') describing another 3D stack for a bone model."""
    family = FAMILY_WORDS.get(kernel_family(stack.convolution_kernel), "")
    modality = stack.identity.modality
    adjective = (f"{modality} " if modality != "CT" else "") + family
    size = slice_mm(stack)
    return adjective, f" of {format_mm(size)} mm slices" if size is not None else ""


def describe_for_model(stacks: list[Stack]) -> str:
    """The other stacks as a bone model sees them: '1 soft-tissue stack of 5 mm slices'."""
    volumes = Counter(_volume_words(stack) for stack in stacks if stack.loadable_3d)
    parts = [
        f"{count} {adjective}{'stack' if count == 1 else 'stacks'}{slices}"
        for (adjective, slices), count in volumes.items()
    ]
    parts += _kind_counts([stack for stack in stacks if not stack.loadable_3d])
    return join_words(parts)


def _first_reason(stacks: list[Stack]) -> str:
    """' (why: ...)' from the first unsupported stack's first warning, or ''."""
    for stack in stacks:
        if stack.kind == "unsupported" and stack.warnings:
            return f" ({stack.warnings[0]})"
    return ""


def choose_stack(
    scan: ScanResult,
    series: str | None,
    path: str | os.PathLike[str],
    purpose: Purpose = "model",
) -> tuple[Stack, bool, str]:
    """The stack to load (``series`` or the best for ``purpose``), whether automatic, and why."""
    if series:
        try:
            requested = scan.find(series)
        except KeyError:
            available = ", ".join(dict.fromkeys(s.stack_id for s in scan.stacks)) or "none"
            raise SeriesNotFoundError(
                f"Series {series} is not in {path}; available: {available}"
            ) from None
        return requested, False, f"series {series} was requested"
    stack = scan.best_volume(purpose)
    if stack is None:
        raise NotAVolumeError(
            f"No 3D image stack in {path}: found {describe_stacks(scan.stacks)}"
            + _first_reason(scan.stacks)
        )
    others = [other for other in scan.stacks if other is not stack]
    if not others:
        return stack, True, "it is the only image stack"
    if purpose == "model":
        reason = f"chosen for a bone model: {model_facts(stack)}"
        return stack, True, f"{reason} (also found: {describe_for_model(others)})"
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
    purpose: Purpose = "model",
) -> LoadedVolume:
    """Scan ``path``, pick the requested series (or the best stack for ``purpose``), load it.

    Loading identified images needs view-identified; the load is audited (OPEN_STUDY).
    """
    scan = scan_path(path, sub_progress(progress, 0.0, SCAN_SHARE), cancel)
    stack, automatic, reason = choose_stack(scan, series, path, purpose)
    with opening([stack.identity]):  # view-identified for identified images; audited
        volume = load_stack(stack, sub_progress(progress, SCAN_SHARE, 1.0), cancel)
    return LoadedVolume(volume, stack, scan, automatic, reason)
