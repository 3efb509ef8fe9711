"""The memory a single load may take: a configurable limit checked before allocating.

The size of a volume is known from its headers before a single frame is decoded, so a
load that would not fit is refused with the amount it needs, never started and killed
by the system halfway.  The limit is ``WORKSTATION_MEMORY_LIMIT`` (e.g. ``8G``,
``1500M``, or bytes) when set, else half of the physical memory, and never more than
half of an address-space limit (``ulimit -v``) the process runs under.
"""

from __future__ import annotations

import os
import re
import resource

from workstation.core.errors import MemoryLimitError

ENVIRONMENT_VARIABLE = "WORKSTATION_MEMORY_LIMIT"
#: Share of physical memory (or of an address-space limit) one load may use by default.
DEFAULT_SHARE = 0.5
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from '8G', '1500M', '2.5GiB' or a plain number of bytes; ValueError otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a memory size: {text!r} (use e.g. 8G, 1500M or bytes)")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def format_size(n_bytes: float) -> str:
    """A size in words a user reads at a glance: '9.6 GB', '512 MB'."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{int(n_bytes)} bytes"


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def memory_limit() -> int | None:
    """Bytes one load may allocate (None when nothing is known to limit it)."""
    configured = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if configured:
        try:
            return parse_size(configured)
        except ValueError as error:
            raise MemoryLimitError(f"{ENVIRONMENT_VARIABLE}: {error}") from None
    candidates = []
    physical = _physical_memory()
    if physical:
        candidates.append(int(physical * DEFAULT_SHARE))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        candidates.append(int(soft * DEFAULT_SHARE))
    return min(candidates) if candidates else None


def check_memory(needed: int, what: str) -> None:
    """Raise MemoryLimitError when ``needed`` bytes for ``what`` exceed the limit."""
    limit = memory_limit()
    if limit is None or needed <= limit:
        return
    raise MemoryLimitError(
        f"{what} needs about {format_size(needed)} of memory; the limit is "
        f"{format_size(limit)} (raise it with {ENVIRONMENT_VARIABLE} or the command "
        "line's --memory-limit, e.g. 32G)"
    )
