"""Batch inputs: folders of many studies, list files, zips, the database, ids and identities."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from tests.support.dicom_factory import write_series
from workstation.core.case_plan import default_plan, parse_plan
from workstation.core.errors import BatchError, InputPathError
from workstation.services.batch_inputs import expand_inputs, parse_query


def cube(slices: int = 20, size: int = 32, value: int = 1200) -> np.ndarray:
    """A bright cube in air: a bone-preset model of it is a box."""
    array = np.full((slices, size, size), -1000, np.int16)
    array[4 : slices - 4, 8 : size - 8, 8 : size - 8] = value
    return array


def write_study(folder: Path, patient_id: str, *, soft: bool = False) -> dict[str, str]:
    """A study with a thin bone-kernel series (and optionally a thick soft one)."""
    study = generate_uid()
    uids = {"study": study, "bone": generate_uid()}
    write_series(
        folder / "bone", cube(), study_uid=study, series_uid=uids["bone"], patient_id=patient_id,
        series_description="Bone 1mm", series_number=2, slice_step=1.0,
    )  # fmt: skip
    if soft:
        uids["soft"] = generate_uid()
        write_series(
            folder / "soft", cube(10), study_uid=study, series_uid=uids["soft"],
            patient_id=patient_id, series_description="Soft 3mm", series_number=3,
            slice_step=3.0,
        )  # fmt: skip
    return uids


def test_a_folder_of_studies_gives_one_case_per_study_or_per_series(tmp_path):
    root = tmp_path / "cohort"
    first = write_study(root / "a", "P001", soft=True)
    second = write_study(root / "b", "P002")
    best = expand_inputs([str(root)], default_plan())
    assert sorted(case.series_uid for case in best) == sorted([first["bone"], second["bone"]])
    by_series = {case.series_uid: case for case in best}
    assert by_series[first["bone"]].source == str(root / "a" / "bone")
    assert by_series[first["bone"]].study_uid == first["study"]
    everything = expand_inputs([str(root)], parse_plan({"series": {"select": "all"}}))
    assert sorted(c.series_uid for c in everything) == sorted(
        [first["bone"], first["soft"], second["bone"]]
    )
    soft_only = expand_inputs(
        [str(root)], parse_plan({"series": {"select": "all", "description": "soft*"}})
    )
    assert [c.series_uid for c in soft_only if not c.reason] == [first["soft"]]
    (unmatched,) = [c for c in soft_only if c.reason]  # study b has no soft series
    assert unmatched.study_uid == second["study"] and "fits the plan" in unmatched.reason
    # ids are stable, unique and name the study's folder, never the patient
    again = expand_inputs([str(root)], default_plan())
    assert [c.case_id for c in again] == [c.case_id for c in best]
    assert len({c.case_id for c in everything}) == 3
    assert all(c.case_id.startswith(("a-", "b-")) for c in best)


def test_case_ids_never_hold_the_patients_name_or_id(tmp_path):
    write_study(tmp_path / "P777", "P777")
    (case,) = expand_inputs([str(tmp_path / "P777")], default_plan())
    assert "P777" not in case.case_id and "P777" not in case.label
    assert case.case_id.startswith("case-")


def test_a_list_file_with_comments_relative_paths_and_a_zip(tmp_path):
    write_study(tmp_path / "one", "P1")
    uids = write_study(tmp_path / "two", "P2")
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted((tmp_path / "two").rglob("*")):
            if path.is_file():
                handle.write(path, path.relative_to(tmp_path))
    listing = tmp_path / "cases.txt"
    listing.write_text("# the cohort\none   # first\n\ntwo.zip\n")
    cases = expand_inputs([str(listing)], default_plan())
    assert len(cases) == 2
    zipped = next(c for c in cases if c.series_uid == uids["bone"])
    assert zipped.source == str(archive)
    missing = tmp_path / "bad.txt"
    missing.write_text("one\nnowhere\n")
    with pytest.raises(InputPathError, match=r"bad\.txt line 2"):
        expand_inputs([str(missing)], default_plan())


def test_an_input_without_images_is_a_failed_case_and_a_missing_one_an_error(tmp_path):
    write_study(tmp_path / "good", "P1")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt.bak").write_text("no images here")
    cases = expand_inputs([str(tmp_path / "good"), str(tmp_path / "empty")], default_plan())
    assert [bool(c.reason) for c in cases] == [False, True]
    assert "No DICOM images found" in cases[1].reason
    with pytest.raises(InputPathError):
        expand_inputs([str(tmp_path / "absent")], default_plan())


def test_the_identity_follows_the_files(tmp_path):
    write_study(tmp_path / "s", "P1")
    (before,) = expand_inputs([str(tmp_path / "s")], default_plan())
    some_file = sorted((tmp_path / "s" / "bone").iterdir())[3]
    stat = some_file.stat()
    os.utime(some_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    (after,) = expand_inputs([str(tmp_path / "s")], default_plan())
    assert after.case_id == before.case_id
    assert after.identity != before.identity


def test_database_query_links_the_series_files_for_the_case(tmp_path):
    from workstation.services.dicom_database import DicomDatabase

    wanted = write_study(tmp_path / "x", "WANTED1", soft=True)
    write_study(tmp_path / "y", "OTHER2")
    with DicomDatabase.open() as database:
        database.import_path(tmp_path / "x")
        database.import_path(tmp_path / "y")
    cases = expand_inputs(["db:patient_id=WANTED1,modality=CT"], default_plan())
    assert [c.series_uid for c in cases] == [wanted["bone"]]
    (case,) = cases
    assert case.case_id.startswith("db-") and case.prepare is not None and not case.source
    folder = tmp_path / "linked"
    folder.mkdir()
    source, series = case.prepare(folder)
    assert series == wanted["bone"] and source == str(folder)
    assert len(list(folder.iterdir())) == 20  # the bone series' 20 slices only
    assert len(expand_inputs(["db:"], default_plan())) == 2  # every study


def test_queries_name_their_bad_keys():
    assert parse_query("modality=ct,patient_id=X", ",", "db:").modality == "CT"
    with pytest.raises(BatchError, match="'colour=red' is not KEY=VALUE"):
        parse_query("colour=red", ",", "db:colour=red")
    with pytest.raises(BatchError, match="not a date"):
        parse_query("date_from=yesterday", ",", "db:")
