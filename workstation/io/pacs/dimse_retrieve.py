"""C-GET and C-MOVE of a study or series: contexts, the response loop, the outcome.

The pending responses say how many sub-operations remain, completed and failed; the
final one may list the failed SOP Instance UIDs.  A connection that drops half-way ends
the loop with ``error`` set; what the sink already took stays where it is.  A cancel
sends C-CANCEL, aborts the association and raises ``Cancelled``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import (
    AllStoragePresentationContexts,
    StoragePresentationContexts,
    build_context,
    build_role,
    sop_class,
)
from pynetdicom.association import Association
from pynetdicom.presentation import PresentationContext
from pynetdicom.status import QR_GET_SERVICE_CLASS_STATUS, QR_MOVE_SERVICE_CLASS_STATUS

from workstation.core.errors import Cancelled
from workstation.core.progress import CancelToken, ProgressCallback
from workstation.io.pacs.client import RetrieveOutcome
from workstation.io.pacs.dimse_association import MAX_CONTEXTS, no_answer_text, status_text
from workstation.io.pacs.storage_scp import Receiver

#: Storage SOP classes offered first for C-GET (after the ones the study says it holds).
_PREFERRED = (
    "CTImageStorage",
    "EnhancedCTImageStorage",
    "LegacyConvertedEnhancedCTImageStorage",
    "MRImageStorage",
    "EnhancedMRImageStorage",
    "LegacyConvertedEnhancedMRImageStorage",
    "SegmentationStorage",
    "EncapsulatedSTLStorage",
    "SecondaryCaptureImageStorage",
    "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
    "PositronEmissionTomographyImageStorage",
    "NuclearMedicineImageStorage",
    "RTStructureSetStorage",
    "RTDoseStorage",
    "RTPlanStorage",
    "XRayAngiographicImageStorage",
    "DigitalXRayImageStorageForPresentation",
    "ComputedRadiographyImageStorage",
    "UltrasoundImageStorage",
    "UltrasoundMultiFrameImageStorage",
    "EncapsulatedPDFStorage",
    "GrayscaleSoftcopyPresentationStateStorage",
    "SpatialRegistrationStorage",
    "BasicTextSRStorage",
    "EnhancedSRStorage",
    "ComprehensiveSRStorage",
)
_GET_SYNTAXES: list[str | UID] = [ExplicitVRLittleEndian, ImplicitVRLittleEndian]
_PENDING = (0xFF00, 0xFF01)
_SUCCESS_OR_WARNING = (0x0000, 0xB000)
_CANCEL_STATUS = 0xFE00


def storage_classes(first: Iterable[str], room: int) -> list[str]:
    """Up to ``room`` storage SOP classes: ``first``, our usual ones, then the rest."""
    ordered: list[str] = []
    names = [getattr(sop_class, name, None) for name in _PREFERRED]
    common = [
        str(cx.abstract_syntax)
        for cx in (*StoragePresentationContexts, *AllStoragePresentationContexts)
    ]
    for uid in [*first, *(str(n) for n in names if n), *common]:
        if uid and uid not in ordered:
            ordered.append(uid)
    return ordered[:room]


def get_contexts(
    model: str, sop_classes: Iterable[str]
) -> tuple[list[PresentationContext], list[Any]]:
    """Contexts and SCP role items for a C-GET association: the model and storage classes."""
    contexts = [build_context(model)]
    classes = storage_classes(sop_classes, MAX_CONTEXTS - len(contexts))
    contexts.extend(build_context(uid, _GET_SYNTAXES) for uid in classes)
    roles = [build_role(uid, scp_role=True) for uid in classes]
    return contexts, roles


def _count(status: Dataset, key: str) -> int:
    value: Any = status.get(key, None)
    try:
        return int(value) if value is not None and value != "" else 0
    except (TypeError, ValueError):
        return 0


def _failed_uids(identifier: Dataset | None) -> list[str]:
    if identifier is None:
        return []
    value: Any = identifier.get("FailedSOPInstanceUIDList", None)
    if value is None or value == "":
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [str(v) for v in items if str(v)]


def _stop(assoc: Association, model: str) -> None:
    """Ask the server to stop (C-CANCEL) and end the association at once."""
    with contextlib.suppress(Exception):
        assoc.send_c_cancel(1, query_model=model)
    with contextlib.suppress(Exception):
        assoc.abort()


def run_retrieve(
    assoc: Association,
    responses: Iterator[tuple[Dataset, Dataset | None]],
    model: str,
    receiver: Receiver,
    outcome: RetrieveOutcome,
    name: str,
    calling_aet: str,
    timeout_s: float,
    move: bool,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> RetrieveOutcome:
    """Follow the C-GET/C-MOVE responses into ``outcome`` until the final one."""
    table = QR_MOVE_SERVICE_CLASS_STATUS if move else QR_GET_SERVICE_CLASS_STATUS
    cancel_sent = False
    since = time.monotonic()
    for status, identifier in responses:
        waited, since = time.monotonic() - since, time.monotonic()
        if cancel is not None and cancel.cancelled:
            _stop(assoc, model)
            raise Cancelled()
        if receiver.errors and not cancel_sent:
            with contextlib.suppress(Exception):
                assoc.send_c_cancel(1, query_model=model)
            cancel_sent = True
        if not status or "Status" not in status:
            first = receiver.count == 0 and outcome.expected is None
            outcome.error = no_answer_text(name, calling_aet, waited, timeout_s, "retrieve", first)
            break
        code = int(status.Status)
        done = sum(
            _count(status, key)
            for key in (
                "NumberOfCompletedSuboperations",
                "NumberOfFailedSuboperations",
                "NumberOfWarningSuboperations",
            )
        )
        total = done + _count(status, "NumberOfRemainingSuboperations")
        if code in _PENDING:
            if total:
                outcome.expected = max(outcome.expected or 0, total)
            arrived = receiver.count
            fraction = arrived / outcome.expected if outcome.expected else 0.0
            of = f" of {outcome.expected}" if outcome.expected else ""
            progress(min(fraction, 1.0), f"Received {arrived}{of} instances")
            continue
        outcome.failed = _count(status, "NumberOfFailedSuboperations")
        if done and (outcome.expected is None or code != _CANCEL_STATUS):
            outcome.expected = max(outcome.expected or 0, total, done)
        outcome.missing.extend(u for u in _failed_uids(identifier) if u not in outcome.missing)
        if code == _CANCEL_STATUS and not receiver.errors:
            outcome.error = f"{name} cancelled the retrieve"
        elif code not in _SUCCESS_OR_WARNING and code != _CANCEL_STATUS:
            outcome.error = f"{name} refused the retrieve: {status_text(code, table)}"
            if move:
                outcome.error += (
                    f" (it must know our AE title '{calling_aet}' with this machine's "
                    "address and port, and be able to connect to it)"
                )
        elif code == 0xB000 and not outcome.failed:
            outcome.failed = max(0, (outcome.expected or 0) - receiver.count)
    if cancel is not None and cancel.cancelled:
        raise Cancelled()
    if receiver.errors:
        outcome.error = f"Could not keep a received instance: {receiver.errors[0]}"
    outcome.received = list(receiver.received)
    outcome.bytes_received = receiver.bytes_received
    return outcome
