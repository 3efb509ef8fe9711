"""Ignore byte-identical copies of one image file, as CD copies and re-exports often hold.

Two files with the same SOP Instance UID and the same bytes are one image stored twice:
keep the first (in path order) and say so.  Files that share a UID but differ in content
are left alone, so the stack splitting reports them as the conflict they are.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from workstation.io.dicom.headers import FileHeader
from workstation.io.sources import display_name, open_binary

CHUNK_BYTES = 1 << 20


def content_digest(location: str) -> str | None:
    """SHA-256 of a file's bytes, or None when it cannot be read any more."""
    digest = hashlib.sha256()
    try:
        with open_binary(location) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


@dataclass
class Copies:
    """What ``drop_identical_copies`` found: the kept headers and which files were copies."""

    headers: list[FileHeader]
    #: dropped location -> the location of the identical file that was kept
    copy_of: dict[str, str] = field(default_factory=dict)

    def note_for(self, kept: str) -> str | None:
        """The stack warning for a kept file that had copies, else None."""
        others = [display_name(copy) for copy, original in self.copy_of.items() if original == kept]
        if not others:
            return None
        noun = "copy" if len(others) == 1 else "copies"
        return (
            f"{len(others)} byte-identical {noun} of {display_name(kept)} ignored "
            f"({', '.join(others)})"
        )


def drop_identical_copies(headers: Sequence[FileHeader]) -> Copies:
    """Headers without byte-identical duplicates (same SOP Instance UID, same bytes)."""
    by_uid: dict[str, list[FileHeader]] = defaultdict(list)
    for header in headers:
        uid = header.frames[0].sop_instance_uid if header.frames else ""
        if uid:
            by_uid[uid].append(header)
    copy_of: dict[str, str] = {}
    for group in by_uid.values():
        if len(group) < 2:
            continue
        by_digest: dict[str, list[FileHeader]] = defaultdict(list)
        for header in group:
            digest = content_digest(header.location)
            if digest is not None:
                by_digest[digest].append(header)
        for same in by_digest.values():
            kept, *others = sorted(same, key=lambda header: header.location)
            copy_of.update((other.location, kept.location) for other in others)
    return Copies([header for header in headers if header.location not in copy_of], copy_of)
