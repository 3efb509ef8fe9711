"""Searching the database: wildcards, case, escaping, dates, modality, description, levels."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from workstation.core.dicom_query import StudyQuery
from workstation.io.database.importer import commit_staged
from workstation.io.database.records import ImportReport, InstanceFields, StagedFile
from workstation.io.database.search import like_pattern
from workstation.services.dicom_database import DicomDatabase

#: (study uid, patient id, patient name, date, study description, [(modality, series description)])
STUDIES = [
    ("2.25.1", "P1", "DOE^JOHN", "20240105", "CT HEAD", [("CT", "Axial 1mm"), ("SR", "Dose")]),
    ("2.25.2", "P1", "DOE^JOHN", "20250310", "Follow-up", [("MR", "T1 sag"), ("MR", "T2 ax")]),
    ("2.25.3", "P2", "Müller^Jörg", "20250311", "Knie", [("MR", "PD fs")]),
    ("2.25.4", "P3", "100%_SURE^X", "", "Pelvis", [("CT", "Bone 0.6 ABDOMEN")]),
    ("2.25.5", "P4", "DOEX^ANNA", "20231231", "abdomen_routine", [("CT", "Venous")]),
]


def _rows() -> list[StagedFile]:
    staged = []
    for study, patient_id, name, date, description, series in STUDIES:
        for number, (modality, series_description) in enumerate(series, start=1):
            for instance in range(1, 3):
                fields = InstanceFields(
                    sop_instance_uid=f"{study}.{number}.{instance}",
                    sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                    study_uid=study,
                    series_uid=f"{study}.{number}",
                    transfer_syntax_uid="1.2.840.10008.1.2.1",
                    patient_id=patient_id,
                    patient_name=name,
                    study_date=date,
                    study_description=description,
                    series_number=str(number),
                    series_description=series_description,
                    modality=modality,
                    instance_number=instance,
                )
                sha = hashlib.sha256(fields.sop_instance_uid.encode()).hexdigest()
                staged.append(
                    StagedFile(fields.sop_instance_uid, fields, sha, 10, f"/x/{sha}", True)
                )
    return staged


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory):
    with DicomDatabase.open(tmp_path_factory.mktemp("search") / "db") as opened:
        commit_staged(opened.location, opened._index, _rows(), "test", ImportReport())
        yield opened


def _uids(database: DicomDatabase, **fields: object) -> list[str]:
    return [match.study_uid for match in database.search(StudyQuery(**fields))]


def test_like_pattern_escapes_sql_wildcards() -> None:
    assert like_pattern("100%_SURE*") == "100\\%\\_SURE%"
    assert like_pattern("a?b") == "a_b"
    assert like_pattern("knee", substring=True) == "%knee%"


def test_every_study_newest_first_with_counts(database: DicomDatabase) -> None:
    matches = database.search(StudyQuery())
    assert [m.study_uid for m in matches] == ["2.25.3", "2.25.2", "2.25.1", "2.25.5", "2.25.4"]
    first = database.search(StudyQuery(study_uid="2.25.1"))[0]
    assert (first.n_series, first.n_instances, first.modalities) == (2, 4, ("CT", "SR"))
    assert first.patient_name == "DOE^JOHN" and first.source == "database"
    assert database.search(StudyQuery(limit=2))[1].study_uid == "2.25.2"


def test_patient_name_wildcards_any_case_and_separator(database: DicomDatabase) -> None:
    assert _uids(database, patient_name="doe*") == ["2.25.2", "2.25.1", "2.25.5"]
    assert _uids(database, patient_name="doe^*") == ["2.25.2", "2.25.1"]
    assert _uids(database, patient_name="Doe John") == ["2.25.2", "2.25.1"]
    assert _uids(database, patient_name="DOE") == []  # no wildcard: the whole name
    assert _uids(database, patient_name="d?e^john") == ["2.25.2", "2.25.1"]
    assert _uids(database, patient_name="MÜLLER*") == ["2.25.3"]
    assert _uids(database, patient_name="100%_SURE*") == ["2.25.4"]
    assert _uids(database, patient_name="100*") == ["2.25.4"]
    assert _uids(database, patient_name="1000*") == []  # '%' is no wildcard
    assert _uids(database, patient_name="100%xSURE*") == []  # neither is '_'


def test_patient_id_date_range_and_accession(database: DicomDatabase) -> None:
    assert _uids(database, patient_id="P1") == ["2.25.2", "2.25.1"]
    assert _uids(database, patient_id="p1") == []  # IDs match exactly
    assert _uids(database, patient_id="P?") == ["2.25.3", "2.25.2", "2.25.1", "2.25.5", "2.25.4"]
    assert _uids(database, patient_id="*3") == ["2.25.4"]
    assert _uids(database, date_from="2025-01-01") == ["2.25.3", "2.25.2"]
    assert _uids(database, date_to="20240105") == ["2.25.1", "2.25.5"]
    assert _uids(database, date_from="20240101", date_to="2025-03-10") == ["2.25.2", "2.25.1"]
    assert _uids(database, date_from="20250311", date_to="20250311") == ["2.25.3"]


def test_modality_matches_any_series_of_the_study(database: DicomDatabase) -> None:
    assert _uids(database, modality="sr") == ["2.25.1"]
    assert _uids(database, modality="MR") == ["2.25.3", "2.25.2"]
    assert _uids(database, modality="CT\\SR") == ["2.25.1", "2.25.5", "2.25.4"]


def test_description_substring_of_study_or_series(database: DicomDatabase) -> None:
    assert _uids(database, description="head") == ["2.25.1"]
    assert _uids(database, description="abdomen") == ["2.25.5", "2.25.4"]  # study / series
    assert _uids(database, description="t2") == ["2.25.2"]
    assert _uids(database, description="abdomen_r*") == ["2.25.5"]  # a pattern: whole text
    assert _uids(database, description="n_r") == ["2.25.5"]  # '_' literal in a substring


def test_series_level(database: DicomDatabase) -> None:
    series = database.search(StudyQuery(level="series", study_uid="2.25.2"))
    assert [s.series_uid for s in series] == ["2.25.2.1", "2.25.2.2"]
    assert [s.n_instances for s in series] == [2, 2]
    assert series[0].series_description == "T1 sag" and series[0].modality == "MR"
    ct = database.search(StudyQuery(level="series", modality="CT"))
    assert {s.series_uid for s in ct} == {"2.25.1.1", "2.25.4.1", "2.25.5.1"}
    sr = database.search(StudyQuery(level="series", patient_id="P1", description="dose"))
    assert [s.series_uid for s in sr] == ["2.25.1.2"]


def test_patient_level_counts(database: DicomDatabase) -> None:
    patients = database.search(StudyQuery(level="patient"))
    by_id = {p.patient_id: p for p in patients}
    assert set(by_id) == {"P1", "P2", "P3", "P4"}
    assert (by_id["P1"].n_studies, by_id["P1"].n_series, by_id["P1"].n_instances) == (2, 4, 8)
    mr = database.search(StudyQuery(level="patient", modality="MR"))
    assert [p.patient_id for p in mr] == ["P1", "P2"]  # by name: DOE^JOHN, Müller^Jörg


def test_empty_database_finds_nothing(tmp_path: Path) -> None:
    with DicomDatabase.open(tmp_path / "db") as empty:
        assert empty.search(StudyQuery()) == []
        assert empty.search(StudyQuery(level="patient")) == []
