"""A PACS retrieve into an encrypted database: sealed at rest, searchable, openable."""

from __future__ import annotations

import os
from pathlib import Path

import pydicom

from tests.services.pacs_cases import write_study
from workstation.core.dicom_query import StudyQuery
from workstation.io.database import plaintext
from workstation.io.encryption import KeySource
from workstation.services import pacs
from workstation.services.dicom_database import DicomDatabase


def test_a_retrieve_into_an_encrypted_database_is_sealed_and_searchable(
    tmp_path: Path, empty_orthanc
) -> None:
    truth = write_study(tmp_path / "upload")
    empty_orthanc.upload(truth.files)
    server = pacs.server_from_options(dimse=empty_orthanc.dimse, timeout_s=10)
    first = pydicom.dcmread(truth.files[0])
    secrets_ = [str(first.PatientID).encode(), str(first.StudyInstanceUID).encode()]
    key = KeySource.passphrase("retrieve passphrase", scrypt_n=2**10)
    with DicomDatabase.create(tmp_path / "db", key) as database:
        report = pacs.retrieve_to_database(server, truth.study_uid, database=database)
        assert report.complete and set(report.stored) == truth.sop_uids
        found = database.search(StudyQuery(level="series", study_uid=truth.study_uid))
        assert {m.series_uid: m.n_instances for m in found} == {
            uid: len(sops) for uid, sops in truth.series.items()
        }
        files = database.study_files(truth.study_uid)
        assert {str(pydicom.dcmread(f).SOPInstanceUID) for f in files} == truth.sop_uids
        assert database.verify().ok
    plaintext.remove_study_folders()
    for root, _dirs, names in os.walk(tmp_path / "db"):
        for name in names:
            content = (Path(root) / name).read_bytes()
            assert not any(secret in content for secret in secrets_), name
