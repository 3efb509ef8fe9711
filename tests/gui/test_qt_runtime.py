"""The installed Qt binding keeps Python's reference counts: a long session must not abort.

PySide6 6.12.0 dropped a reference to ``True`` on every signal emit; on Python 3.11
(where ``True`` is not immortal) the process aborts with ``bool_dealloc`` after a few
hundred signals, e.g. mouse moves.  The check runs in a child process so a bad binding
fails this test instead of killing the test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import json
    import sys
    from PySide6.QtCore import QCoreApplication, QObject, Signal

    class Emitter(QObject):
        plain = Signal()
        valued = Signal(object)

    app = QCoreApplication([])
    emitter = Emitter()
    received = []
    emitter.plain.connect(lambda: received.append(1))
    emitter.valued.connect(received.append)
    before = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    for number in range(2000):
        emitter.plain.emit()
        emitter.valued.emit(number)
    after = sys.getrefcount(True), sys.getrefcount(False), sys.getrefcount(None)
    print(json.dumps({"received": len(received), "before": before, "after": after}))
    """
)


def test_signal_emits_keep_reference_counts():
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, env=environment
    )
    assert result.returncode == 0, f"the Qt binding crashed Python: {result.stderr[-2000:]}"
    report = json.loads(result.stdout)
    assert report["received"] == 4000
    before, after = report["before"], report["after"]
    # a few references may come and go with interpreter internals; 2000 emits would lose
    # 2000 with the broken binding
    assert all(abs(b - a) < 50 for b, a in zip(before, after, strict=True)), (before, after)
