"""Keys of the audit trail: the HMAC chain key and the Ed25519 key that signs the head.

The chain key file holds a header line and 32 random bytes in hex; the signing key is
an unencrypted PKCS #8 PEM.  Both are created with mode 0600 and never overwritten.
The head (``audit.head``) names the last record's sequence number and hash, signed,
with the public key that checks it; a log shorter than its head was truncated.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # cryptography is imported only when a signing key is used (start-up)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

from workstation.core.errors import AuditLogError
from workstation.io.atomic_write import atomic_write, shown_path
from workstation.io.audit.records import canonical

CHAIN_KEY_HEADER = "surgical planning workstation audit chain key v1"
HEAD_CONTEXT = b"surgical planning workstation audit head v1\n"


def _create_secret_file(path: Path, data: bytes) -> None:
    """Write a new key file with mode 0600; refuse to replace an existing one."""
    if path.exists():
        raise AuditLogError(f"The key file {shown_path(path)} exists already; it is kept.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as error:
        raise AuditLogError(
            f"Cannot create the key file {shown_path(path)}: {error.strerror or error}."
        ) from error
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    except OSError as error:
        os.close(descriptor)
        with contextlib.suppress(OSError):
            path.unlink()
        raise AuditLogError(
            f"Cannot write the key file {shown_path(path)}: {error.strerror or error}."
        ) from error
    os.close(descriptor)


def new_chain_key(path: Path) -> bytes:
    """Create a chain key file at ``path`` and return the key."""
    key = secrets.token_bytes(32)
    _create_secret_file(path, f"{CHAIN_KEY_HEADER}\n{key.hex()}\n".encode("ascii"))
    return key


def read_chain_key(path: Path) -> bytes:
    """The chain key stored in ``path``; AuditLogError when it is unreadable or malformed."""
    try:
        lines = path.read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError) as error:
        raise AuditLogError(
            f"Cannot read the audit chain key {shown_path(path)}: {error}."
        ) from None
    text = " ".join(lines)
    if not text.startswith(CHAIN_KEY_HEADER):
        raise AuditLogError(f"{shown_path(path)} is not an audit chain key file.")
    try:
        key = bytes.fromhex(text[len(CHAIN_KEY_HEADER) :].strip())
    except ValueError:
        key = b""
    if len(key) != 32:
        raise AuditLogError(f"The audit chain key {shown_path(path)} is damaged (not 32 bytes).")
    return key


def new_signing_key(path: Path) -> Ed25519PrivateKey:
    """Create an Ed25519 signing key file at ``path`` and return the key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _create_secret_file(path, pem)
    return key


def read_signing_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in ``path``; AuditLogError when unreadable or of another kind."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise AuditLogError(
            f"Cannot read the audit signing key {shown_path(path)}: {error}."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditLogError(f"{shown_path(path)} is not an Ed25519 key.")
    return key


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw public key in base64 (as the head stores it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _head_message(seq: int, record_hash: str) -> bytes:
    return HEAD_CONTEXT + canonical({"hash": record_hash, "seq": seq})


def signed_head(key: Ed25519PrivateKey, seq: int, record_hash: str) -> dict[str, Any]:
    """The head naming record ``seq`` with ``record_hash``, signed with ``key``."""
    signature = key.sign(_head_message(seq, record_hash))
    return {
        "seq": seq,
        "hash": record_hash,
        "signature": base64.b64encode(signature).decode("ascii"),
        "public_key": public_key_text(key),
    }


def write_head(path: Path, head: dict[str, Any]) -> None:
    """Replace the head file atomically."""
    with atomic_write(path) as handle:
        handle.write(json.dumps(head, sort_keys=True).encode("ascii") + b"\n")


def read_head(path: Path) -> dict[str, Any] | None:
    """The head file's content, None when there is none; AuditLogError when unreadable."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise AuditLogError(f"The audit head {shown_path(path)} cannot be read: {error}.") from None
    if not isinstance(data, dict):
        raise AuditLogError(f"The audit head {shown_path(path)} is not a head record.")
    return data


def head_problem(head: dict[str, Any], expected_public_key: str | None = None) -> str | None:
    """Why the head's signature does not hold (None when it does)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        seq, record_hash = int(head["seq"]), str(head["hash"])
        public_text = str(head["public_key"])
        signature = base64.b64decode(str(head["signature"]), validate=True)
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_text, validate=True))
    except (KeyError, TypeError, ValueError):
        return "the signed head is malformed"
    if expected_public_key is not None and public_text != expected_public_key:
        return "the signed head was signed with another key than this log's signing key"
    try:
        public.verify(signature, _head_message(seq, record_hash))
    except InvalidSignature:
        return "the signature of the head does not match its content"
    return None
