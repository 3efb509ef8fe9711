"""DICOMweb faults: server down, no answer, busy server, a retrieve that stops half-way."""

from __future__ import annotations

import time

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.io.pacs.dicomweb_proxy import fault_proxy, silent_port
from tests.support.dicom_factory import write_series
from tests.support.orthanc import free_port
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import Cancelled, PacsError
from workstation.io.pacs.client import DicomWebEndpoint
from workstation.io.pacs.dicomweb import DicomWebClient
from workstation.io.pacs.dicomweb_http import call_with_retries


def _client(url: str, **options) -> DicomWebClient:
    client = DicomWebClient(DicomWebEndpoint(url), **options)
    client.retry_delay_s = 0.05
    return client


@pytest.fixture(scope="module")
def study_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list]:
    root = tmp_path_factory.mktemp("dicomweb-faults")
    study = generate_uid()
    ramp = (np.arange(8 * 24 * 24).reshape(8, 24, 24) % 700).astype(np.int16)
    files = write_series(root / "ct", ramp, study_uid=study)
    return study, files


@pytest.fixture
def loaded(empty_orthanc, study_files):
    empty_orthanc.upload(study_files[1])
    return empty_orthanc


def _sops(files) -> list[str]:
    return [str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in files]


def test_server_down_is_one_line_after_retries(capfd) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    start = time.monotonic()
    with pytest.raises(PacsError) as caught:
        _client(url).find(StudyQuery())
    assert str(caught.value) == f"Cannot reach {url}: connection refused"
    assert caught.value.exit_code == 14
    assert time.monotonic() - start < 3
    assert capfd.readouterr().err == ""


def test_a_server_that_never_answers_fails_within_the_timeout() -> None:
    with silent_port() as port:
        url = f"http://127.0.0.1:{port}/dicom-web"
        start = time.monotonic()
        with pytest.raises(PacsError) as caught:
            _client(url, timeout_s=1.0).echo()
        elapsed = time.monotonic() - start
    assert str(caught.value) == f"{url} did not answer within 1 s"
    assert 0.9 < elapsed < 2.0


def test_a_busy_server_is_retried_with_back_off(loaded) -> None:
    with fault_proxy(loaded.dicomweb_url, fail_first=2, fail_status=503) as proxy:
        matches = _client(proxy.url, retries=3).find(StudyQuery())
        assert len(matches) == 1 and len(proxy.requests) == 3


def test_a_server_busy_for_good_fails_after_the_last_try(loaded) -> None:
    with fault_proxy(loaded.dicomweb_url, fail_first=10, fail_status=503) as proxy:
        with pytest.raises(PacsError) as caught:
            _client(proxy.url, retries=3).find(StudyQuery())
        assert str(caught.value) == f"{proxy.url} failed: HTTP 503 Service Unavailable"
        assert len(proxy.requests) == 3


def test_a_server_error_is_not_retried(loaded) -> None:
    with fault_proxy(loaded.dicomweb_url, fail_first=1, fail_status=500) as proxy:
        with pytest.raises(PacsError, match=r"failed: HTTP 500"):
            _client(proxy.url).echo()
        assert len(proxy.requests) == 1


def test_a_broken_stream_is_resumed_instance_by_instance(loaded, study_files) -> None:
    study, files = study_files
    with fault_proxy(loaded.dicomweb_url, drop_after_parts=3, drop_times=1) as proxy:
        received: list[bytes] = []
        outcome = _client(proxy.url).retrieve(study, None, received.append)
        assert outcome.complete, outcome.error
        assert sorted(outcome.received) == sorted(_sops(files)) and len(received) == 8
        # The series stream broke after 3 instances; the other 5 came one by one.
        single = [r for r in proxy.requests if "/series/" in r and "/instances/" in r]
        assert len(single) == 5, proxy.requests


def test_a_retrieve_that_stops_half_way_keeps_what_arrived(loaded, study_files, capfd) -> None:
    study, files = study_files
    with fault_proxy(loaded.dicomweb_url, drop_after_parts=3, die_after_drop=True) as proxy:
        received: list[bytes] = []
        outcome = _client(proxy.url).retrieve(study, None, received.append)
    sops = _sops(files)
    assert not outcome.complete and outcome.expected == 8
    assert len(received) == 3 and len(outcome.received) == 3
    assert sorted(outcome.received + outcome.missing) == sorted(sops)
    assert len(outcome.missing) == 5
    assert outcome.error.startswith(f"Cannot reach {proxy.url}")
    assert "\n" not in outcome.error
    assert outcome.bytes_received == sum(len(d) for d in received)
    assert capfd.readouterr().err == ""


def test_a_server_that_stops_sending_fails_within_the_timeout(loaded, study_files) -> None:
    study = study_files[0]
    with fault_proxy(loaded.dicomweb_url, drop_after_parts=4, stall_s=3.0) as proxy:
        received: list[bytes] = []
        start = time.monotonic()
        outcome = _client(proxy.url, timeout_s=1.0).retrieve(study, None, received.append)
        elapsed = time.monotonic() - start
    assert outcome.error == f"{proxy.url} did not answer within 1 s"
    assert len(received) == 4 and len(outcome.missing) == 4 and not outcome.complete
    assert elapsed < 2.5


def test_forbidden_is_refused_credentials_and_not_retried(loaded) -> None:
    with fault_proxy(loaded.dicomweb_url, fail_first=5, fail_status=403) as proxy:
        with pytest.raises(PacsError) as caught:
            _client(proxy.url).find(StudyQuery())
        assert str(caught.value) == f"{proxy.url} refused the credentials (HTTP 403)"
        assert len(proxy.requests) == 1


def test_a_cancel_is_never_turned_into_a_network_error() -> None:
    def cancelled() -> None:
        raise Cancelled()

    with pytest.raises(Cancelled):
        call_with_retries(cancelled, "http://x/dicom-web", 1.0, attempts=3, first_delay_s=0)
