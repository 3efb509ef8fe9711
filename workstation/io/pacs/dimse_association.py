"""Open a DIMSE association and turn every way it can fail into one line a user can act on.

A refused connection, a time-out, an abort while associating or a rejection the server
marks transient (congestion, too many associations) are tried again with back-off, all
within one time-out budget (a server that does not answer fails within ``timeout_s``,
not three times that); any other rejection, a TLS failure or a server that accepts none
of our presentation contexts fails at once.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
from collections.abc import Sequence
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext
from pynetdicom.status import GENERAL_STATUS
from pynetdicom.transport import AssociationSocket

from workstation.core.errors import PacsError
from workstation.core.progress import CancelToken
from workstation.io.pacs.client import DimseEndpoint
from workstation.io.pacs.dimse_logging import connect_failure, log_trace
from workstation.io.pacs.retry import TransientError, with_retries


def close_socket(self: AssociationSocket) -> None:
    """Shut down and close an association's socket, even one that never connected.

    pynetdicom 3.0 calls ``shutdown()`` and ``close()`` in one ``try``: when the connection
    failed (refused, TLS handshake), ``shutdown()`` raises and the socket stays open until
    the garbage collector finds it, one file descriptor per failed attempt.
    """
    sock = self.socket
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


AssociationSocket._shutdown_socket = close_socket  # type: ignore[method-assign]

#: The most presentation contexts one association may propose (PS3.8: odd ids 1..255).
MAX_CONTEXTS = 128
_TRANSIENT_CONNECT = ("refused", "reset", "timed out", "unreachable", "temporar")


class _Retry(TransientError):
    """A transient association fault; ``error`` is what to report if it is the last."""

    def __init__(self, error: PacsError) -> None:
        super().__init__(str(error))
        self.error = error


def seconds_text(seconds: float) -> str:
    """'20 s', '2.5 s': a time-out as a user reads it."""
    return f"{seconds:g} s"


def no_answer_text(
    name: str,
    calling_aet: str,
    waited_s: float,
    timeout_s: float,
    doing: str,
    first: bool = True,
) -> str:
    """Why a request got no response: the time-out ran out, or the server hung up first.

    A server that hangs up on the ``first`` request usually does not know our AE title.
    """
    if waited_s >= 0.9 * timeout_s:
        return f"{name} did not answer within {seconds_text(timeout_s)}"
    hint = f" (does it know our AE title '{calling_aet}'?)" if first else ""
    return f"{name} aborted the association during the {doing}{hint}"


def status_text(code: int, table: dict[int, tuple[str, str]] | None = None) -> str:
    """A DIMSE status in words with its code, e.g. 'Refused: Out of Resources (0xA700)'."""
    entry = (table or GENERAL_STATUS).get(code) or GENERAL_STATUS.get(code)
    words = entry[1] if entry and entry[1] else "status"
    return f"{words} (0x{code:04X})"


def tls_context(endpoint: DimseEndpoint) -> ssl.SSLContext:
    """The TLS client context: verify the server against ``tls_ca`` (or the system store)."""
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(endpoint.tls_ca) if endpoint.tls_ca else None,
        )
        if endpoint.tls_cert is not None:
            context.load_cert_chain(
                str(endpoint.tls_cert), str(endpoint.tls_key) if endpoint.tls_key else None
            )
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise PacsError(f"Cannot set up TLS for {endpoint}: {reason}") from None
    return context


def make_ae(calling_aet: str, timeout_s: float) -> AE:
    """An application entity with our AE title and every time-out set from ``timeout_s``."""
    ae = AE(ae_title=calling_aet)
    ae.acse_timeout = timeout_s
    ae.dimse_timeout = timeout_s
    ae.connection_timeout = timeout_s
    ae.network_timeout = max(60.0, timeout_s)
    ae.maximum_associations = 4
    return ae


def _classify(
    assoc: Association,
    endpoint: DimseEndpoint,
    calling_aet: str,
    connected: bool,
    trace: list[str],
    elapsed: float,
    budget_s: float,
    timeout_s: float,
) -> PacsError | _Retry:
    """Why ``assoc`` is not established: a final error or a transient one."""
    name = str(endpoint)
    if assoc.is_rejected:
        primitive: Any = assoc.acceptor.primitive
        diagnostic = getattr(primitive, "diagnostic", None)
        source = getattr(primitive, "result_source", None)
        if source == 1 and diagnostic == 3:
            reason = f"calling AE title '{calling_aet}' not recognised"
        elif source == 1 and diagnostic == 7:
            reason = f"called AE title '{endpoint.ae_title}' not recognised"
        else:
            try:
                reason = str(primitive.reason_str).lower()
            except (AttributeError, TypeError, KeyError):
                reason = "no reason given"
        error = PacsError(f"{name} rejected the association: {reason}")
        # "rejected (transient)" for congestion or a local limit: worth another try
        transient = getattr(primitive, "result", None) == 2 and source == 3
        return _Retry(error) if transient else error
    if not connected:
        reason = connect_failure(trace) or "connection failed"
        if "timed out" in reason:
            return _Retry(PacsError(f"{name} did not answer within {seconds_text(timeout_s)}"))
        if "SSL" in reason or "certificate" in reason.lower() or (endpoint.tls and "EOF" in reason):
            reason = re.sub(r"\[SSL[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)", "", reason).strip()
            return PacsError(f"TLS connection to {name} failed: {reason or 'handshake failed'}")
        error = PacsError(f"Cannot reach {name}: {reason}")
        return _Retry(error) if any(k in reason for k in _TRANSIENT_CONNECT) else error
    primitive = assoc.acceptor.primitive
    if primitive is not None and getattr(primitive, "result", None) == 0:
        return PacsError(
            f"{name} accepted none of the offered presentation contexts "
            "(it does not support this service or these SOP classes)"
        )
    if any("ACSE timeout" in text for text in trace) or elapsed >= 0.95 * budget_s:
        return _Retry(PacsError(f"{name} did not answer within {seconds_text(timeout_s)}"))
    hint = ""
    if not endpoint.tls:
        hint = " (does it expect TLS?)"
    elif endpoint.tls_cert is None:
        hint = " (does it require a client certificate?)"
    return _Retry(PacsError(f"{name} aborted the association before accepting it{hint}"))


def open_association(
    endpoint: DimseEndpoint,
    calling_aet: str,
    contexts: Sequence[PresentationContext],
    timeout_s: float,
    retries: int = 3,
    cancel: CancelToken | None = None,
    ext_neg: Sequence[Any] | None = None,
    evt_handlers: Sequence[tuple[Any, Any]] = (),
) -> Association:
    """An established association with ``endpoint`` offering ``contexts``.

    Raises ``PacsError`` in one line when the server cannot be reached, does not answer
    within ``timeout_s``, rejects us or accepts none of the contexts.
    """
    if len(contexts) > MAX_CONTEXTS:
        raise ValueError(f"{len(contexts)} presentation contexts; at most {MAX_CONTEXTS}")
    tls_args = (tls_context(endpoint), endpoint.host) if endpoint.tls else None
    deadline = time.monotonic() + timeout_s
    last: list[PacsError] = []

    def attempt() -> Association:
        remaining = deadline - time.monotonic()
        if last and remaining < 0.25:
            raise last[-1]
        budget = min(timeout_s, remaining) if last else timeout_s
        ae = make_ae(calling_aet, budget)
        connected: list[bool] = []
        handlers: list[Any] = [(evt.EVT_CONN_OPEN, lambda event: connected.append(True))]
        handlers.extend(evt_handlers)
        started = time.monotonic()
        with log_trace() as trace:
            try:
                assoc = ae.associate(
                    endpoint.host,
                    endpoint.port,
                    contexts=list(contexts),
                    ae_title=endpoint.ae_title,
                    ext_neg=list(ext_neg) if ext_neg else None,
                    evt_handlers=handlers,
                    tls_args=tls_args,
                )
            except OSError as exc:  # the host name does not resolve
                reason = (exc.strerror or str(exc)).lower()
                error = PacsError(f"Cannot reach {endpoint}: {reason}")
                if any(k in reason for k in _TRANSIENT_CONNECT):
                    last.append(error)
                    raise _Retry(error) from None
                raise error from None
        if assoc.is_established:
            return assoc
        fault = _classify(
            assoc,
            endpoint,
            calling_aet,
            bool(connected),
            trace,
            time.monotonic() - started,
            budget,
            timeout_s,
        )
        if isinstance(fault, _Retry):
            last.append(fault.error)
            if deadline - time.monotonic() < 0.25:
                raise fault.error  # the time-out budget is spent: no back-off, no retry
        raise fault

    try:
        return with_retries(attempt, attempts=max(1, retries), cancel=cancel)
    except _Retry as fault:
        raise fault.error from None
