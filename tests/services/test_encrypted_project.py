"""Encrypted projects: the same case back with the key, refused without it, no PHI at rest."""

from __future__ import annotations

import io
import os
import time
import zipfile

import numpy as np
import pytest

from tests.services.project_cases import VIEW, build_case, open_session, write_ct
from tests.support import memory_keyring as keyring_support
from workstation.core.errors import EncryptionError, InputPathError
from workstation.io import encryption
from workstation.io.encryption import KeySource, is_encrypted, open_decrypted, opening_key
from workstation.services import keys
from workstation.services.project import (
    PROJECT_EXTENSION,
    apply_to_session,
    contents_from_session,
    open_project,
    read_manifest,
    read_project,
    save_project,
)
from workstation.services.session import Session

N = 2**10
PATIENT = b"Synthetic^Patient"


def _key(text: str = "a long passphrase") -> KeySource:
    return KeySource.passphrase(text, scrypt_n=N)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """One case saved plain and encrypted, both with the source DICOM embedded."""
    folder = tmp_path_factory.mktemp("case")
    write_ct(folder / "dicom")
    session = build_case(open_session(folder / "dicom"))
    contents = contents_from_session(session, VIEW)
    plain = save_project(folder / f"plain{PROJECT_EXTENSION}", contents, embed_sources=True)
    sealed = save_project(
        folder / f"sealed{PROJECT_EXTENSION}", contents, embed_sources=True, encryption=_key()
    )
    return {"folder": folder, "session": session, "plain": plain, "sealed": sealed}


def test_the_encrypted_file_holds_the_same_zip_inside(case):
    assert is_encrypted(case["sealed"]) and not is_encrypted(case["plain"])
    with open_decrypted(case["sealed"], _key()) as handle:
        inner = handle.read()
    with zipfile.ZipFile(io.BytesIO(inner)) as sealed, zipfile.ZipFile(case["plain"]) as plain:
        assert sealed.namelist() == plain.namelist()
        for name in plain.namelist():
            if name != "manifest.json":  # its "modified" time differs
                assert sealed.read(name) == plain.read(name), name


def test_no_phi_and_no_member_names_in_the_encrypted_bytes(case):
    plain = case["plain"].read_bytes()
    sealed = case["sealed"].read_bytes()
    with zipfile.ZipFile(case["plain"]) as archive:  # the check can fail: PHI is inside
        assert any(PATIENT in archive.read(name) for name in archive.namelist())
    assert b"manifest.json" in plain
    for needle in (PATIENT, b"manifest.json", b"segmentation.seg.nrrd", b"PK\x03\x04", b"DICM"):
        assert needle not in sealed, needle
    # no 24-byte run of the plain zip survives in the ciphertext
    runs = {plain[i : i + 24] for i in range(0, len(plain) - 24, 997)}
    assert not any(run in sealed for run in runs)


def test_read_project_with_the_key_equals_the_plain_one(case):
    plain = read_project(case["plain"])
    sealed = read_project(case["sealed"], key=_key())
    assert sealed.sources == plain.sources and sealed.operations == plain.operations
    assert sealed.view == plain.view == VIEW and sealed.provenance == plain.provenance
    assert sealed.measurements == plain.measurements
    for a, b in zip(plain.segmentation.segments, sealed.segmentation.segments, strict=True):
        assert np.array_equal(a.mask, b.mask) and a.name == b.name
    for a, b in zip(plain.models, sealed.models, strict=True):
        assert np.array_equal(a.mesh.vertices, b.mesh.vertices)
        assert np.array_equal(a.mesh.faces, b.mesh.faces)


def test_open_project_with_the_key_gives_the_same_session(case):
    session = case["session"]
    opened = open_project(case["sealed"], key=_key())
    assert np.array_equal(opened.volume.array, session.volume.array)
    fresh = Session()
    apply_to_session(fresh, opened)
    assert list(fresh.models) == list(session.models)
    assert list(fresh.measurements.items) == list(session.measurements.items)


def test_the_embedded_sources_open_from_an_encrypted_project(case, tmp_path):
    moved = tmp_path / "moved.wsproj"
    moved.write_bytes(case["sealed"].read_bytes())
    (case["folder"] / "dicom").rename(case["folder"] / "gone")
    try:
        opened = open_project(moved, key=_key())
    finally:
        (case["folder"] / "gone").rename(case["folder"] / "dicom")
    assert any("embedded" in warning for warning in opened.warnings)
    assert np.array_equal(opened.volume.array, case["session"].volume.array)


def _no_leftovers(folder, before):
    assert set(os.listdir(folder)) == before


def test_no_key_asks_for_one_and_writes_nothing(case):
    before = set(os.listdir(case["folder"]))
    with pytest.raises(EncryptionError) as caught:
        read_project(case["sealed"])
    assert str(caught.value) == encryption.NO_KEY_MESSAGE
    with pytest.raises(EncryptionError):
        open_project(case["sealed"])
    _no_leftovers(case["folder"], before)


def test_a_wrong_passphrase_is_one_line_and_writes_nothing(case):
    before = set(os.listdir(case["folder"]))
    with pytest.raises(EncryptionError) as caught:
        open_project(case["sealed"], key=_key("not it"))
    assert str(caught.value) == f"Wrong passphrase or key for {case['sealed'].name}."
    _no_leftovers(case["folder"], before)


def test_a_damaged_encrypted_project_is_named(case, tmp_path):
    data = bytearray(case["sealed"].read_bytes())
    data[len(data) // 2] ^= 0x40
    broken = tmp_path / "broken.wsproj"
    broken.write_bytes(bytes(data))
    with pytest.raises(EncryptionError, match=r"broken\.wsproj is damaged or was altered"):
        read_project(broken, key=_key())
    broken.write_bytes(case["sealed"].read_bytes()[:-100])
    with pytest.raises(EncryptionError, match="authentication check"):
        read_manifest(broken, key=_key())


def test_resaving_encrypted_keeps_the_creation_time(case, tmp_path):
    path = tmp_path / "again.wsproj"
    contents = read_project(case["plain"])
    contents.manifest = {}
    save_project(path, contents, encryption=_key())
    first = read_manifest(path, key=_key())
    time.sleep(1.1)  # the creation time has a resolution of one second
    save_project(path, contents, encryption=_key())
    with opening_key(_key()):
        second = read_manifest(path)
    assert second["created"] == first["created"] and second["modified"] != first["modified"]
    assert is_encrypted(path.with_name(path.name + ".bak"))


def test_a_keyring_key_saves_and_opens(case, tmp_path):
    with keyring_support.installed() as backend:
        key = keys.create_keyring_key("surgery")
        assert len(backend.entries) == 1
        with pytest.raises(EncryptionError, match="already holds a key named 'surgery'"):
            keys.create_keyring_key("surgery")
        path = save_project(tmp_path / "k.wsproj", read_project(case["plain"]), encryption=key)
        assert encryption.header_of(path)["kdf"] == {"name": "keyring", "entry": "surgery"}
        assert read_project(path, key=KeySource.keyring("surgery")).view == VIEW
        with pytest.raises(EncryptionError, match="is encrypted with the keyring entry"):
            read_project(path, key=_key())
    with (
        keyring_support.installed(),  # another machine: no such entry
        pytest.raises(EncryptionError, match="has no key named 'surgery'"),
    ):
        read_project(path, key=KeySource.keyring("surgery"))


def test_creating_a_keyring_key_needs_manage_keys(tmp_path, monkeypatch):
    from workstation.core.errors import PermissionDenied

    policy = tmp_path / "policy.toml"
    monkeypatch.setenv("WORKSTATION_POLICY", str(policy))
    monkeypatch.setenv("WORKSTATION_USER", "kim")
    policy.write_text(
        '[roles.student]\npermissions = ["view-identified"]\n\n[users]\nkim = "student"\n'
    )
    with keyring_support.installed() as backend:
        with pytest.raises(PermissionDenied, match="manage-keys"):
            keys.create_keyring_key("surgery")
        assert backend.entries == {}


def test_key_source_choices(tmp_path, monkeypatch):
    phrase = tmp_path / "phrase.txt"
    phrase.write_text("from a file\nignored second line\n")
    source = keys.key_source(passphrase_file=phrase, scrypt_n=N)
    assert source == KeySource.passphrase("from a file", N)
    monkeypatch.setenv(keys.PASSPHRASE_FILE_ENV, str(phrase))
    assert keys.key_source(scrypt_n=N) == source
    assert keys.key_source(use_environment=False) is None
    assert keys.key_source(keyring_name="x") == KeySource.keyring("x")
    with pytest.raises(EncryptionError, match="not both"):
        keys.key_source(passphrase_file=phrase, keyring_name="x")
    with pytest.raises(InputPathError):
        keys.key_source(passphrase_file=tmp_path / "missing")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(EncryptionError, match="is empty"):
        keys.key_source(passphrase_file=tmp_path / "empty")
    monkeypatch.delenv(keys.PASSPHRASE_FILE_ENV)
    with pytest.raises(EncryptionError, match="--encrypt needs a key"):
        keys.encryption_key(True)
    with pytest.raises(EncryptionError, match="add --encrypt"):
        keys.encryption_key(False, passphrase_file=phrase)
    assert keys.encryption_key(False) is None
