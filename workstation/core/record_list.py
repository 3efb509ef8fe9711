"""An ordered, evented list of frozen case records with unique ids (Qt-free).

Measurements and planning objects are both such lists: the tools add records, the views
and panels follow the events, and projects save ``to_list()`` and restore with
``replace_all``.  Records are frozen dataclasses: an edit replaces the record.

Events (``subscribe(event, callback)``): ``"added"`` and ``"removed"`` (payload the
record), ``"changed"`` (payload the record after an edit), ``"cleared"`` (payload None).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Generic, TypeVar

from workstation.core.events import EventSource

EVENTS = ("added", "removed", "changed", "cleared")

Record = TypeVar("Record")


class RecordList(EventSource, Generic[Record]):
    """Records in the order they were made, found by the id in their ``id_field``."""

    def __init__(self, kind: str, id_field: str) -> None:
        super().__init__(EVENTS, kind)
        self.items: list[Record] = []
        self._id_field = id_field
        self._numbers = itertools.count(1)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Record]:
        return iter(list(self.items))

    def __contains__(self, record_id: object) -> bool:
        return any(self.id_of(item) == record_id for item in self.items)

    def id_of(self, record: Record) -> str:
        """The id of one record."""
        return str(getattr(record, self._id_field))

    def _fresh_id(self, prefix: str) -> str:
        """``prefix-N`` for the next N not used yet in this list."""
        taken = {self.id_of(item) for item in self.items}
        while True:
            candidate = f"{prefix}-{next(self._numbers)}"
            if candidate not in taken:
                return candidate

    def _append(self, record: Record) -> Record:
        self.items.append(record)
        self._emit("added", record)
        return record

    def by_id(self, record_id: str) -> Record:
        """The record with this id; KeyError when there is none."""
        for item in self.items:
            if self.id_of(item) == record_id:
                return item
        raise KeyError(record_id)

    def update(self, record_id: str, **changes: Any) -> Record:
        """Replace fields of a record and announce it."""
        old = self.by_id(record_id)
        new = replace(old, **changes)  # type: ignore[type-var]
        self.items[self.items.index(old)] = new
        self._emit("changed", new)
        return new

    def remove(self, record_id: str) -> Record:
        """Delete a record and announce it."""
        record = self.by_id(record_id)
        self.items.remove(record)
        self._emit("removed", record)
        return record

    def clear(self) -> None:
        """Forget every record (another volume was loaded)."""
        if self.items:
            self.items.clear()
            self._emit("cleared", None)

    def replace_all(self, records: list[Record]) -> None:
        """Show exactly ``records`` (a reopened project): cleared, then each added."""
        self.clear()
        for record in records:
            self._append(record)

    def to_list(self) -> list[dict[str, Any]]:
        """Every record as a JSON-ready dict (its ``to_dict()``)."""
        return [item.to_dict() for item in self.items]  # type: ignore[attr-defined]
