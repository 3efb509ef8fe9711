"""One audit record: its canonical JSON line, its SHA-256 chain hash and optional HMAC.

A record is a flat JSON object; its canonical form has sorted keys, no spaces and
ASCII escapes, so the same record always gives the same bytes and the same hash.
``hash`` is the SHA-256 of the canonical record without ``hash`` and ``mac``; ``mac``
is the HMAC-SHA256 of the same bytes with the chain key, when one is configured.
``previous`` is the hash of the record before (64 zeros for the first ever).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from workstation import __version__
from workstation.core.audit_actions import EVENT_CODES, AuditAction, AuditObject

#: ``previous`` of the first record ever written.
GENESIS = "0" * 64

#: What every record names as the software that wrote it.
SOFTWARE = f"surgical planning workstation {__version__}"

#: Fields covered by the hash (every field but ``hash`` and ``mac``).
UNHASHED = ("hash", "mac")

_HOST = socket.gethostname()


def canonical(record: dict[str, Any]) -> bytes:
    """The canonical JSON bytes of ``record``: sorted keys, no spaces, ASCII only."""
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def _content(record: dict[str, Any]) -> bytes:
    return canonical({key: value for key, value in record.items() if key not in UNHASHED})


def record_hash(record: dict[str, Any]) -> str:
    """The SHA-256 (hex) of the canonical record without ``hash`` and ``mac``."""
    return hashlib.sha256(_content(record)).hexdigest()


def record_mac(key: bytes, record: dict[str, Any]) -> str:
    """The HMAC-SHA256 (hex) of the canonical record without ``hash`` and ``mac``."""
    return hmac.new(key, _content(record), hashlib.sha256).hexdigest()


def utc_now() -> str:
    """This moment in UTC as ISO 8601 with microseconds and a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_fields(
    action: AuditAction,
    *,
    user: str,
    role: str,
    objects: Sequence[AuditObject] = (),
    outcome: str = "success",
    detail: str = "",
    time: str | None = None,
) -> dict[str, Any]:
    """A record's fields before it is chained (no ``seq``, ``previous``, ``hash``, ``mac``)."""
    event = EVENT_CODES[action]
    fields: dict[str, Any] = {
        "time": time or utc_now(),
        "user": user,
        "role": role,
        "action": action.value,
        "code": event.code,
        "objects": [item.as_dict() for item in objects],
        "outcome": outcome,
        "detail": detail,
        "software": SOFTWARE,
        "host": _HOST,
        "pid": os.getpid(),
    }
    if event.type_code:
        fields["type_code"] = event.type_code
    return fields


def seal(
    fields: dict[str, Any], seq: int, previous: str, key: bytes | None = None
) -> dict[str, Any]:
    """``fields`` chained after ``previous`` as record ``seq``, with its hash (and MAC)."""
    record = {key_: value for key_, value in fields.items() if key_ not in ("seq", "previous")}
    record.pop("hash", None)
    record.pop("mac", None)
    record["seq"] = seq
    record["previous"] = previous
    record["hash"] = record_hash(record)
    if key is not None:
        record["mac"] = record_mac(key, record)
    return record


def record_line(record: dict[str, Any]) -> bytes:
    """The record as one line of the log."""
    return canonical(record) + b"\n"
