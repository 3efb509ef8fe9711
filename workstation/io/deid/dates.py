"""Shift DA and DT values by a whole number of days (times and time zones untouched)."""

from __future__ import annotations

import datetime

_ORDINAL_CACHE: dict[tuple[str, int], str | None] = {}


def shift_date(text: str, days: int) -> str | None:
    """YYYYMMDD (or YYYY.MM.DD) moved by ``days``; None when the text is not a date."""
    key = (text, days)
    if key in _ORDINAL_CACHE:
        return _ORDINAL_CACHE[key]
    digits = text.replace(".", "") if len(text) == 10 else text
    result: str | None
    try:
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError(text)
        day = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        result = (day + datetime.timedelta(days=days)).strftime("%Y%m%d")
        if len(result) != 8:
            result = None
    except (ValueError, OverflowError):
        result = None
    if len(_ORDINAL_CACHE) > 4096:
        _ORDINAL_CACHE.clear()
    _ORDINAL_CACHE[key] = result
    return result


def _shift_partial(text: str, days: int) -> str | None:
    """A DT date part of 4 (YYYY) or 6 (YYYYMM) digits, moved by about ``days``."""
    if len(text) == 4:
        moved = shift_date(text + "0701", days)
        return None if moved is None else moved[:4]
    if len(text) == 6:
        moved = shift_date(text + "15", days)
        return None if moved is None else moved[:6]
    return shift_date(text, days)


def shift_da(value: str, days: int) -> str | None:
    """One DA value (or an 'A-B' range) moved by ``days``; None if it cannot be read."""
    text = value.strip()
    if not text:
        return ""
    if "-" in text:
        parts = [shift_date(part.strip(), days) if part.strip() else "" for part in text.split("-")]
        return None if any(part is None for part in parts) else "-".join(p or "" for p in parts)
    return shift_date(text, days)


def shift_dt(value: str, days: int) -> str | None:
    """One DT value's date part moved by ``days``, the rest kept; None if unreadable."""
    text = value.strip()
    if not text:
        return ""
    end = 0
    while end < len(text) and end < 8 and text[end].isdigit():
        end += 1
    if end not in (4, 6, 8):
        return None
    moved = _shift_partial(text[:end], days)
    return None if moved is None else moved + text[end:]
