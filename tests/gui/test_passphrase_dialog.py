"""Encrypted projects in the window: the passphrase asked twice (mismatch and short ones
refused), File → Save project encrypted…, opening with a wrong passphrase (the message,
another try, Cancel changes nothing) and with the right one (the case comes back)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDialog

from tests.gui.conftest import TIMEOUT_MS, open_and_settle, settle
from tests.gui.project_case import copy_study, edit
from workstation.gui.passphrase_dialog import (
    MISMATCH,
    TOO_SHORT,
    PassphraseDialog,
    ask_new_passphrase,
    ask_passphrase,
    new_passphrase_dialog,
    passphrase_problem,
)
from workstation.io.encryption import MAGIC, is_encrypted

pytestmark = pytest.mark.gui

GOOD = "correct horse battery"


def test_new_passphrase_must_match_and_be_long_enough(qtbot):
    dialog = new_passphrase_dialog(None, "case.wsproj")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.confirm and dialog.repeat_edit.isVisible()
    dialog.passphrase_edit.setText(GOOD)
    dialog.repeat_edit.setText(GOOD + "x")
    dialog.accept()
    assert dialog.result() != QDialog.DialogCode.Accepted and dialog.isVisible()
    assert dialog.message_label.text() == MISMATCH and dialog.message_label.isVisible()
    assert dialog.repeat_edit.text() == ""  # typed again
    dialog.passphrase_edit.setText("short")
    dialog.repeat_edit.setText("short")
    dialog.accept()
    assert dialog.isVisible() and dialog.message_label.text() == TOO_SHORT
    dialog.passphrase_edit.setText(GOOD)
    dialog.repeat_edit.setText(GOOD)
    dialog.accept()
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    assert dialog.passphrase() == GOOD
    assert passphrase_problem("1234567", "1234567") == TOO_SHORT
    assert passphrase_problem("12345678", "12345678") == ""
    assert passphrase_problem("12345678", "12345679") == MISMATCH


def _answer_modal(steps: list) -> list[str]:
    """Drive the next modal passphrase dialogs: each step gets (dialog) and acts on it.

    Returns the list of messages each dialog showed when it opened.
    """
    shown: list[str] = []
    queue = list(steps)

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, PassphraseDialog) or not dialog.isVisible():
            QTimer.singleShot(20, act)
            return
        shown.append(dialog.message_label.text() if dialog.message_label.isVisible() else "")
        step = queue.pop(0)
        step(dialog)
        if queue:
            QTimer.singleShot(20, act)

    QTimer.singleShot(20, act)
    return shown


def _type(first: str, second: str | None = None):
    def step(dialog: PassphraseDialog) -> None:
        dialog.passphrase_edit.setText(first)
        if second is not None:
            dialog.repeat_edit.setText(second)
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()

    return step


def _mismatch_then(good: str):
    def step(dialog: PassphraseDialog) -> None:
        _type(good, good + "!")(dialog)
        assert dialog.isVisible() and dialog.message_label.text() == MISMATCH
        _type(good, good)(dialog)

    return step


def _cancel(dialog: PassphraseDialog) -> None:
    dialog.buttons.button(dialog.buttons.StandardButton.Cancel).click()


def test_modal_helpers_return_the_passphrase_or_none(qtbot):
    _answer_modal([_mismatch_then(GOOD)])
    assert ask_new_passphrase(None, "a.wsproj") == GOOD
    _answer_modal([_cancel])
    assert ask_passphrase(None, "a.wsproj", "wrong") is None


def test_encrypted_save_and_open_with_wrong_then_right_passphrase(
    qtbot, make_main_window, synthetic_ct, tmp_path
):
    study = copy_study(synthetic_ct, tmp_path / "study")
    window = make_main_window()
    open_and_settle(qtbot, window, study)
    edit(
        qtbot,
        window,
        {"op": "add_segment", "name": "Bone", "color": [0.9, 0.8, 0.5]},
        {"op": "threshold", "segment": "Bone", "lower": 200, "upper": None},
    )
    expected = window.session.editor.segmentation.by_name("Bone").mask.copy()
    assert expected.any()
    target = tmp_path / "secret.wsproj"

    # cancelling the passphrase saves nothing
    _answer_modal([_cancel])
    assert window.projects.save_encrypted(target) is False
    assert not target.exists() and window.session.modified

    # a mismatch is refused in the dialog; the matching passphrase saves encrypted
    _answer_modal([_mismatch_then(GOOD)])
    with qtbot.waitSignal(window.projects.saved, timeout=TIMEOUT_MS):
        assert window.projects.save_encrypted(target)
    settle(qtbot, window)
    assert not window.errors, [error.message for error in window.errors]
    assert is_encrypted(target)
    data = target.read_bytes()
    assert data.startswith(MAGIC)
    assert b"Two balls" not in data and b"Bone" not in data
    assert window.projects.encryption is not None  # Save keeps it encrypted
    edit(qtbot, window, {"op": "add_segment", "name": "Later", "color": [0.1, 0.2, 0.3]})
    assert window.session.modified and not window.autosave.due()  # no plain-text recovery

    # opening: a wrong passphrase shows the message and asks again; Cancel changes nothing
    other = make_main_window()
    shown_volume = open_and_settle(qtbot, other, study)  # a study is shown meanwhile
    first = _answer_modal([_type("not the passphrase"), _cancel])
    other.projects.open_project(target)
    qtbot.waitUntil(lambda: len(first) == 2, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: QApplication.activeModalWidget() is None, timeout=TIMEOUT_MS)
    settle(qtbot, other)
    assert first[0] == "" and first[1], "the second try shows why the first failed"
    assert other.session.volume is shown_volume and other.session.project_path is None
    assert other.session.editor.segmentation.segments == []
    assert other.errors == [] and other.last_error_dialog is None

    # the wrong passphrase was reported in the second dialog
    shown = _answer_modal([_type("still wrong passphrase"), _type(GOOD)])
    with qtbot.waitSignal(other.projects.opened, timeout=TIMEOUT_MS):
        other.projects.open_project(target)
    settle(qtbot, other)
    assert shown[0] == ""
    assert shown[1], "the second try shows why the first failed"
    assert other.session.project_path == str(target)
    reopened = other.session.editor.segmentation.by_name("Bone").mask
    assert np.array_equal(reopened, expected)
    assert other.projects.encryption is not None


def test_headless_window_refuses_an_encrypted_project_without_asking(
    qtbot, make_main_window, synthetic_ct, tmp_path
):
    from workstation.io.encryption import KeySource
    from workstation.services import project

    study = copy_study(synthetic_ct, tmp_path / "study")
    window = make_main_window(headless=True)
    open_and_settle(qtbot, window, study)
    target = tmp_path / "locked.wsproj"
    contents = project.contents_from_session(window.session, None)
    project.save_project(target, contents, encryption=KeySource.passphrase(GOOD, 1 << 10))
    assert is_encrypted(target)
    other = make_main_window(headless=True)
    asked = []
    other.projects.ask_passphrase = lambda name, message: asked.append(name)
    assert other.projects.open_project(target) is None
    assert asked == [] and other.session.volume is None
    (error,) = other.errors
    assert error.message == "locked.wsproj is encrypted: give its passphrase."
