"""The DIMSE client: C-ECHO, C-FIND, C-GET or C-MOVE, and C-STORE with pynetdicom.

``DimseClient`` implements ``PacsClient``.  Patient searches use the Patient Root
model, study and series searches the Study Root model (series are asked per study, as
a strictly hierarchical PACS requires).  A retrieve is a C-GET on the same association
unless ``move_port`` is set: then our own storage SCP listens on that port under our AE
title for the retrieve's duration and the PACS is asked to C-MOVE to us (it must know
our AE title, host and port).  Every fault is a ``PacsError`` of one line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pynetdicom import build_context, evt
from pynetdicom.association import Association
from pynetdicom.status import QR_FIND_SERVICE_CLASS_STATUS

from workstation.core.dicom_query import QueryMatch, StudyQuery, accepts, patients_of
from workstation.core.errors import Cancelled, PacsError
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.pacs import dimse_query as q
from workstation.io.pacs.client import (
    DEFAULT_CALLING_AET,
    DEFAULT_TIMEOUT_S,
    DimseEndpoint,
    InstanceSink,
    PacsClient,
    RetrieveOutcome,
    SendOutcome,
)
from workstation.io.pacs.dimse_association import no_answer_text, open_association, status_text
from workstation.io.pacs.dimse_retrieve import get_contexts, run_retrieve
from workstation.io.pacs.dimse_send import send_files
from workstation.io.pacs.storage_scp import Receiver, StorageScp

_PENDING = (0xFF00, 0xFF01)
Verification = "1.2.840.10008.1.1"
PatientRootQueryRetrieveInformationModelFind = "1.2.840.10008.5.1.4.1.2.1.1"
StudyRootQueryRetrieveInformationModelFind = "1.2.840.10008.5.1.4.1.2.2.1"
StudyRootQueryRetrieveInformationModelMove = "1.2.840.10008.5.1.4.1.2.2.2"
StudyRootQueryRetrieveInformationModelGet = "1.2.840.10008.5.1.4.1.2.2.3"


class DimseClient:
    """A PACS spoken to over DIMSE (optionally TLS) with our calling AE title."""

    def __init__(
        self,
        endpoint: DimseEndpoint,
        calling_aet: str = DEFAULT_CALLING_AET,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        move_port: int | None = None,
        retries: int = 3,
    ) -> None:
        self.endpoint = endpoint
        self.calling_aet = calling_aet
        self.timeout_s = float(timeout_s)
        self.move_port = move_port
        self.retries = retries

    @property
    def name(self) -> str:
        """``AET@HOST:PORT`` of the server, as messages name it."""
        return str(self.endpoint)

    def _open(
        self, contexts: Sequence[Any], cancel: CancelToken | None = None, **options: Any
    ) -> Association:
        return open_association(
            self.endpoint,
            self.calling_aet,
            contexts,
            self.timeout_s,
            self.retries,
            cancel,
            **options,
        )

    @contextlib.contextmanager
    def _association(
        self, contexts: Sequence[Any], cancel: CancelToken | None = None, **options: Any
    ) -> Iterator[Association]:
        assoc = self._open(contexts, cancel, **options)
        try:
            yield assoc
        finally:
            if assoc.is_established:
                with contextlib.suppress(Exception):
                    assoc.release()

    # -- echo ----------------------------------------------------------------------
    def echo(self) -> float:
        """C-ECHO; the round trip in seconds (association included)."""
        started = time.monotonic()
        with self._association([build_context(Verification)]) as assoc:
            since = time.monotonic()
            status = assoc.send_c_echo()
            if not status or "Status" not in status:
                raise PacsError(self._no_answer(since, "echo"))
            if int(status.Status) != 0:
                raise PacsError(f"{self.name} answered the echo with {status_text(status.Status)}")
        return time.monotonic() - started

    def _no_answer(self, since: float, doing: str) -> str:
        waited = time.monotonic() - since
        return no_answer_text(self.name, self.calling_aet, waited, self.timeout_s, doing)

    # -- find ----------------------------------------------------------------------
    def _find(self, assoc: Association, identifier: Dataset, model: str) -> Iterator[Dataset]:
        """The answers of one C-FIND; a failure status or no answer is a ``PacsError``."""
        since = time.monotonic()
        for status, answer in assoc.send_c_find(identifier, model):
            if not status or "Status" not in status:
                raise PacsError(self._no_answer(since, "search"))
            since = time.monotonic()
            code = int(status.Status)
            if code in _PENDING:
                if answer is not None:
                    yield answer
                continue
            if code not in (0x0000, 0xFE00, 0xB001):
                words = status_text(code, QR_FIND_SERVICE_CLASS_STATUS)
                raise PacsError(f"{self.name} refused the search: {words}")
            return

    def find(self, query: StudyQuery) -> list[QueryMatch]:
        """The matches of ``query`` at its level."""
        contexts = [
            build_context(PatientRootQueryRetrieveInformationModelFind),
            build_context(StudyRootQueryRetrieveInformationModelFind),
        ]
        with self._association(contexts) as assoc:
            if query.level == "patient" and not q.needs_studies(query):
                matches = [
                    match
                    for ds in self._find(
                        assoc,
                        q.patient_identifier(query),
                        PatientRootQueryRetrieveInformationModelFind,
                    )
                    if accepts(query, match := q.match_from(ds, "patient", self.name))
                ]
                return matches[: query.limit] if query.limit is not None else matches
            study_query = query
            if query.level == "patient":
                study_query = dataclasses.replace(query, level="study", limit=None)
            elif query.level == "series":  # the series' own modality and description count
                study_query = dataclasses.replace(
                    query, level="study", limit=None, modality="", description=""
                )
            studies = [
                match
                for ds in self._find(
                    assoc,
                    q.study_identifier(study_query),
                    StudyRootQueryRetrieveInformationModelFind,
                )
                if accepts(study_query, match := q.match_from(ds, "study", self.name))
            ]
            if query.level == "patient":
                patients = patients_of(studies)
                return patients[: query.limit] if query.limit is not None else patients
            if query.level == "study":
                return studies[: query.limit] if query.limit is not None else studies
            series: list[QueryMatch] = []
            for study in studies:
                for ds in self._find(
                    assoc,
                    q.series_identifier(query, study.study_uid),
                    StudyRootQueryRetrieveInformationModelFind,
                ):
                    match = q.with_series(study, ds)
                    if accepts(query, match):
                        series.append(match)
                if query.limit is not None and len(series) >= query.limit:
                    return series[: query.limit]
            return series

    # -- retrieve ------------------------------------------------------------------
    def _identifier(self, study_uid: str, series_uid: str | None) -> Dataset:
        ds = Dataset()
        ds.QueryRetrieveLevel = "SERIES" if series_uid else "STUDY"
        ds.StudyInstanceUID = study_uid
        if series_uid:
            ds.SeriesInstanceUID = series_uid
        return ds

    def _contents(
        self, assoc: Association, study_uid: str, series_uid: str | None
    ) -> tuple[bool, int | None, list[str]]:
        """Whether the server knows the study/series, its instance count, its SOP classes."""
        ds = self._identifier(study_uid, series_uid)
        count_key = (
            "NumberOfSeriesRelatedInstances" if series_uid else "NumberOfStudyRelatedInstances"
        )
        setattr(ds, count_key, "")
        if not series_uid:
            ds.SOPClassesInStudy = ""
        try:
            answers = list(self._find(assoc, ds, StudyRootQueryRetrieveInformationModelFind))
        except (PacsError, ValueError, RuntimeError):
            return True, None, []
        if not answers:
            return False, 0, []
        value: Any = answers[0].get(count_key, None)
        try:
            count = int(value) if value not in (None, "") else None
        except (TypeError, ValueError):
            count = None
        classes: Any = answers[0].get("SOPClassesInStudy", None) or []
        classes = [classes] if isinstance(classes, str) else list(classes)
        return True, count, [str(c) for c in classes if str(c)]

    def retrieve(
        self,
        study_uid: str,
        series_uid: str | None,
        sink: InstanceSink,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> RetrieveOutcome:
        """Fetch a study (or one of its series), handing each instance to ``sink``."""
        started = time.monotonic()
        receiver = Receiver(sink, cancel)
        what = f"series {series_uid}" if series_uid else f"study {study_uid}"
        if self.move_port is None:
            outcome = self._get(study_uid, series_uid, receiver, progress, cancel)
        else:
            outcome = self._move(study_uid, series_uid, receiver, progress, cancel)
        if outcome.expected == 0 and not outcome.received and not outcome.error:
            outcome.error = f"{self.name} has no {what}"
        outcome.seconds = time.monotonic() - started
        return outcome

    def _prefind(
        self,
        study_uid: str,
        series_uid: str | None,
        outcome: RetrieveOutcome,
        cancel: CancelToken | None,
    ) -> list[str]:
        """Ask (C-FIND) how many instances there are and of which SOP classes."""
        contexts = [build_context(StudyRootQueryRetrieveInformationModelFind)]
        with self._association(contexts, cancel) as assoc:
            known, count, classes = self._contents(assoc, study_uid, series_uid)
        if not known:
            outcome.expected = 0
        elif count is not None:
            outcome.expected = count
        return classes

    def _get(
        self,
        study_uid: str,
        series_uid: str | None,
        receiver: Receiver,
        progress: ProgressCallback,
        cancel: CancelToken | None,
    ) -> RetrieveOutcome:
        outcome = RetrieveOutcome()
        model = StudyRootQueryRetrieveInformationModelGet
        classes = self._prefind(study_uid, series_uid, outcome, cancel)
        if outcome.expected == 0:
            return outcome
        contexts, roles = get_contexts(model, classes)
        with self._association(
            contexts, cancel, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, receiver.on_store)]
        ) as assoc:
            try:
                responses = assoc.send_c_get(self._identifier(study_uid, series_uid), model)
            except ValueError as exc:
                raise PacsError(f"{self.name} does not offer C-GET: {exc}") from None
            return self._follow(assoc, responses, model, receiver, outcome, False, progress, cancel)

    def _follow(
        self,
        assoc: Association,
        responses: Any,
        model: str,
        receiver: Receiver,
        outcome: RetrieveOutcome,
        move: bool,
        progress: ProgressCallback,
        cancel: CancelToken | None,
    ) -> RetrieveOutcome:
        try:
            return run_retrieve(
                assoc,
                responses,
                model,
                receiver,
                outcome,
                self.name,
                self.calling_aet,
                self.timeout_s,
                move,
                progress,
                cancel,
            )
        except Cancelled:
            outcome.received = list(receiver.received)
            raise

    def _move(
        self,
        study_uid: str,
        series_uid: str | None,
        receiver: Receiver,
        progress: ProgressCallback,
        cancel: CancelToken | None,
    ) -> RetrieveOutcome:
        outcome = RetrieveOutcome()
        model = StudyRootQueryRetrieveInformationModelMove
        assert self.move_port is not None
        scp = StorageScp(
            self.calling_aet,
            self.move_port,
            receiver,
            host=self._listen_host(),
            timeout_s=self.timeout_s,
        )
        contexts = [build_context(model)]
        self._prefind(study_uid, series_uid, outcome, cancel)
        if outcome.expected == 0:
            return outcome
        with scp, self._association(contexts, cancel) as assoc:
            responses = assoc.send_c_move(
                self._identifier(study_uid, series_uid), self.calling_aet, model
            )
            return self._follow(assoc, responses, model, receiver, outcome, True, progress, cancel)

    def _listen_host(self) -> str:
        """Loopback when the PACS is on this machine, else every interface."""
        host = self.endpoint.host
        if host == "localhost":
            return "127.0.0.1"
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(host).is_loopback:
                return "127.0.0.1"
        return "0.0.0.0"

    # -- send ----------------------------------------------------------------------
    def send(
        self,
        files: Sequence[Path],
        progress: ProgressCallback = no_progress,
        cancel: CancelToken | None = None,
    ) -> SendOutcome:
        """C-STORE the files; refused ones are listed with the status in words."""
        return send_files(
            self.endpoint, self.calling_aet, self.timeout_s, self.retries, files, progress, cancel
        )


if TYPE_CHECKING:  # mypy checks that DimseClient offers everything PacsClient promises
    _CHECK: PacsClient = DimseClient(DimseEndpoint("PACS", "localhost", 104))
