"""Send to PACS…: the segmentation as DICOM SEG, models as Encapsulated STL, to a server.

The user picks one of the configured servers (``services.pacs_servers``); a job writes
the DICOM object(s) into a temporary folder through the export services (the writers
of ``.dcm``, with the loaded series as their source), sends them with
``services.pacs.send`` and removes the folder.  The outcome is one line: "Sent 2
objects to pacs" or what went wrong.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QInputDialog

from workstation.core.errors import ExportError, PacsError, WorkstationError
from workstation.core.progress import CancelToken, ProgressCallback, sub_progress
from workstation.gui.workers import Job, JobError
from workstation.io.dicom.source_context import DicomSourceContext, source_context
from workstation.services.export import (
    export_models,
    export_targets,
    safe_file_name,
    write_segmentation,
)

if TYPE_CHECKING:
    from workstation.gui.context import AppContext

NO_SERVER = "No PACS server is configured: add one in Preferences → PACS servers."
SEG_TITLE = "Send segmentation to PACS"
MODELS_TITLE = "Send models to PACS"


def configured_servers() -> list[Any]:
    """The servers of the servers file ([] when there is none)."""
    from workstation.services.pacs_servers import load_servers

    return list(load_servers())


def _send(server: Any, paths: list[Path], progress: ProgressCallback, cancel: CancelToken) -> int:
    """Send the files (PacsError when the server refused one); returns how many were stored."""
    from workstation.services import pacs

    return len(pacs.send(server, paths, progress, cancel).sent)


def send_segmentation_job(
    segmentation: Any,
    name: str,
    source: DicomSourceContext,
    server: Any,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> int:
    """Write the segmentation as DICOM SEG into a temporary folder and send it (a job)."""
    with tempfile.TemporaryDirectory(prefix="workstation-send-") as folder:
        path = Path(folder) / f"{safe_file_name(name)}.dcm"
        write_segmentation(
            segmentation, path, sub_progress(progress, 0.0, 0.5), cancel, source=source
        )
        return _send(server, [path], sub_progress(progress, 0.5, 1.0), cancel)


def send_models_job(
    meshes: list[Any],
    source: DicomSourceContext,
    server: Any,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> int:
    """Write each mesh as Encapsulated STL into a temporary folder and send them (a job)."""
    with tempfile.TemporaryDirectory(prefix="workstation-send-") as folder:
        targets = export_targets([mesh.name for mesh in meshes], folder, ".dcm")
        paths = export_models(
            list(zip(meshes, targets, strict=True)),
            "lps",
            sub_progress(progress, 0.0, 0.4),
            cancel,
            source=source,
        )
        return _send(
            server, [Path(path) for path in paths], sub_progress(progress, 0.4, 1.0), cancel
        )


class SendToPacs(QObject):
    """The Send to PACS actions of one window; ``sent(count)`` after a successful send."""

    sent = Signal(int)

    def __init__(self, context: AppContext, selected_models: Callable[[], list[str]]) -> None:
        super().__init__(context.parent)
        self.context = context
        self.selected_models = selected_models
        window = context.parent
        self.segmentation_action = QAction("Send segmentation to PACS…", window)
        self.segmentation_action.setToolTip(
            "Send the segments as a DICOM Segmentation to a PACS server"
        )
        self.segmentation_action.triggered.connect(lambda: self.send_segmentation())
        self.models_action = QAction("Send models to PACS…", window)
        self.models_action.setToolTip(
            "Send the selected models (all when none is selected) as DICOM Encapsulated STL"
        )
        self.models_action.triggered.connect(lambda: self.send_models())
        #: picks a server from the list; None cancels (replaceable, e.g. by tests)
        self.choose_server: Callable[[list[Any]], Any | None] = self._ask_server
        self.last_count = 0
        context.session.subscribe("editor", self._editor_changed)
        self._editor_changed(context.session.editor)

    def _editor_changed(self, editor: Any) -> None:
        self.segmentation_action.setEnabled(editor is not None)
        self.models_action.setEnabled(editor is not None)

    def _ask_server(self, servers: list[Any]) -> Any | None:
        names = [server.label for server in servers]
        name, ok = QInputDialog.getItem(
            self.context.parent, "Send to PACS", "Server", names, 0, False
        )
        return servers[names.index(name)] if ok and name in names else None

    def _fail(self, title: str, error: WorkstationError) -> None:
        self.context.report_error(JobError(title, error, ""))

    def _server_and_source(self, title: str, server: Any | None) -> tuple[Any, Any] | None:
        """The chosen server and the loaded series' source context, or None (reported)."""
        session = self.context.session
        try:
            source = source_context(session.stack, session.volume)
            if server is None:
                servers = configured_servers()
                if not servers:
                    raise PacsError(NO_SERVER)
                server = self.choose_server(servers)
        except WorkstationError as error:
            self._fail(title, error)
            return None
        return None if server is None else (server, source)

    def send_segmentation(self, server: Any | None = None) -> Job | None:
        """Send the segments (as one DICOM SEG) to ``server`` (asked for when None)."""
        editor = self.context.session.editor
        if editor is None:
            self.context.show_message("Load a volume before sending a segmentation.")
            return None
        if not editor.segmentation.segments:
            self._fail(SEG_TITLE, ExportError("There are no segments to send."))
            return None
        chosen = self._server_and_source(SEG_TITLE, server)
        if chosen is None:
            return None
        server, source = chosen
        volume = self.context.session.volume
        name = (volume.source.identity.series_description or volume.name) if volume else ""
        return self._submit(
            SEG_TITLE,
            send_segmentation_job,
            server,
            editor.segmentation.snapshot(),
            name or "segmentation",
            source,
            server,
        )

    def send_models(
        self, model_ids: list[str] | None = None, server: Any | None = None
    ) -> Job | None:
        """Send models (the selected ones, else all) as Encapsulated STL to ``server``."""
        session = self.context.session
        ids = list(model_ids if model_ids is not None else self.selected_models() or session.models)
        if not ids:
            self._fail(MODELS_TITLE, ExportError("There are no models to send."))
            return None
        chosen = self._server_and_source(MODELS_TITLE, server)
        if chosen is None:
            return None
        server, source = chosen
        meshes = [replace(session.models[i].mesh, name=session.models[i].name) for i in ids]
        return self._submit(MODELS_TITLE, send_models_job, server, meshes, source, server)

    def _submit(self, title: str, fn: Callable[..., int], server: Any, *args: Any) -> Job:
        self.context.show_message(f"Sending to {server.label}…")
        return self.context.runner.submit(
            title,
            fn,
            *args,
            on_result=lambda count, server=server: self._done(server, count),
            on_error=self.context.report_error,
        )

    def _done(self, server: Any, count: int) -> None:
        self.last_count = count
        self.context.show_message(
            f"Sent {count} object{'s' if count != 1 else ''} to {server.label}"
        )
        self.sent.emit(count)
