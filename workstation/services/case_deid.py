"""A case plan's de-identification: the study copied de-identified, the case run on the copy.

``plan.deidentify`` holds the options of ``workstation deidentify``: ``options`` (profile
option names), ``basic_only``, ``key`` (a key file: the same pseudonyms, UIDs and date
shifts in every case; without one each case gets a fresh key that is not kept) and
``keep_images`` (keep the de-identified images as the case's ``deidentified/`` folder;
otherwise they are removed when the case ends).  The series asked for by its original
UID is found in the copy by its de-identified UID.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workstation.core.errors import DeidentificationError, PlanError
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.io.deid.options import DeidOption, parse_options

#: The kept copy's folder in a case folder, and the one removed at the end.
KEPT_FOLDER = "deidentified"
WORK_FOLDER = ".deidentified-work"
DEID_KEYS = {"options", "basic_only", "key", "keep_images"}


@dataclass
class DeidSettings:
    """The checked ``deidentify`` section of a plan."""

    options: frozenset[DeidOption]
    key: Path | None
    keep_images: bool


@dataclass
class DeidentifiedCopy:
    """Where the de-identified study lies, the series to load in it and what to say."""

    folder: Path
    series: str | None
    keep: bool
    warnings: list[str]
    created_key: Path | None = None

    def remove(self) -> None:
        """Remove the copy (unless kept) and a key made for this case only."""
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)
        if self.created_key is not None:
            self.created_key.unlink(missing_ok=True)


def deid_settings(section: dict[str, Any]) -> DeidSettings:
    """The checked settings; PlanError naming the ``deidentify`` key that is wrong."""
    unknown = sorted(set(section) - DEID_KEYS)
    if unknown:
        raise PlanError(
            f"deidentify has unknown key(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(DEID_KEYS))}"
        )
    names = section.get("options", [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise PlanError("deidentify.options must be a list of option names")
    for flag in ("basic_only", "keep_images"):
        if not isinstance(section.get(flag, False), bool):
            raise PlanError(f"deidentify.{flag} must be true or false")
    try:
        options = parse_options(names, basic_only=section.get("basic_only", False))
    except DeidentificationError as error:
        raise PlanError(f"deidentify.options: {error}") from None
    key = section.get("key")
    key_path = None
    if key is not None:
        if not isinstance(key, str) or not key.strip():
            raise PlanError("deidentify.key must be the path of a key file")
        key_path = Path(key).expanduser().resolve()
        from workstation.io.deid.keys import read_key

        try:
            read_key(key_path)
        except DeidentificationError as error:
            raise PlanError(f"deidentify.key: {error}") from None
    return DeidSettings(options, key_path, bool(section.get("keep_images", False)))


def deidentify_case(
    section: dict[str, Any],
    source: str,
    series: str | None,
    folder: Path,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> DeidentifiedCopy:
    """De-identify ``source`` into ``folder`` and name the series to load from the copy.

    A series asked for is found in the source first (an unknown one fails before any
    work), then mapped to its de-identified UID (the same with retain-uids).
    """
    from workstation.core.progress import sub_progress
    from workstation.io.deid.keys import read_key
    from workstation.io.deid.uid_map import deidentified_uid
    from workstation.services.deid_report import NEEDS_REVIEW
    from workstation.services.deidentify import default_key_path, deidentify_path

    settings = deid_settings(section)
    original = _original_stack_id(source, series, sub_progress(progress, 0.0, 0.1), cancel)
    target = folder / (KEPT_FOLDER if settings.keep_images else WORK_FOLDER)
    created = None if settings.key is not None else default_key_path(target)
    copy = DeidentifiedCopy(target, None, settings.keep_images, [], created)
    try:
        report = deidentify_path(
            Path(source),
            target,
            key_file=settings.key,
            options=settings.options,
            progress=sub_progress(progress, 0.1, 1.0),
            cancel=cancel,
        )
        if report.failures:
            first = report.failures[0]
            raise DeidentificationError(
                f"{len(report.failures)} file(s) could not be de-identified (first: "
                f"{first.source}: {'; '.join(first.reasons) or 'failed'}); the case was not run."
            )
        review = [item for item in report.files if item.status == NEEDS_REVIEW]
        if review:
            copy.warnings.append(
                f"{len(review)} de-identified file(s) need a review (see "
                f"{target.name}/deidentification-report.json when the images are kept)"
            )
        if original is not None:
            key = read_key(Path(report.key_path))
            if DeidOption.RETAIN_UIDS in settings.options:
                copy.series = original[0] + original[1]
            else:
                copy.series = deidentified_uid(key, original[0]) + original[1]
    except BaseException:
        copy.keep = False
        copy.remove()
        raise
    return copy


def _original_stack_id(
    source: str, series: str | None, progress: ProgressCallback, cancel: CancelToken
) -> tuple[str, str] | None:
    """(series UID, stack suffix) of the series asked for, found in the source; None: best."""
    if not series:
        return None
    from workstation.io.dicom.scan import scan_path
    from workstation.services.loading import choose_stack

    scan = scan_path(source, progress, cancel)
    stack, _, _ = choose_stack(scan, series, source, "model")
    series_uid = stack.identity.series_uid
    suffix = stack.stack_id[len(series_uid) :] if stack.stack_id.startswith(series_uid) else ""
    return series_uid, suffix
