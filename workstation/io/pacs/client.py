"""What every PACS client offers, whatever it speaks: echo, find, retrieve and send.

``DimseClient`` (``dimse``) and ``DicomWebClient`` (``dicomweb``) both implement
``PacsClient``.  A retrieve hands each received instance, as the bytes of a DICOM Part 10
file, to a sink the caller chooses (the local database, a folder); a transfer that stops
half-way returns what it got with ``error`` set instead of raising, so the caller keeps
what arrived and can say what is missing.  Everything a user can act on is a
``PacsError`` with one line of text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from workstation.core.dicom_query import QueryMatch, StudyQuery
from workstation.core.progress import CancelToken, ProgressCallback

#: Receives one retrieved instance as a complete DICOM Part 10 file (preamble, meta, data).
InstanceSink = Callable[[bytes], None]

DEFAULT_CALLING_AET = "WORKSTATION"
DEFAULT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class DimseEndpoint:
    """A DIMSE peer: its AE title, host and port, and TLS when asked for.

    ``tls_ca`` is a CA bundle that verifies the server; ``tls_cert``/``tls_key`` are our
    own certificate and key when the server asks for one.  ``tls`` without a CA uses the
    system's trust store.
    """

    ae_title: str
    host: str
    port: int
    tls: bool = False
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


@dataclass(frozen=True)
class DicomWebEndpoint:
    """A DICOMweb service root (``https://host/dicom-web``) with how to authenticate.

    ``user``/``password`` give HTTP basic authentication, ``token`` a bearer token (never
    both).  ``ca_bundle`` verifies HTTPS against that CA file instead of the system's.
    """

    url: str
    user: str = ""
    password: str = ""
    token: str = ""
    ca_bundle: Path | None = None

    def __str__(self) -> str:
        return self.url


@dataclass
class RetrieveOutcome:
    """What a retrieve got: counts, the SOP Instance UIDs received, and why it stopped early.

    ``expected`` is None when the server did not say how many instances there are.
    ``missing`` names what did not arrive when the server said (SOP Instance UIDs, or
    series UIDs for series that failed whole).  ``error`` is one line, '' when complete.
    """

    expected: int | None = None
    received: list[str] = field(default_factory=list)
    failed: int = 0
    missing: list[str] = field(default_factory=list)
    error: str = ""
    bytes_received: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when nothing failed and every expected instance arrived."""
        if self.error or self.failed:
            return False
        return self.expected is None or len(self.received) >= self.expected


@dataclass
class SendOutcome:
    """What a send did: the files stored, and per refused or failed file the reason."""

    sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    bytes_sent: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every file was stored."""
        return not self.failed


class PacsClient(Protocol):
    """The operations both protocols offer; all fail with ``PacsError`` in one line."""

    def echo(self) -> float:
        """Check the server answers (C-ECHO, or a QIDO-RS request); the round trip in s."""
        ...

    def find(self, query: StudyQuery) -> list[QueryMatch]:
        """The matches of ``query`` at its level."""
        ...

    def retrieve(
        self,
        study_uid: str,
        series_uid: str | None,
        sink: InstanceSink,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> RetrieveOutcome:
        """Fetch a study (or one series of it), handing each instance to ``sink``."""
        ...

    def send(
        self, files: Sequence[Path], progress: ProgressCallback, cancel: CancelToken
    ) -> SendOutcome:
        """Store DICOM files on the server (C-STORE, or STOW-RS)."""
        ...
