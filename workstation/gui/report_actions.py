"""File → Case report…: the open case as a PDF or HTML report, written in a job.

The content is snapshotted on the UI thread (``services.report_session``: header,
segments, models, measurements, planning objects, provenance), so the user may go on
editing; the job reads the study's dose from the window's scan, measures the segments and
writes the report with ``services.case_report.write_report`` (the writer ``workstation
report`` and batch use), with progress and Cancel in the status bar.  Errors appear in
the window's error box; a written report is named in the status bar and offered to open.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from workstation.core.case_report_content import ReportContent
from workstation.core.errors import WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.gui.context import AppContext
from workstation.gui.workers import Job, JobError
from workstation.io.dicom.model import ScanResult
from workstation.services.export import safe_file_name

MENU_TEXT = "Case repor&t…"
MENU_TIP = "Write a PDF or HTML report of the case: pictures, statistics, dose, provenance"
#: file dialog filters and the extension each one writes
FILTERS = (("PDF report (*.pdf)", ".pdf"), ("HTML report (*.html)", ".html"))


def now_utc() -> str:
    """The time a report is made, ISO 8601 UTC to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _report_job(
    content: ReportContent,
    scan: ScanResult | None,
    path: str,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> Path:
    """Dose, segment statistics, then the report file (in a job)."""
    from workstation.services.case_report import write_report
    from workstation.services.report_session import add_segment_statistics, study_dose

    if scan is not None and content.dose is None:
        progress(0.0, "Reading the study's dose")
        warnings: list[str] = []
        content.dose = study_dose(
            scan, content.identity.study_uid, None, warnings, sub_progress(progress, 0.0, 0.2),
            cancel,
        )  # fmt: skip
        content.warnings += warnings
    cancel.raise_if_cancelled()
    progress(0.2, "Measuring the segments")
    add_segment_statistics(content)
    return write_report(content, path, sub_progress(progress, 0.3, 1.0), cancel)


class ReportActions(QObject):
    """The Case report… entry of one window's File menu."""

    def __init__(self, context: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent or context.parent)
        self.context = context
        self.action = QAction(MENU_TEXT, context.parent)
        self.action.setObjectName("caseReportAction")
        self.action.setStatusTip(MENU_TIP)
        self.action.setToolTip(MENU_TIP)
        self.action.triggered.connect(lambda: self.make_report())
        self.last_report: Path | None = None
        #: the "report written" box while it is open
        self.done_box: QMessageBox | None = None
        self.job: Job | None = None
        context.session.subscribe("volume", self._volume_changed)
        self._volume_changed(context.session.volume)

    def _volume_changed(self, volume: Any) -> None:
        self.action.setEnabled(volume is not None)

    def default_name(self) -> str:
        """``<series>-report.pdf`` (the project's name for a saved case)."""
        session = self.context.session
        stem = Path(session.project_path).stem if session.project_path else ""
        if not stem and session.volume is not None:
            identity = session.volume.source.identity
            stem = identity.series_description or session.volume.name
        return f"{safe_file_name(stem or 'case')}-report.pdf"

    def _ask_path(self) -> str:
        session = self.context.session
        folder = (
            Path(session.project_path).parent
            if session.project_path
            else (self.last_report.parent if self.last_report else Path(os.path.expanduser("~")))
        )
        chosen, selected = QFileDialog.getSaveFileName(
            self.context.parent,
            "Case report",
            str(folder / self.default_name()),
            ";;".join(text for text, _ in FILTERS),
        )
        if chosen and Path(chosen).suffix.lower() not in {ext for _, ext in FILTERS}:
            chosen += next((ext for text, ext in FILTERS if text == selected), FILTERS[0][1])
        return chosen

    def make_report(
        self, path: str | os.PathLike[str] | None = None, created: str | None = None
    ) -> Job | None:
        """Write the case report to ``path`` (asked for when None) in a job; the job."""
        from workstation.services.case_report import check_report_path
        from workstation.services.report_session import session_content

        session = self.context.session
        if session.volume is None:
            self.context.show_message("Load a series before making a case report.")
            return None
        if self.context.edits.busy():
            self.context.show_message("Wait until the edits in progress are applied.")
            return None
        if path is None:
            path = self._ask_path()
            if not path:
                return None
        try:
            target = check_report_path(path)
            content = session_content(session, created=created or now_utc())
        except WorkstationError as problem:
            self.context.report_error(JobError("Case report", problem, ""))
            return None
        self.job = self.context.runner.submit(
            f"Case report {target.name}",
            _report_job,
            content,
            session.scan,
            str(target),
            on_result=self._written,
            on_error=self.context.report_error,
        )
        return self.job

    def _written(self, path: Path) -> None:
        self.last_report = Path(path)
        self.context.show_message(f"Saved the case report to {path}", 20000)
        if getattr(self.context.parent, "headless", False):
            return
        box = QMessageBox(self.context.parent)
        box.setObjectName("caseReportDone")
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("Case report")
        box.setText(f"Saved the case report to {path}")
        open_button = box.addButton("Open", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Close)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        box.buttonClicked.connect(
            lambda button: self.open_report() if button is open_button else None
        )
        box.finished.connect(lambda _result: setattr(self, "done_box", None))
        self.done_box = box
        box.open()

    def open_report(self) -> bool:
        """Open the last report in the desktop's viewer; False when that fails."""
        if self.last_report is None:
            return False
        return bool(QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.last_report))))


def install_report_action(menu: QMenu, context: AppContext) -> ReportActions:
    """Add Case report… to ``menu`` (the File menu); returns its owner."""
    actions = ReportActions(context)
    menu.addAction(actions.action)
    return actions
