"""The ``.wsproj`` container: a zip archive whose members are named and hashed in a manifest.

Writing (``ArchiveWriter``) goes into a binary handle (``atomic_write``'s), member by
member, and records each member's SHA-256 and size; ``manifest.json`` is written last and
lists them all.  Members that are compressed already (the gzip ``.seg.nrrd``) or large
binary arrays (the PLY meshes) are stored, JSON members are deflated.

Reading (``ArchiveReader``) treats the file as hostile until proven otherwise, with
bounded memory and time:

- the end-of-archive record is read first: more than ``MAX_MEMBERS`` members or a central
  directory over ``MAX_DIRECTORY_BYTES`` is refused before ``zipfile`` parses anything;
- member names must be plain relative paths (no ``..``, no absolute or drive paths, no
  backslashes or NUL, no duplicates): a path-traversal name is refused, never followed;
- a member is read only when its declared size is within the caller's limit, it is stored
  or deflated (the only methods the workstation writes), not encrypted, and not a likely
  zip bomb (``zip_member.check_member``); inflation never passes the declared size, and
  zipfile checks the CRC at the end;
- the bytes read must match the SHA-256 the manifest records, so a damaged member is
  named.  Every failure is a one-line ``ProjectError`` naming the project file.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import time
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from workstation.core.errors import ExportError, InputPathError, ProjectError
from workstation.io.atomic_write import atomic_write
from workstation.io.zip_member import check_member, format_bytes

MANIFEST = "manifest.json"

#: Most members a project may have (an embedded series of thousands of files fits).
MAX_MEMBERS = 200_000
#: Largest central directory read (about 300 bytes per member at the limit above).
MAX_DIRECTORY_BYTES = 64 << 20
#: Largest manifest and largest other JSON member.
MAX_MANIFEST_BYTES = 64 << 20
MAX_JSON_BYTES = 64 << 20
#: Bytes copied at a time when streaming a member out.
COPY_CHUNK = 1 << 20
#: Deflate level of JSON members and embedded source files (fast; DICOM shrinks ~2x).
DEFLATE_LEVEL = 1
#: Longest member name.
MAX_NAME_LENGTH = 1024

_EOCD = struct.Struct("<4s4H2LH")
_EOCD_MAGIC = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_MAGIC = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_MAGIC = b"PK\x06\x06"
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


def sha256_hex(data: bytes | bytearray | memoryview) -> str:
    """The SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def safe_member_name(name: str) -> bool:
    """True for a plain relative member path: no '..', '.', empty, absolute or drive parts."""
    if not name or len(name) > MAX_NAME_LENGTH or "\\" in name or "\0" in name:
        return False
    if name.startswith("/") or name.endswith("/"):
        return False
    parts = name.split("/")
    if ":" in parts[0]:  # a drive letter or a stream name
        return False
    return all(part not in ("", ".", "..") for part in parts)


def _damaged(project: Path, why: str) -> ProjectError:
    return ProjectError(f"{project.name} is damaged: {why}")


def _not_a_project(project: Path, why: str) -> ProjectError:
    return ProjectError(f"{project.name} is not a workstation project ({why})")


# -- writing -------------------------------------------------------------------------------
class ArchiveWriter:
    """Writes members into a zip on ``handle``; ``members`` maps each name to sha256 and size."""

    def __init__(self, handle: BinaryIO) -> None:
        self._zip = zipfile.ZipFile(handle, "w", allowZip64=True)
        self.members: dict[str, dict[str, Any]] = {}
        self._date_time = time.localtime()[:6]

    def _info(self, name: str, compress: bool) -> zipfile.ZipInfo:
        if not safe_member_name(name) or name in self.members or name == MANIFEST:
            raise ValueError(f"bad or repeated project member name {name!r}")
        info = zipfile.ZipInfo(name, date_time=self._date_time)  # type: ignore[arg-type]
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        if compress:  # ZipFile.open(info, "w") reads the level from here
            info._compresslevel = DEFLATE_LEVEL  # type: ignore[attr-defined]
        info.external_attr = 0o644 << 16
        return info

    def add_bytes(self, name: str, data: bytes, compress: bool = False) -> None:
        """One member holding ``data``."""
        info = self._info(name, compress)
        self._zip.writestr(info, data)
        self.members[name] = {"sha256": sha256_hex(data), "size": len(data)}

    def add_json(self, name: str, value: Any) -> None:
        """One deflated JSON member."""
        self.add_bytes(name, json.dumps(value, ensure_ascii=False).encode("utf-8"), True)

    def add_chunks(
        self,
        name: str,
        chunks: Iterable[bytes | memoryview],
        compress: bool = False,
        large: bool = False,
    ) -> str:
        """One member streamed from ``chunks`` (``large``: it may pass 2 GiB); its SHA-256."""
        info = self._info(name, compress)
        digest = hashlib.sha256()
        size = 0
        with self._zip.open(info, "w", force_zip64=large) as out:
            for chunk in chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        self.members[name] = {"sha256": digest.hexdigest(), "size": size}
        return digest.hexdigest()

    def abort(self) -> None:
        """Let go of the zip after a failure (the caller discards the half-written file)."""
        try:
            self._zip.close()
        except Exception:  # a member was being written: nothing to save anyway
            self._zip.fp = None

    def finish(self, manifest: dict[str, Any]) -> None:
        """Write ``manifest.json`` (with the member table) and the zip's central directory."""
        info = zipfile.ZipInfo(MANIFEST, date_time=self._date_time)  # type: ignore[arg-type]
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        document = {**manifest, "members": self.members}
        self._zip.writestr(info, json.dumps(document, ensure_ascii=False, indent=1).encode())
        self._zip.close()


# -- reading -------------------------------------------------------------------------------
def _directory_bounds(handle: BinaryIO, size: int) -> tuple[int, int] | None:
    """(members, central directory bytes) from the end-of-archive record, or None."""
    tail_length = min(size, _EOCD.size + 0xFFFF)
    handle.seek(size - tail_length)
    tail = handle.read(tail_length)
    where = tail.rfind(_EOCD_MAGIC)
    if where < 0 or where + _EOCD.size > len(tail):
        return None
    fields = _EOCD.unpack_from(tail, where)
    entries, directory_bytes = fields[4], fields[5]
    if entries == 0xFFFF or directory_bytes == 0xFFFFFFFF:
        locator_at = where - _ZIP64_LOCATOR.size
        if locator_at < 0:
            return None
        locator = _ZIP64_LOCATOR.unpack_from(tail, locator_at)
        if locator[0] != _ZIP64_LOCATOR_MAGIC or locator[2] + _ZIP64_EOCD.size > size:
            return None
        handle.seek(locator[2])
        record = handle.read(_ZIP64_EOCD.size)
        if len(record) != _ZIP64_EOCD.size or record[:4] != _ZIP64_EOCD_MAGIC:
            return None
        values = _ZIP64_EOCD.unpack(record)
        entries, directory_bytes = values[7], values[8]
    return int(entries), int(directory_bytes)


def _plaintext(handle: BinaryIO, path: Path, size: int) -> tuple[BinaryIO, int]:
    """(handle, size) of the zip itself: an encrypted project is decrypted first, with the
    key of the enclosing ``encryption.opening_key`` block."""
    from workstation.io import encryption

    first = handle.read(len(encryption.MAGIC))
    handle.seek(0)
    if not encryption.has_magic(first):
        return handle, size
    try:
        plain = encryption.open_decrypted(path, encryption.current_opening_key())
    finally:
        handle.close()
    plain.seek(0, os.SEEK_END)
    length = plain.tell()
    plain.seek(0)
    return plain, length


class ArchiveReader:
    """A project zip opened for bounded reading (a context manager; ``close`` when done)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            raise InputPathError(f"No such project file: {self.path}") from None
        except OSError as error:
            raise ProjectError(f"Cannot read {self.path}: {error.strerror or error}") from None
        if not stat.S_ISREG(status.st_mode):
            raise ProjectError(f"Cannot read {self.path}: it is not a regular file")
        self.size = status.st_size
        try:
            self._handle: BinaryIO = open(self.path, "rb")  # noqa: SIM115  (closed by close())
        except OSError as error:
            raise ProjectError(f"Cannot read {self.path}: {error.strerror or error}") from None
        try:
            self._handle, self.size = _plaintext(self._handle, self.path, self.size)
            self._zip = self._open_zip()
            self.infos = self._checked_members()
        except BaseException:
            self._handle.close()
            raise

    def _open_zip(self) -> zipfile.ZipFile:
        bounds = _directory_bounds(self._handle, self.size)
        if bounds is None:
            raise _not_a_project(self.path, "not a zip archive, or cut short")
        entries, directory_bytes = bounds
        if entries > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
            raise _not_a_project(
                self.path,
                f"it lists {entries:,} members in {format_bytes(directory_bytes)}; a project "
                f"has at most {MAX_MEMBERS:,}",
            )
        self._handle.seek(0)
        try:
            return zipfile.ZipFile(self._handle)
        except Exception as error:  # zipfile raises many kinds on a hostile directory
            reason = str(error) or type(error).__name__
            raise _not_a_project(self.path, f"damaged or cut-short zip: {reason}") from None

    def _checked_members(self) -> dict[str, zipfile.ZipInfo]:
        infos: dict[str, zipfile.ZipInfo] = {}
        for info in self._zip.infolist():
            name = info.filename
            if name.endswith("/") and safe_member_name(name.rstrip("/")):
                continue  # a folder entry written by another zip tool
            if not safe_member_name(name):
                raise _damaged(self.path, f"it holds a member with an unsafe name {name!r}")
            if name in infos:
                raise _damaged(self.path, f"it holds the member {name} twice")
            infos[name] = info
        return infos

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""
        self._zip.close()
        self._handle.close()

    def has(self, name: str) -> bool:
        """True when the archive holds a member called ``name``."""
        return name in self.infos

    def size_of(self, name: str) -> int:
        """The declared (uncompressed) size of member ``name`` (0 when absent)."""
        info = self.infos.get(name)
        return 0 if info is None else int(info.file_size)

    def _checked_info(self, name: str, limit: int) -> zipfile.ZipInfo:
        info = self.infos.get(name)
        if info is None:
            raise _damaged(self.path, f"the member {name} is missing")
        if info.file_size > limit:
            raise _damaged(
                self.path,
                f"the member {name} is too large ({format_bytes(info.file_size)}; "
                f"at most {format_bytes(limit)} are read)",
            )
        if info.compress_type not in _METHODS:
            raise _damaged(self.path, f"the member {name} uses an unknown compression")
        try:
            check_member(info, str(self.path))
        except OSError as error:
            raise _damaged(self.path, str(error.strerror or error)) from None
        return info

    def read(self, name: str, limit: int, sha256: str | None = None) -> bytes:
        """The bytes of member ``name`` (at most ``limit``), checked against ``sha256``."""
        info = self._checked_info(name, limit)
        try:
            with self._zip.open(info) as stream:  # never inflates past the declared size
                data = stream.read(info.file_size) if info.file_size else b""
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
            raise _damaged(self.path, f"the member {name} cannot be read ({error})") from None
        if len(data) != info.file_size:
            raise _damaged(self.path, f"the member {name} is cut short")
        if sha256 is not None and sha256_hex(data) != sha256:
            raise _damaged(self.path, f"the member {name} does not match its SHA-256")
        return data

    def read_json(self, name: str, sha256: str | None = None, limit: int = MAX_JSON_BYTES) -> Any:
        """A JSON member, decoded; ProjectError naming it when it is not valid JSON."""
        data = self.read(name, limit, sha256)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise _damaged(self.path, f"the member {name} is not valid JSON ({error})") from None

    def extract(self, name: str, target: Path, sha256: str, limit: int) -> None:
        """Copy member ``name`` to ``target`` (atomically) when it matches ``sha256``."""
        info = self._checked_info(name, limit)
        digest = hashlib.sha256()
        try:
            with atomic_write(target) as out, self._zip.open(info) as stream:
                while chunk := stream.read(COPY_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                if digest.hexdigest() != sha256:
                    raise _damaged(self.path, f"the member {name} does not match its SHA-256")
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as error:
            raise _damaged(self.path, f"the member {name} cannot be read ({error})") from None
        except (OSError, ExportError) as error:
            raise ProjectError(f"Cannot extract {name} from {self.path.name}: {error}") from None
