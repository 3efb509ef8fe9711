"""The secret key that makes pseudonyms, UIDs and date shifts repeatable, and its file."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from workstation.core.errors import DeidentificationError
from workstation.io.atomic_write import atomic_write

#: First line of a key file; the second line is the secret as 64 hex digits.
KEY_HEADER = "# surgical-planning-workstation de-identification key v1"
KEY_BYTES = 32


@dataclass(frozen=True)
class DeidKey:
    """A 32-byte secret and its short public fingerprint."""

    secret: bytes
    key_id: str

    def __repr__(self) -> str:
        return f"DeidKey(key_id={self.key_id!r})"


def key_from_secret(secret: bytes) -> DeidKey:
    """The key of ``secret`` (32 bytes) with its fingerprint."""
    if len(secret) != KEY_BYTES:
        raise DeidentificationError(f"A de-identification key has {KEY_BYTES} bytes.")
    fingerprint = hashlib.sha256(b"deid-key-id\x00" + secret).hexdigest()[:12]
    return DeidKey(secret=secret, key_id=fingerprint)


def new_key() -> DeidKey:
    """A fresh random key."""
    return key_from_secret(secrets.token_bytes(KEY_BYTES))


def read_key(path: Path) -> DeidKey:
    """The key stored at ``path``; a missing, foreign or damaged file is refused."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as error:
        raise DeidentificationError(f"Cannot read the key file {path}: {error}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or lines[0] != KEY_HEADER:
        raise DeidentificationError(f"{path} is not a de-identification key file.")
    try:
        secret = bytes.fromhex(lines[1])
    except ValueError:
        raise DeidentificationError(f"The key file {path} is damaged.") from None
    if len(secret) != KEY_BYTES:
        raise DeidentificationError(f"The key file {path} is damaged (wrong length).")
    return key_from_secret(secret)


def write_key(key: DeidKey, path: Path) -> None:
    """Save ``key`` at ``path`` (mode 0600); an existing different key is never replaced."""
    path = Path(path)
    if path.exists():
        if read_key(path).secret == key.secret:
            return
        raise DeidentificationError(
            f"{path} already holds another de-identification key; it was not overwritten."
        )
    text = f"{KEY_HEADER}\n{key.secret.hex()}\n# key id {key.key_id}\n"
    with atomic_write(path) as handle:
        with contextlib.suppress(OSError, AttributeError, ValueError):
            os.fchmod(handle.fileno(), 0o600)
        handle.write(text.encode("ascii"))
    os.chmod(path, 0o600)
