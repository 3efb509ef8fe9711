"""Status-bar progress: a bar, the current step's text and a Cancel button."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from workstation.gui.workers import Job, JobRunner


class ProgressPanel(QWidget):
    """Follows the foreground jobs of a JobRunner; Cancel cancels them all."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
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
        runner.started.connect(self._started)
        runner.ended.connect(self._ended)
        self.setVisible(False)

    def _started(self, job: Job) -> None:
        self._jobs.append(job)
        job.signals.progress.connect(
            lambda fraction, text, job=job: self._progress(job, fraction, text)
        )
        self._progress(job, 0.0, job.title)
        self.cancel_button.setEnabled(True)
        self.setVisible(True)

    def _progress(self, job: Job, fraction: float, text: str) -> None:
        if not self._jobs or job is not self._jobs[-1]:
            return
        self.bar.setValue(round(min(max(fraction, 0.0), 1.0) * 1000))
        self.bar.setFormat(f"{fraction * 100:.0f}%")
        self.label.setText(f"{job.title}: {text}" if text and text != job.title else job.title)

    def _ended(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)
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
