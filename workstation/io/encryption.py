"""Encryption at rest: a streamed AES-256-GCM container for projects and database files.

Layout of an encrypted file::

    SURGICAL-PLANNING-WORKSTATION-ENCRYPTED\\n      magic line
    {"format": 1, "cipher": "AES-256-GCM", ...}\\n    one-line JSON header
    chunk 0, chunk 1, ... chunk N                     AES-256-GCM ciphertext + 16-byte tag

The header names the key's origin (``kdf`` "scrypt" with n/r/p/salt, or "keyring" with the
entry name), a per-file ``salt``, the ``nonce_prefix`` and ``chunk_size`` and a key check
value.  The file key is HKDF-SHA256(master key, per-file salt); the master key is the
scrypt of the passphrase or the keyring entry's random 32 bytes.  Chunk ``i`` holds
``chunk_size`` plaintext bytes (the last one 0..chunk_size), its nonce is nonce prefix (8
random bytes) ‖ ``i`` (32 bits) and its AAD is SHA-256(magic + header line) ‖ ``i`` (64
bits) ‖ last-chunk flag, so a truncated, reordered, swapped or altered chunk fails its
tag.  Both directions stream with constant memory (one chunk at a time).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import hashlib
import hmac
import io
import json
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from workstation.core.errors import EncryptionError

MAGIC = b"SURGICAL-PLANNING-WORKSTATION-ENCRYPTED\n"
FORMAT_VERSION = 1
CIPHER = "AES-256-GCM"
#: Plaintext bytes per chunk.
CHUNK_SIZE = 1 << 20
TAG_SIZE = 16
#: Longest header line read.
MAX_HEADER_BYTES = 64 << 10
#: scrypt cost: n=2**15, r=8, p=1 (32 MiB, about 0.1 s); interactive saves may use 2**17.
SCRYPT_N = 1 << 15
SCRYPT_R = 8
SCRYPT_P = 1
#: Service name of the workstation's entries in the OS keyring.
KEYRING_SERVICE = "surgical-planning-workstation"
#: Encrypted files up to this size are decrypted into memory, larger ones into a private
#: temporary file (mode 0600, unlinked as soon as it is open).
MEMORY_DECRYPT_LIMIT = 512 << 20

NO_KEY_MESSAGE = (
    "This project is encrypted; give its passphrase (--passphrase-file FILE) or keyring "
    "entry (--keyring NAME)."
)
_CHECK_LABEL = b"surgical planning workstation key check"
_FILE_KEY_INFO = b"surgical planning workstation file key"


# -- key sources ---------------------------------------------------------------------------
@dataclass(frozen=True)
class KeySource:
    """Where a file's key comes from: a passphrase (scrypt) or an OS keyring entry."""

    kind: str
    value: str = field(repr=False)
    scrypt_n: int = SCRYPT_N

    @classmethod
    def passphrase(cls, text: str, scrypt_n: int = SCRYPT_N) -> KeySource:
        """A passphrase, stretched with scrypt (``scrypt_n`` smaller only in tests)."""
        if not text:
            raise EncryptionError("The passphrase is empty.")
        if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
            raise EncryptionError(f"The scrypt cost n must be a power of two, not {scrypt_n}.")
        return cls("passphrase", text, scrypt_n)

    @classmethod
    def keyring(cls, name: str) -> KeySource:
        """A random key kept in the OS keyring under ``name``."""
        if not name or "\n" in name:
            raise EncryptionError("A keyring entry needs a one-line name.")
        return cls("keyring", name)

    @classmethod
    def data_key(cls, secret: bytes, key_id: str) -> KeySource:
        """A random 32-byte data key held by the program (a database's unwrapped key)."""
        if len(secret) != 32:
            raise EncryptionError("A data key has 32 bytes.")
        return cls("data-key", f"{key_id}:{secret.hex()}")

    def new_header_kdf(self) -> tuple[dict[str, Any], bytes]:
        """(the header's kdf record, the master key) for a new file."""
        if self.kind == "data-key":
            key_id, secret = self.value.split(":")
            return {"name": "data-key", "key_id": key_id}, bytes.fromhex(secret)
        if self.kind == "passphrase":
            salt = secrets.token_bytes(16)
            kdf = {
                "name": "scrypt",
                "n": self.scrypt_n,
                "r": SCRYPT_R,
                "p": SCRYPT_P,
                "salt": _b64(salt),
            }
            return kdf, _scrypt(self.value, salt, self.scrypt_n, SCRYPT_R, SCRYPT_P)
        return {"name": "keyring", "entry": self.value}, keyring_secret(self.value)

    def master_key(self, kdf: dict[str, Any], shown: str) -> bytes:
        """The master key for an existing file's kdf record (EncryptionError if unusable)."""
        name = kdf.get("name")
        if self.kind == "data-key":
            key_id, secret = self.value.split(":")
            if name != "data-key" or kdf.get("key_id") != key_id:
                raise EncryptionError(f"{shown} is sealed with another data key.")
            return bytes.fromhex(secret)
        if name == "data-key":
            raise EncryptionError(f"{shown} is sealed with a database's data key.")
        if self.kind == "passphrase":
            if name != "scrypt":
                raise EncryptionError(
                    f"{shown} is encrypted with the keyring entry {kdf.get('entry')!r}, "
                    "not a passphrase; give --keyring NAME."
                )
            try:
                n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
                salt = _unb64(kdf["salt"])
            except (KeyError, TypeError, ValueError):
                raise _damaged(shown, "its header's scrypt parameters are malformed") from None
            if not (2 <= n <= 1 << 20 and 1 <= r <= 32 and 1 <= p <= 16):
                raise _damaged(shown, f"its header asks for scrypt n={n} r={r} p={p}")
            return _scrypt(self.value, salt, n, r, p)
        if name != "keyring":
            raise EncryptionError(
                f"{shown} is encrypted with a passphrase, not a keyring entry; "
                "give --passphrase-file FILE."
            )
        return keyring_secret(self.value)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("not base64 text")
    return base64.b64decode(text.encode("ascii"), validate=True)


def _scrypt(text: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    try:
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(text.encode("utf-8"))
    except (MemoryError, ValueError) as error:
        raise EncryptionError(f"Cannot derive the key from the passphrase: {error}") from None


def _keyring_module() -> Any:
    try:
        import keyring
        import keyring.errors
    except ImportError:
        raise EncryptionError(
            "The OS keyring is not available (package keyring missing)."
        ) from None
    return keyring


def keyring_secret(name: str) -> bytes:
    """The 32-byte key stored in the OS keyring under ``name``."""
    keyring = _keyring_module()
    try:
        text = keyring.get_password(KEYRING_SERVICE, name)
    except keyring.errors.KeyringError as error:
        raise EncryptionError(f"The OS keyring cannot be used here: {error}") from None
    if text is None:
        raise EncryptionError(
            f"The OS keyring has no key named {name!r}; create it with "
            f"`workstation keys create {name}`."
        )
    try:
        secret = _unb64(text)
    except ValueError:
        secret = b""
    if len(secret) != 32:
        raise EncryptionError(f"The keyring entry {name!r} does not hold a workstation key.")
    return secret


def store_keyring_secret(name: str, secret: bytes) -> None:
    """Store ``secret`` in the OS keyring under ``name`` (callers check the permission)."""
    keyring = _keyring_module()
    try:
        keyring.set_password(KEYRING_SERVICE, name, _b64(secret))
    except keyring.errors.KeyringError as error:
        raise EncryptionError(f"The OS keyring cannot be used here: {error}") from None


def keyring_has(name: str) -> bool:
    """True when the OS keyring holds an entry ``name`` (False without a usable keyring)."""
    keyring = _keyring_module()
    try:
        return keyring.get_password(KEYRING_SERVICE, name) is not None
    except keyring.errors.KeyringError:
        return False


# -- the container -------------------------------------------------------------------------
def _damaged(shown: str, why: str) -> EncryptionError:
    return EncryptionError(f"{shown} is damaged or was altered: {why}.")


def _file_key(master: bytes, salt: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_FILE_KEY_INFO).derive(master)


def _check_value(file_key: bytes) -> str:
    return hmac.new(file_key, _CHECK_LABEL, hashlib.sha256).hexdigest()[:32]


def _nonce(prefix: bytes, index: int) -> bytes:
    if index >= 1 << 32:
        raise EncryptionError("The file is too large to encrypt (over 2**32 chunks).")
    return prefix + struct.pack(">I", index)


def _aad(header_hash: bytes, index: int, last: bool) -> bytes:
    return header_hash + struct.pack(">QB", index, 1 if last else 0)


def has_magic(data: bytes) -> bool:
    """True when ``data`` (a file's first bytes) starts an encrypted container."""
    return data[: len(MAGIC)] == MAGIC


def is_encrypted(path: str | os.PathLike[str]) -> bool:
    """True when the file at ``path`` is an encrypted container (False if unreadable)."""
    try:
        with open(path, "rb") as handle:
            return has_magic(handle.read(len(MAGIC)))
    except OSError:
        return False


class EncryptingWriter(io.RawIOBase):
    """A write-only, unseekable stream that seals what it is given into ``target``.

    Call ``finish()`` after the last write: it seals the final chunk (a stream not
    finished reads back as cut short).
    """

    def __init__(self, target: BinaryIO, key: KeySource, chunk_size: int = CHUNK_SIZE) -> None:
        super().__init__()
        kdf, master = key.new_header_kdf()
        salt = secrets.token_bytes(16)
        self._key = AESGCM(_file_key(master, salt))
        self._prefix = secrets.token_bytes(8)
        header = {
            "format": FORMAT_VERSION,
            "cipher": CIPHER,
            "kdf": kdf,
            "salt": _b64(salt),
            "nonce_prefix": _b64(self._prefix),
            "chunk_size": chunk_size,
            "key_check": _check_value(_file_key(master, salt)),
        }
        line = json.dumps(header, separators=(",", ":")).encode("ascii") + b"\n"
        self._hash = hashlib.sha256(MAGIC + line).digest()
        self._target = target
        self._chunk = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._finished = False
        target.write(MAGIC + line)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:  # type: ignore[override]
        if self._finished:
            raise ValueError("write to a finished encrypted stream")
        view = memoryview(data).cast("B")
        self._buffer += view
        while len(self._buffer) > self._chunk:  # keep one chunk back: it may be the last
            self._seal(bytes(self._buffer[: self._chunk]), last=False)
            del self._buffer[: self._chunk]
        return len(view)

    def _seal(self, plain: bytes, last: bool) -> None:
        nonce = _nonce(self._prefix, self._index)
        self._target.write(self._key.encrypt(nonce, plain, _aad(self._hash, self._index, last)))
        self._index += 1

    def finish(self) -> None:
        """Seal the last chunk (flagged last)."""
        if not self._finished:
            self._seal(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._finished = True


def _read_header(source: BinaryIO, shown: str) -> tuple[dict[str, Any], bytes]:
    if source.read(len(MAGIC)) != MAGIC:
        raise EncryptionError(f"{shown} is not an encrypted workstation file.")
    line = source.readline(MAX_HEADER_BYTES)
    if not line.endswith(b"\n"):
        raise _damaged(shown, "its header is cut short or too long")
    try:
        header = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _damaged(shown, "its header is not valid JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
        raise EncryptionError(f"{shown} uses an unknown encryption format.")
    if header.get("cipher") != CIPHER or not isinstance(header.get("kdf"), dict):
        raise EncryptionError(f"{shown} uses an unknown cipher or key derivation.")
    return header, hashlib.sha256(MAGIC + line).digest()


def header_of(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of an encrypted file (no key needed)."""
    with open(path, "rb") as handle:
        return _read_header(handle, Path(path).name)[0]


def decrypt_stream(source: BinaryIO, key: KeySource | None, shown: str) -> Iterator[bytes]:
    """The plaintext chunks of an encrypted stream, each authenticated before it is given.

    EncryptionError: no key (``NO_KEY_MESSAGE``), a wrong key (checked before any chunk),
    or a chunk cut short, reordered or altered.
    """
    header, header_hash = _read_header(source, shown)
    if key is None:
        raise EncryptionError(NO_KEY_MESSAGE)
    try:
        salt = _unb64(header["salt"])
        prefix = _unb64(header["nonce_prefix"])
        chunk = int(header["chunk_size"])
        check = str(header["key_check"])
    except (KeyError, TypeError, ValueError):
        raise _damaged(shown, "its header is malformed") from None
    if len(prefix) != 8 or not 1 <= chunk <= 64 << 20:
        raise _damaged(shown, "its header is malformed")
    file_key = _file_key(key.master_key(header["kdf"], shown), salt)
    if not hmac.compare_digest(_check_value(file_key), check):
        raise EncryptionError(f"Wrong passphrase or key for {shown}.")
    cipher = AESGCM(file_key)
    block = chunk + TAG_SIZE
    pending = source.read(block)
    index = 0
    while True:
        following = source.read(block) if len(pending) == block else b""
        last = not following
        if len(pending) < TAG_SIZE:
            raise _damaged(shown, f"it is cut short at chunk {index}")
        try:
            plain = cipher.decrypt(_nonce(prefix, index), pending, _aad(header_hash, index, last))
        except InvalidTag:
            raise _damaged(
                shown,
                f"chunk {index} fails its authentication check (cut short, reordered or changed)",
            ) from None
        yield plain
        if last:
            return
        pending = following
        index += 1


def encrypt_file(source: BinaryIO, target: BinaryIO, key: KeySource) -> None:
    """Encrypt the whole of ``source`` into ``target`` (streamed)."""
    writer = EncryptingWriter(target, key)
    while data := source.read(CHUNK_SIZE):
        writer.write(data)
    writer.finish()


def encrypt_bytes(data: bytes, key: KeySource) -> bytes:
    """``data`` as an encrypted container (for small files: database index, blobs)."""
    out = io.BytesIO()
    encrypt_file(io.BytesIO(data), out, key)
    return out.getvalue()


def decrypt_bytes(data: bytes, key: KeySource | None, shown: str) -> bytes:
    """The plaintext of an encrypted container held in memory."""
    return b"".join(decrypt_stream(io.BytesIO(data), key, shown))


def open_decrypted(
    path: str | os.PathLike[str], key: KeySource | None, memory_limit: int = MEMORY_DECRYPT_LIMIT
) -> BinaryIO:
    """A readable, seekable handle on the plaintext of the encrypted file at ``path``.

    Up to ``memory_limit`` bytes the plaintext is kept in memory; a larger file goes to a
    private temporary file (0600) that is unlinked at once, so nothing stays on disk.  The
    whole file is authenticated before the handle is returned.
    """
    shown = Path(path).name
    with open(path, "rb") as source:
        size = os.fstat(source.fileno()).st_size
        # a private temporary file is 0600 and already unlinked; the caller closes it
        sink: BinaryIO = io.BytesIO() if size <= memory_limit else tempfile.TemporaryFile()  # noqa: SIM115
        try:
            for plain in decrypt_stream(source, key, shown):
                sink.write(plain)
        except BaseException:
            sink.close()
            raise
    sink.seek(0)
    return sink


# -- the key used to open encrypted projects in this context -------------------------------
_OPENING_KEY: contextvars.ContextVar[KeySource | None] = contextvars.ContextVar(
    "workstation_opening_key", default=None
)


@contextlib.contextmanager
def opening_key(key: KeySource | None) -> Iterator[None]:
    """Readers of encrypted files inside this block use ``key`` (None keeps the outer one)."""
    if key is None:
        yield
        return
    token = _OPENING_KEY.set(key)
    try:
        yield
    finally:
        _OPENING_KEY.reset(token)


def current_opening_key() -> KeySource | None:
    """The key set by the innermost ``opening_key`` block, if any."""
    return _OPENING_KEY.get()
