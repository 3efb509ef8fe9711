"""What a PACS transfer did: retrieve and send reports, and the error of a partial one.

A retrieve that stops half-way keeps what arrived; ``PartialTransfer`` carries its
report and says in one line how many instances arrived of how many and what is missing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from workstation.core.errors import PacsError
from workstation.io.pacs.client import RetrieveOutcome, SendOutcome


class PartialTransfer(PacsError):
    """A retrieve or send that did only part of its work; ``report`` says what was done."""

    def __init__(self, message: str, report: RetrieveReport | SendReport) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.report))


@dataclass
class RetrieveReport:
    """What a retrieve stored: where, how many of how many, what is missing and how fast."""

    server: str
    study_uid: str
    series_uid: str | None
    destination: str
    method: str
    stored: list[str] = field(default_factory=list)
    expected: int | None = None
    failed: int = 0
    missing: list[str] = field(default_factory=list)
    error: str = ""
    bytes_received: int = 0
    seconds: float = 0.0
    files: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when nothing failed and every expected instance was stored."""
        if self.error or self.failed:
            return False
        return self.expected is None or len(self.stored) >= self.expected

    @property
    def megabytes(self) -> float:
        """Bytes received, in MB (10^6 bytes)."""
        return self.bytes_received / 1e6

    @property
    def mb_per_s(self) -> float:
        """Transfer rate over the whole retrieve (0 when it took no measurable time)."""
        return self.megabytes / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` output (the file list is left out)."""
        return {
            "server": self.server,
            "study_uid": self.study_uid,
            "series_uid": self.series_uid,
            "destination": self.destination,
            "method": self.method,
            "instances": len(self.stored),
            "expected": self.expected,
            "failed": self.failed,
            "missing": list(self.missing),
            "complete": self.complete,
            "error": self.error,
            "bytes": self.bytes_received,
            "seconds": round(self.seconds, 3),
            "mb_per_s": round(self.mb_per_s, 2),
            "sop_instance_uids": list(self.stored),
        }


@dataclass
class SendReport(SendOutcome):
    """A ``SendOutcome`` plus the server and the inputs skipped as not DICOM."""

    server: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json`` output."""
        return {
            "server": self.server,
            "sent": len(self.sent),
            "failed": [{"file": name, "reason": reason} for name, reason in self.failed],
            "skipped": len(self.skipped),
            "bytes": self.bytes_sent,
            "seconds": round(self.seconds, 3),
            "complete": self.complete,
        }


class StoredInstances:
    """Collects, thread-safely, what a sink stored (pynetdicom calls sinks from its threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stored: list[str] = []
        self.files: list[str] = []
        self.errors: list[str] = []
        self.bytes = 0

    def add(self, sop_uid: str, size: int, file: str = "") -> None:
        """One instance stored (``size`` bytes, in ``file`` when it went to a folder)."""
        with self.lock:
            self.stored.append(sop_uid)
            self.bytes += size
            if file:
                self.files.append(file)

    def failed(self, reason: str) -> None:
        """One instance that could not be stored, and why."""
        with self.lock:
            self.errors.append(reason)


def fill_report(
    report: RetrieveReport, outcome: RetrieveOutcome, recorder: StoredInstances, took: float
) -> None:
    """Complete ``report`` from the client's outcome and what the sink really stored."""
    with recorder.lock:
        report.stored = list(dict.fromkeys(recorder.stored))
        report.files = list(recorder.files)
        store_errors = list(recorder.errors)
        stored_bytes = recorder.bytes
    report.expected = outcome.expected
    report.failed = max(outcome.failed, len(store_errors))
    report.missing = list(outcome.missing)
    report.error = outcome.error or (store_errors[0] if store_errors else "")
    report.bytes_received = max(outcome.bytes_received, stored_bytes)
    report.seconds = outcome.seconds or took
    if report.expected is None and report.failed:
        report.expected = len(report.stored) + report.failed


def partial_message(report: RetrieveReport) -> str:
    """One line: how many arrived of how many, what is missing, and that it is kept."""
    what = f"study {report.study_uid}"
    if report.series_uid:
        what = f"series {report.series_uid} of {what}"
    got = len(report.stored)
    reason = report.error or "the server did not send them"
    if report.expected is not None:
        missing = max(report.expected - got, report.failed, 0)
        head = (
            f"Retrieved {got} of {report.expected} instances of {what} "
            f"({missing} missing: {reason})"
        )
    else:
        head = f"Retrieved {got} instances of {what}, then it stopped: {reason}"
    if got:
        return f"{head}; what arrived is stored in {report.destination}"
    return f"{head}; nothing was stored"
