"""The audit service: records for the acting user, audited actions, refusal, the spool."""

from __future__ import annotations

import json
import os
import stat

import pytest

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.errors import AuditLogError, Cancelled, ExportError
from workstation.core.provenance import SeriesIdentity
from workstation.core.user_dirs import audit_log_file
from workstation.io.audit import chain_log, pending
from workstation.io.audit.records import record_mac
from workstation.io.audit.signing import read_chain_key, read_head
from workstation.services import audit


def _records() -> list[dict]:
    return [json.loads(line) for line in audit_log_file().read_bytes().splitlines()]


@pytest.fixture(autouse=True)
def _user(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WORKSTATION_USER", "alice")
    yield
    pending.written(pending.in_memory(), None)  # no record of one test waits for the next


def test_record_names_the_actor_and_objects() -> None:
    study = AuditObject("study", "1.2.3", "CT")
    audit.record(AuditAction.EXPORT, objects=[study], detail="skull.stl")
    audit.record("query")
    first, second = _records()
    assert first["user"] == "alice" and first["role"] == "owner"
    assert first["action"] == "export" and first["code"] == "110106"
    assert first["objects"] == [{"kind": "study", "identifier": "1.2.3", "label": "CT"}]
    assert first["outcome"] == "success" and first["detail"] == "skull.stl"
    assert first["pid"] == os.getpid()
    assert second["seq"] == 2 and second["previous"] == first["hash"]
    assert audit.verify().ok


def test_unknown_action_or_outcome_is_refused() -> None:
    with pytest.raises(AuditLogError, match="unknown audit action 'fly'"):
        audit.record("fly")
    with pytest.raises(AuditLogError, match="outcome 'maybe'"):
        audit.record(AuditAction.EXPORT, outcome="maybe")
    assert not audit_log_file().exists()


def test_audited_success_failure_and_cancel() -> None:
    with audit.audited(AuditAction.EXPORT, detail="model") as scope:
        scope.add(AuditObject("file", "ab" * 32, "skull.stl"))
        scope.add(AuditObject("file", "ab" * 32, "skull.stl"))
    with pytest.raises(ExportError), audit.audited(AuditAction.SEND):
        raise ExportError("The PACS refused the transfer.")
    with pytest.raises(Cancelled), audit.audited(AuditAction.RETRIEVE):
        raise Cancelled()
    with pytest.raises(ZeroDivisionError), audit.audited(AuditAction.IMPORT):
        _ = 1 / 0
    success, failure, cancelled, crash = _records()
    assert success["outcome"] == "success" and success["detail"] == "model"
    assert success["objects"] == [{"kind": "file", "identifier": "ab" * 32, "label": "skull.stl"}]
    assert failure["outcome"] == "failure"
    assert failure["detail"] == "The PACS refused the transfer."
    assert cancelled["outcome"] == "cancelled"
    assert crash["outcome"] == "failure" and crash["detail"].startswith("ZeroDivisionError")


def test_unwritable_log_refuses_the_action_before_it_runs(monkeypatch) -> None:
    log = audit_log_file()
    log.mkdir(parents=True)  # a folder where the log should be: it cannot be written
    ran = []
    with pytest.raises(AuditLogError) as caught, audit.audited(AuditAction.EXPORT):
        ran.append(True)
    assert not ran
    message = str(caught.value)
    assert message.startswith(f"The audit log {log} cannot be written: ")
    assert message.endswith("the action was not done.")
    assert "\n" not in message


def test_record_that_cannot_be_written_is_spooled_then_written_first(monkeypatch) -> None:
    audit.record(AuditAction.OPEN_STUDY, detail="before")
    real = chain_log._write_all

    def disk_full(descriptor: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(chain_log, "_write_all", disk_full)
    with pytest.raises(AuditLogError) as caught:
        audit.record(AuditAction.EXPORT, detail="during the outage")
    assert "No space left on device" in str(caught.value)
    assert "kept in" in str(caught.value) and "audit.pending" in str(caught.value)
    spool = audit_log_file().with_suffix(".pending")
    assert spool.exists()
    assert len(_records()) == 1
    monkeypatch.setattr(chain_log, "_write_all", real)
    audit.record(AuditAction.QUERY, detail="after")
    details = [(r["seq"], r["detail"]) for r in _records()]
    assert details == [(1, "before"), (2, "during the outage"), (3, "after")]
    assert not spool.exists()
    assert not list(spool.parent.glob("*.pending*"))
    assert audit.verify().ok


def test_record_is_kept_in_memory_when_even_the_spool_fails(monkeypatch) -> None:
    log = audit_log_file()
    log.parent.mkdir(parents=True)
    log.with_suffix(".pending").mkdir()  # the spool cannot be written either
    real = chain_log._write_all

    def failing(descriptor: int, data: bytes) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(chain_log, "_write_all", failing)
    with pytest.raises(AuditLogError, match="kept in memory"):
        audit.record(AuditAction.DELETE, detail="kept")
    assert pending.in_memory() == 1
    monkeypatch.setattr(chain_log, "_write_all", real)
    log.with_suffix(".pending").rmdir()
    audit.record(AuditAction.QUERY, detail="next")
    assert [r["detail"] for r in _records()] == ["kept", "next"]
    assert pending.in_memory() == 0


def test_failure_after_the_action_keeps_the_original_error(monkeypatch) -> None:
    def failing(descriptor: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    real = chain_log._write_all
    with pytest.raises(ExportError, match="model failed"), audit.audited(AuditAction.EXPORT):
        monkeypatch.setattr(chain_log, "_write_all", failing)
        raise ExportError("The model failed.")
    monkeypatch.setattr(chain_log, "_write_all", real)
    audit.record(AuditAction.QUERY)
    assert [(r["action"], r["outcome"]) for r in _records()] == [
        ("export", "failure"),
        ("query", "success"),
    ]


def test_success_record_that_fails_raises_audit_error(monkeypatch) -> None:
    def failing(descriptor: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(AuditLogError), audit.audited(AuditAction.EXPORT):
        monkeypatch.setattr(chain_log, "_write_all", failing)
    assert audit_log_file().with_suffix(".pending").exists()


def test_chain_key_gives_every_record_a_mac() -> None:
    audit.record(AuditAction.QUERY, detail="no key yet")
    key_file = audit.init_chain_key()
    assert key_file == audit_log_file().with_suffix(".key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    audit.record(AuditAction.QUERY, detail="with key")
    key = read_chain_key(key_file)
    records = _records()
    assert "mac" not in records[0]
    assert records[1]["action"] == "key-change" and records[1]["outcome"] == "success"
    for record in records[1:]:
        assert record["mac"] == record_mac(key, record)
    result = audit.verify()
    assert result.ok and result.macs_checked == 2
    with pytest.raises(AuditLogError, match="exists already"):
        audit.init_chain_key()


def test_signing_key_signs_the_head_after_each_record() -> None:
    audit.record(AuditAction.QUERY)
    audit.init_signing_key()
    audit.record(AuditAction.EXPORT)
    head = read_head(audit_log_file().with_suffix(".head"))
    last = _records()[-1]
    assert head["seq"] == last["seq"] and head["hash"] == last["hash"]
    assert audit.verify().ok
    # cut the last record off: the head shows it
    content = audit_log_file().read_bytes().splitlines()
    audit_log_file().write_bytes(b"".join(line + b"\n" for line in content[:-1]))
    problems = audit.verify().problems
    assert problems[0].message.startswith(f"the log ends at record {last['seq'] - 1}")


def test_study_objects() -> None:
    identity = SeriesIdentity(
        patient_id="P1",
        patient_name="Doe Jane",
        study_uid="1.2.3",
        study_date="20240102",
        study_description="CT head",
        series_uid="1.2.3.4",
        series_number="2",
        modality="CT",
        series_description="bone",
    )
    assert audit.study_objects(identity) == [
        AuditObject("patient", "P1", "Doe Jane"),
        AuditObject("study", "1.2.3", "20240102 CT head"),
        AuditObject("series", "1.2.3.4", "CT 2 bone"),
    ]
    assert audit.study_objects(SeriesIdentity()) == []


def test_rotation_size_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("WORKSTATION_AUDIT_MAX_SIZE", "1000")
    for number in range(8):
        audit.record(AuditAction.QUERY, detail=f"query {number}")
    files = chain_log.segments(audit_log_file())
    assert len(files) > 1
    assert audit.verify().ok and audit.verify().records == 8


def test_chain_key_from_the_environment_and_a_damaged_key(tmp_path, monkeypatch) -> None:
    from workstation.io.audit.signing import new_chain_key

    key_file = tmp_path / "elsewhere.key"
    key = new_chain_key(key_file)
    monkeypatch.setenv("WORKSTATION_AUDIT_KEY", str(key_file))
    audit.record(AuditAction.QUERY, detail="keyed")
    assert _records()[0]["mac"] == record_mac(key, _records()[0])
    key_file.write_text("not a key\n")
    with pytest.raises(AuditLogError, match="not an audit chain key file"):
        audit.record(AuditAction.QUERY, detail="kept while the key is damaged")
    assert len(_records()) == 1
    key_file.unlink()
    new_chain_key(key_file)
    audit.record(AuditAction.QUERY, detail="after the new key")
    assert [r["detail"] for r in _records()] == [
        "keyed",
        "kept while the key is damaged",
        "after the new key",
    ]


def test_log_under_a_file_refuses_the_action(monkeypatch, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    monkeypatch.setenv("WORKSTATION_AUDIT_LOG", str(blocker / "audit.log"))
    with pytest.raises(AuditLogError, match="the action was not done"):
        audit.check_writable()
    with pytest.raises(AuditLogError, match="kept in memory"):
        audit.record(AuditAction.EXPORT, detail="nowhere to go")
    assert pending.in_memory() == 1
