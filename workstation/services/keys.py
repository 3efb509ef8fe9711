"""Where encryption keys come from: a passphrase (text or file), or an OS keyring entry.

The CLI and the window both turn their choices into an ``io.encryption.KeySource`` here.
Creating a new keyring key needs the permission manage-keys and is audited (KEY_CHANGE);
using an existing one is not a key change.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from workstation.core.audit_actions import AuditAction, AuditObject
from workstation.core.errors import EncryptionError, InputPathError
from workstation.core.permissions import Permission
from workstation.io import encryption
from workstation.io.encryption import KeySource

#: Environment variable naming a passphrase file (used when no option is given).
PASSPHRASE_FILE_ENV = "WORKSTATION_PASSPHRASE_FILE"
#: Longest passphrase file read.
MAX_PASSPHRASE_FILE = 64 << 10


def passphrase_from_file(path: str | os.PathLike[str], scrypt_n: int | None = None) -> KeySource:
    """The passphrase in the file at ``path`` (its first line, without the line break)."""
    file = Path(path)
    try:
        with open(file, "rb") as handle:
            data = handle.read(MAX_PASSPHRASE_FILE + 1)
    except FileNotFoundError:
        raise InputPathError(f"No such passphrase file: {file}") from None
    except OSError as error:
        raise EncryptionError(f"Cannot read the passphrase file {file}: {error.strerror}") from None
    if len(data) > MAX_PASSPHRASE_FILE:
        raise EncryptionError(f"The passphrase file {file} is too large to be a passphrase.")
    try:
        text = data.decode("utf-8").splitlines()[0] if data.strip() else ""
    except UnicodeDecodeError:
        raise EncryptionError(f"The passphrase file {file} is not UTF-8 text.") from None
    if not text:
        raise EncryptionError(f"The passphrase file {file} is empty.")
    return KeySource.passphrase(text, encryption.SCRYPT_N if scrypt_n is None else scrypt_n)


def key_source(
    passphrase_file: str | os.PathLike[str] | None = None,
    keyring_name: str | None = None,
    passphrase: str | None = None,
    *,
    use_environment: bool = True,
    scrypt_n: int | None = None,
) -> KeySource | None:
    """The KeySource the user chose (None when none was given).

    At most one of ``passphrase_file``, ``keyring_name`` and ``passphrase``; with none,
    ``WORKSTATION_PASSPHRASE_FILE`` is used when set (and ``use_environment``).
    """
    given = [item for item in (passphrase_file, keyring_name, passphrase) if item]
    if len(given) > 1:
        raise EncryptionError("Give one key: a passphrase file or a keyring entry, not both.")
    if keyring_name:
        return KeySource.keyring(keyring_name)
    if passphrase:
        n = encryption.SCRYPT_N if scrypt_n is None else scrypt_n
        return KeySource.passphrase(passphrase, n)
    if passphrase_file:
        return passphrase_from_file(passphrase_file, scrypt_n)
    variable = os.environ.get(PASSPHRASE_FILE_ENV, "") if use_environment else ""
    return passphrase_from_file(variable, scrypt_n) if variable else None


def encryption_key(
    encrypt: bool,
    passphrase_file: str | os.PathLike[str] | None = None,
    keyring_name: str | None = None,
) -> KeySource | None:
    """The key to save with (``--encrypt``); None when not encrypting."""
    if not encrypt:
        if passphrase_file or keyring_name:
            raise EncryptionError(
                "--passphrase-file and --keyring choose the key of --encrypt; add --encrypt."
            )
        return None
    key = key_source(passphrase_file, keyring_name)
    if key is None:
        raise EncryptionError(
            "--encrypt needs a key: --passphrase-file FILE, --keyring NAME or "
            f"{PASSPHRASE_FILE_ENV}."
        )
    return key


def create_keyring_key(name: str, *, replace: bool = False) -> KeySource:
    """Store a new random 32-byte key in the OS keyring as ``name`` (manage-keys, audited).

    An existing entry is kept unless ``replace`` (files sealed with it would be lost).
    """
    from workstation.services import access, audit

    objects = [AuditObject("key", name)]
    access.require(Permission.MANAGE_KEYS, AuditAction.KEY_CHANGE, objects)
    if encryption.keyring_has(name) and not replace:
        raise EncryptionError(
            f"The OS keyring already holds a key named {name!r}; files encrypted with it "
            "need it, so it is not replaced."
        )
    with audit.audited(AuditAction.KEY_CHANGE, objects, detail="new keyring key"):
        encryption.store_keyring_secret(name, secrets.token_bytes(32))
    return KeySource.keyring(name)
