"""One rule set for every search answer: the database, DIMSE and DICOMweb agree."""

from __future__ import annotations

import pytest

from workstation.core.dicom_query import QueryMatch, StudyQuery, accepts, patients_of


def _study(**fields) -> QueryMatch:
    defaults = dict(
        patient_id="P1",
        patient_name="Doe^Jane",
        study_uid="1.2.3",
        study_date="20260115",
        study_description="CT Head",
        modalities=("CT", "SR"),
        n_series=2,
        n_instances=40,
    )
    return QueryMatch(level="study", **(defaults | fields))


def test_dates_are_normalised_and_bound_the_study_date() -> None:
    query = StudyQuery(date_from="2026-01-01", date_to="20260131")
    assert (query.date_from, query.date_to, query.date_range) == ("20260101", "20260131",
                                                                  "20260101-20260131")  # fmt: skip
    assert accepts(query, _study())
    assert not accepts(StudyQuery(date_from="2026-02-01"), _study())
    assert accepts(StudyQuery(date_from="2026-02-01"), _study(study_date=""))  # not answered
    with pytest.raises(ValueError, match="is not a date"):
        StudyQuery(date_from="15.01.2026")


def test_names_ignore_case_and_take_wildcards_and_spaces_for_the_separator() -> None:
    assert accepts(StudyQuery(patient_name="doe*"), _study())
    assert accepts(StudyQuery(patient_name="DOE JANE"), _study())
    assert accepts(StudyQuery(patient_name="d?e^j*"), _study())
    assert not accepts(StudyQuery(patient_name="Doe"), _study())  # whole name, not a prefix
    assert not accepts(StudyQuery(patient_name="doe*"), _study(patient_name=""))


def test_modality_and_description_at_study_and_series_level() -> None:
    assert accepts(StudyQuery(modality="sr"), _study())
    assert not accepts(StudyQuery(modality="MR"), _study())
    assert accepts(StudyQuery(modality="MR"), _study(modalities=()))  # the server did not say
    assert accepts(StudyQuery(description="head"), _study())
    assert not accepts(StudyQuery(description="knee"), _study())
    series = QueryMatch(level="series", study_description="CT Head", series_description="",
                        modality="CT", series_uid="1.2.3.4")  # fmt: skip
    query = StudyQuery(level="series", description="head", modality="CT")
    assert accepts(query, series)  # no series description: the study's counts
    assert not accepts(StudyQuery(level="series", series_uid="9.9"), series)
    assert not accepts(StudyQuery(level="series", modality="MR"), series)


def test_patients_are_grouped_from_their_studies_with_summed_counts() -> None:
    studies = [
        _study(),
        _study(study_uid="1.2.4", modalities=("MR",), n_series=1, n_instances=None),
        _study(patient_id="P2", patient_name="Roe^Ann", study_uid="1.2.5"),
    ]
    patients = {patient.patient_id: patient for patient in patients_of(studies, "pacs")}
    assert set(patients) == {"P1", "P2"}
    first = patients["P1"]
    assert (first.level, first.n_studies, first.n_series, first.n_instances) == (
        "patient", 2, 3, None,  # one study did not count its instances
    )  # fmt: skip
    assert first.modalities == ("CT", "MR", "SR") and first.source == "pacs"
    assert (patients["P2"].n_studies, patients["P2"].n_instances) == (1, 40)
