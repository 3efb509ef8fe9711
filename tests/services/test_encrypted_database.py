"""The encrypted local database: sealed blobs and index, the same studies, key checks."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from pydicom import dcmread

from tests.support.dicom_factory import expected_affine, sphere_array, write_series
from workstation.core.dicom_query import StudyQuery
from workstation.core.errors import DatabaseError, EncryptionError
from workstation.io.database import plaintext
from workstation.io.encryption import KeySource
from workstation.services.dicom_database import DicomDatabase
from workstation.services.study import open_database_study, open_study

N = 2**10  # a small scrypt cost: tests only
PATIENT_ID = "ENCPAT4711"
ROW, COL = (1.0, 0.0, 0.0), (0.0, 0.8, 0.6)


def _key(text: str = "correct horse battery") -> KeySource:
    return KeySource.passphrase(text, scrypt_n=N)


def _series(folder: Path, patient_id: str = PATIENT_ID) -> tuple[np.ndarray, np.ndarray]:
    spacing, step = (0.7, 0.9), np.array([0.0, -0.6, 0.8]) * 1.5
    origin = (10.0, -20.0, 30.0)
    affine = expected_affine(ROW, COL, spacing, origin, step)

    def to_lps(s, r, c):
        index = np.stack([s, r, c, np.ones_like(s)], axis=-1).astype(float)
        lps = index @ affine.T
        return lps[..., 0], lps[..., 1], lps[..., 2]

    centre = affine @ np.array([5, 7, 8, 1.0])
    data = sphere_array((10, 14, 16), to_lps, [centre[:3]], [4.0])
    write_series(
        folder,
        data,
        row_cosine=ROW,
        col_cosine=COL,
        pixel_spacing=spacing,
        origin=origin,
        slice_step=step,
        shuffle=True,
        patient_id=patient_id,
    )
    return data, affine


def _identifiers(folder: Path) -> list[bytes]:
    """The identifying strings of a written series, read back from its files."""
    first = dcmread(sorted(folder.iterdir())[0])
    name = str(first.PatientName)
    return [
        name.encode(),
        name.replace("^", " ").casefold().encode(),  # the index's folded name
        str(first.PatientID).encode(),
        str(first.StudyInstanceUID).encode(),
        str(first.SeriesInstanceUID).encode(),
        str(first.SOPInstanceUID).encode(),
    ]


def _all_bytes(folder: Path) -> dict[str, bytes]:
    found = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            found[str(path.relative_to(folder))] = path.read_bytes()
    return found


def _hashes(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in _all_bytes(folder).items()}


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    plaintext.remove_study_folders()


def test_encrypted_database_opens_the_study_exactly_and_stores_nothing_readable(
    tmp_path: Path, runtime_dir: Path
) -> None:
    data, affine = _series(tmp_path / "series")
    secrets_ = _identifiers(tmp_path / "series")
    with DicomDatabase.create(tmp_path / "db", _key()) as database:
        assert database.encrypted
        report = database.import_path(tmp_path / "series")
        [study_uid] = report.study_uids
        assert report.added == 10
        matches = database.search(StudyQuery(patient_name="synthetic*"))
        assert [match.study_uid for match in matches] == [study_uid]
        assert matches[0].patient_id == PATIENT_ID
        opened = open_database_study(study_uid, database=database)
        files = database.study_files(study_uid)
    folder = open_study(tmp_path / "series")
    assert opened.volume is not None and folder.volume is not None
    np.testing.assert_allclose(opened.volume.affine, affine, atol=1e-6)
    np.testing.assert_array_equal(opened.volume.array, folder.volume.array)
    np.testing.assert_array_equal(opened.volume.array, data.astype(opened.volume.array.dtype))

    # the plaintext lives in a private folder under $XDG_RUNTIME_DIR
    private = files[0].parent
    assert private.parent == runtime_dir
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    originals = sorted(hashlib.sha256(p.read_bytes()).digest() for p in files)
    plain = sorted(hashlib.sha256(p.read_bytes()).digest() for p in (tmp_path / "series").iterdir())
    assert originals == plain

    stored = _all_bytes(tmp_path / "db")
    assert "index.sqlite.enc" in stored and "index.sqlite" not in stored
    assert sum(name.startswith("blobs/") for name in stored) == 10
    for name, content in stored.items():
        for secret in secrets_:
            assert secret not in content, (name, secret)
        assert b"DICM" not in content and b"SQLite format" not in content, name

    plaintext.remove_study_folders()
    assert not private.exists()


def test_the_next_study_removes_the_previous_plaintext(tmp_path: Path, runtime_dir) -> None:
    _series(tmp_path / "one", "A1")
    _series(tmp_path / "two", "B2")
    with DicomDatabase.create(tmp_path / "db", _key()) as database:
        first = database.import_path(tmp_path / "one").study_uids[0]
        second = database.import_path(tmp_path / "two").study_uids[0]
        old = database.study_files(first)[0].parent
        new = database.study_files(second)[0].parent
    assert not old.exists() and new.is_dir()
    assert [p.name for p in runtime_dir.iterdir()] == [new.name]


def test_missing_and_wrong_key_are_refused_and_nothing_changes(tmp_path: Path) -> None:
    _series(tmp_path / "series")
    with DicomDatabase.create(tmp_path / "db", _key()) as database:
        database.import_path(tmp_path / "series")
    before = _hashes(tmp_path / "db")
    with pytest.raises(EncryptionError, match="is encrypted; give its passphrase"):
        DicomDatabase.open(tmp_path / "db")
    with pytest.raises(EncryptionError, match="Wrong passphrase") as raised:
        DicomDatabase.open(tmp_path / "db", _key("not the passphrase"))
    assert "\n" not in str(raised.value)
    assert _hashes(tmp_path / "db") == before
    with DicomDatabase.open(tmp_path / "db", _key()) as database:  # reading changes nothing
        assert len(database.search(StudyQuery())) == 1
        assert database.verify().ok
    assert _hashes(tmp_path / "db") == before


def test_in_place_import_is_refused(tmp_path: Path) -> None:
    _series(tmp_path / "series")
    with DicomDatabase.create(tmp_path / "db", _key()) as database:
        with pytest.raises(DatabaseError, match="cannot be indexed in place"):
            database.import_path(tmp_path / "series", copy=False)
        assert database.search(StudyQuery()) == []


def test_verify_finds_an_altered_and_a_missing_blob(tmp_path: Path) -> None:
    _series(tmp_path / "series")
    with DicomDatabase.create(tmp_path / "db", _key()) as database:
        database.import_path(tmp_path / "series")
        assert database.verify().ok
        blobs = sorted((tmp_path / "db" / "blobs").rglob("*.dcm"))
        altered = bytearray(blobs[0].read_bytes())
        altered[-5] ^= 1
        blobs[0].chmod(0o644)
        blobs[0].write_bytes(bytes(altered))
        blobs[1].unlink()
        report = database.verify()
    assert sorted(p.problem for p in report.problems) == ["changed", "missing"]


def test_duplicates_and_received_bytes_are_stored_once(tmp_path: Path, runtime_dir) -> None:
    _series(tmp_path / "series")
    first = sorted((tmp_path / "series").iterdir())[0]
    with DicomDatabase.create(tmp_path / "db", _key()) as database:
        database.import_path(tmp_path / "series")
        again = database.import_path(tmp_path / "series")
        assert (again.added, again.duplicates) == (0, 10)
        uid = database.import_bytes(first.read_bytes(), origin="PACS")
        assert uid == dcmread(first).SOPInstanceUID
    assert len(list((tmp_path / "db" / "blobs").rglob("*.dcm"))) == 10


def test_delete_removes_the_sealed_blobs(tmp_path: Path) -> None:
    _series(tmp_path / "series")
    with DicomDatabase.create(tmp_path / "db", _key()) as database:
        [study_uid] = database.import_path(tmp_path / "series").study_uids
        report = database.delete_study(study_uid)
        assert report.blobs_removed == 10
        assert database.search(StudyQuery()) == []
    assert list((tmp_path / "db" / "blobs").rglob("*.dcm")) == []
    with DicomDatabase.open(tmp_path / "db", _key()) as database:
        assert database.search(StudyQuery()) == []


def test_another_connection_sees_commits_made_after_it_opened(tmp_path: Path) -> None:
    _series(tmp_path / "one", "A1")
    _series(tmp_path / "two", "B2")
    with DicomDatabase.create(tmp_path / "db", _key()) as reader:
        assert reader.search(StudyQuery()) == []
        with DicomDatabase.open(tmp_path / "db", _key()) as writer:
            writer.import_path(tmp_path / "one")
        assert [m.patient_id for m in reader.search(StudyQuery())] == ["A1"]
        reader.import_path(tmp_path / "two")  # reloads before writing: A1 stays
    with DicomDatabase.open(tmp_path / "db", _key()) as database:
        assert sorted(m.patient_id for m in database.search(StudyQuery())) == ["A1", "B2"]


def test_a_plain_folder_is_not_encrypted_afterwards(tmp_path: Path) -> None:
    _series(tmp_path / "series")
    with DicomDatabase.open(tmp_path / "db") as database:
        database.import_path(tmp_path / "series")
        assert not database.encrypted
    with pytest.raises(DatabaseError, match="already holds an unencrypted database"):
        DicomDatabase.create(tmp_path / "db", _key())
    assert not (tmp_path / "db" / "encryption.json").exists()
    with DicomDatabase.open(tmp_path / "db", _key()) as database:  # a key is not needed
        assert len(database.search(StudyQuery())) == 1


def test_the_default_database_opens_with_a_key_or_the_passphrase_file_variable(
    tmp_path: Path, runtime_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, affine = _series(tmp_path / "series")
    location = Path(os.environ["WORKSTATION_DATABASE"])
    with DicomDatabase.create(None, _key()) as database:
        assert database.location == location
        [study_uid] = database.import_path(tmp_path / "series").study_uids
    with pytest.raises(EncryptionError, match="This database is encrypted"):
        open_database_study(study_uid)
    opened = open_database_study(study_uid, key=_key())
    assert opened.volume is not None
    np.testing.assert_allclose(opened.volume.affine, affine, atol=1e-6)
    np.testing.assert_array_equal(opened.volume.array, data.astype(opened.volume.array.dtype))
    # the passphrase file named by the environment (its scrypt cost is the stored one)
    (tmp_path / "pass").write_text("correct horse battery\n")
    monkeypatch.setenv("WORKSTATION_PASSPHRASE_FILE", str(tmp_path / "pass"))
    with DicomDatabase.open() as database:
        assert database.encrypted and len(database.search(StudyQuery())) == 1


def test_a_killed_process_plaintext_folder_is_removed_by_the_next_open(
    tmp_path: Path, runtime_dir: Path
) -> None:
    import subprocess
    import sys

    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    gone = runtime_dir / f"{plaintext.PREFIX}{finished.stdout.strip()}-abc"
    gone.mkdir(mode=0o700)
    (gone / "000000.dcm").write_bytes(b"plaintext of a killed process")
    alive = runtime_dir / f"{plaintext.PREFIX}{os.getppid()}-def"  # a live process
    alive.mkdir(mode=0o700)
    made = plaintext.new_study_folder()
    assert made.parent == runtime_dir and made.name.startswith(f"{plaintext.PREFIX}{os.getpid()}-")
    assert not gone.exists() and alive.is_dir()
