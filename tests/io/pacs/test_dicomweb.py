"""DICOMweb against a real Orthanc: QIDO-RS at three levels, WADO-RS, STOW-RS, progress."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from tests.io.pacs.dicomweb_proxy import fault_proxy
from tests.support.dicom_factory import write_series
from tests.support.orthanc import free_port
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import Cancelled, PacsError
from workstation.core.progress import CancelToken
from workstation.io.pacs import dicomweb
from workstation.io.pacs.client import DicomWebEndpoint
from workstation.io.pacs.dicomweb import DicomWebClient


def _ramp(n: int, size: int, offset: int) -> np.ndarray:
    return (np.arange(n * size * size).reshape(n, size, size) % 1000 + offset).astype(np.int16)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two patients: P1 with a CT and an MR series in one study, P2 with one CT study."""
    root = tmp_path_factory.mktemp("dicomweb-data")
    study1, study2 = generate_uid(), generate_uid()
    ct = write_series(
        root / "ct", _ramp(6, 32, 0), study_uid=study1, patient_id="P1",
        series_description="Bone window", series_number=2,
    )
    mr = write_series(
        root / "mr", _ramp(3, 16, 5), modality="MR", study_uid=study1, patient_id="P1",
        series_description="T1 axial", series_number=3,
    )
    other = write_series(
        root / "other", _ramp(2, 16, 9), study_uid=study2, patient_id="P2",
        series_description="Scout",
    )
    return {"study1": study1, "study2": study2, "ct": ct, "mr": mr, "other": other}


def _uid(path: Path, keyword: str) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).get(keyword))


@pytest.fixture
def loaded(empty_orthanc, dataset):
    empty_orthanc.upload([*dataset["ct"], *dataset["mr"], *dataset["other"]])
    return empty_orthanc


def _client(server, **options) -> DicomWebClient:
    client = DicomWebClient(DicomWebEndpoint(server.dicomweb_url), **options)
    client.retry_delay_s = 0.05
    return client


def test_echo_measures_a_round_trip(loaded) -> None:
    seconds = _client(loaded).echo()
    assert 0 < seconds < 5


def test_study_search_matches_exactly(loaded, dataset) -> None:
    client = _client(loaded)
    everything = client.find(StudyQuery())
    assert sorted(m.study_uid for m in everything) == sorted([dataset["study1"], dataset["study2"]])
    (study,) = client.find(StudyQuery(patient_id="P1"))
    assert study.study_uid == dataset["study1"]
    assert study.n_series == 2 and study.n_instances == 9
    assert set(study.modalities) == {"CT", "MR"}
    assert study.patient_name == "Synthetic^Patient" and study.study_date == "20260101"
    assert study.source == loaded.dicomweb_url
    # Wildcards, case-insensitive; a name with a space for the component separator.
    assert len(client.find(StudyQuery(patient_name="synth*"))) == 2
    assert len(client.find(StudyQuery(patient_name="Synthetic Patient"))) == 2
    assert client.find(StudyQuery(patient_name="Nobody*")) == []
    assert [m.study_uid for m in client.find(StudyQuery(modality="MR"))] == [dataset["study1"]]
    assert len(client.find(StudyQuery(description="synthetic"))) == 2
    assert client.find(StudyQuery(description="missing")) == []
    assert len(client.find(StudyQuery(date_from="2026-01-01", date_to="2026-01-01"))) == 2
    assert client.find(StudyQuery(date_to="2025-12-31")) == []
    assert len(client.find(StudyQuery(limit=1))) == 1


def test_series_search_matches_exactly(loaded, dataset) -> None:
    client = _client(loaded)
    series = client.find(StudyQuery(level="series", study_uid=dataset["study1"]))
    by_uid = {m.series_uid: m for m in series}
    ct_uid = _uid(dataset["ct"][0], "SeriesInstanceUID")
    mr_uid = _uid(dataset["mr"][0], "SeriesInstanceUID")
    assert set(by_uid) == {ct_uid, mr_uid}
    assert by_uid[ct_uid].n_instances == 6 and by_uid[ct_uid].modality == "CT"
    assert by_uid[ct_uid].series_description == "Bone window"
    assert by_uid[ct_uid].series_number == "2"
    assert by_uid[mr_uid].n_instances == 3 and by_uid[mr_uid].study_uid == dataset["study1"]
    mr_only = client.find(StudyQuery(level="series", modality="MR"))
    assert [m.series_uid for m in mr_only] == [mr_uid]
    described = client.find(StudyQuery(level="series", description="bone"))
    assert [m.series_uid for m in described] == [ct_uid]
    assert len(client.find(StudyQuery(level="series"))) == 3
    p2 = client.find(StudyQuery(level="series", patient_id="P2"))
    assert [m.series_uid for m in p2] == [_uid(dataset["other"][0], "SeriesInstanceUID")]


def test_patient_search_groups_studies(loaded) -> None:
    patients = {m.patient_id: m for m in _client(loaded).find(StudyQuery(level="patient"))}
    assert set(patients) == {"P1", "P2"}
    assert patients["P1"].n_studies == 1 and patients["P1"].n_instances == 9
    assert patients["P1"].modalities == ("CT", "MR")
    assert patients["P2"].n_instances == 2 and patients["P2"].level == "patient"


def _pixels(data: bytes) -> tuple[str, np.ndarray]:
    ds = pydicom.dcmread(io.BytesIO(data))
    return str(ds.SOPInstanceUID), ds.pixel_array


def test_retrieve_study_hands_every_instance_with_its_pixels(loaded, dataset) -> None:
    received: list[bytes] = []
    reports: list[tuple[float, str]] = []
    outcome = _client(loaded).retrieve(
        dataset["study1"], None, received.append, lambda f, t: reports.append((f, t))
    )
    sources = {_uid(p, "SOPInstanceUID"): p for p in [*dataset["ct"], *dataset["mr"]]}
    assert outcome.complete and outcome.error == "" and outcome.missing == []
    assert outcome.expected == 9 and sorted(outcome.received) == sorted(sources)
    assert outcome.bytes_received == sum(len(d) for d in received) > 0
    for data in received:
        assert data[128:132] == b"DICM"
        uid, pixels = _pixels(data)
        np.testing.assert_array_equal(pixels, pydicom.dcmread(sources[uid]).pixel_array)
    fractions = [f for f, _ in reports]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert len(fractions) == 1 + 9  # the listing, then one report per instance
    assert reports[-1][1] == "Received 9 of 9 instances"


def test_retrieve_series_only(loaded, dataset) -> None:
    mr_series = _uid(dataset["mr"][0], "SeriesInstanceUID")
    received: list[bytes] = []
    outcome = _client(loaded).retrieve(dataset["study1"], mr_series, received.append)
    expected = sorted(_uid(p, "SOPInstanceUID") for p in dataset["mr"])
    assert outcome.complete and sorted(outcome.received) == expected
    assert sorted(_pixels(d)[0] for d in received) == expected


def test_retrieve_of_an_unknown_study_says_so(loaded) -> None:
    with pytest.raises(PacsError, match=r"has no study 1\.2\.3\.4") as caught:
        _client(loaded).retrieve("1.2.3.4", None, lambda data: None)
    assert caught.value.exit_code == 14


def test_retrieve_can_be_cancelled_and_keeps_what_arrived(loaded, dataset) -> None:
    token = CancelToken()
    received: list[bytes] = []

    def sink(data: bytes) -> None:
        received.append(data)
        if len(received) == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        _client(loaded).retrieve(dataset["study1"], None, sink, cancel=token)
    assert len(received) == 2


def test_send_stores_files_in_batches(empty_orthanc, dataset, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dicomweb, "STOW_BATCH_FILES", 4)
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    files = [*dataset["ct"], junk, *dataset["mr"]]
    reports: list[float] = []
    outcome = _client(empty_orthanc).send(files, lambda f, t: reports.append(f))
    assert outcome.sent == [str(p) for p in [*dataset["ct"], *dataset["mr"]]]
    assert outcome.failed == [(str(junk), outcome.failed[0][1])]
    assert "not a DICOM file" in outcome.failed[0][1]
    assert outcome.bytes_sent == sum(p.stat().st_size for p in [*dataset["ct"], *dataset["mr"]])
    assert not outcome.complete
    assert empty_orthanc.study_uids() == [dataset["study1"]]
    assert empty_orthanc.instance_count() == 9
    assert len(reports) == 3 + 1  # three batches of at most four files, then the total
    first = dataset["ct"][0]
    stored = pydicom.dcmread(io.BytesIO(empty_orthanc.instance_file(_uid(first, "SOPInstanceUID"))))
    np.testing.assert_array_equal(stored.pixel_array, pydicom.dcmread(first).pixel_array)


def test_a_wrong_root_is_not_a_dicomweb_service(loaded) -> None:
    client = DicomWebClient(DicomWebEndpoint(loaded.base_url + "/nothing-here"))
    with pytest.raises(PacsError) as caught:
        client.find(StudyQuery())
    root = f"{loaded.base_url}/nothing-here"
    assert str(caught.value) == f"{root} is not a DICOMweb service root (HTTP 404)"


def test_a_server_lost_during_a_send_leaves_the_rest_failed(
    empty_orthanc, dataset, monkeypatch
) -> None:
    monkeypatch.setattr(dicomweb, "STOW_BATCH_FILES", 4)
    files = [*dataset["ct"], *dataset["mr"]]
    with fault_proxy(empty_orthanc.dicomweb_url, die_after_requests=1) as proxy:
        outcome = _client_url(proxy.url).send(files)
    assert outcome.sent == [str(p) for p in files[:4]]
    assert [path for path, _ in outcome.failed] == [str(p) for p in files[4:]]
    assert all(proxy.url in reason and "\n" not in reason for _, reason in outcome.failed)
    assert empty_orthanc.instance_count() == 4


def test_a_send_to_a_server_that_is_down_raises(dataset) -> None:
    url = f"http://127.0.0.1:{free_port()}/dicom-web"
    with pytest.raises(PacsError, match="connection refused"):
        _client_url(url).send(dataset["ct"][:1])


def _client_url(url: str) -> DicomWebClient:
    client = DicomWebClient(DicomWebEndpoint(url))
    client.retry_delay_s = 0.05
    return client
