"""The Database view of the Studies panel: search the local DICOM database, open, delete, import.

The view only gathers input and shows results: every search, import, open and delete is
a call of ``services.dicom_database`` or ``services.study`` (imports, opens and deletes
run as jobs with progress and cancel).  Each call opens the database in the thread that
uses it, so the view never shares a database connection between threads.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workstation.core.dicom_query import QueryMatch, StudyQuery
from workstation.core.errors import EncryptionError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.core.user_dirs import database_dir
from workstation.gui.context import AppContext
from workstation.gui.passphrase_dialog import ask_passphrase, passphrase_key
from workstation.gui.workers import JobError
from workstation.io.dicom.model import format_dicom_date
from workstation.services import study

STUDY_COLUMNS = ("Patient", "ID", "Date", "Description", "Modalities", "Series", "Instances")
SERIES_COLUMNS = ("#", "Modality", "Description", "Instances")
UID_ROLE = Qt.ItemDataRole.UserRole + 1
DELETE_QUESTION = "Delete this study from the database?"


class SearchFields(QWidget):
    """Patient name/ID, date range, modality and description: the fields of a StudyQuery."""

    submitted = Signal()

    def __init__(self, parent: QWidget | None = None, accession: bool = False) -> None:
        super().__init__(parent)
        self.patient_name = QLineEdit(placeholderText="name, wildcards * ?")
        self.patient_id = QLineEdit(placeholderText="patient ID")
        self.date_from = QLineEdit(placeholderText="YYYY-MM-DD")
        self.date_to = QLineEdit(placeholderText="YYYY-MM-DD")
        self.modality = QLineEdit(placeholderText="CT, MR…")
        self.description = QLineEdit(placeholderText="study description")
        self.accession = QLineEdit(placeholderText="accession number")
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("Patient name", self.patient_name)
        layout.addRow("Patient ID", self.patient_id)
        dates = QHBoxLayout()
        dates.addWidget(self.date_from)
        dates.addWidget(QLabel("to"))
        dates.addWidget(self.date_to)
        layout.addRow("Date", dates)
        layout.addRow("Modality", self.modality)
        layout.addRow("Description", self.description)
        if accession:
            layout.addRow("Accession", self.accession)
        for field in self.edits():
            field.returnPressed.connect(self.submitted)

    def edits(self) -> list[QLineEdit]:
        """Every text field."""
        return [
            self.patient_name, self.patient_id, self.date_from, self.date_to,
            self.modality, self.description, self.accession,
        ]  # fmt: skip

    def query(self, level: str = "study", limit: int | None = None) -> StudyQuery:
        """The query the fields describe; WorkstationError for a date that is no date."""
        try:
            return StudyQuery(
                level=level,  # type: ignore[arg-type]
                patient_name=self.patient_name.text().strip(),
                patient_id=self.patient_id.text().strip(),
                date_from=self.date_from.text(),
                date_to=self.date_to.text(),
                modality=self.modality.text(),
                description=self.description.text().strip(),
                accession_number=self.accession.text().strip(),
                limit=limit,
            )
        except ValueError as problem:
            raise WorkstationError(str(problem)) from None


def count_text(value: int | None) -> str:
    """A count for a table cell ('' when the answering side did not say)."""
    return "" if value is None else str(value)


def study_row(match: QueryMatch) -> list[str]:
    """The study table's texts of one study match."""
    return [
        match.patient_name, match.patient_id, format_dicom_date(match.study_date),
        match.study_description, ", ".join(match.modalities), count_text(match.n_series),
        count_text(match.n_instances),
    ]  # fmt: skip


def series_row(match: QueryMatch) -> list[str]:
    """The series table's texts of one series match."""
    return [
        match.series_number, match.modality, match.series_description,
        count_text(match.n_instances),
    ]  # fmt: skip


def make_table(
    columns: tuple[str, ...],
    name: str,
    sort_column: int = 0,
    order: Qt.SortOrder = Qt.SortOrder.AscendingOrder,
) -> QTableWidget:
    """A read-only, row-selecting table with sortable columns (sorted by ``sort_column``)."""
    table = QTableWidget(0, len(columns))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(list(columns))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    table.horizontalHeader().setSortIndicator(sort_column, order)
    return table


def fill_table(table: QTableWidget, rows: list[list[str]], keys: list[Any]) -> None:
    """Replace the table's rows; ``keys[i]`` is kept on the first cell of row i."""
    table.setSortingEnabled(False)
    table.clearContents()
    table.setRowCount(len(rows))
    for row, (texts, key) in enumerate(zip(rows, keys, strict=True)):
        for column, text in enumerate(texts):
            item = QTableWidgetItem()
            # whole numbers sort as numbers (series 10 after series 9)
            item.setData(Qt.ItemDataRole.DisplayRole, int(text) if text.isdigit() else text)
            if column == 0:
                item.setData(UID_ROLE, key)
            table.setItem(row, column, item)
    table.resizeColumnsToContents()
    table.setSortingEnabled(True)


def row_key(table: QTableWidget, row: int) -> Any:
    """The key kept on a row (None for no row)."""
    item = table.item(row, 0) if row >= 0 else None
    return item.data(UID_ROLE) if item is not None else None


#: Keys of encrypted databases given in this session, by folder (asked once per session).
_DATABASE_KEYS: dict[Path, Any] = {}


def open_database(location: Path) -> Any:
    """The database at ``location`` (imported here: the window starts without it loaded).

    An encrypted database uses the key given in this session (``DatabaseBrowser.unlock``),
    else the passphrase file ``WORKSTATION_PASSPHRASE_FILE`` names.
    """
    from workstation.services.dicom_database import DicomDatabase

    return DicomDatabase.open(location, key=_DATABASE_KEYS.get(Path(location).absolute()))


def _search(location: Path, query: StudyQuery) -> list[QueryMatch]:
    with open_database(location) as database:
        return database.search(query)


def _import(location: Path, path: str, progress: ProgressCallback, cancel: CancelToken) -> Any:
    with open_database(location) as database:
        return database.import_path(path, copy=True, progress=progress, cancel=cancel)


def _delete(location: Path, study_uid: str, progress: ProgressCallback, cancel: CancelToken) -> Any:
    with open_database(location) as database:
        return database.delete_study(study_uid)


def _open(
    location: Path,
    study_uid: str,
    series: str | None,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> study.OpenedStudy:
    with open_database(location) as database:
        return study.open_database_study(
            study_uid, series, True, database=database, progress=progress, cancel=cancel
        )


def import_summary(report: Any) -> str:
    """One status line for an ImportReport."""
    parts = [f"{report.added} added"]
    if report.duplicates:
        parts.append(f"{report.duplicates} already there")
    if report.skipped:
        parts.append(f"{len(report.skipped)} skipped")
    studies = len(report.study_uids)
    return (
        f"Imported into the database: {', '.join(parts)} "
        f"({studies} stud{'y' if studies == 1 else 'ies'}, {report.seconds:.1f} s)"
    )


def delete_summary(report: Any) -> str:
    """One status line for a DeleteReport."""
    text = (
        f"Deleted study {report.study_uid}: {report.instances} images in {report.series} "
        f"series, {report.blobs_removed} stored files removed "
        f"({report.bytes_freed / 1e6:.1f} MB freed)"
    )
    if report.in_place_kept:
        text += f"; {report.in_place_kept} files imported in place were left where they are"
    return text


class DatabaseBrowser(QWidget):
    """Search fields, the studies of the database, the series of the selected study.

    ``open_requested(study_uid, series_uid or None)`` asks the window to open a study.
    """

    open_requested = Signal(str, object)

    def __init__(
        self,
        context: AppContext,
        location: str | Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("databaseBrowser")
        self.context = context
        self.location = Path(location) if location is not None else database_dir()
        self.matches: list[QueryMatch] = []
        self.series_matches: list[QueryMatch] = []
        self.fields = SearchFields()
        self.fields.submitted.connect(self.refresh)
        self.search_button = QPushButton("Search")
        self.search_button.clicked.connect(self.refresh)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(self.clear_fields)
        self.studies = make_table(STUDY_COLUMNS, "databaseStudies", 2, Qt.SortOrder.DescendingOrder)
        self.studies.itemSelectionChanged.connect(self._study_selected)
        self.studies.cellDoubleClicked.connect(lambda row, _c: self.open_study_at(row))
        self.series = make_table(SERIES_COLUMNS, "databaseSeries")
        self.series.cellDoubleClicked.connect(lambda row, _c: self.open_series_at(row))
        self.open_button = QPushButton("Open")
        self.open_button.clicked.connect(self.open_selected)
        self.delete_button = QPushButton("Delete study…")
        self.delete_button.setObjectName("deleteStudyButton")
        self.delete_button.clicked.connect(self.delete_selected)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Import a folder of DICOM files into the database")
        self.import_button.clicked.connect(self.choose_import_folder)
        #: Asks (name, message) for an encrypted database's passphrase; None: cancelled.
        self.ask_passphrase: Callable[[str, str], str | None] = lambda name, message: (
            ask_passphrase(self, name, message, "Encrypted database")
        )
        self.status = QLabel("")
        self.status.setObjectName("databaseStatus")
        self.status.setWordWrap(True)
        self._build_layout()
        self._update_buttons()

    def _build_layout(self) -> None:
        search_row = QHBoxLayout()
        search_row.addStretch(1)
        search_row.addWidget(self.clear_button)
        search_row.addWidget(self.search_button)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.delete_button, self.import_button):
            buttons.addWidget(button)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.studies)
        splitter.addWidget(self.series)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.fields)
        layout.addLayout(search_row)
        layout.addWidget(splitter, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

    # -- searching ----------------------------------------------------------------------
    def clear_fields(self) -> None:
        """Empty every search field and list the whole database."""
        for field in self.fields.edits():
            field.clear()
        self.refresh()

    def unlock(self) -> bool:
        """Ask once per session for an encrypted database's passphrase; False: cancelled."""
        from workstation.io.database_encryption import is_encrypted_database, unlock_database_key

        folder = self.location.absolute()
        if folder in _DATABASE_KEYS or not is_encrypted_database(folder):
            return True
        try:  # a passphrase file named by WORKSTATION_PASSPHRASE_FILE needs no question
            with open_database(folder):
                return True
        except EncryptionError as problem:
            message = "" if "give its passphrase" in str(problem) else str(problem)
        while True:
            text = self.ask_passphrase(folder.name, message)
            if text is None:
                self.status.setText("The database is encrypted: search to give its passphrase.")
                return False
            key = passphrase_key(text)
            try:
                unlock_database_key(folder, key)
            except EncryptionError as problem:
                message = str(problem)
                continue
            _DATABASE_KEYS[folder] = key
            return True

    def refresh(self) -> bool:
        """Search the database with the fields' query and show the studies; True: done."""
        if not self.unlock():
            return False
        try:
            query = self.fields.query("study")
            matches = _search(self.location, query)
        except WorkstationError as problem:
            self.status.setText(str(problem))
            self.context.report_error(JobError("Search the database", problem, ""))
            return False
        selected = self.selected_study_uid()
        self.matches = matches
        fill_table(self.studies, [study_row(m) for m in matches], [m.study_uid for m in matches])
        self.status.setText(
            f"{len(matches)} stud{'y' if len(matches) == 1 else 'ies'} in the database"
        )
        self._select_study(selected)
        if self.selected_study_uid() is None:
            self._show_series(None)
        self._update_buttons()
        return True

    def _select_study(self, study_uid: str | None) -> None:
        for row in range(self.studies.rowCount()):
            if study_uid is not None and row_key(self.studies, row) == study_uid:
                self.studies.selectRow(row)
                return
        self.studies.clearSelection()

    def selected_study_uid(self) -> str | None:
        """The Study Instance UID of the selected study row (None: none selected)."""
        rows = self.studies.selectionModel().selectedRows()
        return row_key(self.studies, rows[0].row()) if rows else None

    def selected_series_uid(self) -> str | None:
        """The Series Instance UID of the selected series row (None: none selected)."""
        rows = self.series.selectionModel().selectedRows()
        return row_key(self.series, rows[0].row()) if rows else None

    def _study_selected(self) -> None:
        self._show_series(self.selected_study_uid())
        self._update_buttons()

    def _show_series(self, study_uid: str | None) -> None:
        matches: list[QueryMatch] = []
        if study_uid is not None:
            try:
                matches = _search(self.location, StudyQuery(level="series", study_uid=study_uid))
            except WorkstationError as problem:
                self.status.setText(str(problem))
        self.series_matches = matches
        fill_table(self.series, [series_row(m) for m in matches], [m.series_uid for m in matches])

    def _update_buttons(self) -> None:
        chosen = self.selected_study_uid() is not None
        self.open_button.setEnabled(chosen)
        self.delete_button.setEnabled(chosen)

    # -- opening ------------------------------------------------------------------------
    def open_study_at(self, row: int) -> None:
        """Open the study of a study row (double-click): its best stack is loaded."""
        study_uid = row_key(self.studies, row)
        if study_uid:
            self.open_requested.emit(study_uid, None)

    def open_series_at(self, row: int) -> None:
        """Open the selected study on the series of a series row (double-click)."""
        study_uid, series_uid = self.selected_study_uid(), row_key(self.series, row)
        if study_uid and series_uid:
            self.open_requested.emit(study_uid, series_uid)

    def open_selected(self) -> None:
        """Open: the selected series of the selected study, else the study's best stack."""
        study_uid = self.selected_study_uid()
        if study_uid:
            self.open_requested.emit(study_uid, self.selected_series_uid())

    # -- deleting -----------------------------------------------------------------------
    def confirm_delete(self, match: QueryMatch | None) -> bool:
        """Ask before a study is deleted (True: delete)."""
        what = study_row(match) if match is not None else []
        box = QMessageBox(QMessageBox.Icon.Question, "Delete study", DELETE_QUESTION, parent=self)
        box.setObjectName("deleteStudyQuestion")
        box.setInformativeText(
            " · ".join(text for text in what[:4] if text)
            + "\nIts images are removed from the database (files imported in place stay)."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Yes

    def delete_selected(self) -> Any:
        """Delete study…: after a confirmation, a job removes it; returns the Job or None."""
        study_uid = self.selected_study_uid()
        if not study_uid:
            return None
        match = next((m for m in self.matches if m.study_uid == study_uid), None)
        if not self.confirm_delete(match):
            return None
        return self.context.runner.submit(
            "Deleting a study",
            _delete,
            self.location,
            study_uid,
            on_result=lambda report: self._deleted(study_uid, report),
            on_error=self._failed,
        )

    def _deleted(self, study_uid: str, report: Any) -> None:
        self.refresh()
        summary = delete_summary(report)
        self.status.setText(summary)
        self.context.show_message(summary, 15000)

    # -- importing ----------------------------------------------------------------------
    def choose_import_folder(self) -> None:
        """Import…: choose a folder to import into the database."""
        folder = QFileDialog.getExistingDirectory(self, "Import a DICOM folder into the database")
        if folder:
            self.import_path(folder)

    def choose_import_file(self) -> None:
        """Choose a zip or a DICOM file to import into the database."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a zip or DICOM file into the database", "", "Zip (*.zip);;All (*)"
        )
        if path:
            self.import_path(path)

    def import_path(self, path: str | Path, on_done: Callable[[Any], None] | None = None) -> Any:
        """Import a folder, zip or file (copied into the database) in a job; returns the Job."""
        text = str(path)

        def done(report: Any) -> None:
            self.refresh()
            summary = import_summary(report)
            self.status.setText(summary)
            self.context.show_message(summary, 15000)
            if on_done is not None:
                on_done(report)

        return self.context.runner.submit(
            f"Importing “{Path(text).name or text}” into the database",
            _import,
            self.location,
            text,
            on_result=done,
            on_error=self._failed,
        )

    def _failed(self, error: JobError) -> None:
        self.status.setText(
            f"{error.title}: cancelled"
            if error.cancelled
            else f"{error.title} failed: {error.message}"
        )
        self.refresh_quietly()
        self.context.report_error(error)

    def refresh_quietly(self) -> None:
        """Refresh without replacing the status line (a job's outcome stays readable)."""
        text = self.status.text()
        self.refresh()
        self.status.setText(text)


class DatabaseOpener:
    """Opens a database study in a window as File → Open folder opens a folder.

    The same unsaved-work question comes first; the study's files are scanned and its best
    (or the chosen) stack is loaded in the window's load job.
    """

    def __init__(self, window: Any, location: Path) -> None:
        self.window = window
        self.location = location

    def open(self, study_uid: str, series: str | None = None) -> Any:
        """Open a study of the database; returns the Job (None when the question stopped it)."""
        window = self.window
        retry = partial(self.open, study_uid, series)
        if not window.projects.confirm_unsaved(retry, "Opening another study"):
            return None

        def done(opened: study.OpenedStudy) -> None:
            window.show_opened(opened, opened.path, remember=False)

        return window.start_load(
            "Opening a study from the database", _open, self.location, study_uid, series,
            on_result=done,
        )  # fmt: skip
