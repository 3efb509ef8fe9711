"""Benchmark the VTK views on a 512x512x400 CT under software rendering.

Measures (and prints): time from ``set_volume`` to the first four-view frame, slice
scrolling frames per second in the four-view and single-view layouts, the live label
overlay refresh, and the first volume-rendered frame.  Starts its own Xvfb when DISPLAY
is unset.  Run: ``.venv/bin/python tests/benchmarks/bench_views.py [--slices 400]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from workstation.gui.virtual_display import ensure_display

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from workstation.gui.views import ViewLayout


def synthetic_ct(slices: int, size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """int16 HU body with bone-like cylinders and noise, and an axial affine (0.7 x 0.7 x 1 mm)."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[0:size, 0:size]
    body = ((rows - size / 2) / (0.42 * size)) ** 2 + ((cols - size / 2) / (0.47 * size)) ** 2 < 1
    spine = (rows - 0.68 * size) ** 2 + (cols - size / 2) ** 2 < (0.07 * size) ** 2
    plane = np.where(body, 40, -1000).astype(np.int16)
    plane[spine] = 700
    array = np.empty((slices, size, size), dtype=np.int16)
    for index in range(slices):
        array[index] = plane
    array += rng.integers(-20, 20, size=(1, size, size), dtype=np.int16)
    affine = np.eye(4)
    affine[:3, 0] = (0, 0, 1.0)
    affine[:3, 1] = (0, 0.7, 0)
    affine[:3, 2] = (0.7, 0, 0)
    affine[:3, 3] = (-179.0, -179.0, -200.0)
    return array, affine


def view_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with the options of the view benchmarks: --slices, --width, --height."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--slices", type=int, default=400)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    return parser


def run_on_display(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """``run(args)`` on a display (a private Xvfb when DISPLAY is unset); returns its code."""
    display = ensure_display()
    try:
        return run(args)
    finally:
        _delete_qt_application()  # before its X server goes away, or Qt aborts at exit
        if display is not None:
            display.stop()


def main() -> int:
    parser = view_arguments(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="scroll steps per measurement")
    return run_on_display(run, parser.parse_args())


def _delete_qt_application() -> None:
    """Destroy the QApplication now, while its display still exists."""
    import shiboken6
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is not None:
        app.processEvents()
        shiboken6.delete(app)


def shown_layout(app: QApplication, width: int, height: int) -> ViewLayout:
    """A four-view layout of ``width`` x ``height``, shown and given time to appear."""
    from workstation.gui.views import ViewLayout

    layout = ViewLayout()
    layout.resize(width, height)
    layout.show()
    for _ in range(5):
        app.processEvents()
        time.sleep(0.05)
    return layout


def close_layout(layout: ViewLayout) -> None:
    """Shut ``layout`` down and delete it now (the caller then drops it and collects)."""
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    layout.shutdown()
    layout.close()
    layout.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def run(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication
    from vtkmodules.vtkCommonCore import vtkObject

    from workstation.core.volume import LabelMap, Volume

    vtkObject.GlobalWarningDisplayOff()
    app = QApplication.instance() or QApplication(["bench_views"])
    array, affine = synthetic_ct(args.slices)
    volume = Volume(array, affine, units="HU")
    layout = shown_layout(app, args.width, args.height)

    start = time.perf_counter()
    layout.set_volume(volume)
    app.processEvents()
    first_frame = time.perf_counter() - start
    layout.render_to_image()  # forces every view to finish a frame (read-back)
    first_frame_readback = time.perf_counter() - start
    print(
        f"first four-view frame after set_volume: {first_frame:.3f} s "
        f"({first_frame_readback:.3f} s including a read-back of all views)"
    )

    renderer_name = layout.slice_view("axial").GetRenderWindow().ReportCapabilities()
    gl_renderer = next(
        (line for line in renderer_name.splitlines() if "OpenGL renderer string" in line), "?"
    )
    print(f"volume {array.shape} int16, window {args.width}x{args.height}, {gl_renderer.strip()}")
    print(
        f"VTK SMP backend STDThread, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )

    def scroll_fps(view_name: str) -> float:
        view = layout.slice_view(view_name)
        direction = 1
        begin = time.perf_counter()
        for step in range(args.steps):
            if step % 40 == 39:
                direction = -direction
            layout.scroll(view_name, direction)
            app.processEvents()
        view.GetRenderWindow().WaitForCompletion()
        return args.steps / (time.perf_counter() - begin)

    for name in ("axial", "coronal", "sagittal"):
        print(
            f"scrolling {name:8s} four-view layout (other views every 80 ms): "
            f"{scroll_fps(name):5.1f} frames/s"
        )
    low, high = volume.bounds()
    begin = time.perf_counter()
    for step in range(args.steps):
        fraction = 0.3 + 0.4 * step / args.steps
        layout.set_crosshair_lps(low + fraction * (high - low))
        app.processEvents()
    layout.slice_view("axial").GetRenderWindow().WaitForCompletion()
    drag_fps = args.steps / (time.perf_counter() - begin)
    print(f"crosshair drag, all three slice views redrawn per step:    {drag_fps:5.1f} frames/s")
    layout.set_layout("axial")
    app.processEvents()
    single = scroll_fps("axial")
    print(f"scrolling axial    single-view layout:                     {single:5.1f} frames/s")
    layout.set_layout("four")
    app.processEvents()

    label = np.zeros(array.shape, dtype=np.uint8)
    timings = []
    for threshold in (600, 500, 300, 100):
        np.greater_equal(array, threshold, out=label.view(bool))
        begin = time.perf_counter()
        layout.set_label_overlay(LabelMap(label, affine), (1.0, 0.3, 0.3), 0.5)
        app.processEvents()
        timings.append(time.perf_counter() - begin)
    print(f"live label overlay refresh (3 views): median {1000 * np.median(timings):.0f} ms")

    begin = time.perf_counter()
    layout.set_volume_rendering(True, "ct_bone")
    layout.view_3d().GetRenderWindow().WaitForCompletion()
    print(f"first volume-rendered frame (CT bone): {time.perf_counter() - begin:.2f} s")
    begin = time.perf_counter()
    for _ in range(3):
        layout.view_3d().GetRenderWindow().Render()
    layout.view_3d().GetRenderWindow().WaitForCompletion()
    print(f"volume rendering redraw: {(time.perf_counter() - begin) / 3:.2f} s per frame")

    close_layout(layout)
    layout = None
    gc.collect()  # VTK windows close their X connections while the server still runs
    return 0


if __name__ == "__main__":
    sys.exit(main())
