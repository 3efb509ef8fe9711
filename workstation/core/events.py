"""Plain-Python events for the Qt-free models: named events, listeners, one payload each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Listener = Callable[[Any], None]


class EventSource:
    """A model whose listeners subscribe to a fixed set of named events.

    The GUI forwards events to Qt; the command line and tests subscribe directly.
    ``kind`` names the model in the error for an unknown event.
    """

    def __init__(self, events: tuple[str, ...], kind: str) -> None:
        self._listeners: dict[str, list[Listener]] = {name: [] for name in events}
        self._event_kind = kind

    def subscribe(self, event: str, callback: Listener) -> None:
        """Call ``callback(payload)`` whenever ``event`` happens."""
        if event not in self._listeners:
            known = ", ".join(self._listeners)
            raise ValueError(f"unknown {self._event_kind} event {event!r}; known: {known}")
        self._listeners[event].append(callback)

    def unsubscribe(self, event: str, callback: Listener) -> None:
        """Stop calling ``callback`` for ``event`` (no error when it was not subscribed)."""
        if callback in self._listeners.get(event, []):
            self._listeners[event].remove(callback)

    def _emit(self, event: str, payload: Any) -> None:
        for callback in list(self._listeners[event]):
            callback(payload)
