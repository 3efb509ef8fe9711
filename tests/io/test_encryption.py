"""The encrypted container: round trips, wrong keys, and every kind of tampering detected."""

from __future__ import annotations

import hashlib
import io
import json
import os

import pytest

from tests.support import memory_keyring as keyring_support
from workstation.core.errors import EncryptionError
from workstation.io import encryption
from workstation.io.encryption import (
    MAGIC,
    TAG_SIZE,
    EncryptingWriter,
    KeySource,
    decrypt_bytes,
    decrypt_stream,
    encrypt_bytes,
    header_of,
    is_encrypted,
    open_decrypted,
)

N = 2**10  # a cheap scrypt for tests; the product uses 2**15
CHUNK = 4096


@pytest.fixture
def memory_keyring():
    with keyring_support.installed() as backend:
        yield backend


def _key(text: str = "correct horse battery staple") -> KeySource:
    return KeySource.passphrase(text, scrypt_n=N)


def _seal(data: bytes, key: KeySource, chunk: int = CHUNK) -> bytes:
    out = io.BytesIO()
    writer = EncryptingWriter(out, key, chunk_size=chunk)
    for start in range(0, len(data), 1000):  # odd-sized writes cross chunk borders
        writer.write(data[start : start + 1000])
    writer.finish()
    return out.getvalue()


def _split(sealed: bytes, chunk: int = CHUNK) -> tuple[bytes, list[bytes]]:
    """(magic + header line, the sealed chunks)."""
    head_end = sealed.index(b"\n", len(MAGIC)) + 1
    body = sealed[head_end:]
    block = chunk + TAG_SIZE
    return sealed[:head_end], [body[i : i + block] for i in range(0, len(body), block)]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 5 * CHUNK + 17])
def test_round_trip_gives_the_plaintext_back(size):
    data = os.urandom(size)
    sealed = _seal(data, _key())
    assert decrypt_bytes(sealed, _key(), "case") == data
    # chunks: every full chunk but the last, and a last one of 0..CHUNK bytes
    _, chunks = _split(sealed)
    assert len(chunks) == max(1, -(-size // CHUNK))
    assert len(sealed) == len(_split(sealed)[0]) + size + TAG_SIZE * len(chunks)


def test_the_default_chunk_and_bytes_helpers_round_trip():
    data = os.urandom(encryption.CHUNK_SIZE * 2 + 5)
    assert decrypt_bytes(encrypt_bytes(data, _key()), _key(), "x") == data


def test_header_records_cipher_kdf_and_check_value_but_not_the_key():
    sealed = _seal(b"secret" * 100, _key())
    header = json.loads(_split(sealed)[0][len(MAGIC) :])
    assert header["format"] == 1 and header["cipher"] == "AES-256-GCM"
    assert header["kdf"]["name"] == "scrypt"
    assert (header["kdf"]["n"], header["kdf"]["r"], header["kdf"]["p"]) == (N, 8, 1)
    assert len(header["key_check"]) == 32 and header["chunk_size"] == CHUNK
    assert b"secret" not in sealed and b"correct horse" not in sealed


def test_same_plaintext_seals_differently_each_time():
    first, second = _seal(b"a" * 10000, _key()), _seal(b"a" * 10000, _key())
    assert first != second
    assert _split(first)[1][0] != _split(second)[1][0]


def test_wrong_passphrase_is_one_line_and_gives_nothing():
    sealed = _seal(b"data" * 5000, _key())
    with pytest.raises(EncryptionError) as caught:
        list(decrypt_stream(io.BytesIO(sealed), _key("wrong"), "case.wsproj"))
    assert str(caught.value) == "Wrong passphrase or key for case.wsproj."


def test_no_key_asks_for_one():
    with pytest.raises(EncryptionError, match="This project is encrypted; give its passphrase"):
        decrypt_bytes(_seal(b"x", _key()), None, "case")


def test_a_passphrase_for_a_keyring_file_is_refused_clearly(memory_keyring):
    from workstation.io.encryption import store_keyring_secret

    store_keyring_secret("ward", os.urandom(32))
    sealed = _seal(b"x" * 10, KeySource.keyring("ward"))
    assert decrypt_bytes(sealed, KeySource.keyring("ward"), "c") == b"x" * 10
    with pytest.raises(EncryptionError, match="keyring entry 'ward'"):
        decrypt_bytes(sealed, _key(), "c")


def _tamper_message(sealed: bytes) -> str:
    with pytest.raises(EncryptionError) as caught:
        decrypt_bytes(sealed, _key(), "case")
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_truncation_at_a_chunk_border_is_detected():
    sealed = _seal(os.urandom(4 * CHUNK + 100), _key())
    head, chunks = _split(sealed)
    message = _tamper_message(head + b"".join(chunks[:3]))  # the last chunk dropped
    assert "chunk 2 fails its authentication check" in message
    assert _tamper_message(sealed[:-1])  # cut inside the last chunk


def test_truncation_to_the_header_is_detected():
    sealed = _seal(b"abc", _key())
    head, _ = _split(sealed)
    assert "cut short" in _tamper_message(head)


def test_reordered_and_swapped_chunks_are_detected():
    sealed = _seal(os.urandom(4 * CHUNK + 100), _key())
    head, chunks = _split(sealed)
    swapped = [chunks[1], chunks[0], *chunks[2:]]
    assert "chunk 0 fails" in _tamper_message(head + b"".join(swapped))
    _, other_chunks = _split(_seal(os.urandom(4 * CHUNK + 100), _key()))
    assert "chunk 1 fails" in _tamper_message(
        head + chunks[0] + other_chunks[1] + b"".join(chunks[2:])
    )


def test_a_flipped_bit_anywhere_is_detected():
    sealed = bytearray(_seal(os.urandom(3 * CHUNK), _key()))
    head, _ = _split(bytes(sealed))
    for where in (len(head) + 5, len(head) + CHUNK + TAG_SIZE + 9, len(sealed) - 1):
        changed = bytearray(sealed)
        changed[where] ^= 0x01
        assert "fails its authentication check" in _tamper_message(bytes(changed))


def test_a_changed_header_is_detected():
    sealed = _seal(os.urandom(100), _key())
    head, chunks = _split(sealed)
    header = json.loads(head[len(MAGIC) :])
    header["chunk_size"] = CHUNK  # same values, different bytes: the AAD hash changes
    line = json.dumps(header, indent=None).encode() + b"\n"
    assert line != head[len(MAGIC) :]
    assert "fails its authentication check" in _tamper_message(MAGIC + line + chunks[0])


def test_is_encrypted_and_header_of(tmp_path):
    plain, sealed = tmp_path / "plain.bin", tmp_path / "sealed.bin"
    plain.write_bytes(b"PK\x03\x04 not encrypted")
    sealed.write_bytes(_seal(b"x", _key()))
    assert not is_encrypted(plain) and is_encrypted(sealed)
    assert not is_encrypted(tmp_path / "missing")
    assert header_of(sealed)["cipher"] == "AES-256-GCM"


@pytest.mark.parametrize("limit", [10**9, 0])
def test_open_decrypted_in_memory_or_a_private_unlinked_file(tmp_path, limit):
    data = os.urandom(3 * CHUNK + 1)
    path = tmp_path / "sealed.bin"
    path.write_bytes(_seal(data, _key()))
    before = set(os.listdir(tmp_path))
    with open_decrypted(path, _key(), memory_limit=limit) as handle:
        assert handle.read() == data
        if limit == 0:
            assert os.fstat(handle.fileno()).st_nlink == 0  # unlinked: nothing on disk
            assert os.fstat(handle.fileno()).st_mode & 0o077 == 0
        else:
            assert isinstance(handle, io.BytesIO)
    assert set(os.listdir(tmp_path)) == before


def test_keysource_hides_the_passphrase_and_checks_n():
    assert "correct horse" not in repr(_key())
    with pytest.raises(EncryptionError):
        KeySource.passphrase("x", scrypt_n=1000)
    with pytest.raises(EncryptionError):
        KeySource.passphrase("")


def test_scrypt_matches_an_independent_derivation():
    salt = b"\x01" * 16
    expected = hashlib.scrypt(b"pw", salt=salt, n=N, r=8, p=1, dklen=32)
    assert encryption._scrypt("pw", salt, N, 8, 1) == expected
