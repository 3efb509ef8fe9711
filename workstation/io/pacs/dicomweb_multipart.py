"""multipart/related for DICOMweb: read the parts of a streamed answer, build a STOW body.

A WADO-RS answer is a stream of parts, each one DICOM instance; ``iter_parts`` yields
each part's body as soon as its closing boundary arrives, so a retrieve hands instances
on while the rest is still coming and never holds a whole study in memory.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.filereader import read_dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

CRLF = b"\r\n"


class IncompleteBody(ValueError):
    """The body ended before its closing boundary: the transfer stopped half-way."""


def iter_parts(chunks: Iterable[bytes], boundary: str) -> Iterator[tuple[dict[str, str], bytes]]:
    """Each part of a multipart body as (its headers, lower-cased names; its content).

    Raises ``IncompleteBody`` when the body ends without its closing delimiter (the
    parts before the break have been yielded).
    """
    marker = b"--" + boundary.encode("latin-1")
    delimiter = CRLF + marker
    buffer = bytearray()
    started = False
    search_from = 0
    for chunk in chunks:
        buffer += chunk
        if not started:
            start = buffer.find(marker)
            if start < 0:
                continue
            del buffer[: start + len(marker)]
            started = True
            search_from = 0
        while True:
            end = buffer.find(delimiter, search_from)
            if end < 0:
                search_from = max(0, len(buffer) - len(delimiter) + 1)
                break
            part = bytes(buffer[:end])
            del buffer[: end + len(delimiter)]
            search_from = 0
            parsed = _parse_part(part)
            if parsed is not None:
                yield parsed
    if not (started and buffer.startswith(b"--")):
        # A complete body ends with the closing delimiter "--boundary--"; anything else
        # is a transfer cut short, whose last part is never handed on.
        raise IncompleteBody("the body ended before its closing boundary")


def _parse_part(part: bytes) -> tuple[dict[str, str], bytes] | None:
    """Split one part (what lies between two delimiters) into headers and content."""
    if part.startswith(b"--"):
        return None  # the closing delimiter
    if part.startswith(CRLF):
        part = part[2:]
    head_end = part.find(CRLF + CRLF)
    if head_end < 0:
        if not part.strip():
            return None
        return {}, part
    headers: dict[str, str] = {}
    for line in part[:head_end].split(CRLF):
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, part[head_end + 4 :]


def content_type_param(content_type: str, param: str) -> str:
    """One parameter of a media type ('transfer-syntax' of application/dicom)."""
    for item in content_type.split(";")[1:]:
        key, _, value = item.strip().partition("=")
        if key.strip().lower() == param:
            return value.strip().strip('"')
    return ""


def as_part10(content: bytes, content_type: str = "") -> bytes:
    """The part as a DICOM Part 10 file: as sent when it is one, else wrapped with meta.

    A part without preamble and file meta (some servers send the bare data set) gets a
    meta whose transfer syntax is the one the part's Content-Type names (when it names
    none, the encoding pydicom finds the data set in), so the file says how its payload
    is really encoded.
    """
    if len(content) >= 132 and content[128:132] == b"DICM":
        return content
    named = content_type_param(content_type, "transfer-syntax")
    syntax = UID(named or ExplicitVRLittleEndian)
    if named and syntax.is_transfer_syntax:
        dataset = read_dataset(
            io.BytesIO(content), syntax.is_implicit_VR, syntax.is_little_endian
        )
    else:
        dataset = pydicom.dcmread(io.BytesIO(content), force=True)
        syntax = _syntax_read(dataset)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.get("SOPClassUID", "")
    meta.MediaStorageSOPInstanceUID = dataset.get("SOPInstanceUID", "")
    meta.TransferSyntaxUID = syntax
    dataset.file_meta = meta
    out = io.BytesIO()
    pydicom.dcmwrite(out, dataset, enforce_file_format=True)
    return out.getvalue()


def _syntax_read(dataset: pydicom.Dataset) -> UID:
    """The encoding pydicom found a meta-less data set in."""
    implicit = bool(dataset.original_encoding[0])
    little = bool(dataset.original_encoding[1])
    if implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def sop_instance_uid(part10: bytes) -> str:
    """The SOP Instance UID of a Part 10 file (from its meta, else from its data set)."""
    dataset = pydicom.dcmread(
        io.BytesIO(part10), stop_before_pixels=True, specific_tags=["SOPInstanceUID"]
    )
    uid = dataset.get("SOPInstanceUID", "") or getattr(
        dataset.file_meta, "MediaStorageSOPInstanceUID", ""
    )
    return str(uid)


def new_boundary() -> str:
    """A boundary that will not occur inside DICOM content."""
    return "workstation-" + os.urandom(12).hex()


def encode_related(parts: Iterable[bytes], boundary: str, media_type: str) -> bytes:
    """A multipart/related body with each of ``parts`` as one part of ``media_type``."""
    out = io.BytesIO()
    head = f"--{boundary}\r\nContent-Type: {media_type}\r\n\r\n".encode("latin-1")
    for content in parts:
        out.write(head)
        out.write(content)
        out.write(CRLF)
    out.write(f"--{boundary}--\r\n".encode("latin-1"))
    return out.getvalue()
