"""`workstation policy show|set-role|grant|revoke`: who acts, with what role; changes audited."""

from __future__ import annotations

import json

import pytest

from workstation.cli.main import main
from workstation.core.permissions import Permission
from workstation.core.user_dirs import audit_log_file, policy_file
from workstation.io.audit.chain_log import iter_records
from workstation.io.policy_file import read_policy

POLICY = """\
default_role = "student"

[roles.admin]
permissions = ["manage-policy"]

[roles.student]
permissions = ["export-deidentified"]

[users]
ada = "admin"
"""


def records() -> list[dict]:
    log = audit_log_file()
    return list(iter_records(log)) if log.exists() else []


def show_json(capsys) -> dict:
    assert main(["policy", "show", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_show_without_a_policy_is_the_single_user(capsys, monkeypatch) -> None:
    monkeypatch.setenv("WORKSTATION_USER", "sam")
    facts = show_json(capsys)
    assert facts["single_user"] and not facts["policy_exists"]
    assert (facts["user"], facts["role"]) == ("sam", "owner")
    assert facts["permissions"] == [permission.value for permission in Permission]
    assert facts["policy_file"] == str(policy_file())
    assert main(["policy", "show"]) == 0
    text = capsys.readouterr().out
    assert "User: sam" in text and "Role: owner" in text and "single user" in text


def test_show_names_the_role_of_a_listed_and_an_unlisted_login(capsys, monkeypatch) -> None:
    policy_file().write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("WORKSTATION_USER", "ada")
    facts = show_json(capsys)
    assert (facts["role"], facts["permissions"]) == ("admin", ["manage-policy"])
    assert facts["roles"] == {"admin": ["manage-policy"], "student": ["export-deidentified"]}
    assert facts["users"] == {"ada": "admin"} and facts["default_role"] == "student"
    monkeypatch.setenv("WORKSTATION_USER", "zed")
    assert show_json(capsys)["role"] == "student"


def test_show_reports_a_broken_policy(capsys) -> None:
    policy_file().write_text('[roles.x]\npermissions = ["all"]\n', encoding="utf-8")
    facts = show_json(capsys)
    assert facts["permissions"] == []
    assert "line 2, setting roles.x.permissions: unknown permission 'all'" in facts["error"]
    assert main(["policy", "show"]) == 0
    assert "(broken)" in capsys.readouterr().out


def test_admin_changes_roles_and_permissions(capsys, monkeypatch) -> None:
    policy_file().write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("WORKSTATION_USER", "ada")
    assert main(["policy", "grant", "surgeon", "view-identified"]) == 0
    assert main(["policy", "set-role", "alice", "surgeon"]) == 0
    assert main(["policy", "revoke", "student", "export-deidentified"]) == 0
    out = capsys.readouterr().out
    assert "User alice now has the role surgeon" in out
    policy = read_policy(policy_file())
    assert policy.users == {"ada": "admin", "alice": "surgeon"}
    assert policy.roles["surgeon"] == frozenset({Permission.VIEW_IDENTIFIED})
    assert policy.roles["student"] == frozenset()
    assert [(r["action"], r["user"], r["outcome"]) for r in records()] == [
        ("policy-change", "ada", "success"),
        ("role-change", "ada", "success"),
        ("policy-change", "ada", "success"),
    ]
    monkeypatch.setenv("WORKSTATION_USER", "alice")
    assert show_json(capsys)["permissions"] == ["view-identified"]


def test_change_without_manage_policy_exits_18_and_is_audited(capsys, monkeypatch) -> None:
    policy_file().write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("WORKSTATION_USER", "bob")  # default role: student
    before = policy_file().read_bytes()
    assert main(["policy", "set-role", "bob", "admin"]) == 18
    err = capsys.readouterr().err
    assert "'manage-policy', which role 'student' does not have" in err
    assert policy_file().read_bytes() == before
    (refused,) = records()
    assert refused["action"] == "refused" and "role-change" in refused["detail"]


def test_unknown_permission_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["policy", "grant", "student", "fly"])
    assert stop.value.code == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err
    assert not policy_file().exists()
