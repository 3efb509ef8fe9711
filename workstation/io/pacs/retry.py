"""Retry a network call on transient faults, with exponential back-off.

Only faults marked transient (a refused or reset connection, a time-out, HTTP 502/503/
504) are retried; a wrong AE title, a rejected association or an authentication failure
fails at once.  Nothing is printed: the caller reports the final outcome in one line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from workstation.core.progress import CancelToken

T = TypeVar("T")


class TransientError(Exception):
    """A fault worth another try (the caller turns the last one into a ``PacsError``)."""


def with_retries(
    call: Callable[[], T],
    attempts: int = 3,
    first_delay_s: float = 0.5,
    cancel: CancelToken | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, tried up to ``attempts`` times while it raises ``TransientError``.

    Waits ``first_delay_s``, then twice as long, between tries; re-raises the last
    ``TransientError`` when every try failed.  A cancelled token stops the waiting.
    """
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except TransientError:
            if attempt == attempts:
                raise
        if cancel is not None:
            cancel.raise_if_cancelled()
        sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover
