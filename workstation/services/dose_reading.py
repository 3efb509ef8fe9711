"""Read the dose facts of many files: per-image attributes and dose reports, bounded in time.

Each file's few dose attributes are read (``io.dose_attributes``, about a millisecond a
file); the SR files among them are then read in full as dose reports (``io.dose_sr``).
Big inputs are read in worker processes where that is allowed, and the whole read stops
after ``READ_TIME_LIMIT_SECONDS`` with a warning (figures may then be incomplete).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from workstation.core.errors import DicomReadError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.core.workers import available_cpus, fork_is_safe, start_process_pool
from workstation.io.dose_attributes import ImageDose, read_image_dose
from workstation.io.dose_sr import DoseReport, read_dose_report

#: Seconds a whole dose read may take before it stops and says so.
READ_TIME_LIMIT_SECONDS = 120.0
#: From this many files on, the attributes are read in worker processes.
PARALLEL_MIN_FILES = 400
#: Files sent to a worker at a time.
CHUNK = 32
#: SR SOP classes all start with this root (the dose report check comes after).
SR_CLASS_ROOT = "1.2.840.10008.5.1.4.1.1.88."


@dataclass
class DoseFacts:
    """What a read found: every image's attributes, the dose reports, and warnings."""

    images: list[ImageDose] = field(default_factory=list)
    reports: list[DoseReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files_read: int = 0


def _read_chunk(locations: list[str]) -> list[ImageDose]:
    return [read_image_dose(location) for location in locations]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read_images(
    locations: list[str],
    progress: ProgressCallback,
    cancel: CancelToken | None,
    deadline: float,
) -> list[ImageDose]:
    """Attributes of each location in order, until the deadline; parallel for big inputs."""
    total = len(locations)
    results: list[ImageDose] = []

    def report() -> None:
        progress(len(results) / total if total else 1.0, f"Dose attributes: {len(results)}/{total}")

    def keep_going() -> bool:
        if cancel is not None:
            cancel.raise_if_cancelled()
        return time.monotonic() < deadline

    count = available_cpus()
    pool = None
    if count > 1 and total >= PARALLEL_MIN_FILES and fork_is_safe():
        pool = start_process_pool(count)
    if pool is not None:
        try:
            for chunk in pool.map(_read_chunk, _chunks(locations, CHUNK)):
                results.extend(chunk)
                report()
                if not keep_going():
                    break
        except (OSError, BrokenProcessPool):
            pass  # no pool after all: the rest is read here
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    while len(results) < total and keep_going():
        results.append(read_image_dose(locations[len(results)]))
        if len(results) % CHUNK == 0 or len(results) == total:
            report()
    return results


def read_reports(locations: list[str], warnings: list[str]) -> list[DoseReport]:
    """The dose reports among SR files; a file that cannot be read adds a warning."""
    reports: list[DoseReport] = []
    seen: set[str] = set()
    for location in locations:
        try:
            report = read_dose_report(location)
        except DicomReadError as error:
            warnings.append(error.message)
            continue
        if report is None:
            continue
        key = report.sop_instance_uid or location
        if key in seen:
            continue  # another copy of the same report
        seen.add(key)
        reports.append(report)
        warnings.extend(report.warnings)
    return reports


def read_dose_facts(
    locations: list[str],
    sr_candidates: list[str] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
    time_limit_s: float = READ_TIME_LIMIT_SECONDS,
) -> DoseFacts:
    """Read the dose attributes of ``locations`` and every dose report among them.

    ``sr_candidates`` are files known to hold no image (e.g. from a scan); they are read
    as possible dose reports as well.
    """
    deadline = time.monotonic() + time_limit_s
    facts = DoseFacts()
    read = _read_images(locations, progress, cancel, deadline)
    facts.files_read = len(read)
    if len(read) < len(locations):
        facts.warnings.append(
            f"stopped reading dose attributes after {time_limit_s:g} s: {len(read)} of "
            f"{len(locations)} files read, the figures may be incomplete"
        )
    candidates = list(sr_candidates or [])
    for image in read:
        if image.sop_class_uid.startswith(SR_CLASS_ROOT):
            candidates.append(image.location)
        elif image.problems or not (image.study_uid or image.series_uid):
            continue  # not DICOM, unreadable or no image of a study: the scan reports it
        else:
            facts.images.append(image)
    facts.reports = read_reports(list(dict.fromkeys(candidates)), facts.warnings)
    progress(1.0, f"Dose: {len(facts.reports)} dose report(s)")
    return facts
