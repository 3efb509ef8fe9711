"""How C-GET/C-MOVE responses become a retrieve outcome (counts, failures, missing UIDs)."""

from __future__ import annotations

from pydicom.dataset import Dataset

from workstation.io.pacs.client import RetrieveOutcome
from workstation.io.pacs.dimse_retrieve import run_retrieve
from workstation.io.pacs.storage_scp import Receiver


class _Assoc:
    """Stands in for an association: records C-CANCEL and abort."""

    is_aborted = False

    def __init__(self) -> None:
        self.calls: list[str] = []

    def send_c_cancel(self, msg_id: int, query_model: str) -> None:
        self.calls.append("cancel")

    def abort(self) -> None:
        self.calls.append("abort")


class _Store:
    """A C-STORE event carrying one instance."""

    def __init__(self, uid: str) -> None:
        self.request = Dataset()
        self.request.AffectedSOPInstanceUID = uid

    def encoded_dataset(self) -> bytes:
        return b"\0" * 128 + b"DICM" + self.request.AffectedSOPInstanceUID.encode()


def _status(code: int, remaining: int, completed: int, failed: int, warning: int = 0) -> Dataset:
    ds = Dataset()
    ds.Status = code
    ds.NumberOfRemainingSuboperations = remaining
    ds.NumberOfCompletedSuboperations = completed
    ds.NumberOfFailedSuboperations = failed
    ds.NumberOfWarningSuboperations = warning
    return ds


def _run(responses, receiver: Receiver, move: bool = False) -> RetrieveOutcome:
    return run_retrieve(
        _Assoc(),
        iter(responses),
        "1.2.3",
        receiver,
        RetrieveOutcome(),
        "PACS@h:104",
        "WORKSTATION",
        5.0,
        move,
        lambda f, t: None,
        None,
    )


def test_failed_sub_operations_and_their_uids_are_reported() -> None:
    kept: list[bytes] = []
    receiver = Receiver(kept.append)

    def responses():
        for index, uid in enumerate(("1.1", "1.2")):
            receiver.on_store(_Store(uid))
            yield _status(0xFF00, 3 - index, index + 1, 0), None
        failed = Dataset()
        failed.FailedSOPInstanceUIDList = ["1.3", "1.4"]
        yield _status(0xB000, 0, 2, 2), failed

    outcome = _run(responses(), receiver)
    assert outcome.expected == 4
    assert outcome.received == ["1.1", "1.2"]
    assert (outcome.failed, outcome.missing) == (2, ["1.3", "1.4"])
    assert outcome.error == ""
    assert not outcome.complete
    assert len(kept) == 2 and kept[0].endswith(b"1.1")


def test_a_refused_move_explains_what_the_pacs_needs() -> None:
    outcome = _run([(_status(0xA801, 0, 0, 0), None)], Receiver(lambda data: None), move=True)
    assert outcome.error == (
        "PACS@h:104 refused the retrieve: Move destination unknown (0xA801) (it must "
        "know our AE title 'WORKSTATION' with this machine's address and port, and be able to "
        "connect to it)"
    )


def test_a_drop_after_some_instances_keeps_them() -> None:
    receiver = Receiver(lambda data: None)

    def responses():
        receiver.on_store(_Store("2.1"))
        yield _status(0xFF00, 4, 1, 0), None
        yield Dataset(), None  # what pynetdicom yields when the association is gone

    outcome = _run(responses(), receiver)
    assert (outcome.expected, outcome.received) == (5, ["2.1"])
    assert outcome.error == "PACS@h:104 aborted the association during the retrieve"
