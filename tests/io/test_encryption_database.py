"""The encrypted database's keys: wrapped data key, sealed blobs, keyed blob names."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from workstation.core.errors import DatabaseError, EncryptionError
from workstation.io.database_encryption import (
    KEY_FILE,
    create_database_key,
    is_encrypted_database,
    rewrap_database_key,
    unlock_database_key,
)
from workstation.io.encryption import KeySource

N = 2**10
PHI = b"Synthetic^Patient"


def _key(text: str = "database passphrase") -> KeySource:
    return KeySource.passphrase(text, scrypt_n=N)


def test_create_then_unlock_gives_the_same_data_key(tmp_path):
    assert not is_encrypted_database(tmp_path)
    made = create_database_key(tmp_path, _key())
    assert is_encrypted_database(tmp_path)
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o077 == 0
    assert made.secret not in (tmp_path / KEY_FILE).read_bytes()
    opened = unlock_database_key(tmp_path, _key())
    assert opened == made and len(opened.secret) == 32
    document = json.loads((tmp_path / KEY_FILE).read_text())
    assert document["blob_names"] == "hmac-sha256" and document["key_id"] == made.key_id
    with pytest.raises(DatabaseError, match="already has an encryption key"):
        create_database_key(tmp_path, _key())


def test_wrong_or_missing_key_is_one_line_and_changes_nothing(tmp_path):
    create_database_key(tmp_path, _key())
    before = (tmp_path / KEY_FILE).read_bytes()
    with pytest.raises(EncryptionError) as caught:
        unlock_database_key(tmp_path, _key("nope"))
    assert str(caught.value) == f"Wrong passphrase or key for the database {tmp_path}."
    with pytest.raises(EncryptionError, match="is encrypted; give its passphrase"):
        unlock_database_key(tmp_path, None)
    assert (tmp_path / KEY_FILE).read_bytes() == before
    assert os.listdir(tmp_path) == [KEY_FILE]


def test_rewrapping_keeps_the_data_key(tmp_path):
    made = create_database_key(tmp_path, _key())
    rewrap_database_key(tmp_path, _key(), _key("new passphrase"))
    assert unlock_database_key(tmp_path, _key("new passphrase")) == made
    with pytest.raises(EncryptionError):
        unlock_database_key(tmp_path, _key())


def test_blobs_seal_and_open_and_hide_their_content(tmp_path):
    data_key = create_database_key(tmp_path, _key())
    plaintext = b"DICM" + PHI * 50
    sealed = data_key.seal(plaintext)
    assert PHI not in sealed and b"DICM" not in sealed
    assert data_key.open(sealed, "blob") == plaintext
    altered = bytearray(sealed)
    altered[-3] ^= 1
    with pytest.raises(EncryptionError, match="blob is damaged or was altered"):
        data_key.open(bytes(altered), "blob")
    (tmp_path / "other").mkdir()
    other = create_database_key(tmp_path / "other", _key())
    with pytest.raises(EncryptionError, match="another data key"):
        other.open(sealed, "blob")
    with pytest.raises(EncryptionError, match="a database's data key"):
        _key().master_key({"name": "data-key", "key_id": "x"}, "blob")


def test_blob_names_are_keyed_and_deterministic(tmp_path):
    data_key = create_database_key(tmp_path, _key())
    sha = hashlib.sha256(b"a file").hexdigest()
    name = data_key.blob_name(sha)
    assert name == data_key.blob_name(sha) and len(name) == 64  # dedup still works
    assert name != sha and name != data_key.blob_name(hashlib.sha256(b"other").hexdigest())
    (tmp_path / "b").mkdir()
    assert create_database_key(tmp_path / "b", _key()).blob_name(sha) != name
