"""A DICOMweb PACS client: QIDO-RS search, WADO-RS retrieve with progress, STOW-RS store.

Searches go through dicomweb-client on our own ``requests`` session (authentication,
CA bundle, a time-out on every request).  Retrieves list the instances first (QIDO-RS),
so the expected count and per-instance progress are known, then stream each series and
hand every instance to the sink as a Part 10 file the moment it arrives.  A stream that
breaks off is resumed instance by instance; what still cannot be fetched is reported as
missing, and what arrived is kept.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pydicom
import requests
import urllib3
from dicomweb_client.api import DICOMwebClient

from workstation.core.dicom_query import QueryMatch, StudyQuery, accepts, patients_of
from workstation.core.errors import PacsError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.pacs.client import (
    DEFAULT_TIMEOUT_S,
    DicomWebEndpoint,
    InstanceSink,
    PacsClient,
    RetrieveOutcome,
    SendOutcome,
)
from workstation.io.pacs.dicomweb_http import (
    HttpFault,
    call_with_retries,
    check_status,
    describe_fault,
    make_session,
    quiet_libraries,
)
from workstation.io.pacs.dicomweb_multipart import (
    IncompleteBody,
    as_part10,
    content_type_param,
    encode_related,
    iter_parts,
    new_boundary,
    sop_instance_uid,
)
from workstation.io.pacs.dicomweb_query import (
    INSTANCE_FIELDS,
    SERIES_FIELDS,
    STUDY_FIELDS,
    json_text,
    json_values,
    query_string,
    search_filters,
    series_match,
    study_match,
)

T = TypeVar("T")

#: What a retrieve accepts: DICOM instances in the transfer syntax they are stored in.
WADO_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
WADO_ACCEPT_PLAIN = 'multipart/related; type="application/dicom"'
#: A STOW-RS request carries at most this many files or bytes.
STOW_BATCH_FILES = 50
STOW_BATCH_BYTES = 50 * 1024 * 1024
STREAM_CHUNK = 1 << 20


class DicomWebClient:
    """Echo, find, retrieve and send over DICOMweb (implements ``PacsClient``)."""

    def __init__(
        self,
        endpoint: DicomWebEndpoint,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = 3,
    ) -> None:
        self.endpoint = endpoint
        self.url = endpoint.url.rstrip("/")
        self.timeout_s = float(timeout_s)
        self.retries = max(1, int(retries))
        self.retry_delay_s = 0.5
        self._session = make_session(endpoint, self.timeout_s)
        try:
            self._web = DICOMwebClient(self.url, session=self._session, timeout=self.timeout_s)
        except ValueError as error:
            raise PacsError(f"'{endpoint.url}' is not a DICOMweb address: {error}") from error
        self._web.set_http_retry_params(retry=False)  # we retry ourselves, with back-off
        self._accept = WADO_ACCEPT

    def close(self) -> None:
        """Close the connections this client holds."""
        self._session.close()

    def __enter__(self) -> DicomWebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, call: Callable[[], T], cancel: CancelToken | None = None) -> T:
        return call_with_retries(
            call, self.url, self.timeout_s, self.retries, cancel, self.retry_delay_s
        )

    # -- echo and find -----------------------------------------------------------------

    def echo(self) -> float:
        """Ask for one study (QIDO-RS); the round trip in seconds."""
        start = time.perf_counter()
        self._call(lambda: self._web.search_for_studies(limit=1, fields=["StudyInstanceUID"]))
        return time.perf_counter() - start

    def find(self, query: StudyQuery) -> list[QueryMatch]:
        """The studies, series or patients matching ``query`` (QIDO-RS)."""
        if query.level == "series":
            matches = [series_match(r, self.url) for r in self._search_series(query)]
        else:
            limit = query.limit if query.level == "study" else None
            records = self._search_studies(query, limit)
            matches = [study_match(r, self.url) for r in records]
        matches = [match for match in matches if accepts(query, match)]
        if query.level == "patient":
            matches = patients_of(matches, self.url)
        return matches[: query.limit] if query.limit else matches

    def _search_studies(self, query: StudyQuery, limit: int | None) -> list[dict[str, Any]]:
        params = query_string(search_filters(query, "study"), STUDY_FIELDS, limit)
        return self._qido(f"{self.url}/studies{params}")

    def _search_series(self, query: StudyQuery) -> list[dict[str, Any]]:
        filters = search_filters(query, "series")
        study_uid = filters.pop("StudyInstanceUID", None)
        path = f"/studies/{study_uid}/series" if study_uid else "/series"
        return self._qido(f"{self.url}{path}{query_string(filters, SERIES_FIELDS, query.limit)}")

    def _qido(self, url: str) -> list[dict[str, Any]]:
        """One QIDO-RS search (our own query string, see ``query_string``)."""

        def get() -> list[dict[str, Any]]:
            response = self._session.get(url, headers={"Accept": "application/dicom+json"})
            check_status(response, self.url)
            if not response.content:
                return []  # 204 No Content: nothing matches
            answer = response.json()
            if isinstance(answer, dict):
                return [answer]
            if not isinstance(answer, list):
                raise ValueError("not a list of data sets")
            return [record for record in answer if isinstance(record, dict)]

        return self._call(get)

    def list_instances(self, study_uid: str, series_uid: str | None = None) -> dict[str, list[str]]:
        """The SOP Instance UIDs of a study (or one series of it), by series UID."""
        records = self._call(
            lambda: self._web.search_for_instances(
                study_instance_uid=study_uid,
                series_instance_uid=series_uid,
                fields=list(INSTANCE_FIELDS),
            )
        )
        by_series: dict[str, list[str]] = {}
        for record in records:
            series = json_text(record, "SeriesInstanceUID") or (series_uid or "")
            sop = json_text(record, "SOPInstanceUID")
            if sop:
                by_series.setdefault(series, []).append(sop)
        return by_series

    # -- retrieve ----------------------------------------------------------------------

    def retrieve(
        self,
        study_uid: str,
        series_uid: str | None,
        sink: InstanceSink,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> RetrieveOutcome:
        """Fetch a study (or one series) by WADO-RS, each instance to ``sink`` as it arrives.

        A transfer that stops half-way returns the outcome with ``error`` set and
        ``missing`` naming the SOP Instance UIDs that did not arrive.
        """
        start = time.perf_counter()
        what = f"series {series_uid}" if series_uid else f"study {study_uid}"
        progress(0.0, f"Listing the instances of {what}")
        listing = self.list_instances(study_uid, series_uid)
        if not listing:
            raise PacsError(f"{self.url} has no {what}")
        outcome = RetrieveOutcome(expected=sum(len(sops) for sops in listing.values()))
        run = _Retrieval(self, study_uid, sink, outcome, progress, cancel)
        try:
            for series, sops in listing.items():
                if cancel is not None:
                    cancel.raise_if_cancelled()
                run.series(series, sops)
                if outcome.error:
                    break
        finally:
            wanted = [sop for sops in listing.values() for sop in sops]
            got = set(outcome.received)
            outcome.missing = [sop for sop in wanted if sop not in got]
            outcome.seconds = time.perf_counter() - start
        if outcome.missing and not outcome.error:
            outcome.error = (
                f"{self.url} sent {len(outcome.received)} of {outcome.expected} instances"
                f" of {what}; {len(outcome.missing)} did not arrive"
            )
        return outcome

    def _get(self, url: str, stream: bool = True) -> requests.Response:
        """One GET of a WADO-RS resource, falling back to the server's own transfer syntax."""
        response = self._session.get(url, headers={"Accept": self._accept}, stream=stream)
        if response.status_code in (400, 406) and self._accept == WADO_ACCEPT:
            response.close()
            self._accept = WADO_ACCEPT_PLAIN  # a server that cannot keep the stored syntax
            response = self._session.get(url, headers={"Accept": self._accept}, stream=stream)
        if response.status_code == 404:
            response.close()
            raise PacsError(f"{self.url} has no {url[len(self.url) + 1 :]}")
        check_status(response, self.url)
        return response

    # -- send --------------------------------------------------------------------------

    def send(
        self,
        files: Sequence[Path],
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> SendOutcome:
        """Store DICOM files by STOW-RS, in batches; refused files are listed in ``failed``.

        A server that cannot be reached at all raises ``PacsError``; one that goes away
        part-way leaves the files not yet stored in ``failed`` with the reason.
        """
        start = time.perf_counter()
        outcome = SendOutcome()
        total = len(files)
        stopped = ""
        for batch in _batches(files, outcome):
            if stopped:
                outcome.failed += [(str(path), stopped) for path, _, _ in batch]
                continue
            if cancel is not None:
                cancel.raise_if_cancelled()
            try:
                self._store_batch(batch, outcome, cancel)
            except PacsError as error:
                if not outcome.sent:
                    raise
                stopped = error.message
                outcome.failed += [(str(path), stopped) for path, _, _ in batch]
            done = len(outcome.sent) + len(outcome.failed)
            progress(done / max(total, 1), f"Sent {len(outcome.sent)} of {total} files")
        outcome.seconds = time.perf_counter() - start
        progress(1.0, f"Sent {len(outcome.sent)} of {total} files")
        return outcome

    def _store_batch(
        self, batch: list[tuple[Path, str, bytes]], outcome: SendOutcome, cancel: CancelToken | None
    ) -> None:
        boundary = new_boundary()
        body = encode_related((data for _, _, data in batch), boundary, "application/dicom")
        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Accept": "application/dicom+json",
        }

        def post() -> requests.Response:
            response = self._session.post(f"{self.url}/studies", data=body, headers=headers)
            if response.status_code not in (200, 202, 409):
                check_status(response, self.url)
            return response

        response = self._call(post, cancel)
        failed = _failed_sops(response)
        if response.status_code == 409 and not failed:
            failed = {uid: "refused by the server (HTTP 409)" for _, uid, _ in batch}
        for path, uid, data in batch:
            if uid in failed:
                outcome.failed.append((str(path), failed[uid]))
            else:
                outcome.sent.append(str(path))
                outcome.bytes_sent += len(data)


class _Retrieval:
    """The state of one retrieve: hands parts to the sink, counts, resumes after a break."""

    def __init__(
        self,
        client: DicomWebClient,
        study_uid: str,
        sink: InstanceSink,
        outcome: RetrieveOutcome,
        progress: ProgressCallback,
        cancel: CancelToken | None,
    ) -> None:
        self.client = client
        self.study_uid = study_uid
        self.sink = sink
        self.outcome = outcome
        self.progress = progress
        self.cancel = cancel
        self.got: set[str] = set()

    def series(self, series_uid: str, sops: list[str]) -> None:
        """Stream one series; after a break, fetch what is still missing one by one."""
        url = f"{self.client.url}/studies/{self.study_uid}"
        if series_uid:
            url += f"/series/{series_uid}"
        broken = ""
        try:
            with quiet_libraries():
                self._receive(lambda: self.client._get(url))
        except PacsError as error:
            self.outcome.error = error.message
            return
        except HttpFault as fault:
            if not fault.transient:
                self.outcome.error = fault.message
                return
            broken = fault.message
        if not series_uid:
            self.outcome.error = broken  # no series to fetch single instances from
            return
        for sop in sops:
            if sop in self.got:
                continue
            if self.cancel is not None:
                self.cancel.raise_if_cancelled()
            instance_url = f"{url}/instances/{sop}"
            try:
                self.client._call(partial(self._receive, partial(self.client._get, instance_url)))
            except PacsError as error:
                self.outcome.error = error.message
                return

    def _receive(self, open_response: Callable[[], requests.Response]) -> None:
        """Read one WADO-RS answer, handing each instance on; faults become ``HttpFault``."""
        try:
            response = open_response()
        except (PacsError, HttpFault):
            raise
        except Exception as error:  # every library fault becomes one line
            raise describe_fault(error, self.client.url, self.client.timeout_s) from error
        with response:
            try:
                for content_type, content in _instances(response):
                    if self.cancel is not None:
                        self.cancel.raise_if_cancelled()
                    self._deliver(as_part10(content, content_type))
            except (PacsError, HttpFault):
                raise
            except IncompleteBody as error:
                message = f"{self.client.url} closed the connection before the answer was complete"
                raise HttpFault(message, transient=True) from error
            except pydicom.errors.InvalidDicomError as error:
                raise PacsError(f"{self.client.url} sent something that is not DICOM") from error
            except requests.RequestException as error:
                raise describe_fault(error, self.client.url, self.client.timeout_s) from error

    def _deliver(self, data: bytes) -> None:
        uid = sop_instance_uid(data)
        if uid in self.got:
            return
        self.sink(data)
        self.got.add(uid)
        outcome = self.outcome
        outcome.received.append(uid)
        outcome.bytes_received += len(data)
        expected = outcome.expected or len(outcome.received)
        self.progress(
            min(len(outcome.received) / expected, 1.0),
            f"Received {len(outcome.received)} of {expected} instances",
        )


def _instances(response: requests.Response) -> Iterator[tuple[str, bytes]]:
    """The (content type, content) of each instance of a WADO-RS answer, as they arrive."""
    content_type = response.headers.get("Content-Type", "")
    boundary = content_type_param(content_type, "boundary")
    if not content_type.lower().startswith("multipart/") or not boundary:
        yield content_type, response.content  # a server that sends one bare instance
        return
    for headers, content in iter_parts(_chunks(response), boundary):
        yield headers.get("content-type", ""), content


def _chunks(response: requests.Response) -> Iterator[bytes]:
    """The body as it arrives: whatever each socket read gives, up to ``STREAM_CHUNK``.

    ``read1`` (not ``iter_content``) so that a connection that breaks off loses nothing
    already received: the parts before the break still reach the sink.
    """
    raw = response.raw
    try:
        while True:
            chunk = raw.read1(STREAM_CHUNK, decode_content=True)
            if not chunk:
                return
            yield chunk
    except urllib3.exceptions.ReadTimeoutError as error:
        raise requests.exceptions.ConnectionError(f"read timed out: {error}") from error
    except (urllib3.exceptions.ProtocolError, OSError) as error:
        raise requests.exceptions.ChunkedEncodingError(str(error)) from error


Batch = list[tuple[Path, str, bytes]]


def _batches(files: Sequence[Path], outcome: SendOutcome) -> Iterator[Batch]:
    """The files as STOW batches of (path, SOP Instance UID, bytes); unreadable ones fail."""
    batch: Batch = []
    size = 0
    for path in files:
        try:
            data = Path(path).read_bytes()
            dataset = pydicom.dcmread(
                io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID"]
            )
            uid = str(dataset.get("SOPInstanceUID", ""))
            if not uid:
                raise ValueError("no SOP Instance UID")
        except OSError as error:
            outcome.failed.append((str(path), f"cannot read: {error.strerror or error}"))
            continue
        except Exception as error:  # not DICOM, whatever pydicom says
            outcome.failed.append((str(path), f"not a DICOM file ({error})"))
            continue
        if batch and (len(batch) >= STOW_BATCH_FILES or size + len(data) > STOW_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((Path(path), uid, data))
        size += len(data)
    if batch:
        yield batch


def _failed_sops(response: requests.Response) -> dict[str, str]:
    """SOP Instance UID → reason for each item of a STOW-RS answer's Failed SOP Sequence."""
    try:
        answer = response.json() if response.content else {}
    except ValueError:
        return {}
    if isinstance(answer, list):
        answer = answer[0] if answer else {}
    failed: dict[str, str] = {}
    for item in json_values(answer, "FailedSOPSequence"):
        if not isinstance(item, dict):
            continue
        uid = json_text(item, "ReferencedSOPInstanceUID")
        code = json_text(item, "FailureReason")
        reason = f"refused by the server (failure reason {_hex(code)})" if code else "refused"
        failed[uid] = reason
    return failed


def _hex(code: str) -> str:
    try:
        return f"0x{int(code):04X}"
    except ValueError:
        return code


def _implements_protocol(client: DicomWebClient) -> PacsClient:
    """mypy checks here that ``DicomWebClient`` offers everything ``PacsClient`` asks for."""
    return client
