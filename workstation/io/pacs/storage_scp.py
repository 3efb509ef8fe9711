"""Our own storage SCP: receives the instances a PACS sends us on a C-MOVE.

It listens on one port under our AE title, accepts every storage SOP class in every
transfer syntax (nothing is transcoded), and hands each instance, as a complete DICOM
Part 10 file, to a sink.  It runs only for the duration of a retrieve (a context
manager); a sink that fails answers "out of resources" and the PACS counts a failure.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from pydicom.uid import AllTransferSyntaxes
from pynetdicom import AE, AllStoragePresentationContexts, evt

from workstation.core.errors import PacsError
from workstation.core.progress import CancelToken
from workstation.io.pacs.client import InstanceSink
from workstation.io.pacs.dimse_logging import silence_pynetdicom

_OUT_OF_RESOURCES = 0xA700
_CANCELLED = 0xFE00


class Receiver:
    """Hands each instance a C-STORE brings to ``sink``; counts what arrived and what failed.

    Used as the C-STORE handler of a C-GET association and of the C-MOVE storage SCP.
    After the sink failed once, later instances are refused without calling it again.
    """

    def __init__(self, sink: InstanceSink, cancel: CancelToken | None = None) -> None:
        self.sink = sink
        self.cancel = cancel
        self.received: list[str] = []
        self.bytes_received = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        """How many instances the sink took so far."""
        with self._lock:
            return len(self.received)

    def on_store(self, event: Any) -> int:
        """Hand one received instance to the sink; the DIMSE status to answer."""
        if self.cancel is not None and self.cancel.cancelled:
            return _CANCELLED
        with self._lock:
            if self.errors:
                return _OUT_OF_RESOURCES
        try:
            data = event.encoded_dataset()
            sop_uid = str(event.request.AffectedSOPInstanceUID)
            self.sink(data)
        except Exception as exc:  # the sink is the caller's; keep the association alive
            with self._lock:
                self.errors.append(str(exc) or type(exc).__name__)
            return _OUT_OF_RESOURCES
        with self._lock:
            self.received.append(sop_uid)
            self.bytes_received += len(data)
        return 0x0000


class StorageScp:
    """A C-STORE receiver on ``host:port`` with AE title ``ae_title`` feeding a receiver."""

    def __init__(
        self,
        ae_title: str,
        port: int,
        receiver: Receiver,
        host: str = "0.0.0.0",
        timeout_s: float = 20.0,
    ) -> None:
        self.ae_title = ae_title
        self.host = host
        self.port = port
        self.receiver = receiver
        self.timeout_s = timeout_s
        self._server: Any = None

    def start(self) -> None:
        """Listen on the port (raises ``PacsError`` when it is taken or not allowed)."""
        silence_pynetdicom()
        ae = AE(ae_title=self.ae_title)
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, AllTransferSyntaxes)
        ae.acse_timeout = self.timeout_s
        ae.dimse_timeout = self.timeout_s
        ae.network_timeout = max(60.0, self.timeout_s)
        ae.require_called_aet = True
        try:
            self._server = ae.start_server(
                (self.host, self.port),
                block=False,
                evt_handlers=[(evt.EVT_C_STORE, self.receiver.on_store)],
            )
        except OSError as exc:
            reason = (exc.strerror or str(exc)).lower()
            raise PacsError(f"Cannot receive on port {self.port} for C-MOVE: {reason}") from None

    def stop(self) -> None:
        """Stop listening and end any open association."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def __enter__(self) -> StorageScp:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
