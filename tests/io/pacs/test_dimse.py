"""DIMSE against a real PACS (Orthanc): echo, C-FIND at three levels, C-GET and C-MOVE."""

from __future__ import annotations

import numpy as np
import pytest

from tests.io.pacs.dimse_support import Study, endpoint_of, pixels, write_studies
from tests.support.orthanc import free_port
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import PacsError
from workstation.io.pacs.client import DimseEndpoint
from workstation.io.pacs.dimse import DimseClient


@pytest.fixture(scope="module")
def served(orthanc, tmp_path_factory) -> tuple[object, list[Study]]:
    """The session's Orthanc holding exactly the three synthetic studies."""
    studies = write_studies(tmp_path_factory.mktemp("dimse-studies"))
    orthanc.clear()
    for study in studies:
        orthanc.upload(study.files.values())
    assert orthanc.instance_count() == sum(len(s.files) for s in studies)
    return orthanc, studies


@pytest.fixture
def client(served) -> DimseClient:
    server, _ = served
    return DimseClient(endpoint_of(server), timeout_s=10)


def test_echo_answers_with_a_round_trip(client) -> None:
    seconds = client.echo()
    assert 0 < seconds < 10


def test_patient_level_lists_each_patient_with_counts(client, served) -> None:
    matches = client.find(StudyQuery(level="patient"))
    by_id = {m.patient_id: m for m in matches}
    assert sorted(by_id) == ["PAT-A", "PAT-B"]
    assert by_id["PAT-A"].patient_name == "Alpha^Anna"
    assert (by_id["PAT-A"].n_studies, by_id["PAT-B"].n_studies) == (1, 2)
    assert (by_id["PAT-A"].n_instances, by_id["PAT-B"].n_instances) == (7, 10)
    assert all(m.level == "patient" and m.source == client.name for m in matches)
    named = client.find(StudyQuery(level="patient", patient_name="be*"))
    assert [m.patient_id for m in named] == ["PAT-B"]


def test_patient_level_with_study_filters_counts_the_matching_studies(client) -> None:
    mr = client.find(StudyQuery(level="patient", modality="MR"))
    assert [(m.patient_id, m.n_studies, m.n_series) for m in mr] == [("PAT-B", 2, 3)]
    early = client.find(StudyQuery(level="patient", date_to="2024-12-31"))
    assert [(m.patient_id, m.n_studies, m.n_instances) for m in early] == [("PAT-A", 1, 7)]


def test_study_level_matches_dates_modalities_and_descriptions(client, served) -> None:
    _, studies = served
    head, knee, chest = studies
    everything = client.find(StudyQuery())
    assert {m.study_uid for m in everything} == {s.study_uid for s in studies}
    row = next(m for m in everything if m.study_uid == chest.study_uid)
    assert (row.patient_id, row.study_date, row.study_description) == (
        "PAT-B",
        "20250420",
        "Chest CT",
    )
    assert set(row.modalities) == {"CT", "MR"}
    assert (row.n_series, row.n_instances) == (2, 5)

    in_2025 = client.find(StudyQuery(date_from="2025-01-01", date_to="2025-12-31"))
    assert {m.study_uid for m in in_2025} == {knee.study_uid, chest.study_uid}
    march = client.find(StudyQuery(date_from="20250301", date_to="20250331"))
    assert [m.study_uid for m in march] == [knee.study_uid]
    with_mr = client.find(StudyQuery(modality="mr"))
    assert {m.study_uid for m in with_mr} == {knee.study_uid, chest.study_uid}
    ct_text = client.find(StudyQuery(description="ct"))
    assert {m.study_uid for m in ct_text} == {head.study_uid, chest.study_uid}
    of_a = client.find(StudyQuery(patient_id="PAT-A"))
    assert [m.study_uid for m in of_a] == [head.study_uid]
    assert len(client.find(StudyQuery(limit=2))) == 2
    assert client.find(StudyQuery(patient_id="NOBODY")) == []


def test_series_level_answers_each_series_with_its_study(client, served) -> None:
    _, studies = served
    head, knee, chest = studies
    every = client.find(StudyQuery(level="series"))
    expected = {s.series_uid: s for study in studies for s in study.series}
    assert {m.series_uid for m in every} == set(expected)
    for match in every:
        truth = expected[match.series_uid]
        assert match.study_uid == truth.study_uid
        assert match.modality == truth.modality
        assert match.series_description == truth.description
        assert match.n_instances == len(truth.files)
        assert match.patient_id in ("PAT-A", "PAT-B")
    mr = client.find(StudyQuery(level="series", modality="MR"))
    assert {m.series_uid for m in mr} == {knee.series[0].series_uid, chest.series[1].series_uid}
    of_head = client.find(StudyQuery(level="series", study_uid=head.study_uid))
    assert [m.series_number for m in sorted(of_head, key=lambda m: m.series_number)] == ["1", "2"]
    soft = client.find(StudyQuery(level="series", description="SOFT"))
    assert [m.series_uid for m in soft] == [head.series[1].series_uid]
    assert len(client.find(StudyQuery(level="series", limit=2))) == 2


def _assert_same_instances(received: list[bytes], files: dict) -> None:
    by_uid = {}
    for data in received:
        assert data[128:132] == b"DICM"  # a complete Part 10 file
        from io import BytesIO

        import pydicom

        by_uid[str(pydicom.dcmread(BytesIO(data)).SOPInstanceUID)] = data
    assert set(by_uid) == set(files)
    for uid, path in files.items():
        assert np.array_equal(pixels(by_uid[uid]), pixels(path))


@pytest.mark.parametrize("mode", ["get", "move"])
def test_retrieve_a_study_hands_every_instance_to_the_sink(served, mode) -> None:
    server, studies = served
    head = studies[0]
    client = DimseClient(
        endpoint_of(server), timeout_s=10, move_port=server.move_port if mode == "move" else None
    )
    received: list[bytes] = []
    reports: list[tuple[float, str]] = []
    outcome = client.retrieve(
        head.study_uid, None, received.append, lambda f, t: reports.append((f, t))
    )
    assert outcome.complete, outcome.error
    assert outcome.expected == 7
    assert sorted(outcome.received) == sorted(head.files)
    assert outcome.bytes_received == sum(len(d) for d in received)
    _assert_same_instances(received, head.files)
    assert reports and all(0.0 <= f <= 1.0 for f, _ in reports)


@pytest.mark.parametrize("mode", ["get", "move"])
def test_retrieve_one_series_brings_only_that_series(served, mode) -> None:
    server, studies = served
    chest = studies[2]
    wanted = chest.series[1]
    client = DimseClient(
        endpoint_of(server), timeout_s=10, move_port=server.move_port if mode == "move" else None
    )
    received: list[bytes] = []
    outcome = client.retrieve(chest.study_uid, wanted.series_uid, received.append)
    assert outcome.complete, outcome.error
    assert (outcome.expected, len(received)) == (2, 2)
    _assert_same_instances(received, wanted.files)


def test_retrieve_of_an_unknown_study_says_so(client) -> None:
    outcome = client.retrieve("1.2.3.4.5.6.7", None, lambda data: None)
    assert not outcome.complete
    assert outcome.received == []
    assert outcome.error == f"{client.name} has no study 1.2.3.4.5.6.7"


def test_nothing_reaches_stderr(client, capfd) -> None:
    import logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    root.addHandler(logging.StreamHandler())  # an application that logs everything
    root.setLevel(logging.DEBUG)
    try:
        client.find(StudyQuery(level="series"))
        client.retrieve(client.find(StudyQuery())[0].study_uid, None, lambda data: None)
        nobody = DimseEndpoint("X", "127.0.0.1", free_port())
        with pytest.raises(PacsError):
            DimseClient(nobody, timeout_s=2, retries=1).echo()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    captured = capfd.readouterr()
    assert captured.err == ""
