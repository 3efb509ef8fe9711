"""Help → About: version, build commit, library versions, the licence and third-party licences.

The version lines are ``services.about``'s (the same as ``workstation --version``) plus the
Qt version actually loaded; the licence list is the bundle's file or, in a checkout, one
generated from the installed distributions.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.resources_path import resources_dir
from workstation.services.about import version_text
from workstation.services.licences import PRODUCT, licence_list_text

LICENCE_LIST_FILE = "THIRD-PARTY-LICENSES.txt"
PRODUCT_LICENCE = "BSD-3-Clause"


def product_licence() -> str:
    """The workstation's own licence text: the checkout's LICENSE, else the installed copy."""
    checkout = Path(__file__).resolve().parents[2] / "LICENSE"
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8", errors="replace")
    try:
        files = metadata.distribution(PRODUCT).files or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name.upper().startswith("LICENSE"):
            try:
                return file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
    return f"Surgical Planning Workstation is released under the {PRODUCT_LICENCE} licence."


def licence_list() -> str:
    """The bundle's licence list, or one generated from the installed distributions."""
    bundled = resources_dir() / LICENCE_LIST_FILE
    if bundled.is_file():
        return bundled.read_text(encoding="utf-8", errors="replace")
    return licence_list_text()


class AboutDialog(QDialog):
    """The version, the build's commit, library versions and every bundled licence."""

    def __init__(self, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Surgical Planning Workstation")
        self.version_text = f"{version_text()}\nQt run time {qVersion()}"
        heading = QLabel(
            "<b>Surgical Planning Workstation</b><br>DICOM to geometrically exact, printable "
            f"3D models and surgical guides. Licence: {PRODUCT_LICENCE}."
        )
        heading.setWordWrap(True)
        self.versions = QPlainTextEdit(self.version_text)
        self.versions.setReadOnly(True)
        self.versions.setMaximumHeight(170)
        self.licence = QPlainTextEdit(product_licence())
        self.licence.setReadOnly(True)
        self.licence.setMaximumHeight(120)
        self.licences = QPlainTextEdit(licence_list())
        self.licences.setObjectName("thirdPartyLicences")
        self.licences.setReadOnly(True)
        copy = QPushButton("Copy version information")
        copy.clicked.connect(self.copy_versions)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.versions)
        layout.addWidget(copy)
        layout.addWidget(self.licence)
        layout.addWidget(QLabel("Third-party components and their licences:"))
        layout.addWidget(self.licences, 1)
        layout.addWidget(buttons)
        self.resize(760, 720)

    def copy_versions(self) -> None:
        """Put the version text on the clipboard (for a support request)."""
        QGuiApplication.clipboard().setText(self.version_text)
