"""Python's cyclic garbage collector, run on the UI thread only.

Left automatic, the collector runs in whichever thread happens to allocate: a job's
worker thread can then destroy a cycle holding a Qt widget or a VTK render window, which
must only ever be destroyed on the UI thread, and the process crashes. So automatic
collection is switched off and a timer on the UI thread collects with the same
generation thresholds (the approach PyQt applications such as calibre take).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

#: How often the UI thread checks whether a collection is due.
INTERVAL_MS = 500


class MainThreadGarbageCollector(QObject):
    """Collects garbage from a UI-thread timer when the generation counts call for it."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.check)
        self.timer.start(INTERVAL_MS)

    def check(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds."""
        first, second, third = gc.get_count()
        if first > self.thresholds[0]:
            gc.collect(0)
            if second > self.thresholds[1]:
                gc.collect(1)
                if third > self.thresholds[2]:
                    gc.collect(2)


def collect_garbage_on_main_thread(app: QCoreApplication) -> MainThreadGarbageCollector:
    """Install the UI-thread collector on ``app`` once; returns it."""
    found = app.findChild(MainThreadGarbageCollector)
    return found if found is not None else MainThreadGarbageCollector(app)
