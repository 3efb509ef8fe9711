"""The HTTP side of DICOMweb: a session with auth, CA bundle and time-outs, and its faults.

Every request made through ``make_session`` has a time-out (a server that accepts and
never answers fails within it), HTTP basic or bearer authentication and, for HTTPS, the
CA bundle of the endpoint.  ``describe_fault`` turns whatever ``requests`` raised into
one line a user can act on, marked transient (worth another try) or not.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests
from requests.adapters import HTTPAdapter

from workstation.core.errors import PacsError, WorkstationError
from workstation.core.progress import CancelToken
from workstation.io.pacs.client import DicomWebEndpoint
from workstation.io.pacs.retry import TransientError, with_retries

T = TypeVar("T")

#: HTTP answers worth another try: the server or a gateway in front of it is busy.
TRANSIENT_STATUS = frozenset({502, 503, 504})
#: Loggers of the libraries below us, silenced while we run (we report faults ourselves).
QUIET_LOGGERS = ("dicomweb_client", "urllib3", "requests")


class _TimeoutAdapter(HTTPAdapter):
    """An adapter that gives every request the session's time-out unless it has its own."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(max_retries=0)
        self.timeout_s = timeout_s

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout_s if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def make_session(endpoint: DicomWebEndpoint, timeout_s: float) -> requests.Session:
    """A session that authenticates as ``endpoint`` says and never waits without a limit."""
    if endpoint.token and (endpoint.user or endpoint.password):
        raise PacsError(f"{endpoint.url}: give a user and password or a token, not both")
    session = requests.Session()
    adapter = _TimeoutAdapter(timeout_s)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # no proxy or netrc from the environment: we talk to this URL
    if endpoint.user or endpoint.password:
        session.auth = (endpoint.user, endpoint.password)
    if endpoint.token:
        session.headers["Authorization"] = f"Bearer {endpoint.token}"
    if endpoint.ca_bundle is not None:
        if not endpoint.ca_bundle.is_file():
            raise PacsError(f"{endpoint.url}: CA bundle {endpoint.ca_bundle} does not exist")
        session.verify = str(endpoint.ca_bundle)
    return session


class HttpFault(TransientError):
    """A fault of one request: its one-line message and whether it is worth retrying."""

    def __init__(self, message: str, transient: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.status = status


def _root_cause(error: BaseException) -> BaseException:
    """The innermost cause of a chain of wrapped exceptions (urllib3 inside requests)."""
    seen: set[int] = set()
    while id(error) not in seen:
        seen.add(id(error))
        inner = getattr(error, "reason", None) or error.__cause__ or error.__context__
        if not isinstance(inner, BaseException):
            break
        error = inner
    return error


def _ssl_reason(error: BaseException) -> str:
    """The verification failure in words ('self-signed certificate in certificate chain')."""
    cause = _root_cause(error)
    reason = getattr(cause, "verify_message", "") or getattr(cause, "reason", "") or str(cause)
    return str(reason).strip() or "verification failed"


def describe_fault(error: BaseException, where: str, timeout_s: float) -> HttpFault:
    """One line for ``error`` raised while talking to ``where`` (the service root)."""
    if isinstance(error, HttpFault):
        return error
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return describe_status(error.response.status_code, error.response.reason, where)
    if isinstance(error, requests.exceptions.JSONDecodeError):
        return HttpFault(f"{where} answered with something that is not DICOM JSON", False)
    if isinstance(error, requests.exceptions.SSLError):
        return HttpFault(f"{where}: certificate not trusted: {_ssl_reason(error)}", False)
    text = str(error)
    if isinstance(error, requests.Timeout) or "timed out" in text.lower():
        return HttpFault(f"{where} did not answer within {timeout_s:g} s", False)
    if isinstance(error, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        cause = _root_cause(error)
        if isinstance(cause, ConnectionRefusedError) or "refused" in text.lower():
            return HttpFault(f"Cannot reach {where}: connection refused", True)
        if "Name or service not known" in text or "nodename nor servname" in text:
            return HttpFault(f"Cannot reach {where}: unknown host", False)
        if isinstance(error, requests.exceptions.ChunkedEncodingError) or "reset" in text.lower():
            return HttpFault(f"{where} closed the connection before the answer was complete", True)
        return HttpFault(f"Cannot reach {where}: {type(cause).__name__}: {cause}", True)
    if isinstance(error, requests.RequestException):
        return HttpFault(f"{where}: {error}", False)
    if isinstance(error, ValueError):
        return HttpFault(f"{where} answered with something that is not DICOM JSON", False)
    return HttpFault(f"{where}: {type(error).__name__}: {error}", False)


def describe_status(status: int, reason: str, where: str) -> HttpFault:
    """One line for an HTTP error status from ``where``."""
    if status in (401, 403):
        return HttpFault(f"{where} refused the credentials (HTTP {status})", False, status)
    if status == 404:
        return HttpFault(f"{where} is not a DICOMweb service root (HTTP 404)", False, status)
    text = f"{where} failed: HTTP {status}" + (f" {reason}" if reason else "")
    return HttpFault(text, status in TRANSIENT_STATUS, status)


def check_status(response: requests.Response, where: str) -> None:
    """Raise the ``HttpFault`` of an error answer (4xx, 5xx)."""
    if response.status_code >= 400:
        fault = describe_status(response.status_code, response.reason, where)
        response.close()
        raise fault


def call_with_retries(
    call: Callable[[], T],
    where: str,
    timeout_s: float,
    attempts: int,
    cancel: CancelToken | None = None,
    first_delay_s: float = 0.5,
) -> T:
    """``call()`` with transient faults retried; any fault left becomes a ``PacsError``.

    Time-outs are not retried: a server that does not answer fails within one time-out.
    """

    def attempt() -> T:
        try:
            return call()
        except WorkstationError:
            raise  # already one line (a refusal, a cancel, a database fault in the sink)
        except Exception as error:  # every library fault becomes one line
            fault = describe_fault(error, where, timeout_s)
            if fault.transient:
                raise fault from error
            raise PacsError(fault.message) from error

    try:
        with quiet_libraries():
            return with_retries(attempt, max(1, attempts), first_delay_s, cancel)
    except HttpFault as fault:
        raise PacsError(fault.message) from fault


_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_levels: dict[str, int] = {}


@contextlib.contextmanager
def quiet_libraries(names: tuple[str, ...] = QUIET_LOGGERS) -> Iterator[None]:
    """Silence the loggers of ``names`` while the block runs (nested and threaded safely)."""
    global _quiet_depth
    with _quiet_lock:
        if _quiet_depth == 0:
            for name in names:
                logger = logging.getLogger(name)
                _saved_levels[name] = logger.level
                logger.setLevel(logging.CRITICAL + 1)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                for name, level in _saved_levels.items():
                    logging.getLogger(name).setLevel(level)
                _saved_levels.clear()
