"""DICOMweb authentication and HTTPS: basic, bearer token, a private CA bundle."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from tests.io.pacs.dicomweb_proxy import fault_proxy
from tests.support.dicom_factory import write_series
from tests.support.orthanc import running_orthanc
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import PacsError
from workstation.io.pacs.client import DicomWebEndpoint
from workstation.io.pacs.dicomweb import DicomWebClient


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[Path]]:
    study = generate_uid()
    files = write_series(
        tmp_path_factory.mktemp("auth-data"), np.ones((2, 8, 8), np.int16), study_uid=study
    )
    return study, files


def test_basic_authentication(tmp_path, series) -> None:
    study, files = series
    with running_orthanc(tmp_path / "orthanc", users={"alice": "pw"}) as server:
        server.upload(files)
        good = DicomWebClient(DicomWebEndpoint(server.dicomweb_url, user="alice", password="pw"))
        assert [m.study_uid for m in good.find(StudyQuery())] == [study]
        received: list[bytes] = []
        assert good.retrieve(study, None, received.append).complete and len(received) == 2
        for endpoint in (
            DicomWebEndpoint(server.dicomweb_url, user="alice", password="wrong"),
            DicomWebEndpoint(server.dicomweb_url),
        ):
            with pytest.raises(PacsError) as caught:
                DicomWebClient(endpoint).echo()
            assert str(caught.value) == f"{server.dicomweb_url} refused the credentials (HTTP 401)"
            assert caught.value.exit_code == 14


def test_bearer_token(empty_orthanc, series) -> None:
    study, files = series
    empty_orthanc.upload(files)
    with fault_proxy(empty_orthanc.dicomweb_url, token="T0KEN") as proxy:
        client = DicomWebClient(DicomWebEndpoint(proxy.url, token="T0KEN"))
        assert [m.study_uid for m in client.find(StudyQuery())] == [study]
        sent = client.send(files[:1], lambda f, t: None, None)
        assert sent.complete and sent.sent == [str(files[0])]
        count = len(proxy.requests)
        with pytest.raises(PacsError) as caught:
            DicomWebClient(DicomWebEndpoint(proxy.url, token="nope")).find(StudyQuery())
        assert str(caught.value) == f"{proxy.url} refused the credentials (HTTP 401)"
        assert len(proxy.requests) == count + 1  # refused credentials are never retried


def test_token_and_password_together_are_refused() -> None:
    endpoint = DicomWebEndpoint("http://127.0.0.1:1/dicom-web", user="a", password="b", token="t")
    with pytest.raises(PacsError, match="not both"):
        DicomWebClient(endpoint)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed: (CA cert, server cert, server key)."""
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
        "-keyout", "ca.key", "-out", "ca.pem", cwd=folder,
    )
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr", cwd=folder,
    )
    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.crt", cwd=folder,
    )
    return folder / "ca.pem", folder / "server.crt", folder / "server.key"


def test_https_with_a_ca_bundle(tmp_path, empty_orthanc, series) -> None:
    # TLS is served by our proxy in front of Orthanc: Orthanc 1.10.1 (Debian 12) with
    # SslEnabled crashes on its first HTTPS request.
    study, files = series
    empty_orthanc.upload(files)
    ca, certificate, key = _make_certificates(tmp_path)
    options = {"tls_certificate": certificate, "tls_key": key}
    with fault_proxy(empty_orthanc.dicomweb_url, **options) as proxy:
        assert proxy.url.startswith("https://")
        trusted = DicomWebClient(DicomWebEndpoint(proxy.url, ca_bundle=ca))
        assert [m.study_uid for m in trusted.find(StudyQuery())] == [study]
        received: list[bytes] = []
        assert trusted.retrieve(study, None, received.append).complete and len(received) == 2
        with pytest.raises(PacsError) as caught:
            DicomWebClient(DicomWebEndpoint(proxy.url)).echo()
        message = str(caught.value)
        assert message.startswith(f"{proxy.url}: certificate not trusted: ")
        assert "\n" not in message and "certificate" in message.split("trusted: ")[1]
    with pytest.raises(PacsError, match=r"CA bundle .* does not exist"):
        DicomWebClient(DicomWebEndpoint("https://127.0.0.1:1", ca_bundle=tmp_path / "none.pem"))
