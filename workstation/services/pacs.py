"""Talk to a configured PACS: echo, find, retrieve (into the database or a folder), send.

One front over both protocols (DIMSE and DICOMweb) for the command line and the GUI.
Retrieved instances are stored one by one as they arrive; a retrieve that stops
half-way keeps what arrived and raises ``PartialTransfer`` (a ``PacsError``) saying how
many arrived of how many and what is missing, with the report on the error.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.dicom_query import QueryMatch, StudyQuery
from workstation.core.errors import InputPathError, PacsError, WorkstationError
from workstation.core.permissions import Permission
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.atomic_write import atomic_write, shown_path
from workstation.io.pacs.client import (
    DicomWebEndpoint,
    DimseEndpoint,
    PacsClient,
    RetrieveOutcome,
)
from workstation.services.access import guarded
from workstation.services.pacs_files import instance_uids, sendable_files, uid_part
from workstation.services.pacs_reports import (
    PartialTransfer,
    RetrieveReport,
    SendReport,
    StoredInstances,
    fill_report,
    partial_message,
)
from workstation.services.pacs_servers import ServerConfig, check_server, find_server

if TYPE_CHECKING:
    from workstation.services.dicom_database import DicomDatabase

__all__ = [
    "PartialTransfer",
    "RetrieveReport",
    "SendReport",
    "connect",
    "echo",
    "find",
    "retrieve_to_database",
    "retrieve_to_folder",
    "send",
    "server_from_options",
]


# ---------------------------------------------------------------- servers and clients


def read_secret(path: str, what: str = "password") -> str:
    """The first line of a password or token file (surrounding blanks removed)."""
    target = Path(path).expanduser()
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise PacsError(f"Cannot read the {what} file {shown_path(target)}: {reason}") from None
    lines = text.splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise PacsError(f"The {what} file {shown_path(target)} is empty")
    return secret


def parse_dimse_address(text: str) -> tuple[str, str, int]:
    """``AET@HOST:PORT`` (IPv6 hosts in brackets) as (AE title, host, port)."""
    match = re.match(r"^(?P<aet>[^@]+)@(?P<host>\[[^\]]+\]|[^:@\s]+):(?P<port>\d{1,5})$", text)
    if not match or not 1 <= int(match["port"]) <= 65535:
        raise PacsError(f"{text!r} is not a DIMSE address; write it as AET@HOST:PORT")
    return match["aet"].strip(), match["host"].strip("[]"), int(match["port"])


def server_from_options(
    name: str | None = None,
    dicomweb: str | None = None,
    dimse: str | None = None,
    user: str | None = None,
    password: str | None = None,
    password_file: str | None = None,
    token: str | None = None,
    calling_aet: str | None = None,
    timeout_s: float | None = None,
    move_port: int | None = None,
    ca_bundle: str | None = None,
    *,
    token_file: str | None = None,
    tls: bool | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    servers_path: Path | None = None,
) -> ServerConfig:
    """The server a command names (a configured one, or an address), with its options applied.

    Exactly one of ``name``, ``dicomweb`` and ``dimse``; none picks the only configured
    server.  Every other option given overrides the configured value.
    """
    chosen = [option for option in (name, dicomweb, dimse) if option]
    if len(chosen) > 1:
        raise PacsError("Give only one of --server NAME, --dicomweb URL and --dimse AET@HOST:PORT")
    if name:
        server = find_server(name, servers_path)
    elif dicomweb:
        server = ServerConfig(protocol="dicomweb", url=dicomweb.rstrip("/"))
    elif dimse:
        ae_title, host, port = parse_dimse_address(dimse)
        server = ServerConfig(protocol="dimse", ae_title=ae_title, host=host, port=port)
    else:
        from workstation.services.pacs_servers import load_servers

        servers = load_servers(servers_path)
        if len(servers) != 1:
            raise PacsError(
                "Name a server with --server NAME, or give --dicomweb URL or "
                "--dimse AET@HOST:PORT" + ("" if servers else " (no servers are configured)")
            )
        server = servers[0]
    changes: dict[str, Any] = {
        "user": user,
        "password": password,
        "password_file": password_file,
        "token": token,
        "token_file": token_file,
        "calling_aet": calling_aet,
        "timeout_s": timeout_s,
        "move_port": move_port,
        "ca_bundle": ca_bundle,
        "tls": tls,
        "tls_cert": tls_cert,
        "tls_key": tls_key,
    }
    server = replace(server, **{key: value for key, value in changes.items() if value is not None})
    basic = bool(user or password or password_file)
    bearer = bool(token or token_file)
    if bearer and not basic:  # a token on the command line replaces a configured login
        server = replace(server, user="", password="", password_file="")
    if basic and not bearer:
        server = replace(server, token="", token_file="")
    return check_server(server)


def _optional_path(text: str) -> Path | None:
    return Path(text).expanduser() if text else None


def _credentials(server: ServerConfig) -> tuple[str, str, str]:
    """(user, password, token) for a DICOMweb server, secrets read from their files."""
    password = server.password
    if not password and server.password_file:
        password = read_secret(server.password_file, "password")
    token = server.token
    if not token and server.token_file:
        token = read_secret(server.token_file, "token")
    if token and (server.user or password):
        raise PacsError(f"{server.label}: give a user and password or a token, not both")
    if password and not server.user:
        raise PacsError(f"{server.label}: a password needs a user (--user USER)")
    if server.user and not password:
        raise PacsError(
            f"{server.label}: user {server.user!r} needs a password "
            "(--password-file FILE, or --password PASS)"
        )
    return server.user, password, token


def connect(server: ServerConfig) -> PacsClient:
    """A client for ``server`` in its protocol (nothing is sent yet)."""
    check_server(server)
    if server.protocol == "dimse":
        from workstation.io.pacs.dimse import DimseClient

        endpoint = DimseEndpoint(
            ae_title=server.ae_title,
            host=server.host,
            port=server.port,
            tls=server.tls or bool(server.tls_cert),
            tls_ca=_optional_path(server.ca_bundle),
            tls_cert=_optional_path(server.tls_cert),
            tls_key=_optional_path(server.tls_key),
        )
        return DimseClient(
            endpoint,
            calling_aet=server.calling_aet,
            timeout_s=server.timeout_s,
            move_port=server.move_port,
        )
    from workstation.io.pacs.dicomweb import DicomWebClient

    user, password, token = _credentials(server)
    web = DicomWebEndpoint(
        url=server.url,
        user=user,
        password=password,
        token=token,
        ca_bundle=_optional_path(server.ca_bundle),
    )
    return DicomWebClient(web, timeout_s=server.timeout_s)


@contextlib.contextmanager
def connected(server: ServerConfig) -> Iterator[PacsClient]:
    """``connect(server)`` for one block; the client's connections are closed afterwards."""
    client = connect(server)
    try:
        yield client
    finally:
        close = getattr(client, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()


def retrieve_method(server: ServerConfig) -> str:
    """How a retrieve from ``server`` travels: C-GET, C-MOVE or WADO-RS."""
    if server.protocol == "dicomweb":
        return "WADO-RS"
    return "C-MOVE" if server.move_port is not None else "C-GET"


# ---------------------------------------------------------------- echo and find


def echo(server: ServerConfig) -> float:
    """Check that ``server`` answers; the round trip in seconds."""
    with connected(server) as client:
        return client.echo()


def _audit_objects(server: ServerConfig, study_uid: str | None = None) -> list[AuditObject]:
    """The server (and study) an audited PACS action names."""
    objects = [AuditObject("server", server.label)]
    return objects + ([AuditObject("study", study_uid)] if study_uid else [])


def find(server: ServerConfig, query: StudyQuery) -> list[QueryMatch]:
    """The matches of ``query`` on ``server`` (``source`` names the server); audited QUERY."""
    with guarded(None, AuditAction.QUERY, _audit_objects(server)), connected(server) as client:
        matches = client.find(query)
    for match in matches:
        match.source = server.label
    if query.limit is not None:
        matches = matches[: query.limit]
    return matches


# ---------------------------------------------------------------- retrieve


def _run_retrieve(
    server: ServerConfig,
    study_uid: str,
    series_uid: str | None,
    store: Any,
    recorder: StoredInstances,
    destination: str,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> RetrieveReport:
    """Retrieve through ``store(bytes)``; a full report, or PartialTransfer when incomplete."""
    report = RetrieveReport(
        server=server.label,
        study_uid=study_uid,
        series_uid=series_uid,
        destination=destination,
        method=retrieve_method(server),
    )

    def sink(data: bytes) -> None:
        try:
            store(data)
        except WorkstationError as error:
            recorder.failed(error.message)
            raise
        except Exception as error:
            recorder.failed(f"{type(error).__name__}: {error}")
            raise

    started = time.monotonic()
    try:
        with connected(server) as client:
            outcome = client.retrieve(
                study_uid, series_uid, sink, progress, cancel or CancelToken()
            )
    except PacsError as error:
        if not recorder.stored:
            raise
        outcome = RetrieveOutcome(error=error.message)
    fill_report(report, outcome, recorder, time.monotonic() - started)
    if not report.stored and not report.expected:  # nothing there (or nothing said so)
        what = f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
        raise PacsError(report.error or f"{server.label} has no instances of {what}")
    if not report.complete:
        raise PartialTransfer(partial_message(report), report)
    return report


def retrieve_to_database(
    server: ServerConfig,
    study_uid: str,
    series_uid: str | None = None,
    database: DicomDatabase | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> RetrieveReport:
    """Retrieve a study (or one series) into the local database, instance by instance.

    Needs the permission view-identified (checked before connecting); audited RETRIEVE.
    """
    objects = _audit_objects(server, study_uid)
    with guarded(Permission.VIEW_IDENTIFIED, AuditAction.RETRIEVE, objects):
        return _retrieve_to_database(server, study_uid, series_uid, database, progress, cancel)


def _retrieve_to_database(
    server: ServerConfig,
    study_uid: str,
    series_uid: str | None,
    database: DicomDatabase | None,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> RetrieveReport:
    """``retrieve_to_database`` once allowed."""
    from workstation.services.dicom_database import DicomDatabase

    target = database if database is not None else DicomDatabase.open()
    recorder = StoredInstances()

    def store(data: bytes) -> None:
        recorder.add(target.import_bytes(data, origin=server.label), len(data))

    destination = f"the database {shown_path(target.location)}"
    try:
        return _run_retrieve(
            server, study_uid, series_uid, store, recorder, destination, progress, cancel
        )
    finally:
        if database is None:
            target.close()


def retrieve_to_folder(
    server: ServerConfig,
    study_uid: str,
    series_uid: str | None,
    folder: str | Path,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> RetrieveReport:
    """Retrieve into ``folder/<StudyUID>/<SeriesUID>/<SOPInstanceUID>.dcm`` (each written whole).

    Needs the permission view-identified (checked before connecting); audited RETRIEVE.
    """
    objects = _audit_objects(server, study_uid)
    with guarded(Permission.VIEW_IDENTIFIED, AuditAction.RETRIEVE, objects):
        return _retrieve_to_folder(server, study_uid, series_uid, folder, progress, cancel)


def _retrieve_to_folder(
    server: ServerConfig,
    study_uid: str,
    series_uid: str | None,
    folder: str | Path,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> RetrieveReport:
    """``retrieve_to_folder`` once allowed."""
    root = Path(folder).expanduser()
    if root.exists() and not root.is_dir():
        raise InputPathError(f"{shown_path(root)} is a file, not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputPathError(
            f"Cannot create {shown_path(root)}: {error.strerror or error}"
        ) from None
    recorder = StoredInstances()
    made: set[Path] = set()
    lock = threading.Lock()

    def store(data: bytes) -> None:
        study, series, sop = instance_uids(data)
        target = root / uid_part(study, "study") / uid_part(series, "series")
        with lock:
            if target not in made:
                target.mkdir(parents=True, exist_ok=True)
                made.add(target)
        path = target / f"{uid_part(sop, 'instance')}.dcm"
        with atomic_write(path) as handle:
            handle.write(data)
        recorder.add(sop, len(data), str(path))

    return _run_retrieve(
        server, study_uid, series_uid, store, recorder, shown_path(root), progress, cancel
    )


# ---------------------------------------------------------------- send


def send(
    server: ServerConfig,
    paths: Sequence[str | Path],
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> SendReport:
    """Store the DICOM files among ``paths`` (files, folders, zips) on ``server``.

    Non-DICOM files are skipped and counted.  Raises PartialTransfer when some files
    were refused (the report lists them) and InputPathError when nothing is DICOM.
    Needs the permission send-to-pacs (checked before anything is read or connected);
    audited SEND.
    """
    with guarded(Permission.SEND_TO_PACS, AuditAction.SEND, _audit_objects(server)):
        return _send(server, paths, progress, cancel)


def _send(
    server: ServerConfig,
    paths: Sequence[str | Path],
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> SendReport:
    """``send`` once allowed."""
    skipped: list[tuple[str, str]] = []
    with sendable_files(paths, skipped) as files:
        if not files:
            shown = ", ".join(shown_path(path) for path in paths) or "(nothing given)"
            detail = f" ({len(skipped)} files skipped: {skipped[0][1]})" if skipped else ""
            raise InputPathError(f"No DICOM files to send in {shown}{detail}")
        with connected(server) as client:
            outcome = client.send(files, progress, cancel or CancelToken())
    report = SendReport(
        sent=list(outcome.sent),
        failed=list(outcome.failed),
        bytes_sent=outcome.bytes_sent,
        seconds=outcome.seconds,
        server=server.label,
        skipped=skipped,
    )
    if report.failed:
        total = len(report.sent) + len(report.failed)
        name, reason = report.failed[0]
        raise PartialTransfer(
            f"Sent {len(report.sent)} of {total} files to {server.label}; "
            f"{len(report.failed)} failed (first: {Path(name).name}: {reason})",
            report,
        )
    return report
