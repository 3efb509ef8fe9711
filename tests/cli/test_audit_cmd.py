"""``workstation audit``: verify (exit 17 on tampering), show, export, init-key, sign."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support.cli import run_workstation
from workstation.cli.main import main
from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.user_dirs import audit_log_file
from workstation.io.audit.records import canonical
from workstation.services import audit

STUDY = "1.2.826.0.1.3680043.8.498.42"


@pytest.fixture
def trail(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKSTATION_USER", "alice")
    audit.record(AuditAction.OPEN_STUDY, objects=[AuditObject("study", STUDY, "CT head")])
    audit.record(AuditAction.EXPORT, objects=[AuditObject("study", STUDY)], detail="skull.stl")
    monkeypatch.setenv("WORKSTATION_USER", "bob")
    audit.record(AuditAction.REFUSED, outcome="refused", detail="export needs export-identified")
    audit.record(AuditAction.QUERY, detail="PACS1")
    return audit_log_file()


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_bytes().splitlines()]


def test_verify_intact_log(trail: Path, capsys) -> None:
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert f"Audit log {trail}: 4 records in 1 file(s), intact" in out
    last = _records(trail)[3]
    assert f"head: record 4 (hash {last['hash'][:16]}" in out
    # verifying is itself recorded
    assert _records(trail)[-1]["action"] == "audit-verify"


def test_verify_names_an_edited_record_and_exits_17(trail: Path, capsys) -> None:
    content = trail.read_bytes().splitlines()
    record = json.loads(content[1])
    record["detail"] = "nothing exported"
    content[1] = canonical(record)
    trail.write_bytes(b"".join(line + b"\n" for line in content))
    assert main(["audit", "verify", str(trail)]) == 17
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "workstation: error: The audit log fails verification: record 2 (line 2 of "
        "audit.log) was changed."
    ]


def test_verify_json_lists_every_problem(trail: Path, capsys) -> None:
    content = trail.read_bytes().splitlines()
    del content[1]
    content[0] = content[0][:30]
    trail.write_bytes(b"".join(line + b"\n" for line in content))
    assert main(["audit", "verify", "--json"]) == 17
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert result["ok"] is False
    messages = [problem["message"] for problem in result["problems"]]
    assert messages[0] == "line 1 of audit.log is not a record (broken line)"
    assert "records 1 to 2 are missing" in messages[1]
    assert "(1 more problem(s); --json lists them)" in captured.err


def test_show_filters_and_table(trail: Path, capsys) -> None:
    assert main(["audit", "show", "--user", "alice"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["TIME", "USER", "ROLE", "ACTION", "OUTCOME", "OBJECTS", "DETAIL"]
    assert len(out) == 3
    assert "open-study" in out[1] and f"study {STUDY} (CT head)" in out[1]
    assert "export" in out[2] and "skull.stl" in out[2]
    assert main(["audit", "show", "--outcome", "refused", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["user"], r["action"]) for r in shown] == [("bob", "refused")]
    assert main(["audit", "show", "--study", STUDY, "--limit", "1", "--json"]) == 0
    assert [r["action"] for r in json.loads(capsys.readouterr().out)] == ["export"]
    today = _records(trail)[0]["time"][:10]
    assert main(["audit", "show", "--since", today, "--until", today, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4
    assert main(["audit", "show", "--until", "2000-01-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["audit", "show", "--action", "send"]) == 0
    assert "No audit records match." in capsys.readouterr().out


def test_export_dicom_and_fhir(trail: Path, tmp_path: Path, capsys) -> None:
    xml_file = tmp_path / "audit.xml"
    assert (
        main(["audit", "export", "--format", "dicom", "-o", str(xml_file), "--user", "alice"]) == 0
    )
    root = ET.fromstring(xml_file.read_bytes())
    messages = root.findall("AuditMessage")
    assert len(messages) == 2
    codes = [m.find("EventIdentification/EventID").get("csd-code") for m in messages]
    assert codes == ["110103", "110106"]
    fhir_file = tmp_path / "audit.json"
    assert main(["audit", "export", "--format", "fhir", "-o", str(fhir_file)]) == 0
    bundle = json.loads(fhir_file.read_text())
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    # the four records plus the first export's audit-verify record
    assert [e["resource"]["type"]["code"] for e in bundle["entry"]] == [
        "110103",
        "110106",
        "110113",
        "110112",
        "110101",
    ]
    assert "Wrote" in capsys.readouterr().out


def test_init_key_and_sign(trail: Path, capsys) -> None:
    assert main(["audit", "init-key"]) == 0
    assert "Created the audit chain key" in capsys.readouterr().out
    assert main(["audit", "init-key"]) == 17
    assert "exists already" in capsys.readouterr().err
    assert main(["audit", "sign"]) == 17
    assert "init-key --signing" in capsys.readouterr().err
    assert main(["audit", "init-key", "--signing"]) == 0
    assert main(["audit", "sign"]) == 0
    assert "Signed the audit head: record" in capsys.readouterr().out
    assert main(["audit", "verify"]) == 0
    assert "MACs and the signed head" in capsys.readouterr().out
    # remove the last two records: the signed head shows it
    content = trail.read_bytes().splitlines()
    trail.write_bytes(b"".join(line + b"\n" for line in content[:-2]))
    assert main(["audit", "verify"]) == 17
    assert "records were removed from the end" in capsys.readouterr().err


def test_init_key_needs_manage_keys(trail: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    import os

    policy = Path(os.environ["WORKSTATION_POLICY"])
    policy.write_text(
        '[roles.student]\npermissions = ["view-identified"]\n\n[users]\nbob = "student"\n'
    )
    monkeypatch.setenv("WORKSTATION_USER", "bob")
    code = main(["audit", "init-key"])
    err = capsys.readouterr().err
    assert code == 18, err
    assert "manage-keys" in err
    assert not audit_log_file().with_suffix(".key").exists()
    assert _records(trail)[-1]["action"] == "refused"


def test_global_audit_log_option_in_a_fresh_process(tmp_path: Path) -> None:
    log = tmp_path / "elsewhere" / "trail.log"
    log.parent.mkdir()
    audit.record(AuditAction.QUERY)  # into the configured log, not this one
    result = run_workstation("--audit-log", str(log), "audit", "verify", timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"Audit log {log}: 0 records" in result.stdout
    records = _records(log)
    assert [r["action"] for r in records] == ["audit-verify"]


def test_show_passes_over_broken_lines(trail: Path, capsys) -> None:
    with open(trail, "ab") as handle:
        handle.write(b"garbage that is not a record\n")
    assert main(["audit", "show", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 4


def test_verify_without_any_log(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere" / "audit.log"
    assert main(["audit", "verify", str(missing)]) == 17
    assert "There is no audit log at" in capsys.readouterr().err
