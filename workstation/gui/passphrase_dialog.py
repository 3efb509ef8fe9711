"""The passphrase of an encrypted project: asked twice when set, once when opening.

A new passphrase must be typed twice alike and have at least ``MIN_LENGTH`` characters;
the dialog says what is wrong and stays open.  Opening shows the last problem (a wrong
passphrase) above the field so that the user can try again; Cancel changes nothing.
"""

from __future__ import annotations

import os
from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

MIN_LENGTH = 8
TOO_SHORT = f"The passphrase needs at least {MIN_LENGTH} characters."
MISMATCH = "The two passphrases differ; type the same passphrase twice."


def passphrase_problem(first: str, second: str | None) -> str:
    """Why a new passphrase (typed as ``first`` and ``second``) is refused; '' when good."""
    if len(first) < MIN_LENGTH:
        return TOO_SHORT
    if second is not None and first != second:
        return MISMATCH
    return ""


class PassphraseDialog(QDialog):
    """Asks for a passphrase: ``confirm=True`` for a new one (typed twice)."""

    def __init__(
        self,
        parent: QWidget | None,
        title: str,
        prompt: str,
        confirm: bool = False,
        message: str = "",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("passphraseDialog")
        self.setWindowTitle(title)
        self.confirm = confirm
        self.prompt_label = QLabel(prompt)
        self.prompt_label.setWordWrap(True)
        self.message_label = QLabel(message)
        self.message_label.setObjectName("passphraseMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #c00000; font-weight: bold;")
        self.message_label.setVisible(bool(message))
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setObjectName("passphrase")
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setObjectName("passphraseRepeat")
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("Passphrase", self.passphrase_edit)
        self.hint_label = QLabel(
            f"At least {MIN_LENGTH} characters. Without it the project cannot be opened: "
            "it is not stored anywhere."
        )
        self.hint_label.setWordWrap(True)
        if confirm:
            form.addRow("Again", self.repeat_edit)
        else:
            self.repeat_edit.setVisible(False)
        self.hint_label.setVisible(confirm)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.prompt_label)
        layout.addWidget(self.message_label)
        layout.addLayout(form)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(440)

    def passphrase(self) -> str:
        """The passphrase typed."""
        return self.passphrase_edit.text()

    def show_message(self, text: str) -> None:
        """Show why the passphrase was not taken (the dialog stays open)."""
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def accept(self) -> None:
        """OK: a new passphrase must be long enough and typed twice alike."""
        first = self.passphrase()
        if self.confirm:
            problem = passphrase_problem(first, self.repeat_edit.text())
        else:
            problem = "" if first else "Type the passphrase."
        if problem:
            self.show_message(problem)
            self.repeat_edit.clear()
            self.passphrase_edit.setFocus()
            return
        super().accept()


def new_passphrase_dialog(parent: QWidget | None, name: str = "") -> PassphraseDialog:
    """The dialog that sets the passphrase of a project being saved encrypted."""
    what = f"“{name}”" if name else "the project"
    return PassphraseDialog(
        parent,
        "Encrypt project",
        f"Choose a passphrase that encrypts {what}.",
        confirm=True,
    )


def open_passphrase_dialog(
    parent: QWidget | None, name: str, message: str = "", title: str = "Encrypted project"
) -> PassphraseDialog:
    """The dialog that asks for the passphrase of an encrypted project (or database) opened."""
    return PassphraseDialog(
        parent,
        title,
        f"“{name}” is encrypted. Type its passphrase.",
        message=message,
    )


def passphrase_key(text: str) -> Any:
    """The KeySource of a typed passphrase (scrypt, as ``workstation project --encrypt``)."""
    from workstation.services.keys import key_source

    return key_source(passphrase=text, use_environment=False)


def project_is_encrypted(path: str | os.PathLike[str]) -> bool:
    """True when the project file at ``path`` is encrypted (False when it cannot be read)."""
    from workstation.io.encryption import is_encrypted

    try:
        return bool(is_encrypted(path))
    except OSError:
        return False


def ask_new_passphrase(parent: QWidget | None, name: str = "") -> str | None:
    """Ask for a new passphrase twice (modal); None when cancelled."""
    dialog = new_passphrase_dialog(parent, name)
    try:
        return dialog.passphrase() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


def ask_passphrase(
    parent: QWidget | None, name: str, message: str = "", title: str = "Encrypted project"
) -> str | None:
    """Ask for the passphrase of an encrypted project or database (modal); None: cancelled."""
    dialog = open_passphrase_dialog(parent, name, message, title)
    try:
        return dialog.passphrase() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()
