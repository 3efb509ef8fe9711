"""The keys of an encrypted local database: a wrapped data key, sealed blobs, blob names.

``LOCATION/encryption.json`` holds a random 32-byte data key sealed (``io/encryption``
container) with the user's key (a passphrase or an OS keyring entry); changing the
passphrase re-wraps that one file.  Blobs are sealed one by one with the data key.  A
blob's name is HMAC-SHA256(data key, the plaintext's SHA-256) rather than the SHA-256
itself: the same file still maps to one name (dedup works), but the names no longer
confirm that a known file (one somebody else holds a copy of) is stored here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from workstation.core.errors import DatabaseError, EncryptionError
from workstation.io.atomic_write import atomic_write
from workstation.io.encryption import KeySource, decrypt_bytes, encrypt_bytes

KEY_FILE = "encryption.json"
FORMAT_VERSION = 1
_NAME_LABEL = b"surgical planning workstation blob name"


@dataclass(frozen=True)
class DatabaseKey:
    """The unwrapped data key of one encrypted database."""

    secret: bytes
    key_id: str

    @property
    def source(self) -> KeySource:
        """The data key as a KeySource for sealing and opening blobs."""
        return KeySource.data_key(self.secret, self.key_id)

    def blob_name(self, sha256: str) -> str:
        """The stored name of the blob whose plaintext has SHA-256 ``sha256`` (hex)."""
        message = _NAME_LABEL + bytes.fromhex(sha256)
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def seal(self, plaintext: bytes) -> bytes:
        """``plaintext`` sealed with the data key (AES-256-GCM container)."""
        return encrypt_bytes(plaintext, self.source)

    def open(self, sealed: bytes, shown: str) -> bytes:
        """The plaintext of a sealed blob; EncryptionError naming it when altered."""
        return decrypt_bytes(sealed, self.source, shown)


def is_encrypted_database(location: str | Path) -> bool:
    """True when the database folder holds an ``encryption.json``."""
    return (Path(location) / KEY_FILE).is_file()


def create_database_key(location: str | Path, key: KeySource) -> DatabaseKey:
    """Make a new data key for ``location`` and store it wrapped with ``key`` (0600)."""
    folder = Path(location)
    if is_encrypted_database(folder):
        raise DatabaseError(f"The database {folder} already has an encryption key.")
    secret = secrets.token_bytes(32)
    key_id = hashlib.sha256(b"key id" + secret).hexdigest()[:16]
    _write(folder, DatabaseKey(secret, key_id), key)
    return DatabaseKey(secret, key_id)


def rewrap_database_key(location: str | Path, old: KeySource, new: KeySource) -> None:
    """Wrap the data key with ``new`` (a passphrase change); the blobs stay as they are."""
    _write(Path(location), unlock_database_key(location, old), new)


def _write(folder: Path, data_key: DatabaseKey, key: KeySource) -> None:
    wrapped = encrypt_bytes(data_key.secret, key)
    document = {
        "format": FORMAT_VERSION,
        "key_id": data_key.key_id,
        "blob_names": "hmac-sha256",
        "wrapped_key": base64.b64encode(wrapped).decode("ascii"),
    }
    path = folder / KEY_FILE
    try:
        with atomic_write(path) as handle:
            handle.write(json.dumps(document, indent=1).encode("ascii"))
        path.chmod(0o600)
    except OSError as error:
        raise DatabaseError(f"Cannot write {path}: {error.strerror or error}") from None


def unlock_database_key(location: str | Path, key: KeySource | None) -> DatabaseKey:
    """The data key of the encrypted database at ``location`` (EncryptionError: no/wrong key)."""
    folder = Path(location)
    path = folder / KEY_FILE
    if key is None:
        raise EncryptionError(
            f"This database is encrypted; give its passphrase (--passphrase-file FILE) or "
            f"keyring entry (--keyring NAME) to use {folder}."
        )
    try:
        document = json.loads(path.read_text("ascii"))
        key_id = str(document["key_id"])
        wrapped = base64.b64decode(document["wrapped_key"], validate=True)
    except FileNotFoundError:
        raise DatabaseError(f"The database {folder} is not encrypted.") from None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        raise DatabaseError(f"The database key file {path} is damaged.") from None
    try:
        secret = decrypt_bytes(wrapped, key, KEY_FILE)
    except EncryptionError as error:
        if str(error).startswith("Wrong passphrase"):
            raise EncryptionError(f"Wrong passphrase or key for the database {folder}.") from None
        raise
    if len(secret) != 32 or hashlib.sha256(b"key id" + secret).hexdigest()[:16] != key_id:
        raise DatabaseError(f"The database key file {path} is damaged.")
    return DatabaseKey(secret, key_id)
