"""The role policy file and the access service: who acts, what they may do, refusals audited."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.errors import PermissionDenied, WorkstationError
from workstation.core.permissions import ALL_PERMISSIONS, DEFAULT_ROLE, Permission
from workstation.core.provenance import SeriesIdentity
from workstation.core.user_dirs import audit_log_file, policy_file
from workstation.io.audit import pending
from workstation.io.audit.chain_log import iter_records
from workstation.io.policy_file import (
    Policy,
    PolicyError,
    parse_policy,
    policy_text,
    read_policy,
    write_policy,
)
from workstation.services import access

POLICY = """\
default_role = "student"

[roles.surgeon]
permissions = ["view-identified", "export-identified", "send-to-pacs", "deidentify"]

[roles.student]
permissions = ["export-deidentified"]

[roles.admin]
permissions = ["manage-policy", "view-identified"]

[users]
alice = "surgeon"
bob = "student"
root-admin = "admin"
"""

IDENTIFIED = SeriesIdentity(patient_id="P1", study_uid="1.2.3", series_uid="1.2.3.4")
DEIDENTIFIED = SeriesIdentity(
    patient_id="X9", study_uid="2.25.1", series_uid="2.25.2", identity_removed=True
)


def records() -> list[dict]:
    log = audit_log_file()
    return list(iter_records(log)) if log.exists() else []


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> Path:
    path = policy_file()
    path.write_text(POLICY, encoding="utf-8")
    return path


def as_user(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    monkeypatch.setenv("WORKSTATION_USER", user)


# ---------------------------------------------------------------- the file


def test_parse_policy_reads_roles_users_and_default() -> None:
    parsed = parse_policy(POLICY)
    assert parsed.roles["student"] == frozenset({Permission.EXPORT_DEIDENTIFIED})
    assert parsed.roles["surgeon"] == frozenset(
        {
            Permission.VIEW_IDENTIFIED,
            Permission.EXPORT_IDENTIFIED,
            Permission.SEND_TO_PACS,
            Permission.DEIDENTIFY,
        }
    )
    assert parsed.users == {"alice": "surgeon", "bob": "student", "root-admin": "admin"}
    assert parsed.role_of("carol") == "student"  # not listed: the default role
    assert parsed.permissions_of(None) == frozenset()


@pytest.mark.parametrize(
    ("text", "line", "setting", "words"),
    [
        ('[roles.a]\npermissions = ["view-identified", "fly"]\n', 2, "roles.a.permissions", "fly"),
        ('[roles.a]\npermissions = []\n[users]\n\nbob = "nurse"\n', 5, "users.bob", "nurse"),
        ('default_role = "ghost"\n', 1, "default_role", "ghost"),
        ('[roles.a]\npermissions = []\ncolour = "red"\n', 3, "roles.a.colour", "unknown"),
        ('\n\nrole = "a"\n', 3, "role", "unknown setting"),
        ('[roles.a]\npermissions = "view-identified"\n', 2, "roles.a.permissions", "list"),
    ],
)
def test_invalid_policy_names_line_and_setting(text, line, setting, words) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "/etc/policy.toml")
    message = str(caught.value)
    assert f"/etc/policy.toml line {line}, setting {setting}:" in message
    assert words in message
    assert "\n" not in message
    assert isinstance(caught.value, WorkstationError) and caught.value.exit_code == 18


def test_toml_syntax_error_names_the_line() -> None:
    with pytest.raises(PolicyError, match=r"not valid TOML .*line 2"):
        parse_policy("[users]\nalice = surgeon\n", "p.toml")


def test_missing_file_is_no_policy(tmp_path: Path) -> None:
    assert read_policy(tmp_path / "none.toml") is None


def test_written_policy_reads_back_the_same(tmp_path: Path) -> None:
    original = parse_policy(POLICY)
    target = write_policy(original, tmp_path / "sub" / "policy.toml")
    again = read_policy(target)
    assert again == original
    assert policy_text(again) == target.read_text(encoding="utf-8")
    assert [p.name for p in target.parent.iterdir()] == ["policy.toml"]  # no temporary left


def test_write_refuses_an_invalid_policy(tmp_path: Path) -> None:
    broken = Policy(roles={}, users={"alice": "ghost"})
    with pytest.raises(PolicyError, match="unknown role 'ghost'"):
        write_policy(broken, tmp_path / "policy.toml")
    assert not (tmp_path / "policy.toml").exists()


# ---------------------------------------------------------------- the actor


def test_without_a_policy_the_single_user_may_do_everything(monkeypatch) -> None:
    as_user(monkeypatch, "dr-who")
    assert not policy_file().exists()
    actor = access.current_actor()
    assert (actor.user, actor.role, actor.permissions) == ("dr-who", DEFAULT_ROLE, ALL_PERMISSIONS)
    assert access.require(Permission.EXPORT_IDENTIFIED, AuditAction.EXPORT) == actor
    assert records() == []  # allowing writes nothing; the audited action does


def test_login_falls_back_to_the_operating_system(monkeypatch) -> None:
    monkeypatch.delenv("WORKSTATION_USER", raising=False)
    monkeypatch.setattr(access.getpass, "getuser", lambda: "oslogin")
    assert access.current_login() == "oslogin"


def test_policy_gives_listed_default_and_no_roles(policy: Path, monkeypatch) -> None:
    as_user(monkeypatch, "alice")
    assert access.current_actor().role == "surgeon"
    as_user(monkeypatch, "carol")
    assert access.current_actor().role == "student"
    policy.write_text(POLICY.replace('default_role = "student"\n', ""), encoding="utf-8")
    actor = access.current_actor()
    assert (actor.role, actor.permissions) == (access.NO_ROLE, frozenset())
    with pytest.raises(PermissionDenied, match="user 'carol' has no role in the policy"):
        access.require(Permission.VIEW_IDENTIFIED, AuditAction.OPEN_STUDY)


def test_refusal_is_audited_before_it_is_raised(policy: Path, monkeypatch) -> None:
    as_user(monkeypatch, "bob")
    study = AuditObject("study", "1.2.3")
    with pytest.raises(PermissionDenied) as caught:
        access.require(Permission.EXPORT_IDENTIFIED, AuditAction.EXPORT, [study])
    assert str(caught.value) == (
        "Exporting needs the permission 'export-identified', which role 'student' does not have."
    )
    (refused,) = records()
    assert refused["action"] == "refused" and refused["outcome"] == "refused"
    assert (refused["user"], refused["role"]) == ("bob", "student")
    assert "export-identified" in refused["detail"] and "export refused" in refused["detail"]
    assert refused["objects"] == [study.as_dict()]


def test_export_of_deidentified_data_needs_either_export_permission(
    policy: Path, monkeypatch
) -> None:
    as_user(monkeypatch, "bob")  # export-deidentified only
    assert access.require_export([DEIDENTIFIED], AuditAction.EXPORT).user == "bob"
    for sources in ([IDENTIFIED], [DEIDENTIFIED, IDENTIFIED], [None], []):
        with pytest.raises(PermissionDenied, match="'export-identified'"):
            access.require_export(sources, AuditAction.EXPORT)
    as_user(monkeypatch, "alice")  # export-identified covers de-identified data too
    assert access.require_export([DEIDENTIFIED], AuditAction.EXPORT).user == "alice"
    assert access.require_export([IDENTIFIED], AuditAction.EXPORT).user == "alice"
    assert [r["action"] for r in records()] == ["refused"] * 4


def test_viewing_needs_view_identified_only_for_identified_images(policy, monkeypatch) -> None:
    as_user(monkeypatch, "bob")
    assert access.require_view([DEIDENTIFIED], AuditAction.OPEN_STUDY).role == "student"
    with pytest.raises(PermissionDenied, match=r"Opening identified images needs .*'view-identi"):
        access.require_view([IDENTIFIED], AuditAction.OPEN_STUDY)


def test_broken_policy_refuses_everything_with_its_problem(policy: Path, monkeypatch) -> None:
    as_user(monkeypatch, "alice")
    policy.write_text(POLICY.replace('"deidentify"]', '"deidentify", "teleport"]'), "utf-8")
    actor = access.current_actor()  # never raises: the audit trail still knows who
    assert (actor.user, actor.permissions) == ("alice", frozenset())
    for check in (
        lambda: access.require(Permission.VIEW_IDENTIFIED, AuditAction.OPEN_STUDY),
        lambda: access.require_view([DEIDENTIFIED], AuditAction.OPEN_STUDY),
        lambda: access.require_active(AuditAction.IMPORT),
    ):
        with pytest.raises(PolicyError, match=r"line 4, setting roles.surgeon.permissions"):
            check()
    assert [r["outcome"] for r in records()] == ["refused"] * 3
    assert "teleport" in records()[0]["detail"]


def test_refusal_still_raised_when_the_audit_log_cannot_be_written(
    policy: Path, monkeypatch, tmp_path: Path
) -> None:
    as_user(monkeypatch, "bob")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("WORKSTATION_AUDIT_LOG", str(blocker / "audit.log"))
    kept: list[dict] = []
    monkeypatch.setattr(pending, "_memory", kept)  # this test's unwritten record stays here
    with pytest.raises(PermissionDenied, match="could not be audited"):
        access.require(Permission.SEND_TO_PACS, AuditAction.SEND)
    assert [item["action"] for item in kept] == ["refused"]  # kept for the next write


def test_identity_of_a_source_header() -> None:
    context = SimpleNamespace(header={"PatientIdentityRemoved": "YES", "StudyInstanceUID": "9.8"})
    (identity,) = access.identities_of(context)
    assert identity.identity_removed and identity.study_uid == "9.8"
    assert access.identities_of(None) == [None]


def test_opening_and_exporting_are_audited(policy: Path, monkeypatch, tmp_path: Path) -> None:
    as_user(monkeypatch, "alice")
    with access.opening([IDENTIFIED]):
        pass
    written = tmp_path / "model.stl"
    written.write_bytes(b"solid x\nendsolid x\n")
    with access.exporting([IDENTIFIED]) as scope:
        scope.add(access.file_object(written))
    opened, exported = records()
    assert (opened["action"], opened["outcome"]) == ("open-study", "success")
    kinds = {item["kind"]: item["identifier"] for item in opened["objects"]}
    assert kinds["study"] == "1.2.3" and kinds["series"] == "1.2.3.4"
    digest = hashlib.sha256(written.read_bytes()).hexdigest()
    assert {"kind": "file", "identifier": digest, "label": "model.stl"} in exported["objects"]


# ---------------------------------------------------------------- changing the policy


def test_first_change_creates_the_file_keeping_the_owner(monkeypatch) -> None:
    as_user(monkeypatch, "owner-login")
    path = access.grant("student", "export-deidentified")
    assert path == policy_file()
    written = read_policy(path)
    assert written.users == {"owner-login": DEFAULT_ROLE}
    assert written.roles[DEFAULT_ROLE] == ALL_PERMISSIONS
    access.set_role("bob", "student")
    assert read_policy(path).users["bob"] == "student"
    changes = [(r["action"], r["outcome"], r["detail"]) for r in records()]
    assert changes == [
        ("policy-change", "success", "grant export-deidentified to role student"),
        ("role-change", "success", "user bob -> role student"),
    ]
    assert records()[1]["objects"][0]["kind"] == "policy"


def test_changes_need_manage_policy(policy: Path, monkeypatch) -> None:
    as_user(monkeypatch, "alice")
    before = policy.read_bytes()
    with pytest.raises(PermissionDenied, match="'manage-policy', which role 'surgeon'"):
        access.set_role("bob", "surgeon")
    assert policy.read_bytes() == before
    (refused,) = records()
    assert refused["action"] == "refused" and "role-change" in refused["detail"]


def test_admin_grants_revokes_and_cannot_lock_themself_out(policy: Path, monkeypatch) -> None:
    as_user(monkeypatch, "root-admin")
    access.grant("student", "view-identified")
    assert Permission.VIEW_IDENTIFIED in read_policy(policy).roles["student"]
    access.revoke("student", "view-identified")
    assert read_policy(policy).roles["student"] == frozenset({Permission.EXPORT_DEIDENTIFIED})
    before = policy.read_bytes()
    with pytest.raises(PermissionDenied, match="would take 'manage-policy' from you"):
        access.revoke("admin", "manage-policy")
    with pytest.raises(PermissionDenied, match="no role 'nurse'"):
        access.set_role("bob", "nurse")
    with pytest.raises(PermissionDenied, match="Unknown permission 'fly'"):
        access.grant("student", "fly")
    assert policy.read_bytes() == before
    outcomes = [(r["action"], r["outcome"]) for r in records()]
    assert outcomes[:2] == [("policy-change", "success")] * 2
    assert outcomes[2:] == [("policy-change", "refused"), ("role-change", "refused")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_unwritable_policy_file_is_refused(policy: Path, monkeypatch) -> None:
    as_user(monkeypatch, "root-admin")
    policy.chmod(0o444)
    policy.parent.chmod(0o555)
    try:
        with pytest.raises(PermissionDenied, match="cannot be written by this user"):
            access.set_role("bob", "surgeon")
    finally:
        policy.parent.chmod(0o755)
        policy.chmod(0o644)


def test_unwritable_check_sees_read_only_folders(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(access.os, "access", lambda path, mode: False)
    with pytest.raises(PermissionDenied, match="an administrator changes it"):
        access._check_writable(tmp_path / "etc" / "policy.toml")
