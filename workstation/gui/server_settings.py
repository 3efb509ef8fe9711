"""Preferences → PACS servers: list, add, edit, remove and test the configured servers.

The dialog edits copies of ``services.pacs_servers.ServerConfig`` and saves them with
``save_servers`` (the same ``servers.toml`` the ``workstation pacs`` command reads).
Test runs an echo of the server being edited as a job; its outcome is one line.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from workstation.core.errors import PacsError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.gui.context import AppContext
from workstation.gui.workers import JobError
from workstation.services.pacs_servers import (
    DEFAULT_DIMSE_PORT,
    ServerConfig,
    load_servers,
    problems,
    save_servers,
)

PROTOCOL_LABELS = (("dimse", "DIMSE (C-FIND, C-GET/C-MOVE)"), ("dicomweb", "DICOMweb"))
DIMSE_FIELDS = ("ae_title", "host", "port", "move_port", "tls", "tls_cert", "tls_key")
DICOMWEB_FIELDS = ("url", "user", "password_file", "token_file")


def echo_server(server: ServerConfig, progress: ProgressCallback, cancel: CancelToken) -> float:
    """Echo ``server`` (C-ECHO or a QIDO-RS request); the round trip in seconds."""
    from workstation.services import pacs

    return pacs.echo(server)


def echo_text(server: ServerConfig, seconds: float) -> str:
    """The line a successful echo shows."""
    return f"{server.label} answered in {seconds * 1000:.0f} ms"


def unique_name(servers: list[ServerConfig], base: str = "New server") -> str:
    """``base``, or ``base 2``, ``base 3``… not used by any of ``servers``."""
    names = {server.name for server in servers}
    if base not in names:
        return base
    number = 2
    while f"{base} {number}" in names:
        number += 1
    return f"{base} {number}"


class ServerForm(QWidget):
    """The fields of one server; shows those of its protocol only."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = QLineEdit()
        self.protocol = QComboBox()
        for key, label in PROTOCOL_LABELS:
            self.protocol.addItem(label, key)
        self.ae_title = QLineEdit(placeholderText="the server's AE title, e.g. ORTHANC")
        self.host = QLineEdit(placeholderText="host name or address")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        self.move_port = QSpinBox()
        self.move_port.setRange(0, 65535)
        self.move_port.setSpecialValueText("C-GET (no C-MOVE)")
        self.move_port.setToolTip(
            "Retrieve by C-MOVE to the workstation's own storage port (the server must know "
            "the calling AE title at this port); C-GET when unset."
        )
        self.tls = QCheckBox("Use TLS")
        self.tls_cert = QLineEdit(placeholderText="own certificate (PEM), when asked for")
        self.tls_key = QLineEdit(placeholderText="own key (PEM)")
        self.url = QLineEdit(placeholderText="https://pacs.example.org/dicom-web")
        self.user = QLineEdit()
        self.password_file = QLineEdit(placeholderText="file holding the password")
        self.token_file = QLineEdit(placeholderText="file holding a bearer token")
        self.calling_aet = QLineEdit()
        self.ca_bundle = QLineEdit(placeholderText="CA certificates (PEM) that verify the server")
        self.timeout_s = QDoubleSpinBox()
        self.timeout_s.setRange(0.5, 600.0)
        self.timeout_s.setSuffix(" s")
        self.layout_ = QFormLayout(self)
        rows = (
            ("Name", self.name), ("Protocol", self.protocol), ("AE title", self.ae_title),
            ("Host", self.host), ("Port", self.port), ("C-MOVE port", self.move_port),
            ("", self.tls), ("TLS certificate", self.tls_cert), ("TLS key", self.tls_key),
            ("URL", self.url), ("User", self.user), ("Password file", self.password_file),
            ("Token file", self.token_file), ("Calling AE title", self.calling_aet),
            ("CA bundle", self.ca_bundle), ("Time-out", self.timeout_s),
        )  # fmt: skip
        for label, widget in rows:
            self.layout_.addRow(label, widget)
        self.protocol.currentIndexChanged.connect(self._protocol_changed)

    def show_server(self, server: ServerConfig) -> None:
        """Fill the fields from ``server``."""
        self.name.setText(server.name)
        index = self.protocol.findData(server.protocol)
        self.protocol.setCurrentIndex(max(index, 0))
        for key in ("ae_title", "host", "url", "user", "password_file", "token_file",
                    "calling_aet", "ca_bundle", "tls_cert", "tls_key"):  # fmt: skip
            getattr(self, key).setText(getattr(server, key))
        self.port.setValue(server.port)
        self.move_port.setValue(server.move_port or 0)
        self.tls.setChecked(server.tls)
        self.timeout_s.setValue(server.timeout_s)
        self._protocol_changed()

    def server(self, base: ServerConfig | None = None) -> ServerConfig:
        """The server the fields describe (secrets of ``base`` kept for this run)."""
        texts = {
            key: getattr(self, key).text().strip()
            for key in ("name", "ae_title", "host", "url", "user", "password_file",
                        "token_file", "calling_aet", "ca_bundle", "tls_cert", "tls_key")
        }  # fmt: skip
        return replace(
            base or ServerConfig(),
            protocol=str(self.protocol.currentData()),
            port=self.port.value(),
            move_port=self.move_port.value() or None,
            tls=self.tls.isChecked(),
            timeout_s=float(self.timeout_s.value()),
            **texts,
        )

    def _protocol_changed(self, *_: object) -> None:
        dimse = self.protocol.currentData() == "dimse"
        for key in DIMSE_FIELDS:
            self.layout_.setRowVisible(getattr(self, key), dimse)
        for key in DICOMWEB_FIELDS:
            self.layout_.setRowVisible(getattr(self, key), not dimse)


class ServerSettingsDialog(QDialog):
    """The configured servers; Save writes them to the server list file."""

    def __init__(
        self, context: AppContext, path: Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent if parent is not None else context.parent)
        self.setObjectName("serverSettings")
        self.setWindowTitle("PACS servers")
        self.context = context
        self.path = path
        self.test_job: Any = None
        self.status = QLabel("")
        self.status.setObjectName("serverStatus")
        self.status.setWordWrap(True)
        try:
            self.servers = load_servers(path)
        except PacsError as problem:
            self.servers = []
            self.status.setText(f"{problem} (starting with an empty list)")
        self._current = -1
        self.list = QListWidget()
        self.list.setObjectName("serverList")
        self.form = ServerForm()
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_server)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_server)
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Check that the server answers (echo)")
        self.test_button.clicked.connect(self.test_server)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        self._build_layout()
        self.list.currentRowChanged.connect(self._row_changed)
        self._fill_list()
        self.list.setCurrentRow(0 if self.servers else -1)
        self._update_buttons()

    def _build_layout(self) -> None:
        side = QVBoxLayout()
        side.addWidget(self.list, 1)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        side.addLayout(row)
        main = QHBoxLayout()
        main.addLayout(side, 1)
        form_side = QVBoxLayout()
        form_side.addWidget(self.form)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        form_side.addLayout(test_row)
        form_side.addStretch(1)
        main.addLayout(form_side, 2)
        layout = QVBoxLayout(self)
        layout.addLayout(main, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def _fill_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for server in self.servers:
            self.list.addItem(f"{server.label} — {server.address}")
        self.list.blockSignals(False)

    def _update_buttons(self) -> None:
        chosen = 0 <= self._current < len(self.servers)
        self.form.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)
        self.test_button.setEnabled(chosen and (self.test_job is None or self.test_job.done))

    # -- editing ------------------------------------------------------------------------
    def store_form(self) -> ServerConfig | None:
        """Keep the fields in the server being edited; returns it (None: none edited)."""
        if not 0 <= self._current < len(self.servers):
            return None
        server = self.form.server(self.servers[self._current])
        self.servers[self._current] = server
        item = self.list.item(self._current)
        if item is not None:
            item.setText(f"{server.label} — {server.address}")
        return server

    def _row_changed(self, row: int) -> None:
        self.store_form()
        self._current = row
        if 0 <= row < len(self.servers):
            self.form.show_server(self.servers[row])
        self._update_buttons()

    def select(self, name: str) -> None:
        """Edit the server called ``name``."""
        for row, server in enumerate(self.servers):
            if server.name == name:
                self.list.setCurrentRow(row)

    def add_server(self, server: ServerConfig | None = None) -> ServerConfig:
        """Add: a new server (DIMSE on this machine unless given) to edit."""
        self.store_form()
        if not isinstance(server, ServerConfig):
            server = ServerConfig(
                name=unique_name(self.servers), host="127.0.0.1", port=DEFAULT_DIMSE_PORT
            )
        self.servers.append(server)
        self._fill_list()
        self._current = -1
        self.list.setCurrentRow(len(self.servers) - 1)
        self.form.name.setFocus()
        self.form.name.selectAll()
        return server

    def remove_server(self) -> None:
        """Remove the server being edited (from the list; Save writes the file)."""
        row = self._current
        if not 0 <= row < len(self.servers):
            return
        removed = self.servers.pop(row)
        self._current = -1
        self._fill_list()
        self.list.setCurrentRow(min(row, len(self.servers) - 1))
        self._update_buttons()
        self.status.setText(f"Removed {removed.label} (Save to keep the change)")

    # -- testing and saving -------------------------------------------------------------
    def test_server(self) -> Any:
        """Test: echo the server being edited in a job; the status line says how it went."""
        server = self.store_form()
        if server is None:
            return None
        found = problems(server)
        if found:
            key, reason = found[0]
            self.status.setText(f"Test of {server.label} failed: {key} {reason}")
            return None
        self.status.setText(f"Testing {server.label}…")
        self.test_job = self.context.runner.submit(
            f"Testing {server.label}",
            echo_server,
            server,
            on_result=lambda seconds: self.status.setText(echo_text(server, seconds)),
            on_error=lambda error: self._test_failed(server, error),
            on_finished=self._update_buttons,
        )
        self._update_buttons()
        return self.test_job

    def _test_failed(self, server: ServerConfig, error: JobError) -> None:
        if error.cancelled:
            self.status.setText(f"Test of {server.label} cancelled")
        else:
            self.status.setText(f"Test of {server.label} failed: {error.message}")

    def save(self) -> bool:
        """Save: write the list (checked, unique names) and close; True when written."""
        self.store_form()
        try:
            written = save_servers(self.servers, self.path)
        except WorkstationError as problem:
            self.status.setText(str(problem))
            return False
        self.status.setText(f"Saved {len(self.servers)} server(s) to {written}")
        self.context.show_message(f"PACS servers saved to {written}")
        self.accept()
        return True

    def done(self, result: int) -> None:
        """Closing stops a test still running (its answer has nowhere to go)."""
        if self.test_job is not None and not self.test_job.done:
            self.test_job.cancel()
        super().done(result)
