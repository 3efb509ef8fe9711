"""verify: every kind of tampering is found and named, and an intact log passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.io.audit.audit_cases import fields, lines, parsed, rewrite, write_log
from workstation.io.audit.chain_log import segments
from workstation.io.audit.records import canonical, record_hash, seal
from workstation.io.audit.signing import (
    new_signing_key,
    public_key_text,
    read_head,
    signed_head,
    write_head,
)
from workstation.io.audit.verify import verify_log

KEY = bytes(range(1, 33))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    write_log(path, 10)
    return path


def _messages(path: Path, **options) -> list[str]:
    return [problem.message for problem in verify_log(path, **options).problems]


def test_intact_log_passes(log: Path) -> None:
    result = verify_log(log)
    assert result.ok and result.records == 10
    assert result.first_seq == 1 and result.last_seq == 10
    assert result.last_hash == parsed(lines(log)[-1])["hash"]


def test_empty_or_absent_log_passes(tmp_path: Path) -> None:
    result = verify_log(tmp_path / "audit.log")
    assert result.ok and result.records == 0


def test_edited_record(log: Path) -> None:
    content = lines(log)
    record = parsed(content[6])
    record["user"] = "mallory"
    content[6] = canonical(record)
    rewrite(log, content)
    assert _messages(log) == ["record 7 (line 7 of audit.log) was changed"]


def test_deleted_record(log: Path) -> None:
    content = lines(log)
    del content[7]
    rewrite(log, content)
    assert _messages(log) == ["record 8 is missing: line 8 of audit.log has record 9"]


def test_deleted_records_at_the_start(log: Path) -> None:
    rewrite(log, lines(log)[3:])
    messages = _messages(log)
    assert messages == [
        "records 1 to 3 are missing: the trail starts with record 4 (line 1 of audit.log)"
    ]


def test_inserted_record_with_a_valid_hash(log: Path) -> None:
    content = lines(log)
    fake = seal(fields(99), 5, parsed(content[3])["hash"])
    content.insert(4, canonical(fake))
    rewrite(log, content)
    messages = _messages(log)
    assert messages == [
        "line 6 of audit.log has record 5 after record 5: a record was inserted or the "
        "records were reordered",
        "record 6 (line 7 of audit.log) does not follow record 5: its previous hash differs "
        "(a record was replaced or inserted)",
    ]


def test_replaced_record_with_a_valid_hash(log: Path) -> None:
    content = lines(log)
    fake = seal(fields(99), 5, "f" * 64)
    content[4] = canonical(fake)
    rewrite(log, content)
    messages = _messages(log)
    assert messages[0].startswith("record 5 (line 5 of audit.log) does not follow record 4")
    assert any(m.startswith("record 6 (line 6 of audit.log) does not follow") for m in messages)


def test_reordered_records(log: Path) -> None:
    content = lines(log)
    content[2], content[3] = content[3], content[2]
    rewrite(log, content)
    assert _messages(log) == [
        "record 3 is missing: line 3 of audit.log has record 4",
        "line 4 of audit.log has record 3 after record 4: a record was inserted or the "
        "records were reordered",
    ]


def test_broken_line(log: Path) -> None:
    content = lines(log)
    content[4] = content[4][:40]
    rewrite(log, content)
    messages = _messages(log)
    assert messages[0] == "line 5 of audit.log is not a record (broken line)"
    assert messages[1] == "record 5 is missing: line 6 of audit.log has record 6"


def test_mac_checks(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write_log(log, 4, key=KEY)
    result = verify_log(log, key=KEY)
    assert result.ok and result.macs_checked == 4
    assert _messages(log, key=bytes(32))[0] == "record 1 (line 1 of audit.log) has a bad MAC"
    # rewritten with a correct hash but without the key: the MAC gives it away
    content = lines(log)
    record = parsed(content[2])
    record["detail"] = "nothing happened"
    record["hash"] = record_hash(record)
    content[2] = canonical(record)
    content[3] = canonical({**parsed(content[3]), "previous": record["hash"]})
    rewrite(log, content)
    messages = _messages(log, key=KEY)
    assert "record 3 (line 3 of audit.log) has a bad MAC" in messages
    # a stripped MAC after records that have one
    content = lines(log)
    stripped = {k: v for k, v in parsed(content[1]).items() if k != "mac"}
    content[1] = canonical(stripped)
    rewrite(log, content)
    assert (
        "record 2 (line 2 of audit.log) has no MAC though the records before it have one"
        in _messages(log, key=KEY)
    )


def test_signed_head_detects_truncation_and_forgery(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    written = write_log(log, 6)
    key = new_signing_key(tmp_path / "audit-signing.key")
    head = signed_head(key, 6, written[-1]["hash"])
    write_head(log.with_suffix(".head"), head)
    public = public_key_text(key)
    result = verify_log(log, head=read_head(log.with_suffix(".head")), signing_public_key=public)
    assert result.ok and result.head_checked
    # the last two records cut off: only the head shows it
    rewrite(log, lines(log)[:4])
    assert verify_log(log).ok
    assert _messages(log, head=head, signing_public_key=public) == [
        "the log ends at record 4 but its signed head names record 6: records were removed "
        "from the end"
    ]
    # a head edited to match the cut log no longer verifies
    forged = {**head, "seq": 4, "hash": written[3]["hash"]}
    assert _messages(log, head=forged, signing_public_key=public) == [
        "the signature of the head does not match its content"
    ]
    # a head signed with another key
    other = signed_head(new_signing_key(tmp_path / "other.key"), 4, written[3]["hash"])
    assert _messages(log, head=other, signing_public_key=public) == [
        "the signed head was signed with another key than this log's signing key"
    ]
    # a head naming a record whose hash differs
    rewrite(log, [json.dumps(r, sort_keys=True, separators=(",", ":")).encode() for r in written])
    changed = signed_head(key, 5, "a" * 64)
    assert _messages(log, head=changed, signing_public_key=public) == [
        "record 5 (line 5 of audit.log) is not the one the signed head names"
    ]


def test_deletion_across_segments(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    write_log(log, 12, max_bytes=1500)
    files = segments(log)
    assert len(files) >= 3
    middle = files[1]
    kept = middle.read_bytes().splitlines()
    removed_seq = parsed(kept[-1])["seq"]
    rewrite(middle, kept[:-1])
    messages = _messages(log)
    assert messages[0].startswith(f"record {removed_seq} is missing: line 1 of ")
    # a whole segment deleted
    middle.unlink()
    assert "are missing" in _messages(log)[0] or "is missing" in _messages(log)[0]
