"""Read the audit trail back: filter its records and export them as DICOM or FHIR audits."""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from workstation.core.errors import AuditLogError
from workstation.io.atomic_write import atomic_write, check_writable_path
from workstation.io.audit.chain_log import iter_records
from workstation.io.audit.dicom_audit_message import audit_messages_xml
from workstation.io.audit.fhir_audit_event import audit_bundle
from workstation.services.audit import settings

EXPORT_FORMATS = ("dicom", "fhir")


def parse_when(text: str, *, end_of_day: bool = False) -> str:
    """A --since/--until value (YYYY-MM-DD, or an ISO 8601 time, taken as UTC) as the
    log's time text, for comparison; ValueError when unreadable."""
    value = text.strip().replace(" ", "T").removesuffix("Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date or time: {text!r} (use e.g. 2026-05-31)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    if end_of_day and len(value) <= 10:
        moment += timedelta(days=1) - timedelta(microseconds=1)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class RecordFilter:
    """Which records to show: every given criterion must hold (``limit``: the last N)."""

    user: str = ""
    action: str = ""
    outcome: str = ""
    since: str = ""
    until: str = ""
    study: str = ""
    limit: int | None = None

    def matches(self, record: dict[str, Any]) -> bool:
        """True when ``record`` meets every criterion."""
        if self.user and record.get("user") != self.user:
            return False
        if self.action and record.get("action") != self.action:
            return False
        if self.outcome and record.get("outcome") != self.outcome:
            return False
        time = str(record.get("time", ""))
        if self.since and time < self.since:
            return False
        if self.until and time > self.until:
            return False
        if self.study:
            objects = record.get("objects") or []
            if not any(
                isinstance(item, dict)
                and item.get("kind") == "study"
                and item.get("identifier") == self.study
                for item in objects
            ):
                return False
        return True


def _records(log: Path | None) -> Iterator[dict[str, Any]]:
    target = settings(log).log
    try:
        yield from iter_records(target)
    except OSError as error:
        raise AuditLogError(
            f"The audit log {target} cannot be read: {error.strerror or error}."
        ) from None


def select_records(selection: RecordFilter, log: Path | None = None) -> list[dict[str, Any]]:
    """The records ``selection`` matches, oldest first (the last ``limit`` of them)."""
    kept: deque[dict[str, Any]] = deque(maxlen=selection.limit if selection.limit else None)
    for record in _records(log):
        if selection.matches(record):
            kept.append(record)
    return list(kept)


def export_records(
    records: list[dict[str, Any]], output: str | os.PathLike[str], format_name: str
) -> Path:
    """Write ``records`` as DICOM Audit Messages (XML) or a FHIR Bundle (JSON), atomically."""
    target = check_writable_path(output)
    if format_name == "dicom":
        data = audit_messages_xml(records)
    elif format_name == "fhir":
        data = (json.dumps(audit_bundle(records), indent=2) + "\n").encode("utf-8")
    else:
        raise AuditLogError(
            f"Unknown audit export format {format_name!r} (use {', '.join(EXPORT_FORMATS)})."
        )
    with atomic_write(target) as handle:
        handle.write(data)
    return target
