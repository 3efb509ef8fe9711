"""The PACS service against a real Orthanc: echo, find, retrieve (folder and database), send,
and what a retrieve that stops half-way keeps and says."""

from __future__ import annotations

import threading

import pydicom
import pytest

from tests.services.pacs_cases import check_folder, write_study
from tests.support.orthanc import running_orthanc
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import InputPathError, PacsError
from workstation.io.pacs.client import RetrieveOutcome, SendOutcome
from workstation.services import pacs
from workstation.services.pacs import (
    PartialTransfer,
    parse_dimse_address,
    retrieve_to_folder,
    server_from_options,
)
from workstation.services.pacs_servers import ServerConfig, save_servers


@pytest.fixture
def study(tmp_path, empty_orthanc):
    truth = write_study(tmp_path / "upload")
    empty_orthanc.upload(truth.files)
    return truth


def _dimse(orthanc, **options) -> ServerConfig:
    return server_from_options(dimse=orthanc.dimse, timeout_s=10, **options)


def _web(orthanc) -> ServerConfig:
    return server_from_options(dicomweb=orthanc.dicomweb_url, timeout_s=10)


def test_addresses_and_option_rules():
    assert parse_dimse_address("ORTHANC@127.0.0.1:4242") == ("ORTHANC", "127.0.0.1", 4242)
    assert parse_dimse_address("PACS@[::1]:104") == ("PACS", "::1", 104)
    for bad in ("ORTHANC127.0.0.1:4242", "A@h", "A@h:0", "A@h:99999"):
        with pytest.raises(PacsError, match="AET@HOST:PORT"):
            parse_dimse_address(bad)
    with pytest.raises(PacsError, match="only one of"):
        server_from_options(dimse="A@h:1", dicomweb="http://h/dw")
    with pytest.raises(PacsError, match="no servers are configured"):
        server_from_options()
    save_servers([ServerConfig(name="only", protocol="dicomweb", url="http://h/dw", user="u",
                               password_file="/pw")])  # fmt: skip
    only = server_from_options()
    assert only.name == "only" and only.address == "http://h/dw"
    # A token given now replaces the configured login; options override the file.
    bearer = server_from_options(name="only", token="t0k", timeout_s=3)
    assert (bearer.user, bearer.password_file, bearer.token, bearer.timeout_s) == ("", "", "t0k", 3)
    with pytest.raises(PacsError, match="needs a password"):
        pacs.connect(server_from_options(dicomweb="http://h/dw", user="u"))


def test_echo_both_protocols(orthanc):
    assert 0 < pacs.echo(_dimse(orthanc)) < 10
    assert 0 < pacs.echo(_web(orthanc)) < 10


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_find_at_three_levels_gives_the_uploaded_truth(study, empty_orthanc, protocol):
    server = _dimse(empty_orthanc) if protocol == "dimse" else _web(empty_orthanc)
    patients = pacs.find(server, StudyQuery(level="patient", patient_id=study.patient_id))
    assert [(m.patient_id, m.patient_name) for m in patients] == [
        (study.patient_id, "Synthetic^Patient")
    ]
    studies = pacs.find(server, StudyQuery(level="study", patient_name="synth*"))
    assert [m.study_uid for m in studies] == [study.study_uid]
    assert studies[0].source == server.label and studies[0].study_date == "20260101"
    series = pacs.find(server, StudyQuery(level="series", study_uid=study.study_uid))
    assert {m.series_uid: m.n_instances for m in series} == {
        uid: len(sops) for uid, sops in study.series.items()
    }
    assert pacs.find(server, StudyQuery(level="study", patient_id="NOBODY")) == []


@pytest.mark.parametrize("method", ["C-GET", "C-MOVE", "WADO-RS"])
def test_retrieve_to_folder_writes_every_instance_whole(study, empty_orthanc, tmp_path, method):
    if method == "WADO-RS":
        server = _web(empty_orthanc)
    else:
        move = empty_orthanc.move_port if method == "C-MOVE" else None
        server = _dimse(empty_orthanc, move_port=move)
    out = tmp_path / "out"
    report = retrieve_to_folder(server, study.study_uid, None, out)
    assert report.method == method and report.complete
    assert set(report.stored) == study.sop_uids and len(report.stored) == study.n_instances
    assert report.expected in (None, study.n_instances)
    check_folder(out, study)
    # A second retrieve of one series replaces its files whole and leaves no temporaries.
    series_uid = next(iter(study.series))
    again = retrieve_to_folder(server, study.study_uid, series_uid, out)
    assert set(again.stored) == set(study.series[series_uid])
    check_folder(out, study)


def test_retrieve_into_the_database_is_searchable(study, empty_orthanc, tmp_path):
    from workstation.services.dicom_database import DicomDatabase

    with DicomDatabase.open(tmp_path / "db") as database:
        report = pacs.retrieve_to_database(
            _dimse(empty_orthanc), study.study_uid, database=database
        )
        assert report.complete and set(report.stored) == study.sop_uids
        assert str(tmp_path / "db") in report.destination
        found = database.search(StudyQuery(level="series", study_uid=study.study_uid))
        assert {m.series_uid: m.n_instances for m in found} == {
            uid: len(sops) for uid, sops in study.series.items()
        }
        files = database.study_files(study.study_uid)
        assert {str(pydicom.dcmread(f).SOPInstanceUID) for f in files} == study.sop_uids


def test_send_a_folder_skips_what_is_not_dicom(tmp_path, empty_orthanc):
    truth = write_study(tmp_path / "send", patient_id="SEND01", sizes=(5,))
    (tmp_path / "send" / "notes.txt").write_text("not an image")
    report = pacs.send(_dimse(empty_orthanc), [tmp_path / "send"])
    assert len(report.sent) == 5 and report.complete
    assert [reason for _, reason in report.skipped] == ["not a DICOM Part 10 file"]
    assert empty_orthanc.study_uids() == [truth.study_uid]
    assert empty_orthanc.instance_count() == 5
    with pytest.raises(InputPathError, match="No DICOM files to send"):
        pacs.send(_web(empty_orthanc), [tmp_path / "send" / "notes.txt"])


def test_send_a_zip_and_a_partial_send(tmp_path, empty_orthanc, monkeypatch):
    import zipfile

    truth = write_study(tmp_path / "zipped", patient_id="ZIP01", sizes=(3,))
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in truth.files:
            bundle.write(path, f"CD/{path.name}")
        bundle.writestr("CD/README.TXT", "not an image")
    report = pacs.send(_web(empty_orthanc), [archive])
    assert len(report.sent) == 3 and len(report.skipped) == 1
    assert empty_orthanc.study_uids() == [truth.study_uid]

    class Refusing:
        def send(self, files, progress, cancel):
            return SendOutcome(sent=[str(f) for f in files[1:]], failed=[(str(files[0]), "no")])

    monkeypatch.setattr(pacs, "connect", lambda server: Refusing())
    with pytest.raises(
        PartialTransfer, match=r"^Sent 2 of 3 files to .*; 1 failed \(first: "
    ) as raised:
        pacs.send(_web(empty_orthanc), [tmp_path / "zipped"])
    assert len(raised.value.report.failed) == 1


class _HalfClient:
    """A client whose transfer breaks after ``keep`` instances (the server said ``expected``)."""

    def __init__(self, files, keep, expected, raise_instead=False):
        self.files, self.keep, self.expected, self.raise_instead = (
            files,
            keep,
            expected,
            raise_instead,
        )

    def retrieve(self, study_uid, series_uid, sink, progress, cancel):
        outcome = RetrieveOutcome(expected=self.expected)
        for path in self.files[: self.keep]:
            data = path.read_bytes()
            sink(data)
            outcome.received.append(str(pydicom.dcmread(path).SOPInstanceUID))
            outcome.bytes_received += len(data)
        if self.raise_instead:
            raise PacsError("Cannot reach X: connection reset")
        outcome.error = "connection lost"
        return outcome


@pytest.mark.parametrize("raise_instead", [False, True])
def test_a_partial_retrieve_keeps_what_arrived_and_says_what_is_missing(
    tmp_path, monkeypatch, raise_instead
):
    truth = write_study(tmp_path / "src", sizes=(8,))
    client = _HalfClient(truth.files, 3, None if raise_instead else 8, raise_instead)
    monkeypatch.setattr(pacs, "connect", lambda server: client)
    server = server_from_options(dimse="PACS@127.0.0.1:104")
    out = tmp_path / "out"
    with pytest.raises(PartialTransfer) as raised:
        retrieve_to_folder(server, truth.study_uid, None, out)
    message = str(raised.value)
    if raise_instead:
        assert message == (
            f"Retrieved 3 instances of study {truth.study_uid}, then it stopped: Cannot reach X: "
            f"connection reset; what arrived is stored in {out}"
        )
    else:
        assert message == (
            f"Retrieved 3 of 8 instances of study {truth.study_uid} (5 missing: connection lost); "
            f"what arrived is stored in {out}"
        )
    report = raised.value.report
    assert raised.value.exit_code == 14 and len(report.stored) == 3 and not report.complete
    kept = sorted(p.stem for p in out.rglob("*.dcm"))
    assert kept == sorted(str(pydicom.dcmread(p).SOPInstanceUID) for p in truth.files[:3])


def test_a_server_that_dies_half_way_through_a_c_get(tmp_path):
    truth = write_study(tmp_path / "src", sizes=(40,))
    with running_orthanc(tmp_path / "orthanc") as server:
        server.upload(truth.files)
        config = server_from_options(dimse=server.dimse, timeout_s=5)
        arrived = threading.Event()

        def progress(fraction, text):
            if fraction > 0.1 and not arrived.is_set():
                arrived.set()
                server.process.kill()

        out = tmp_path / "out"
        with pytest.raises(PacsError) as raised:
            retrieve_to_folder(config, truth.study_uid, None, out, progress=progress)
    message = str(raised.value)
    assert "\n" not in message
    kept = {p.stem for p in out.rglob("*.dcm")}
    assert 0 < len(kept) < 40 and kept <= truth.sop_uids
    assert isinstance(raised.value, PartialTransfer), message
    assert message.startswith(f"Retrieved {len(kept)} ") and "what arrived is stored" in message
    assert set(raised.value.report.stored) == kept


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_cancel_stops_a_retrieve_and_keeps_what_arrived(tmp_path, empty_orthanc, protocol):
    from workstation.core.errors import Cancelled
    from workstation.core.progress import CancelToken

    truth = write_study(tmp_path / "src", sizes=(30,))
    empty_orthanc.upload(truth.files)
    server = _dimse(empty_orthanc) if protocol == "dimse" else _web(empty_orthanc)
    token = CancelToken()

    def progress(fraction, text):
        if fraction >= 0.2:
            token.cancel()

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        retrieve_to_folder(server, truth.study_uid, None, out, progress=progress, cancel=token)
    kept = {p.stem for p in out.rglob("*.dcm")}
    assert 0 < len(kept) < 30 and kept <= truth.sop_uids
    assert not [p for p in out.rglob("*") if p.is_file() and p.suffix != ".dcm"]
