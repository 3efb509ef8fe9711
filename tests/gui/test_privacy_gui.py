"""Accountability in the window: the status bar names the user and role from the policy,
and an audit log that cannot be written shows a persistent red label (never silent)."""

from __future__ import annotations

import pytest

from tests.gui.conftest import TIMEOUT_MS, open_and_settle, settle
from tests.gui.project_case import copy_study
from workstation.core.errors import AuditLogError
from workstation.gui.audit_status import AUDIT_FAILED_TEXT

pytestmark = pytest.mark.gui

POLICY = """\
default_role = "student"

[roles.surgeon]
permissions = ["view-identified", "export-identified", "deidentify"]

[roles.student]
permissions = ["export-deidentified"]

[users]
alice = "surgeon"
"""


def write_policy(tmp_path, monkeypatch, user: str):
    """A policy file in force for ``user``."""
    path = tmp_path / "policy.toml"
    path.write_text(POLICY, encoding="utf-8")
    monkeypatch.setenv("WORKSTATION_POLICY", str(path))
    monkeypatch.setenv("WORKSTATION_USER", user)
    return path


def test_status_bar_shows_user_and_role(qtbot, make_main_window, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKSTATION_USER", "carol")
    window = make_main_window()
    label = window.audit_status.user_label
    assert label.text() == "carol (owner)"  # no policy file: single user, every permission
    assert "single-user" in label.toolTip()
    write_policy(tmp_path, monkeypatch, "alice")
    window.audit_status.refresh_actor()
    assert label.text() == "alice (surgeon)"
    assert "deidentify" in label.toolTip() and "send-to-pacs" not in label.toolTip()
    monkeypatch.setenv("WORKSTATION_USER", "bob")
    window.audit_status.refresh_actor()
    assert label.text() == "bob (student)"
    assert not window.audit_status.audit_label.isVisible()


def _unwritable_log(tmp_path, monkeypatch):
    """Point the audit log below a regular file: it can never be created."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("WORKSTATION_AUDIT_LOG", str(blocker / "audit.log"))


def test_unwritable_audit_log_shows_at_start(qtbot, make_main_window, tmp_path, monkeypatch):
    _unwritable_log(tmp_path, monkeypatch)
    window = make_main_window()
    status = window.audit_status
    assert status.audit_label.isVisible()
    assert status.audit_label.text() == AUDIT_FAILED_TEXT
    assert "cannot be written" in status.audit_label.toolTip()
    # clicking checks again: still broken, so it stays; fixed, it goes
    status.recheck()
    assert status.audit_label.isVisible()
    monkeypatch.setenv("WORKSTATION_AUDIT_LOG", str(tmp_path / "audit" / "audit.log"))
    status.recheck()
    assert not status.audit_label.isVisible()


def test_audit_failure_of_an_action_is_shown(
    qtbot, make_main_window, synthetic_ct, tmp_path, monkeypatch
):
    window = make_main_window(headless=True)
    study = copy_study(synthetic_ct, tmp_path / "study")
    open_and_settle(qtbot, window, study)
    assert not window.audit_status.audit_label.isVisible()
    _unwritable_log(tmp_path, monkeypatch)  # the log breaks while the window is open
    target = tmp_path / "case.wsproj"
    with qtbot.waitSignal(window.job_failed, timeout=TIMEOUT_MS) as failed:
        window.projects.save_to(target)
    settle(qtbot, window)
    assert isinstance(failed.args[0].exception, AuditLogError)
    assert not target.exists()  # refused before anything was written
    label = window.audit_status.audit_label
    assert label.isVisible() and label.text() == AUDIT_FAILED_TEXT
    assert str(failed.args[0].exception) in label.toolTip()
    assert "audit log" in window.statusBar().currentMessage()
