"""Benchmark the window's main paths on the bundled sample study (512x512x134 CT).

Run: .venv/bin/python tests/benchmarks/bench_gui_startup.py [PATH]
Starts its own Xvfb when DISPLAY is unset.  Prints one line per stage:
window creation, open (scan + load, in a job), first four-view frame after the volume
arrives, live threshold preview (full resolution), bone model build (job), 2D scroll rate.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workstation.gui.virtual_display import ensure_display


def main() -> int:
    """Run the stages and print their timings."""
    ensure_display()
    from PySide6.QtCore import QEventLoop, QSettings, QTimer

    from workstation.gui.app import create_application, shutdown_application
    from workstation.gui.main_window import MainWindow
    from workstation.resources_path import sample_study_dir

    path = sys.argv[1] if len(sys.argv) > 1 else str(sample_study_dir())
    app = create_application()
    settings = QSettings("/tmp/bench_gui_settings.ini", QSettings.Format.IniFormat)

    def wait(signal, timeout_s=300.0):
        loop = QEventLoop()
        signal.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        signal.disconnect(loop.quit)

    def wait_jobs(window):
        while window.runner.jobs or window.edits.busy():
            app.processEvents()
            time.sleep(0.005)

    results: list[tuple[str, float]] = []
    start = time.perf_counter()
    window = MainWindow(settings=settings)
    window.resize(1600, 1000)
    window.show()
    app.processEvents()
    results.append(("window created and shown", time.perf_counter() - start))

    frame_times: dict[str, float] = {}
    original_set_volume = window.views.set_volume

    def timed_set_volume(volume):
        frame_times["set"] = time.perf_counter()
        original_set_volume(volume)

    window.views.set_volume = timed_set_volume
    start = time.perf_counter()
    window.open_path(path)
    wait(window.volume_loaded)
    window.views.refresh()
    app.processEvents()
    frame = time.perf_counter()
    volume = window.session.volume
    results.append((f"open {volume.dims} (scan + load job)", frame_times["set"] - start))
    results.append(("first four-view frame after the volume arrived", frame - frame_times["set"]))
    wait_jobs(window)

    panel = window.segmentation_panel
    start = time.perf_counter()
    panel.set_threshold_range(226.0, 3071.0)
    while panel.is_busy():
        app.processEvents()
        time.sleep(0.002)
    app.processEvents()
    results.append(("threshold preview shown (full resolution)", time.perf_counter() - start))

    start = time.perf_counter()
    panel.apply_threshold()
    wait_jobs(window)
    results.append(("apply threshold (job)", time.perf_counter() - start))
    start = time.perf_counter()
    window.models_panel.create_model()
    wait_jobs(window)
    app.processEvents()
    results.append(("create model with defaults (job) and show it", time.perf_counter() - start))

    steps = 60
    start = time.perf_counter()
    for step in range(steps):
        window.views.scroll("axial", 1 if step < steps // 2 else -1)
        app.processEvents()
    rate = steps / (time.perf_counter() - start)
    window.session.set_modified(False)  # the case is thrown away: no unsaved-work question
    window.close()
    shutdown_application()

    for name, seconds in results:
        print(f"{name:<55} {seconds:7.3f} s")
    print(f"{'axial scrolling with overlay':<55} {rate:7.1f} frames/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
