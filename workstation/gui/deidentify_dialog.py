"""Export de-identified…: the input, output folder, key file and options, then the job.

The dialog gathers the choice and runs ``services.deidentify.deidentify_path`` as a job
of the window's runner (progress and Cancel in the status bar and in the dialog).  At the
end it lists how many files were done, the ones that need a review with their reasons,
and where the key is; a refusal (the role lacks the permission) shows the service's
one-line message.  The same inputs and key give the same files as ``workstation
deidentify``: the dialog only passes them on.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.gui.workers import Job, JobError

if TYPE_CHECKING:
    from workstation.gui.context import AppContext

TITLE = "Export de-identified"

#: The options of the profile as (name, check box text, one-line explanation).
OPTION_TEXTS: tuple[tuple[str, str, str], ...] = (
    (
        "retain-longitudinal-modified-dates",
        "Keep dates, shifted",
        "Dates move by a per-patient offset, so intervals between studies stay right",
    ),
    (
        "retain-patient-characteristics",
        "Keep patient characteristics",
        "Keep sex, age, size and weight (needed for dose and implant sizing)",
    ),
    (
        "retain-device-identity",
        "Keep device identity",
        "Keep scanner make, model and serial number",
    ),
    (
        "retain-safe-private",
        "Keep safe private attributes",
        "Keep vendor attributes known to hold no identity; remove the others",
    ),
    (
        "retain-uids",
        "Keep UIDs",
        "Keep the original study, series and instance UIDs (links to the PACS)",
    ),
    (
        "clean-descriptors",
        "Clean descriptions",
        "Keep descriptions such as Series Description after removing identifying text",
    ),
    (
        "clean-pixel-data",
        "Clean burned-in text",
        "Find text burned into images (OCR) and blank it",
    ),
)
DEFAULT_CHECKED = frozenset({"retain-longitudinal-modified-dates"})


def default_key_path(output: str | os.PathLike[str]) -> Path:
    """Where a new key goes: ``OUTDIR.key`` beside the output folder (never inside)."""
    target = Path(output).expanduser().absolute()
    return target.with_name(target.name + ".key")


def deidentify_job(
    source: str,
    output: str,
    key_file: str | None,
    option_names: list[str],
    source_files: list[str] | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> Any:
    """Run the de-identification service (a job): the report it returns.

    ``source_files`` (a database study's files) are linked into a private temporary
    folder that is de-identified in place of ``source``; the database stays untouched.
    """
    from workstation.io.deid.options import parse_options
    from workstation.services.deidentify import deidentify_path

    options = parse_options(option_names, basic_only=True)
    key = Path(key_file) if key_file else None
    if not source_files:
        return deidentify_path(
            Path(source), Path(output), key_file=key, options=options, progress=progress,
            cancel=cancel,
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="workstation-deid-") as folder:
        for number, file in enumerate(source_files):
            os.symlink(Path(file).absolute(), Path(folder) / f"{number:06d}.dcm")
        return deidentify_path(
            Path(folder), Path(output), key_file=key, options=options, progress=progress,
            cancel=cancel,
        )  # fmt: skip


def _field(item: Any, *names: str, default: Any = None) -> Any:
    """The first of ``names`` that ``item`` has (attribute or key)."""
    for name in names:
        if isinstance(item, dict) and name in item:
            return item[name]
        if hasattr(item, name):
            return getattr(item, name)
    return default


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def summary_text(report: Any, shown_skipped: int = 5) -> str:
    """What the dialog shows after a run: counts, files to review with reasons, the key."""
    files = list(_field(report, "files", default=[]) or [])
    by_status: dict[str, list[Any]] = {}
    for item in files:
        by_status.setdefault(str(_field(item, "status", default="done")), []).append(item)
    failed = [item for item in files if _field(item, "failed", default=False)]
    review = by_status.get("needs_review", [])
    skipped = [item for item in by_status.get("skipped", []) if item not in failed]
    lines = [f"{_plural(len(by_status.get('done', [])), 'file')} de-identified."]
    if review:
        lines.append(f"Review {_plural(len(review), 'file')} before sharing them:")
        lines += [_file_line(item) for item in review]
    if failed:
        lines.append(f"{_plural(len(failed), 'DICOM file')} could not be de-identified:")
        lines += [_file_line(item) for item in failed]
    if skipped:
        lines.append(f"{_plural(len(skipped), 'file')} skipped (not DICOM images):")
        lines += [_file_line(item) for item in skipped[:shown_skipped]]
        if len(skipped) > shown_skipped:
            lines.append(f"  … and {len(skipped) - shown_skipped} more")
    key_path = _field(report, "key_path", "key_file", default=None)
    key_id = _field(report, "key_id", default="")
    if key_path:
        ident = f" (key id {key_id})" if key_id else ""
        made = "New key saved at" if _field(report, "key_created", default=False) else "Key"
        lines.append(f"{made} {key_path}{ident}: keep it to de-identify later studies alike.")
    return "\n".join(lines)


def _file_line(item: Any) -> str:
    name = _field(item, "source", "source_path", default="")
    reasons = [str(reason) for reason in _field(item, "reasons", default=[]) or []]
    return f"  • {Path(str(name)).name or name}: {'; '.join(reasons) or 'no reason given'}"


class DeidentifyDialog(QDialog):
    """The Export de-identified dialog; ``finished_report(report)`` after a successful run."""

    finished_report = Signal(object)

    def __init__(self, context: AppContext, source: str = "", parent: QWidget | None = None):
        super().__init__(parent if parent is not None else context.parent)
        self.setObjectName("deidentifyDialog")
        self.setWindowTitle(TITLE)
        self.context = context
        self.job: Job | None = None
        self.report: Any = None
        self.error: JobError | None = None
        #: a database study's files (the input is then these files, not a folder)
        self.source_files: list[str] | None = None
        #: asks for a folder / a file (replaceable, e.g. by tests)
        self.choose_folder: Callable[[str, str], str] = self._ask_folder
        self.choose_file: Callable[[str, str], str] = self._ask_file

        self.input_edit = QLineEdit(source)
        self.input_edit.setObjectName("deidInput")
        self.output_edit = QLineEdit(self._suggested_output(source))
        self.output_edit.setObjectName("deidOutput")
        self.output_edit.textChanged.connect(self._update_key_text)
        form = QFormLayout()
        form.addRow("Images", self._with_browse(self.input_edit, self._browse_input))
        form.addRow("Output folder", self._with_browse(self.output_edit, self._browse_output))

        self.new_key_radio = QRadioButton("New key beside the output folder")
        self.new_key_radio.setObjectName("deidNewKey")
        self.existing_key_radio = QRadioButton("Existing key file")
        self.existing_key_radio.setObjectName("deidExistingKey")
        group = QButtonGroup(self)
        group.addButton(self.new_key_radio)
        group.addButton(self.existing_key_radio)
        self.new_key_radio.setChecked(True)
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("deidKeyFile")
        self.key_edit.setPlaceholderText("A key file from an earlier de-identification")
        self.key_edit.textEdited.connect(lambda _text: self.existing_key_radio.setChecked(True))
        self.new_key_label = QLabel("")
        self.new_key_label.setWordWrap(True)
        key_box = QGroupBox("Key (the same key gives the same pseudonyms, UIDs and date shifts)")
        key_layout = QVBoxLayout(key_box)
        key_layout.addWidget(self.new_key_radio)
        key_layout.addWidget(self.new_key_label)
        key_layout.addWidget(self.existing_key_radio)
        key_layout.addWidget(self._with_browse(self.key_edit, self._browse_key))

        options_box = QGroupBox("Options (DICOM PS3.15 basic profile plus)")
        options_layout = QVBoxLayout(options_box)
        self.option_boxes: dict[str, QCheckBox] = {}
        for name, text, explanation in OPTION_TEXTS:
            box = QCheckBox(text)
            box.setObjectName(f"deidOption-{name}")
            box.setChecked(name in DEFAULT_CHECKED)
            box.setToolTip(explanation)
            note = QLabel(explanation)
            note.setStyleSheet("color: palette(mid); margin-left: 22px;")
            note.setWordWrap(True)
            options_layout.addWidget(box)
            options_layout.addWidget(note)
            self.option_boxes[name] = box

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setVisible(False)
        self.status_label = QLabel("")
        self.status_label.setObjectName("deidStatus")
        self.status_label.setWordWrap(True)
        self.summary = QPlainTextEdit()
        self.summary.setObjectName("deidSummary")
        self.summary.setReadOnly(True)
        self.summary.setVisible(False)

        self.start_button = QPushButton("De-identify")
        self.start_button.setObjectName("deidStart")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.start())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("deidCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)
        self.cancel_button.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(key_box)
        layout.addWidget(options_box)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        self._update_key_text()
        self.resize(620, 640)

    # -- widgets ------------------------------------------------------------------------
    def _with_browse(self, edit: QLineEdit, browse: Callable[[], None]) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(edit, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(browse)
        layout.addWidget(button)
        return row

    @staticmethod
    def _suggested_output(source: str) -> str:
        if not source:
            return ""
        path = Path(source)
        return str(path.with_name(path.name + "-deidentified")) if path.name else ""

    def _update_key_text(self, *_: object) -> None:
        output = self.output_edit.text().strip()
        where = str(default_key_path(output)) if output else "OUTPUT.key"
        self.new_key_label.setText(f"Saved as {where}")

    def _ask_folder(self, caption: str, start: str) -> str:
        return QFileDialog.getExistingDirectory(self, caption, start or os.path.expanduser("~"))

    def _ask_file(self, caption: str, start: str) -> str:
        path, _ = QFileDialog.getOpenFileName(
            self, caption, start or os.path.expanduser("~"), "Key files (*.key);;All files (*)"
        )
        return path

    def _browse_input(self) -> None:
        folder = self.choose_folder("Images to de-identify", self.input_edit.text())
        if folder:
            self.source_files = None
            self.input_edit.setReadOnly(False)
            self.input_edit.setText(folder)
            if not self.output_edit.text().strip():
                self.output_edit.setText(self._suggested_output(folder))

    def _browse_output(self) -> None:
        folder = self.choose_folder("Output folder", self.output_edit.text())
        if folder:
            self.output_edit.setText(folder)

    def _browse_key(self) -> None:
        path = self.choose_file("Key file", self.key_edit.text())
        if path:
            self.key_edit.setText(path)
            self.existing_key_radio.setChecked(True)

    def set_database_study(self, label: str, files: list[str], output: str = "") -> None:
        """Make a database study's files the input (Browse… picks a folder instead)."""
        self.source_files = list(files)
        self.input_edit.setText(f"{label} ({len(files)} files in the database)")
        self.input_edit.setReadOnly(True)
        if output:
            self.output_edit.setText(output)

    # -- the choice ---------------------------------------------------------------------
    def option_names(self) -> list[str]:
        """The checked options, in the profile's order."""
        return [name for name, box in self.option_boxes.items() if box.isChecked()]

    def key_file(self) -> str | None:
        """The existing key file chosen, or None for a new key beside the output."""
        if self.existing_key_radio.isChecked():
            return self.key_edit.text().strip() or None
        return None

    def _problem(self) -> str:
        source = self.input_edit.text().strip()
        output = self.output_edit.text().strip()
        if not source and not self.source_files:
            return "Choose the images to de-identify."
        if not self.source_files and not Path(source).expanduser().exists():
            return f"The images {source} do not exist."
        if not output:
            return "Choose an output folder."
        if self.existing_key_radio.isChecked():
            key = self.key_edit.text().strip()
            if not key:
                return "Choose the key file, or a new key beside the output folder."
            if not Path(key).expanduser().is_file():
                return f"The key file {key} does not exist."
        return ""

    # -- running ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the de-identification job runs."""
        return self.job is not None and not self.job.done

    def start(self) -> Job | None:
        """Start the de-identification job (None when the choice is incomplete)."""
        if self.running:
            return None
        problem = self._problem()
        if problem:
            self._show_status(problem, error=True)
            return None
        self.report, self.error = None, None
        self.summary.clear()
        self.summary.setVisible(False)
        self.progress_bar.setValue(0)
        self.progress_bar.setVisible(True)
        self._show_status("De-identifying…")
        self._set_running(True)
        key = self.key_file()
        job = self.context.runner.submit(
            TITLE,
            deidentify_job,
            str(Path(self.input_edit.text().strip()).expanduser().absolute()),
            str(Path(self.output_edit.text().strip()).expanduser().absolute()),
            str(Path(key).expanduser().absolute()) if key else None,
            self.option_names(),
            list(self.source_files) if self.source_files else None,
            on_result=self._done,
            on_error=self._failed,
            on_finished=lambda: self._set_running(False),
        )
        job.signals.progress.connect(self._progress)
        self.job = job
        return job

    def cancel(self) -> None:
        """Cancel the running job (the service leaves no partial file behind)."""
        if self.job is not None and not self.job.done:
            self.job.cancel()
            self._show_status("Cancelling…")

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.output_edit, self.key_edit):
            widget.setReadOnly(running)
        self.input_edit.setReadOnly(running or bool(self.source_files))
        if not running:
            self.progress_bar.setVisible(False)

    def _progress(self, fraction: float, text: str) -> None:
        self.progress_bar.setValue(int(max(0.0, min(1.0, fraction)) * 1000))
        if text:
            self.status_label.setText(text)

    def _show_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("color: #c00000; font-weight: bold;" if error else "")

    def _done(self, report: Any) -> None:
        self.report = report
        text = summary_text(report)
        self.summary.setPlainText(text)
        self.summary.setVisible(True)
        first = text.splitlines()[0] if text else "Done."
        self._show_status(first)
        self.context.show_message(f"{TITLE}: {first}")
        self.finished_report.emit(report)

    def _failed(self, error: JobError) -> None:
        self.error = error
        if error.cancelled:
            self._show_status("Cancelled; no file was left half written.")
            self.context.show_message(f"{TITLE}: cancelled")
            return
        self._show_status(error.message, error=True)
        self.context.report_error(error)

    def fail(self, problem: WorkstationError) -> None:
        """Show a problem found before the job started (as the job would)."""
        self._failed(JobError(TITLE, problem, ""))

    def closeEvent(self, event: Any) -> None:
        """Closing while running cancels the job."""
        self.cancel()
        super().closeEvent(event)


__all__ = [
    "DEFAULT_CHECKED",
    "OPTION_TEXTS",
    "DeidentifyDialog",
    "default_key_path",
    "deidentify_job",
    "summary_text",
]
