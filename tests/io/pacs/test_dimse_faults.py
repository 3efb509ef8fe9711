"""DIMSE faults: each is one clear line (exit code 14), quickly, and keeps what arrived."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.io.pacs.dimse_support import endpoint_of, write_studies
from tests.support.dicom_factory import write_series
from tests.support.orthanc import free_port, running_orthanc
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import Cancelled, PacsError
from workstation.core.progress import CancelToken
from workstation.io.pacs.client import DimseEndpoint
from workstation.io.pacs.dimse import DimseClient


def _pacs_error(call) -> PacsError:
    with pytest.raises(PacsError) as raised:
        call()
    assert raised.value.exit_code == 14
    assert "\n" not in str(raised.value)
    return raised.value


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for conn in accepted:
        conn.close()
    listener.close()


def test_nobody_listening_is_unreachable(capfd) -> None:
    port = free_port()
    client = DimseClient(DimseEndpoint("ORTHANC", "127.0.0.1", port), timeout_s=5)
    started = time.monotonic()
    error = _pacs_error(client.echo)
    assert str(error) == f"Cannot reach ORTHANC@127.0.0.1:{port}: connection refused"
    assert time.monotonic() - started < 3.0  # three tries with 0.5 s and 1 s back-off
    assert capfd.readouterr().err == ""


def test_a_host_name_that_does_not_resolve_is_unreachable() -> None:
    client = DimseClient(DimseEndpoint("PACS", "pacs.invalid", 104), timeout_s=3, retries=1)
    error = _pacs_error(client.echo)
    assert str(error).startswith("Cannot reach PACS@pacs.invalid:104: ")
    assert "resolution" in str(error) or "not known" in str(error)


def test_a_stopped_server_is_unreachable(tmp_path) -> None:
    with running_orthanc(tmp_path / "pacs") as server:
        client = DimseClient(endpoint_of(server), timeout_s=5, retries=1)
        assert client.echo() > 0
    error = _pacs_error(lambda: client.find(StudyQuery()))
    assert str(error) == f"Cannot reach {client.name}: connection refused"


def test_a_server_that_never_answers_fails_within_the_time_out(silent_server) -> None:
    client = DimseClient(DimseEndpoint("SILENT", "127.0.0.1", silent_server), timeout_s=1.5)
    started = time.monotonic()
    error = _pacs_error(lambda: client.find(StudyQuery()))
    elapsed = time.monotonic() - started
    assert str(error) == f"SILENT@127.0.0.1:{silent_server} did not answer within 1.5 s"
    assert 1.4 < elapsed < 1.5 + 0.8


def test_an_unknown_calling_ae_title_is_refused(empty_orthanc) -> None:
    client = DimseClient(endpoint_of(empty_orthanc), calling_aet="STRANGER", timeout_s=5)
    error = _pacs_error(lambda: client.find(StudyQuery()))
    assert str(error) == (
        f"{client.name} aborted the association during the search "
        "(does it know our AE title 'STRANGER'?)"
    )


def test_a_wrong_called_ae_title_is_rejected_without_retry(tmp_path) -> None:
    with running_orthanc(tmp_path / "pacs", extra={"DicomCheckCalledAet": True}) as server:
        client = DimseClient(endpoint_of(server, "NOTORTHANC"), timeout_s=5)
        started = time.monotonic()
        error = _pacs_error(client.echo)
        assert str(error) == (
            f"NOTORTHANC@127.0.0.1:{server.dicom_port} rejected the association: "
            "called AE title 'NOTORTHANC' not recognised"
        )
        assert time.monotonic() - started < 1.2  # a rejection is never retried (back-off 0.5 + 1 s)
        assert DimseClient(endpoint_of(server), timeout_s=5).echo() > 0


def test_a_sink_that_fails_half_way_keeps_what_it_took(empty_orthanc, tmp_path) -> None:
    study = write_studies(tmp_path)[0]
    empty_orthanc.upload(study.files.values())
    kept: list[bytes] = []

    def sink(data: bytes) -> None:
        if len(kept) == 3:
            raise OSError("No space left on device")
        kept.append(data)

    outcome = DimseClient(endpoint_of(empty_orthanc), timeout_s=10).retrieve(
        study.study_uid, None, sink
    )
    assert not outcome.complete
    assert outcome.error == "Could not keep a received instance: No space left on device"
    assert len(outcome.received) == 3 == len(kept)
    assert set(outcome.received) <= set(study.files)
    assert outcome.expected == 7


@pytest.mark.parametrize("mode", ["get", "move"])
def test_a_server_killed_during_a_retrieve_leaves_a_partial_outcome(tmp_path, mode) -> None:
    stored = np.arange(60 * 32 * 32, dtype=np.int16).reshape(60, 32, 32)
    files = write_series(tmp_path / "big", stored)
    with running_orthanc(tmp_path / "pacs") as server:
        server.upload(files)
        process: subprocess.Popen[bytes] = server.process
        kept: list[bytes] = []

        def sink(data: bytes) -> None:
            kept.append(data)
            if len(kept) == 10:
                process.kill()

        move_port = server.move_port if mode == "move" else None
        client = DimseClient(endpoint_of(server), timeout_s=20, move_port=move_port)
        started = time.monotonic()
        outcome = client.retrieve(server.study_uids()[0], None, sink)
        # the lost connection is noticed at once, not after the 20 s time-out (under 1 s here;
        # the margin is for a loaded machine)
        assert time.monotonic() - started < 10
    assert not outcome.complete
    assert outcome.expected == 60
    assert 10 <= len(outcome.received) < 60
    assert len(outcome.received) == len(kept)
    assert outcome.error == f"{client.name} aborted the association during the retrieve"


@pytest.mark.parametrize("mode", ["get", "move"])
def test_cancel_stops_the_retrieve(empty_orthanc, tmp_path, mode) -> None:
    study = write_studies(tmp_path)[0]
    empty_orthanc.upload(study.files.values())
    token = CancelToken()
    kept: list[bytes] = []

    def sink(data: bytes) -> None:
        kept.append(data)
        if len(kept) == 2:
            token.cancel()

    move_port = empty_orthanc.move_port if mode == "move" else None
    client = DimseClient(endpoint_of(empty_orthanc), timeout_s=10, move_port=move_port)
    with pytest.raises(Cancelled):
        client.retrieve(study.study_uid, None, sink, cancel=token)
    assert 2 <= len(kept) < 7
    # the storage SCP is gone: nothing listens on the port any more
    if move_port is not None:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", move_port)) != 0


def test_c_move_to_an_unreachable_destination_reports_the_failures(empty_orthanc, tmp_path):
    study = write_studies(tmp_path)[1]
    empty_orthanc.upload(study.files.values())
    registered = free_port()
    empty_orthanc.add_modality("elsewhere", "ELSEWHERE", registered)
    try:
        client = DimseClient(
            endpoint_of(empty_orthanc),
            calling_aet="ELSEWHERE",
            timeout_s=10,
            move_port=free_port(),
        )
        outcome = client.retrieve(study.study_uid, None, lambda data: None)
    finally:
        empty_orthanc.rest("DELETE", "/modalities/elsewhere")
    assert not outcome.complete
    assert outcome.received == []
    assert outcome.error == (
        f"{client.name} refused the retrieve: Unable to Process (0xC000) (it must know our "
        "AE title 'ELSEWHERE' with this machine's address and port, and be able to connect to it)"
    )


def _certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server (127.0.0.1) and a client certificate signed by it, and a stranger's."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(command: str) -> None:
        subprocess.run(["openssl", *command.split()], check=True, capture_output=True, cwd=folder)

    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=TestCA -keyout ca.key -out ca.pem")
    for name in ("server", "client"):
        openssl(
            f"req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout {name}.key -out {name}.csr"
        )
        openssl(
            f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            f"-extfile ext.cnf -out {name}.pem"
        )
    openssl(
        "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=Other -keyout o.key -out other.pem"
    )
    names = ("ca.pem", "server.pem", "server.key", "client.pem", "client.key", "other.pem")
    return {name.replace(".", "_"): folder / name for name in names}


def test_tls_association_with_orthanc(tmp_path) -> None:
    certs = _certificates(tmp_path / "certs")
    extra = {
        "DicomTlsEnabled": True,
        "DicomTlsCertificate": str(certs["server_pem"]),
        "DicomTlsPrivateKey": str(certs["server_key"]),
        "DicomTlsTrustedCertificates": str(certs["ca_pem"]),
        "DicomTlsRemoteCertificateRequired": True,
    }
    study = write_studies(tmp_path / "studies")[1]
    with running_orthanc(tmp_path / "pacs", extra=extra) as server:
        server.upload(study.files.values())
        port = server.dicom_port
        secure = DimseEndpoint(
            "ORTHANC",
            "127.0.0.1",
            port,
            tls=True,
            tls_ca=certs["ca_pem"],
            tls_cert=certs["client_pem"],
            tls_key=certs["client_key"],
        )
        client = DimseClient(secure, timeout_s=5)
        assert client.echo() > 0
        assert [m.study_uid for m in client.find(StudyQuery())] == [study.study_uid]
        received: list[bytes] = []
        assert client.retrieve(study.study_uid, None, received.append).complete
        assert len(received) == len(study.files)

        wrong_ca = dataclasses.replace(secure, tls_ca=certs["other_pem"])
        error = _pacs_error(DimseClient(wrong_ca, timeout_s=5).echo)
        assert str(error) == (
            f"TLS connection to ORTHANC@127.0.0.1:{port} failed: certificate verify failed: "
            "self-signed certificate in certificate chain"
        )
        anonymous = dataclasses.replace(secure, tls_cert=None, tls_key=None)
        error = _pacs_error(DimseClient(anonymous, timeout_s=5, retries=1).echo)
        assert str(error) == (
            f"ORTHANC@127.0.0.1:{port} aborted the association before accepting it "
            "(does it require a client certificate?)"
        )
        plain = DimseClient(DimseEndpoint("ORTHANC", "127.0.0.1", port), timeout_s=5, retries=1)
        error = _pacs_error(plain.echo)
        assert str(error) == (
            f"ORTHANC@127.0.0.1:{port} aborted the association before accepting it "
            "(does it expect TLS?)"
        )
        missing = dataclasses.replace(secure, tls_cert=tmp_path / "nowhere.pem")
        error = _pacs_error(DimseClient(missing, timeout_s=5).echo)
        assert (
            str(error)
            == f"Cannot set up TLS for ORTHANC@127.0.0.1:{port}: No such file or directory"
        )


@pytest.fixture
def scripted_scp() -> Iterator[tuple[int, dict]]:
    """A pynetdicom C-FIND SCP whose answer a test chooses: a status, or a long silence."""
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

    script: dict = {"status": 0xC000, "release": threading.Event()}

    def on_find(event):
        if script["status"] is None:
            script["release"].wait(10)
            return
        yield script["status"], None

    ae = AE(ae_title="SCRIPTED")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_FIND, on_find)]
    )
    yield port, script
    script["release"].set()
    server.shutdown()


def test_a_failed_search_names_the_status(scripted_scp) -> None:
    port, _ = scripted_scp
    client = DimseClient(DimseEndpoint("SCRIPTED", "127.0.0.1", port), timeout_s=5)
    error = _pacs_error(lambda: client.find(StudyQuery()))
    assert str(error) == f"SCRIPTED@127.0.0.1:{port} refused the search: Unable to Process (0xC000)"


def test_a_search_without_an_answer_fails_within_the_time_out(scripted_scp) -> None:
    port, script = scripted_scp
    script["status"] = None
    client = DimseClient(DimseEndpoint("SCRIPTED", "127.0.0.1", port), timeout_s=1.0)
    started = time.monotonic()
    error = _pacs_error(lambda: client.find(StudyQuery()))
    assert str(error) == f"SCRIPTED@127.0.0.1:{port} did not answer within 1 s"
    assert time.monotonic() - started < 1.0 + 0.8


def test_a_move_port_in_use_is_named(empty_orthanc, tmp_path) -> None:
    study = write_studies(tmp_path)[1]
    empty_orthanc.upload(study.files.values())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        client = DimseClient(endpoint_of(empty_orthanc), timeout_s=5, move_port=port)
        error = _pacs_error(lambda: client.retrieve(study.study_uid, None, lambda data: None))
    assert str(error) == f"Cannot receive on port {port} for C-MOVE: address already in use"
