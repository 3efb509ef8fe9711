"""The one place that shows errors to the user: a short message with expandable details."""

from __future__ import annotations

import traceback

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from workstation.gui.workers import JobError


def job_error_from_exception(title: str, error: BaseException) -> JobError:
    """Wrap an exception caught on the main thread like one from a job."""
    text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return JobError(title, error, text)


def show_error(parent: QWidget | None, error: JobError) -> QMessageBox:
    """Open a non-blocking error box for ``error`` and return it (tests can inspect it)."""
    box = QMessageBox(parent)
    box.setObjectName("errorDialog")
    box.setIcon(QMessageBox.Icon.Warning if error.expected else QMessageBox.Icon.Critical)
    box.setWindowTitle(f"{error.title} failed" if error.title else "Error")
    box.setText(error.message)
    box.setInformativeText(
        ""
        if error.expected
        else "This is a bug in the workstation; please report it with the details below."
    )
    if error.details:
        box.setDetailedText(error.details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box
