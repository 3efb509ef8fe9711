"""Status-bar progress: a bar, the current step's text and a Cancel button."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from workstation.gui.workers import Job


class ProgressPanel(QWidget):
    """Follows the jobs of job sources (a JobRunner, the edit queue); Cancel cancels them.

    A source is any object with ``started(job)`` and ``ended(job)`` signals for the jobs
    it wants shown; the newest running job is the one shown.
    """

    def __init__(self, *sources: QObject, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sources = sources
        self.label = QLabel()
        self.label.setMinimumWidth(220)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setFixedWidth(200)
        self.bar.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.clicked.connect(self.cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self._jobs: list[Job] = []
        self._stopping = False
        for source in sources:
            source.started.connect(self._started)
            source.ended.connect(self._ended)
        self.setVisible(False)

    def _started(self, job: Job) -> None:
        if self._stopping:
            return
        self._jobs.append(job)
        job.signals.progress.connect(
            lambda fraction, text, job=job: self._progress(job, fraction, text)
        )
        self._progress(job, 0.0, job.title)
        self.cancel_button.setEnabled(True)
        self.setVisible(True)

    def _progress(self, job: Job, fraction: float, text: str) -> None:
        if self._stopping or not self._jobs or job is not self._jobs[-1]:
            return
        self.bar.setValue(round(min(max(fraction, 0.0), 1.0) * 1000))
        self.bar.setFormat(f"{fraction * 100:.0f}%")
        self.label.setText(f"{job.title}: {text}" if text and text != job.title else job.title)

    def _ended(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
        if self._stopping:
            return
        if self._jobs:
            self._progress(self._jobs[-1], 0.0, self._jobs[-1].title)
        else:
            self.setVisible(False)

    def cancel(self) -> None:
        """Cancel every foreground job shown here."""
        for job in list(self._jobs):
            job.cancel()
        self.cancel_button.setEnabled(False)
        self.label.setText("Cancelling…")

    def jobs(self) -> list[Job]:
        """The running jobs shown here, oldest first."""
        return list(self._jobs)

    def show_stopping(self) -> None:
        """Say that the window waits for its jobs to stop (while it closes)."""
        self._stopping = True
        self.bar.setRange(0, 0)  # busy indicator: no fraction to show
        self.bar.setFormat("")
        self.cancel_button.setEnabled(False)
        self.label.setText("Stopping…")
        self.setVisible(True)
