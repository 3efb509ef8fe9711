"""Private attributes: removed, or under Retain Safe Private a documented safe list kept."""

from __future__ import annotations

import functools

import pydicom

from workstation.io.deid.table import load_table


@functools.cache
def _safe_map() -> dict[tuple[int, str], frozenset[int]]:
    """(group, private creator) → element bytes kept under Retain Safe Private."""
    safe: dict[tuple[int, str], frozenset[int]] = {}
    for entry in load_table().safe_private:
        key = (entry.group, entry.creator.strip().upper())
        safe[key] = safe.get(key, frozenset()) | entry.elements
    return safe


def _creator(ds: pydicom.Dataset, tag: int) -> str:
    """The private creator text of the element at ``tag``'s creator slot."""
    element = ds.get_item(tag)
    value = element.value if element is not None else b""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return str(value).strip(" \x00").upper()


def private_tags_to_remove(ds: pydicom.Dataset, tags: list[int], keep_safe: bool) -> list[int]:
    """Which of the private ``tags`` of ``ds`` go (all of them unless ``keep_safe``)."""
    if not keep_safe:
        return tags
    safe = _safe_map()
    kept_blocks: set[tuple[int, int]] = set()
    remove: list[int] = []
    creators: list[int] = []
    for tag in tags:
        group, element = tag >> 16, tag & 0xFFFF
        if 0x0010 <= element <= 0x00FF:
            creators.append(tag)
            continue
        if element < 0x1000:
            remove.append(tag)
            continue
        block = element >> 8
        allowed = safe.get((group, _creator(ds, (group << 16) | block)))
        if allowed is not None and (element & 0xFF) in allowed:
            kept_blocks.add((group, block))
        else:
            remove.append(tag)
    remove.extend(tag for tag in creators if ((tag >> 16), tag & 0xFF) not in kept_blocks)
    return remove
