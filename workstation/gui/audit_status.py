"""Status bar: who is working (user and role) and a red mark when auditing fails.

The user and role come from ``services.access.current_actor()`` (read again after each
job and every minute, so a changed policy shows).  When a job or an action fails with
AuditLogError, or the log cannot be written when the window opens, a red
"Audit log cannot be written" label stays in the status bar (its tooltip says why) —
never silent.  Clicking it checks the log again and hides it once the log is writable.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

from workstation.core.errors import AuditLogError, WorkstationError
from workstation.gui.workers import JobError

AUDIT_FAILED_TEXT = "Audit log cannot be written"
REFRESH_MS = 60000


class _ClickableLabel(QLabel):
    def __init__(self, text: str, on_click: Any) -> None:
        super().__init__(text)
        self._on_click = on_click

    def mousePressEvent(self, event: Any) -> None:
        self._on_click()
        super().mousePressEvent(event)


def actor_text() -> tuple[str, str]:
    """(label text, tooltip) for the current actor."""
    from workstation.services.access import access_state

    state = access_state()
    actor = state.actor
    text = f"{actor.user} ({actor.role})"
    if state.error is not None:
        return text, state.error.message
    permissions = ", ".join(sorted(permission.value for permission in actor.permissions))
    source = "single-user installation" if state.single_user else f"policy {state.path}"
    return text, f"User {actor.user}, role {actor.role} ({source})\nMay: {permissions or 'nothing'}"


class AuditStatus:
    """The user/role label and the audit-failure label of one window's status bar."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.user_label = QLabel("")
        self.user_label.setObjectName("actorLabel")
        self.audit_label = _ClickableLabel(AUDIT_FAILED_TEXT, self.recheck)
        self.audit_label.setObjectName("auditFailedLabel")
        self.audit_label.setStyleSheet(
            "background: #c00000; color: white; font-weight: bold; padding: 1px 6px;"
        )
        self.audit_label.setVisible(False)
        self.last_problem = ""
        bar = window.statusBar()
        bar.addPermanentWidget(self.audit_label)
        bar.addPermanentWidget(self.user_label)
        window.job_failed.connect(self._job_failed)
        window.runner.ended.connect(lambda _job: self.refresh_actor())
        self.timer = QTimer(window)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self.refresh_actor)
        self.timer.start()
        self.refresh_actor()
        self.check_log()

    def refresh_actor(self) -> None:
        """Show the current user and role."""
        try:
            text, tip = actor_text()
        except (WorkstationError, OSError) as error:  # never stops the window
            text, tip = "(user unknown)", str(error)
        self.user_label.setText(text)
        self.user_label.setToolTip(tip)

    def _job_failed(self, error: JobError) -> None:
        if isinstance(error.exception, AuditLogError):
            self.show_failure(str(error.exception))

    def show_failure(self, message: str) -> None:
        """Show the persistent red label with ``message`` as its tooltip."""
        self.last_problem = message
        self.audit_label.setToolTip(f"{message}\n(click to check again)")
        self.audit_label.setVisible(True)

    def check_log(self) -> bool:
        """Check that the log can be written; show the red label when not (True: writable)."""
        from workstation.services.audit import check_writable

        try:
            check_writable()
        except AuditLogError as error:
            self.show_failure(str(error))
            return False
        return True

    def recheck(self) -> None:
        """The label was clicked: hide it when the log can be written again."""
        if self.check_log():
            self.audit_label.setVisible(False)
            self.window.show_message("The audit log can be written again.")

    def shutdown(self) -> None:
        """Stop the refresh timer (the window closes)."""
        self.timer.stop()


def install_audit_status(window: Any) -> AuditStatus:
    """Add the user/role and audit-failure labels to ``window``'s status bar."""
    return AuditStatus(window)
