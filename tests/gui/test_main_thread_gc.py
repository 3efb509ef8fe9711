"""Garbage is collected on the UI thread only, never by a job's worker thread."""

from __future__ import annotations

import gc
import threading

import pytest

pytestmark = pytest.mark.gui


class _Cycle:
    """A reference cycle that records the thread which finally collects it."""

    def __init__(self, seen: list[str]) -> None:
        self.me = self
        self.seen = seen

    def __del__(self) -> None:
        self.seen.append(threading.current_thread().name)


def test_cycles_made_anywhere_are_collected_on_the_ui_thread(qtbot):
    assert not gc.isenabled(), "automatic collection would run in any thread"
    seen: list[str] = []

    def work() -> None:
        _Cycle(seen)
        for _ in range(50_000):  # allocations that would trigger an automatic collection
            [object() for _ in range(3)]

    worker = threading.Thread(target=work, name="job worker")
    worker.start()
    worker.join()
    assert seen == []
    for _ in range(2):
        [_Cycle([]) for _ in range(1000)]  # push the counts past the thresholds
    qtbot.waitUntil(lambda: bool(seen), timeout=5000)
    assert seen == [threading.main_thread().name]
