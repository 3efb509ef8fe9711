"""Records: canonical bytes, the SHA-256 chain hash and the HMAC, computed independently."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from tests.io.audit.audit_cases import fields
from workstation.core.audit_actions import EVENT_CODES, AuditAction
from workstation.io.audit.records import (
    GENESIS,
    canonical,
    record_hash,
    record_line,
    record_mac,
    seal,
)


def _independent_hash(record: dict) -> str:
    body = {k: v for k, v in record.items() if k not in ("hash", "mac")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def test_canonical_form_is_sorted_compact_and_ascii() -> None:
    data = canonical({"b": 1, "a": "Müller", "c": [1, {"z": 0, "y": 1}]})
    assert data == b'{"a":"M\\u00fcller","b":1,"c":[1,{"y":1,"z":0}]}'


def test_sealed_record_hash_mac_and_chain() -> None:
    key = bytes(range(32))
    first = seal(fields(1), 1, GENESIS, key)
    second = seal(fields(2), 2, first["hash"], key)
    assert first["previous"] == GENESIS == "0" * 64
    assert second["previous"] == first["hash"]
    for record in (first, second):
        assert record["hash"] == _independent_hash(record) == record_hash(record)
        body = {k: v for k, v in record.items() if k not in ("hash", "mac")}
        text = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        assert record["mac"] == hmac.new(key, text, hashlib.sha256).hexdigest()
        assert record["mac"] == record_mac(key, record)
    # the same record read back from its line gives the same hash
    again = json.loads(record_line(second))
    assert record_hash(again) == second["hash"]
    assert record_line(second).endswith(b"\n") and record_line(second).count(b"\n") == 1


def test_record_fields() -> None:
    record = seal(fields(3, AuditAction.REFUSED), 3, GENESIS)
    assert "mac" not in record
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["time"])
    assert record["code"] == "110113" and record["type_code"] == "110132"
    assert record["software"].startswith("surgical planning workstation ")
    assert {
        "seq",
        "time",
        "user",
        "role",
        "action",
        "code",
        "objects",
        "outcome",
        "detail",
        "software",
        "host",
        "pid",
        "previous",
        "hash",
    } <= set(record)
    assert record["objects"] == [
        {"kind": "study", "identifier": "1.2.826.0.1.3", "label": "CT head"}
    ]


def test_every_action_has_a_dicom_event_code() -> None:
    assert set(EVENT_CODES) == set(AuditAction)
    assert EVENT_CODES[AuditAction.EXPORT].code == "110106"
    assert EVENT_CODES[AuditAction.OPEN_STUDY].code == "110103"
    assert EVENT_CODES[AuditAction.SEND].code == "110104"
    assert EVENT_CODES[AuditAction.IMPORT].code == "110107"
    assert EVENT_CODES[AuditAction.DELETE].code == "110105"
    assert EVENT_CODES[AuditAction.QUERY].code == "110112"
    assert EVENT_CODES[AuditAction.ROLE_CHANGE].type_code == "110136"
    assert EVENT_CODES[AuditAction.POLICY_CHANGE].type_code == "110129"
    for event in EVENT_CODES.values():
        assert event.action_code in "CRUDE"
        assert re.fullmatch(r"1101\d\d", event.code)
