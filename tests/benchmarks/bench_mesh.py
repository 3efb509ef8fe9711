"""Benchmark `workstation mesh` on a synthetic 512x512x400 CT against hand-written pipelines.

Not collected by pytest.  Run:
    .venv/bin/python tests/benchmarks/bench_mesh.py [--keep DIR] [--dicom2stl PATH]

Compares, each in a fresh process (wall time and peak resident memory of that process),
runs interleaved so all see the same machine load, best of ``--repeat``:
1. ``workstation mesh DIR -o out.stl --threshold 300 --smooth 20 --decimate 0.9 --json``
   (its per-stage timings come from the JSON), plus the same with ``--min-island 0``;
2. a minimal hand-written pipeline: SimpleITK series read -> vtkFlyingEdges3D at 300 ->
   vtkWindowedSincPolyDataFilter (20 iterations) -> fast-simplification (90 %) -> STL,
   as is and with NUMPY_MADVISE_HUGEPAGE=0 (the setting `workstation mesh` uses);
3. ``dicom2stl --disable shrink`` (smoothing 20, reduction 0.9) when that command is found
   (``--dicom2stl PATH``, else on PATH; a PyPI package this project does not depend on).
A separate, untimed run of each samples the memory of the whole process tree (PSS),
since `workstation mesh` decimates in forked workers.  Then decimation as the GUI runs it
(a Qt process: in-process, or in forkserver workers) with the memory it keeps afterwards,
the deviation of each STL from the undecimated smoothed surface (``surface_deviation``:
exact point-to-triangle distances; the targets are a 99th percentile within 0.1 mm and
the volume within 0.5 %), with ``--quality`` the time and deviation of decimation at
aggressiveness 7 to 10, and finally the label tools (islands, morphology) timed on the
phantom's bone label.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bytecode import compile_bytecode  # noqa: E402

SHAPE = (400, 512, 512)  # slices, rows, columns
SPACING = (0.7, 0.7, 1.0)  # row, column, slice mm
MARKER = "phantom-v2.done"

HAND_WRITTEN = r"""
import json, resource, sys, time
import numpy as np
import SimpleITK as sitk
import fast_simplification
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkSMPTools, vtkPoints, VTK_ID_TYPE
from vtkmodules.vtkCommonDataModel import vtkImageData, vtkPolyData, vtkCellArray
from vtkmodules.vtkFiltersCore import vtkFlyingEdges3D, vtkWindowedSincPolyDataFilter
from vtkmodules.vtkIOGeometry import vtkSTLWriter
folder, output = sys.argv[1], sys.argv[2]
vtkSMPTools.SetBackend("STDThread")
times = {}
t = time.perf_counter()
reader = sitk.ImageSeriesReader()
reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
reader.SetOutputPixelType(sitk.sitkInt16)
image = reader.Execute()
array = sitk.GetArrayViewFromImage(image)
times["read"] = time.perf_counter() - t; t = time.perf_counter()
data = vtkImageData()
data.SetDimensions(image.GetSize())
data.SetSpacing(image.GetSpacing())
data.SetOrigin(image.GetOrigin())
data.GetPointData().SetScalars(numpy_to_vtk(array.ravel(), deep=0))
contour = vtkFlyingEdges3D()
contour.SetInputData(data)
contour.SetValue(0, 300)
contour.ComputeNormalsOff(); contour.ComputeGradientsOff(); contour.ComputeScalarsOff()
contour.Update()
times["flying_edges"] = time.perf_counter() - t; t = time.perf_counter()
smoother = vtkWindowedSincPolyDataFilter()
smoother.SetInputConnection(contour.GetOutputPort())
smoother.SetNumberOfIterations(20); smoother.SetPassBand(0.1)
smoother.NormalizeCoordinatesOn(); smoother.Update()
surface = smoother.GetOutput()
triangles = surface.GetNumberOfPolys()
times["windowed_sinc"] = time.perf_counter() - t; t = time.perf_counter()
points = vtk_to_numpy(surface.GetPoints().GetData()).astype(np.float64)
faces = vtk_to_numpy(surface.GetPolys().GetConnectivityArray()).reshape(-1, 3)
points, faces = fast_simplification.simplify(points, faces, target_reduction=0.9)
times["decimate"] = time.perf_counter() - t; t = time.perf_counter()
result = vtkPolyData()
vtk_points = vtkPoints(); vtk_points.SetData(numpy_to_vtk(points, deep=1))
result.SetPoints(vtk_points)
cells = vtkCellArray()
cells.SetData(numpy_to_vtk(np.arange(0, 3 * len(faces) + 1, 3), deep=1, array_type=VTK_ID_TYPE),
              numpy_to_vtk(faces.ravel().astype(np.int64), deep=1, array_type=VTK_ID_TYPE))
result.SetPolys(cells)
writer = vtkSTLWriter(); writer.SetFileName(output); writer.SetInputData(result)
writer.SetFileTypeToBinary(); writer.Write()
times["write_stl"] = time.perf_counter() - t
print(json.dumps({"timings_s": times, "triangles_before": triangles, "triangles": len(faces)}))
"""


def make_phantom_slice(index: int, rng: np.random.Generator) -> np.ndarray:
    """One axial slice (HU): body, spine with cancellous bone, ribs, two femur-like tubes."""
    rows, cols = SHAPE[1:]
    z = index * SPACING[2]
    y, x = np.mgrid[:rows, :cols].astype(np.float32)
    y = (y - rows / 2) * SPACING[0]
    x = (x - cols / 2) * SPACING[1]
    hu = np.full((rows, cols), -1000.0, dtype=np.float32)
    body = (x / 165.0) ** 2 + (y / 120.0) ** 2 <= 1.0
    hu[body] = 40.0
    # vertebral body with a cortical shell and noisy cancellous bone; discs every 30 mm
    if (z % 30.0) > 5.0:
        r = np.hypot(x, y - 55.0)
        hu[r <= 22.0] = 180.0 + rng.normal(0.0, 50.0, size=int((r <= 22.0).sum()))
        hu[(r > 19.5) & (r <= 22.0)] = 800.0
        arch = (np.hypot(x, y - 85.0) <= 14.0) & (np.hypot(x, y - 85.0) >= 9.0)
        hu[arch] = 700.0
    # ribs: elliptical bone rings 9 mm thick every 25 mm, open at the front
    if (z % 25.0) < 9.0:
        ring = (x / 150.0) ** 2 + (y / 106.0) ** 2
        ribs = (ring <= 1.0) & (ring >= 0.88) & (y > -60.0)
        hu[ribs] = 650.0
    # two femur-like tubes in the lower half
    if z > 200.0:
        for centre in (-80.0, 80.0):
            r = np.hypot(x - centre, y + 10.0)
            hu[(r <= 16.0) & (r >= 10.0)] = 1200.0
    hu[body] += rng.normal(0.0, 20.0, size=int(body.sum()))
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def write_phantom(folder: Path) -> None:
    """Write the phantom as 400 uncompressed CT files (once; reused when present)."""
    from tests.support.dicom_factory import write_series

    if (folder / MARKER).exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    volume = np.empty(SHAPE, dtype=np.int16)
    for index in range(SHAPE[0]):
        volume[index] = make_phantom_slice(index, rng)
    started = time.perf_counter()
    write_series(
        folder,
        volume,
        pixel_spacing=(SPACING[0], SPACING[1]),
        slice_step=SPACING[2],
        origin=(-179.2, -179.2, -200.0),
        rescale_intercept=0.0,
    )
    (folder / MARKER).write_text("ok")
    print(f"wrote phantom series in {time.perf_counter() - started:.1f} s")


def run_measured(command: list[str], sample_tree: bool = False) -> tuple[float, float, float, str]:
    """Run a command; return (wall s, peak RSS MiB, peak tree PSS MiB, stdout).

    The process's own peak RSS comes from wait4's ru_maxrss.  With ``sample_tree`` the
    peak of the process plus any worker processes it forks (shared pages counted once:
    PSS) is sampled with psutil every 10 ms; sampling costs CPU, so timed runs skip it.
    """
    import psutil

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        watched = psutil.Process(process.pid)
        tree_peak = 0
        while True:
            finished, status, usage = os.wait4(process.pid, 0 if not sample_tree else os.WNOHANG)
            if finished:
                break
            try:
                members = [watched, *watched.children(recursive=True)]
                tree_peak = max(tree_peak, sum(m.memory_full_info().pss for m in members))
            except psutil.Error:
                pass
            time.sleep(0.01)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({process.returncode}): {stderr.strip()}")
    own_peak = usage.ru_maxrss / 1024.0
    return wall, own_peak, max(tree_peak / 2**20, own_peak), stdout


def dcm_named_copy(folder: Path) -> Path:
    """A sibling folder of ``name.dcm`` links to the phantom's files: dicom2stl looks for
    series only among files named ``*.dcm``."""
    linked = folder.with_name(folder.name + "-dcm")
    linked.mkdir(exist_ok=True)
    for path in folder.glob("IM*"):
        link = linked / f"{path.name}.dcm"
        if not link.exists():
            link.symlink_to(path.resolve())
    return linked


def warm_cache(folder: Path) -> None:
    """Read every file once so all runs see a warm page cache."""
    for path in folder.iterdir():
        path.read_bytes()


def bench_label_tools(folder: Path) -> None:
    """Time segmentation tools on the phantom's bone label (threshold 300), in this process."""
    from workstation.core.runtime import disable_numpy_hugepages
    from workstation.processing import islands, morphology
    from workstation.processing.threshold import threshold
    from workstation.services.loading import load_volume

    disable_numpy_hugepages()  # as `workstation mesh` does
    volume = load_volume(folder).volume
    label = threshold(volume, 300)
    print(f"\nLabel tools on the {volume.dims} phantom, {label.voxel_count:,} bone voxels:")
    steps = [
        ("keep_largest", lambda: islands.keep_largest(label)),
        ("remove_small 100 mm^3", lambda: islands.remove_small(label, 100.0)),
        ("dilate 1 mm", lambda: morphology.dilate(label, 1.0)),
        ("erode 1 mm", lambda: morphology.erode(label, 1.0)),
        ("closing 2 mm", lambda: morphology.closing(label, 2.0)),
        ("opening 2 mm", lambda: morphology.opening(label, 2.0)),
        ("dilate 5 mm (distance map)", lambda: morphology.dilate(label, 5.0)),
        ("fill_cavities", lambda: morphology.fill_cavities(label)),
    ]
    for name, step in steps:
        started = time.perf_counter()
        step()
        print(f"  {name:28s} {time.perf_counter() - started:6.2f} s")


GUI_DECIMATION = r"""
import json, sys, time
import numpy as np
import psutil

def main():
    import PySide6.QtCore  # noqa: F401  - as in the GUI: workers start with forkserver
    from workstation.core.workers import start_method
    from workstation.processing.decimation import decimate
    from workstation.services.loading import load_volume
    from workstation.services.modeling import ModelOptions, make_model_from_volume

    workers = int(sys.argv[2])
    volume = load_volume(sys.argv[1]).volume
    options = ModelOptions(lower=300, preset=None, decimate_fraction=0, min_island_mm3=0)
    smoothed = make_model_from_volume(volume, options).mesh
    del volume
    process = psutil.Process()
    before = process.memory_info().rss
    started = time.perf_counter()
    reduced = decimate(smoothed, 0.9, workers=workers)
    seconds = time.perf_counter() - started
    kept = (process.memory_info().rss - before) / 2**20
    print(json.dumps({"method": start_method() if workers else "in-process", "seconds": seconds,
                      "rss_kept_mib": kept, "triangles": reduced.n_faces,
                      "from": smoothed.n_faces}))

if __name__ == "__main__":
    main()
"""


def bench_gui_decimation(folder: Path, work: str, repeat: int) -> None:
    """Decimation as the GUI runs it (a Qt process): in-process vs worker processes."""
    script = Path(work) / "gui_decimation.py"
    script.write_text(GUI_DECIMATION)
    print("\nDecimation (90 %) in a process with Qt loaded, as the GUI runs it:")
    for workers in (0, 1, 2):
        runs = []
        for _ in range(max(1, repeat)):
            command = [sys.executable, str(script), str(folder), str(workers)]
            env = {**os.environ, "PYTHONPATH": str(REPO), "NUMPY_MADVISE_HUGEPAGE": "0"}
            done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        best = min(runs, key=lambda run: run["seconds"])
        print(
            f"  workers {workers} ({best['method']:10s}) {best['seconds']:6.2f} s, "
            f"{best['from']:,} -> {best['triangles']:,} triangles, memory kept afterwards "
            f"{best['rss_kept_mib']:6.0f} MiB"
        )


def smoothed_reference(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The undecimated smoothed surface the accuracy targets refer to (threshold 300, 20)."""
    from workstation.processing.mesh_smoothing import smooth
    from workstation.processing.surface import extract_surface
    from workstation.services.loading import load_volume

    full = smooth(extract_surface(load_volume(folder).volume, 300.0), 20)
    return full.vertices, full.faces


def bench_accuracy(reference: tuple[np.ndarray, np.ndarray], outputs: dict[str, str]) -> None:
    """Each pipeline's STL against the undecimated smoothed surface (target: p99 <= 0.1 mm,
    volume within 0.5 %); small islands removed by a pipeline count as deviation."""
    from surface_deviation import deviation, read_stl

    print(f"\nAccuracy against the undecimated smoothed surface ({len(reference[1]):,} triangles):")
    for name, path in outputs.items():
        if Path(path).exists():
            print(f"  {name:36s} {deviation(reference, read_stl(path)).line()}")


def bench_decimation_quality(reference: tuple[np.ndarray, np.ndarray]) -> None:
    """Time and deviation of 90 % decimation at fast-simplification aggressiveness 7 to 10."""
    import fast_simplification
    from surface_deviation import deviation

    vertices, faces = reference
    print(f"\nDecimating the smoothed {len(faces):,}-triangle surface by 90 % (in this process):")
    for agg in (7.0, 8.0, 9.0, 10.0):
        started = time.process_time()
        decimated = fast_simplification.simplify(
            vertices, faces, target_count=len(faces) // 10, agg=agg
        )
        seconds = time.process_time() - started
        print(f"  agg {agg:g}: {seconds:5.2f} s CPU, {deviation(reference, decimated).line()}")


def workstation_command(folder: Path, output: str, *extra: str) -> list[str]:
    """`workstation mesh` with the benchmark's settings (threshold 300, smooth 20, 90 %)."""
    settings = ["--threshold", "300", "--smooth", "20", "--decimate", "0.9", "--json"]
    return [
        sys.executable,
        "-m",
        "workstation",
        "mesh",
        str(folder),
        "-o",
        output,
        *settings,
        *extra,
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="folder for the phantom series (reused)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each pipeline (best kept)")
    parser.add_argument(
        "--dicom2stl",
        default=shutil.which("dicom2stl"),
        help="the dicom2stl command to compare with (default: dicom2stl on PATH)",
    )
    parser.add_argument(
        "--skip-tools", action="store_true", help="skip timing islands/morphology tools"
    )
    parser.add_argument(
        "--skip-gui", action="store_true", help="skip the GUI-style decimation comparison"
    )
    parser.add_argument(
        "--quality", action="store_true", help="also compare decimation aggressiveness 7 to 10"
    )
    parser.add_argument(
        "--skip-accuracy", action="store_true", help="skip measuring the outputs' deviation"
    )
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.gettempdir()) / "workstation-bench-mesh-phantom"
    write_phantom(folder)
    warm_cache(folder)
    compile_bytecode()
    python = sys.executable
    results: dict[str, tuple[float, float, float, dict]] = {}
    with tempfile.TemporaryDirectory() as work:
        script = Path(work) / "hand_written.py"
        script.write_text(HAND_WRITTEN)
        commands = {
            "workstation mesh": workstation_command(folder, f"{work}/ws.stl"),
            "workstation mesh --min-island 0": workstation_command(
                folder, f"{work}/ws0.stl", "--min-island", "0"
            ),
            "hand-written SimpleITK+VTK": [python, str(script), str(folder), f"{work}/hand.stl"],
            # fairness: the same numpy huge-page setting `workstation mesh` uses
            "hand-written, NUMPY_MADVISE_HUGEPAGE=0": [
                "env",
                "NUMPY_MADVISE_HUGEPAGE=0",
                python,
                str(script),
                str(folder),
                f"{work}/hand0.stl",
            ],
        }
        if args.dicom2stl:
            # its defaults but for smoothing (25 -> our 20); --reduce 0.9 is its default
            commands["dicom2stl --disable shrink"] = [
                args.dicom2stl,
                "--disable",
                "shrink",
                "-i",
                "300",
                "--smooth",
                "20",
                "--reduce",
                "0.9",
                "-o",
                f"{work}/d2s.stl",
                str(dcm_named_copy(folder)),
            ]
        else:
            print("dicom2stl not found (PyPI package 'dicom2stl'; --dicom2stl PATH): skipped")
        runs: dict[str, list] = {}
        for name in commands:
            runs.setdefault(name, [])
        for _ in range(max(1, args.repeat)):
            for name, command in commands.items():  # interleaved: same machine load
                runs[name].append(run_measured(command))
        trees = {
            name: run_measured(command, sample_tree=True)[2] for name, command in commands.items()
        }
        for name, measured in runs.items():
            wall, peak, _, stdout = min(measured)
            tree = trees[name]
            details = json.loads(stdout) if stdout.strip().startswith("{") else {}
            results[name] = (wall, peak, tree, details)
        reference = smoothed_reference(folder) if not args.skip_accuracy or args.quality else None
        if reference is not None and not args.skip_accuracy:
            outputs = {
                "workstation mesh": f"{work}/ws.stl",
                "workstation mesh --min-island 0": f"{work}/ws0.stl",
                "hand-written SimpleITK+VTK": f"{work}/hand.stl",
            }
            bench_accuracy(reference, outputs)
    print(
        f"\nSynthetic CT {SHAPE[2]}x{SHAPE[1]}x{SHAPE[0]} int16, threshold 300, smoothing 20, "
        "decimation 90 %; best of",
        args.repeat,
    )
    print(f"{'pipeline':36s} {'wall s':>8s} {'peak MiB':>9s} {'tree PSS':>9s}  triangles")
    for name, (wall, peak, tree, details) in results.items():
        triangles = details.get("statistics", {}).get("triangles", details.get("triangles", ""))
        print(f"{name:36s} {wall:8.2f} {peak:9.0f} {tree:9.0f}  {triangles}")
    for name, (_, _, _, details) in results.items():
        timings = details.get("timings_s")
        if timings:
            stages = ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
            print(f"  {name}: {stages}")
    ours = results["workstation mesh"]
    hand = results["hand-written SimpleITK+VTK"]
    print(
        f"\nworkstation mesh vs hand-written: ratio {ours[0] / hand[0]:.2f} (target <= 0.6), "
        f"{hand[0] / ours[0]:.2f}x faster; "
        f"peak {ours[1]:.0f} MiB (target <= 1229 MiB = 1.2 GiB)"
    )
    if "dicom2stl --disable shrink" in results:
        d2s = results["dicom2stl --disable shrink"]
        print(f"workstation mesh vs dicom2stl: {d2s[0] / ours[0]:.2f}x faster (target >= 4x)")
    if not args.skip_gui:
        with tempfile.TemporaryDirectory() as work:
            bench_gui_decimation(folder, work, args.repeat)
    if args.quality and reference is not None:
        bench_decimation_quality(reference)
    if not args.skip_tools:
        bench_label_tools(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
