"""Refuse a Deflated Explicit VR data set that would inflate beyond a sane size.

pydicom inflates such a data set whole with one ``zlib.decompress`` call: a few
megabytes of zeros compressed well would fill the memory.  This streams the deflate
data once, counting and discarding, before pydicom reads it.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

from workstation.core.errors import DicomReadError
from workstation.io.sources import display_name

#: Largest inflated data set accepted (the same bound as one file inside an archive).
MAX_INFLATED_BYTES = 1 << 30
CHUNK_BYTES = 1 << 20


def check_inflated_size(handle: BinaryIO, location: str, limit: int | None = None) -> int:
    """Inflated size of the raw-deflate stream at the handle; raises beyond ``limit``."""
    limit = MAX_INFLATED_BYTES if limit is None else limit
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    try:
        while not inflater.eof:
            chunk = inflater.unconsumed_tail or handle.read(CHUNK_BYTES)
            if not chunk:
                break
            total += len(inflater.decompress(chunk, CHUNK_BYTES))
            if total > limit:
                raise DicomReadError(
                    f"Cannot read {display_name(location)}: its deflated data set inflates "
                    f"to more than {limit >> 20} MB (a damaged or hostile file)",
                    f"deflated data set larger than {limit >> 20} MB",
                )
    except zlib.error as error:
        raise DicomReadError(
            f"Cannot read {display_name(location)}: damaged deflated data set ({error})",
            f"damaged deflated data set: {error}",
        ) from error
    return total
