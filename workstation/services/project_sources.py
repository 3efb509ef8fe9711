"""Find a project's source DICOM again, check every file's SHA-256, and name what differs.

The places tried, in order: the folder the series was read from, the folder the user
names (``--source DIR``), and the copy embedded in the project (extracted to the user's
cache folder).  A place *holds* the series when its images carry the recorded SOP
Instance UIDs: each place is scanned and its frames matched by UID, so renamed or
re-sorted files are found too; then every file is hashed.  The first place whose files
all match is used.  When none matches, a place holding every file but with changed ones
is used read-only (a changed file never silently feeds the case); when files are missing
everywhere, ``SourcesNotFound`` names them, so a front-end can ask for a folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from workstation.core.errors import DicomReadError, InputPathError, ProjectError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress, sub_progress
from workstation.io.dicom.model import FrameRef, ScanResult, Stack
from workstation.io.source_files import (
    SourceCheck,
    SourceSeries,
    check_sources,
    listed,
    relative_name,
)

#: Folder under the user's cache folder that holds extracted embedded sources.
CACHE_APP_FOLDER = "surgical-planning-workstation"


class SourcesNotFound(ProjectError):
    """No place holds all of a project's source files; ``names_missing`` lists them."""

    def __init__(
        self, message: str, names_missing: list[str] | None = None, recorded_folder: str = ""
    ) -> None:
        super().__init__(message)
        self.names_missing = list(names_missing or [])
        self.recorded_folder = recorded_folder

    def __reduce__(self) -> tuple[type, tuple[str, list[str], str]]:  # type: ignore[override]
        """Keep the names when the error crosses from a worker process."""
        return (type(self), (self.message, self.names_missing, self.recorded_folder))


@dataclass
class FoundSources:
    """Where a series was found: the place, its scan, the stack of the recorded images."""

    root: str
    scan: ScanResult
    stack: Stack
    #: recorded file name -> where that file is at ``root``
    locations: dict[str, str]
    check: SourceCheck
    #: the series record as found (its folder and the files' names at ``root``)
    series: SourceSeries
    embedded: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every recorded file is there (changed ones included)."""
        return not self.check.missing


def user_cache_folder() -> Path:
    """The user's cache folder: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    configured = os.environ.get("XDG_CACHE_HOME", "").strip()
    return Path(configured) if configured else Path.home() / ".cache"


def embedded_cache_folder(project_sha256: str) -> Path:
    """Where the embedded sources of the project with this manifest SHA-256 are extracted."""
    return user_cache_folder() / CACHE_APP_FOLDER / "embedded" / project_sha256


# -- matching a place ------------------------------------------------------------------------
def _scan(place: str, progress: ProgressCallback, cancel: CancelToken | None) -> ScanResult | None:
    from workstation.io.dicom.scan import scan_path

    if not Path(place).exists():
        return None
    try:
        return scan_path(place, progress, cancel)
    except (InputPathError, DicomReadError):
        return None


def _recorded_stack(series: SourceSeries, scan: ScanResult) -> tuple[Stack, dict[str, str]] | None:
    """The stack of the recorded images found in ``scan`` and each recorded file's location."""
    wanted = {uid: item.name for item in series.files for uid in item.sop_instance_uids}
    wanted.update({uid: "" for uid in series.sop_instance_uids if uid not in wanted})
    best: Stack | None = None
    best_count = 0
    frames: dict[tuple[str, int | None], FrameRef] = {}
    for stack in scan.stacks:
        count = 0
        for frame in stack.frames:
            if frame.sop_instance_uid in wanted:
                frames.setdefault((frame.sop_instance_uid, frame.frame_index), frame)
                count += 1
        if count > best_count:
            best, best_count = stack, count
    if best is None:
        return None
    locations: dict[str, str] = {}
    for frame in frames.values():
        name = wanted[frame.sop_instance_uid]
        if name:
            locations.setdefault(name, frame.location)
    stack = replace(best, frames=list(frames.values()), warnings=list(best.warnings))
    return stack, locations


def examine_place(
    series: SourceSeries,
    place: str,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    embedded: bool = False,
) -> FoundSources | None:
    """Scan ``place`` for the series' images and hash them; None when it holds none."""
    scan = _scan(place, sub_progress(progress, 0.0, 0.4), cancel)
    if scan is None:
        return None
    matched = _recorded_stack(series, scan)
    if matched is None:
        return None
    stack, locations = matched
    # files not found by UID are looked for under their recorded names (and then count
    # as changed when they differ, or as missing when absent)
    check = check_sources(series, place, sub_progress(progress, 0.4, 1.0), cancel, locations)
    found_series = replace(
        series,
        folder=str(Path(place).absolute()),
        files=tuple(
            replace(item, name=relative_name(locations[item.name], place))
            if item.name in locations
            else item
            for item in series.files
        ),
    )
    return FoundSources(place, scan, stack, locations, check, found_series, embedded)


# -- choosing the place ----------------------------------------------------------------------
def find_sources(
    series: SourceSeries,
    project_name: str,
    source: str | None = None,
    embedded: Callable[[], str | None] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> FoundSources:
    """The place holding the series (see the module docstring); SourcesNotFound otherwise.

    ``embedded`` extracts the project's embedded copy and returns its folder (None when
    the project has none); it is called only when no other place matches.
    """
    places: list[tuple[str, bool]] = [(series.folder, False)]
    if source and Path(source).absolute() != Path(series.folder).absolute():
        places.append((str(source), False))
    seen: list[FoundSources] = []
    step = 1.0 / (len(places) + (embedded is not None))
    for number, (place, is_embedded) in enumerate([*places, ("", True)]):
        if is_embedded:
            extracted = embedded() if embedded is not None else None
            if extracted is None:
                break
            place = extracted
        report = sub_progress(progress, number * step, (number + 1) * step)
        found = examine_place(series, place, report, cancel, is_embedded)
        if found is None:
            continue
        if found.complete and found.check.ok:
            found.warnings.extend(_passed_over(seen, found))
            progress(1.0, "Source files checked")
            return found
        seen.append(found)
    complete = [found for found in seen if found.complete]
    if complete:
        return complete[0]
    if seen:
        fewest = min(seen, key=lambda found: len(found.check.missing))
        missing = fewest.check.missing
        raise SourcesNotFound(
            f"{len(missing)} source file(s) of {project_name} are missing from "
            f"{fewest.root}: {listed(missing)} (give the folder that holds them: --source DIR)",
            missing,
            series.folder,
        )
    elsewhere = f" nor in {source}" if source else ""
    raise SourcesNotFound(
        f"The source images of {project_name} are not in {series.folder}{elsewhere} "
        "(moved or renamed?): give the folder that holds them (--source DIR).",
        [item.name for item in series.files],
        series.folder,
    )


def _passed_over(seen: list[FoundSources], used: FoundSources) -> list[str]:
    """Warnings about places that held the images with differences, when another was used."""
    notes = []
    for found in seen:
        where = "the copy embedded in the project" if used.embedded else used.root
        notes.append(
            f"the source files at {found.root} differ ({found.check.message()}); {where} was used"
        )
    return notes
