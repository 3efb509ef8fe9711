"""Benchmark live brush painting on a 512x512x400 CT under software rendering.

Measures (and prints), for one 5 mm brush dab in the axial view of the four-view layout:
the editor's dab (voxels written, undo atom kept), the segment overlay's update of the
changed region (the ``voxels`` event), and the redraw of the slice views that cut the
dab; then the full overlay rebuild that a list change (show/hide) costs.  Starts its own
Xvfb when DISPLAY is unset.
Run: ``.venv/bin/python tests/benchmarks/bench_editing_gui.py [--slices 400] [--dabs 40]``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.benchmarks.bench_views import (
    close_layout,
    run_on_display,
    shown_layout,
    synthetic_ct,
    view_arguments,
)

RADIUS_MM = 5.0


def main() -> int:
    parser = view_arguments(__doc__.splitlines()[0])
    parser.add_argument("--dabs", type=int, default=40, help="dabs per measurement")
    return run_on_display(run, parser.parse_args())


def _median_ms(values: list[float]) -> str:
    median, high, top = (1000 * np.percentile(values, q) for q in (50, 90, 100))
    return f"median {median:5.1f} ms, 90% {high:5.1f} ms, max {top:5.1f} ms"


def run(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication
    from vtkmodules.vtkCommonCore import vtkObject

    from workstation.core.viewer_state import ViewerState
    from workstation.core.volume import Volume
    from workstation.services.session import Session

    vtkObject.GlobalWarningDisplayOff()
    app = QApplication.instance() or QApplication(["bench_editing_gui"])
    array, affine = synthetic_ct(args.slices)
    volume = Volume(array, affine, units="HU")
    session = Session()
    context = SimpleNamespace(session=session, viewer=ViewerState())
    layout = shown_layout(app, args.width, args.height)
    layout.follow_segments(context)
    layout.set_volume(volume)
    session.set_volume(volume)
    editor = session.editor
    editor.apply({"op": "add_segment", "name": "Bone"})
    editor.apply({"op": "add_segment", "name": "Skin"})
    app.processEvents()
    layout.refresh()
    print(
        f"volume {array.shape} int16, window {args.width}x{args.height}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}"
    )

    measure(app, layout, editor, args.dabs)
    editor = session = context = None
    close_layout(layout)
    layout = None
    gc.collect()  # VTK windows close their X connections while the server still runs
    return 0


def measure(app, layout, editor, dabs: int) -> None:  # type: ignore[no-untyped-def]
    """Paint ``dabs`` dabs and time each part; then a show/hide and a recolour."""
    overlay = layout.segment_overlay()
    composite = overlay.composite
    update_times: list[float] = []
    original = composite.update_region

    def timed_update(segment_id, region):  # type: ignore[no-untyped-def]
        begin = time.perf_counter()
        result = original(segment_id, region)
        update_times.append(time.perf_counter() - begin)
        return result

    composite.update_region = timed_update
    axial = layout.slice_view("axial")
    centre = layout.crosshair_lps()
    dab_times, render_times, total_times = [], [], []
    editor.begin_stroke(
        {"op": "paint", "segment": "Bone", "radius_mm": RADIUS_MM, "shape": "sphere"}
    )
    for step in range(dabs):
        point = centre + np.array([-60.0 + 3.0 * step, 20.0, 0.0])
        begin = time.perf_counter()
        editor.dab(point)  # voxels, undo atom and the overlay's region update
        painted = time.perf_counter()
        app.processEvents()  # the views that cut the dab redraw once
        for view in (layout.slice_view(n) for n in ("axial", "coronal", "sagittal")):
            view.GetRenderWindow().WaitForCompletion()
        done = time.perf_counter()
        dab_times.append(painted - begin)
        render_times.append(done - painted)
        total_times.append(done - begin)
    editor.end_stroke()
    dab_only = [d - u for d, u in zip(dab_times, update_times, strict=True)]
    print(f"one {RADIUS_MM:g} mm dab, editor only (voxels + undo): {_median_ms(dab_only)}")
    print(f"overlay update of the dab's region:          {_median_ms(update_times)}")
    print(f"redraw of the views cutting the dab:         {_median_ms(render_times)}")
    print(f"dab + overlay update + redraw, end to end:   {_median_ms(total_times)}")
    begin = time.perf_counter()
    axial.refresh()
    axial.GetRenderWindow().WaitForCompletion()
    alone = 1000 * (time.perf_counter() - begin)
    print(f"axial view redraw alone (nothing changed):   {alone:5.1f} ms")

    bone = editor.segmentation.by_name("Bone")
    begin = time.perf_counter()
    editor.set_display(bone.segment_id, visible=False)
    app.processEvents()
    print(f"hide a segment (full overlay rebuild + redraw): {time.perf_counter() - begin:.2f} s")
    begin = time.perf_counter()
    editor.apply({"op": "set_segment", "segment": "Skin", "color": [0.2, 0.4, 0.9]})
    app.processEvents()
    recolour = 1000 * (time.perf_counter() - begin)
    print(f"recolour a segment (lookup table + redraw):  {recolour:5.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
