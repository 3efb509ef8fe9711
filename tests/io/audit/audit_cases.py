"""Build audit logs for the tests: records written through the real append path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.io.audit.chain_log import DEFAULT_MAX_BYTES, append_records, locked
from workstation.io.audit.records import new_fields


def fields(number: int, action: AuditAction = AuditAction.OPEN_STUDY) -> dict[str, Any]:
    """The fields of a test record (its number in the detail)."""
    return new_fields(
        action,
        user="alice",
        role="surgeon",
        objects=[AuditObject("study", f"1.2.826.0.1.{number}", "CT head")],
        detail=f"record number {number}",
    )


def write_log(
    log: Path, count: int, *, key: bytes | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[dict[str, Any]]:
    """Append ``count`` records one by one; returns them as written."""
    log.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for number in range(1, count + 1):
        with locked(log):
            written += append_records(log, [fields(number)], key=key, max_bytes=max_bytes)
    return written


def lines(log: Path) -> list[bytes]:
    """The log's lines, without newlines."""
    return log.read_bytes().splitlines()


def rewrite(log: Path, new_lines: list[bytes]) -> None:
    """Replace the log's content by ``new_lines`` (as an attacker with file access would)."""
    log.chmod(0o600)
    log.write_bytes(b"".join(line + b"\n" for line in new_lines))


def parsed(line: bytes) -> dict[str, Any]:
    """One line as a record."""
    value: dict[str, Any] = json.loads(line)
    return value
