"""File → Query/Retrieve: search a configured PACS, list the answers, retrieve into the database.

Search, Retrieve and Echo are calls of ``services.pacs`` run as jobs; Retrieve shows its
progress in the dialog, Cancel stops it (what arrived stays in the database), and a
partial retrieve's one-line message is the status line.  Retrieved studies appear in the
Database view of the Studies panel (``on_retrieved`` refreshes it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workstation.core.dicom_query import QueryMatch, StudyQuery
from workstation.core.errors import PacsError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.gui.context import AppContext
from workstation.gui.database_browser import (
    SearchFields,
    count_text,
    fill_table,
    make_table,
    open_database,
    row_key,
)
from workstation.gui.server_settings import ServerSettingsDialog, echo_server, echo_text
from workstation.gui.workers import Job, JobError
from workstation.io.dicom.model import format_dicom_date
from workstation.services.pacs_servers import ServerConfig, load_servers

RESULT_COLUMNS = (
    "Patient", "ID", "Date", "Description", "Modality", "Series #", "Series", "Instances",
)  # fmt: skip
LEVEL_LABELS = (("study", "Studies"), ("series", "Series"), ("patient", "Patients"))
#: How many answers a search asks for at most (a PACS may hold millions of studies).
SEARCH_LIMIT = 500


def result_row(match: QueryMatch) -> list[str]:
    """The result table's texts of one match (any level)."""
    modality = match.modality or ", ".join(match.modalities)
    description = match.series_description if match.level == "series" else ""
    return [
        match.patient_name,
        match.patient_id,
        format_dicom_date(match.study_date),
        description or match.study_description,
        modality,
        match.series_number,
        count_text(match.n_series),
        count_text(match.n_instances),
    ]


def find_matches(
    server: ServerConfig, query: StudyQuery, progress: ProgressCallback, cancel: CancelToken
) -> list[QueryMatch]:
    """Search ``server`` (the Search job)."""
    from workstation.services import pacs

    return pacs.find(server, query)


def retrieve_matches(
    server: ServerConfig,
    targets: list[tuple[str, str | None]],
    location: Path,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> list[Any]:
    """Retrieve each (study UID, series UID or None) into the database (the Retrieve job).

    A retrieve that stops part-way raises its PacsError at once (what arrived is kept);
    the reports of the targets done before it are on the error as ``.reports``.
    """
    from workstation.services import pacs

    reports: list[Any] = []
    with open_database(location) as database:
        for number, (study_uid, series_uid) in enumerate(targets):
            part = sub_progress(progress, number / len(targets), (number + 1) / len(targets))
            try:
                reports.append(
                    pacs.retrieve_to_database(
                        server,
                        study_uid,
                        series_uid,
                        database=database,
                        progress=part,
                        cancel=cancel,
                    )
                )
            except WorkstationError as error:
                error.reports = reports  # type: ignore[attr-defined]
                raise
    return reports


def report_count(report: Any) -> int:
    """How many instances a RetrieveReport says arrived."""
    for name in ("received", "stored", "added"):
        value = getattr(report, name, None)
        if isinstance(value, int):
            return value
        if isinstance(value, list | tuple):
            return len(value)
    return 0


def retrieve_summary(reports: list[Any]) -> str:
    """One status line for the reports of a whole Retrieve."""
    count = sum(report_count(report) for report in reports)
    targets = len(reports)
    return (
        f"Retrieved {count} instance{'s' if count != 1 else ''} "
        f"({targets} item{'s' if targets != 1 else ''}) into the database"
    )


class QueryRetrieveDialog(QDialog):
    """Server, level and search fields; Search, Retrieve selected, Cancel, Echo."""

    def __init__(
        self,
        context: AppContext,
        on_retrieved: Callable[[], None] | None = None,
        database_location: Path | None = None,
        servers_path: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent if parent is not None else context.parent)
        self.setObjectName("queryRetrieve")
        self.setWindowTitle("Query/Retrieve")
        self.context = context
        self.on_retrieved = on_retrieved
        self.servers_path = servers_path
        from workstation.core.user_dirs import database_dir

        self.database_location = database_location or database_dir()
        self.servers: list[ServerConfig] = []
        self.matches: list[QueryMatch] = []
        self.job: Job | None = None
        self.server_combo = QComboBox()
        self.server_combo.setObjectName("serverChooser")
        self.settings_button = QPushButton("Servers…")
        self.settings_button.clicked.connect(self.edit_servers)
        self.echo_button = QPushButton("Echo")
        self.echo_button.setToolTip("Check that the server answers")
        self.echo_button.clicked.connect(self.echo)
        self.level_combo = QComboBox()
        for key, label in LEVEL_LABELS:
            self.level_combo.addItem(label, key)
        self.fields = SearchFields(accession=True)
        self.fields.submitted.connect(self.search)
        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.results = make_table(RESULT_COLUMNS, "queryResults", 2, Qt.SortOrder.DescendingOrder)
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.results.itemSelectionChanged.connect(self._update_buttons)
        self.results.cellDoubleClicked.connect(lambda *_: self.retrieve_selected())
        self.retrieve_button = QPushButton("Retrieve selected")
        self.retrieve_button.clicked.connect(self.retrieve_selected)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("queryCancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.status = QLabel("")
        self.status.setObjectName("queryStatus")
        self.status.setWordWrap(True)
        self._build_layout()
        self.reload_servers()
        self.resize(900, 600)

    def _build_layout(self) -> None:
        top = QHBoxLayout()
        top.addWidget(QLabel("Server"))
        top.addWidget(self.server_combo, 1)
        top.addWidget(self.echo_button)
        top.addWidget(self.settings_button)
        top.addSpacing(12)
        top.addWidget(QLabel("Level"))
        top.addWidget(self.level_combo)
        search_row = QHBoxLayout()
        search_row.addStretch(1)
        search_row.addWidget(self.search_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.retrieve_button)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.progress, 1)
        bottom.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.fields)
        layout.addLayout(search_row)
        layout.addWidget(self.results, 1)
        layout.addLayout(bottom)
        layout.addWidget(self.status)

    # -- servers ------------------------------------------------------------------------
    def reload_servers(self) -> None:
        """Fill the server chooser from the server list file (keeps the chosen name)."""
        chosen = self.server_combo.currentText()
        try:
            self.servers = load_servers(self.servers_path)
        except PacsError as problem:
            self.servers = []
            self.status.setText(str(problem))
        self.server_combo.clear()
        for server in self.servers:
            self.server_combo.addItem(server.label)
        if chosen:
            self.server_combo.setCurrentText(chosen)
        if not self.servers and not self.status.text():
            self.status.setText("No PACS server configured: add one with Servers…")
        self._update_buttons()

    def server(self) -> ServerConfig | None:
        """The chosen server (None: none configured)."""
        index = self.server_combo.currentIndex()
        return self.servers[index] if 0 <= index < len(self.servers) else None

    def edit_servers(self) -> ServerSettingsDialog:
        """Servers…: the PACS server preferences; the chooser reloads when they are saved."""
        dialog = ServerSettingsDialog(self.context, self.servers_path, parent=self)
        dialog.accepted.connect(self.reload_servers)
        dialog.open()
        return dialog

    # -- jobs ---------------------------------------------------------------------------
    def busy(self) -> bool:
        """True while a search, retrieve or echo of this dialog runs."""
        return self.job is not None and not self.job.done

    def _update_buttons(self) -> None:
        idle, server = not self.busy(), self.server() is not None
        self.search_button.setEnabled(idle and server)
        self.echo_button.setEnabled(idle and server)
        self.retrieve_button.setEnabled(idle and server and bool(self.selected_targets()))
        self.cancel_button.setEnabled(not idle)
        self.server_combo.setEnabled(idle)

    def _start(self, title: str, fn: Callable[..., Any], *args: Any, on_result: Any) -> Job:
        self.job = self.context.runner.submit(
            title, fn, *args, on_result=on_result, on_error=self._failed,
            on_finished=self._finished,
        )  # fmt: skip
        self.job.signals.progress.connect(self._progress)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self._update_buttons()
        return self.job

    def _progress(self, fraction: float, text: str) -> None:
        self.progress.setValue(round(min(max(fraction, 0.0), 1.0) * 1000))
        if text:
            self.progress.setFormat(f"{fraction * 100:.0f}% {text}")

    def _finished(self) -> None:
        self.progress.setVisible(False)
        self._update_buttons()

    def _failed(self, error: JobError) -> None:
        if error.cancelled:
            self.status.setText(f"{error.title}: cancelled")
        else:
            self.status.setText(f"{error.title} failed: {error.message}")
        if getattr(error.exception, "reports", None) is not None or error.cancelled:
            self._retrieved_some()
        if not error.cancelled:
            self.context.report_error(error)

    def cancel(self) -> None:
        """Cancel: stop the running search or retrieve (what arrived stays)."""
        if self.job is not None and not self.job.done:
            self.job.cancel()
            self.status.setText(f"{self.job.title}: stopping…")

    def search(self) -> Job | None:
        """Search: ask the chosen server for the fields' matches at the chosen level."""
        server = self.server()
        if server is None or self.busy():
            return None
        try:
            query = self.fields.query(str(self.level_combo.currentData()), limit=SEARCH_LIMIT)
        except WorkstationError as problem:
            self.status.setText(str(problem))
            return None
        self.status.setText(f"Searching {server.label}…")
        return self._start(
            f"Searching {server.label}",
            find_matches,
            server,
            query,
            on_result=lambda found: self._found(server, found),
        )

    def _found(self, server: ServerConfig, matches: list[QueryMatch]) -> None:
        self.matches = list(matches)
        keys = list(range(len(self.matches)))
        fill_table(self.results, [result_row(m) for m in self.matches], keys)
        count = len(self.matches)
        more = " (the first ones; narrow the search)" if count >= SEARCH_LIMIT else ""
        self.status.setText(f"{count} match{'es' if count != 1 else ''} on {server.label}{more}")
        self._update_buttons()

    def selected_targets(self) -> list[tuple[str, str | None]]:
        """(study UID, series UID or None) of each selected row that can be retrieved."""
        targets: list[tuple[str, str | None]] = []
        rows = sorted({index.row() for index in self.results.selectionModel().selectedRows()})
        for row in rows:
            key = row_key(self.results, row)
            if key is None or not 0 <= key < len(self.matches):
                continue
            match = self.matches[key]
            if not match.study_uid:
                continue  # a patient-level answer: search its studies first
            target = (match.study_uid, match.series_uid if match.level == "series" else None)
            if target not in targets:
                targets.append(target)
        return targets

    def retrieve_selected(self) -> Job | None:
        """Retrieve selected: the chosen studies or series into the database, as a job."""
        server, targets = self.server(), self.selected_targets()
        if server is None or not targets or self.busy():
            return None
        self.status.setText(f"Retrieving {len(targets)} item(s) from {server.label}…")
        location = self.database_location
        return self._start(
            f"Retrieving from {server.label}",
            retrieve_matches,
            server,
            targets,
            location,
            on_result=self._retrieved,
        )

    def _retrieved(self, reports: list[Any]) -> None:
        summary = retrieve_summary(reports)
        self.status.setText(summary)
        self.context.show_message(summary, 15000)
        self._retrieved_some()

    def _retrieved_some(self) -> None:
        if self.on_retrieved is not None:
            self.on_retrieved()

    def echo(self) -> Job | None:
        """Echo: check that the chosen server answers."""
        server = self.server()
        if server is None or self.busy():
            return None
        self.status.setText(f"Echo {server.label}…")
        return self._start(
            f"Echo {server.label}",
            echo_server,
            server,
            on_result=lambda seconds: self.status.setText(echo_text(server, seconds)),
        )

    def done(self, result: int) -> None:
        """Closing the dialog cancels what it still runs."""
        self.cancel()
        super().done(result)
