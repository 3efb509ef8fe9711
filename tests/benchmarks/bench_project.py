"""Benchmark: save and reopen a project of a 512x512x400 CT case (not collected by pytest).

The case is built in memory: a 512x512x400 int16 volume, five segments (three balls, two
boxes; two of them overlap, so the .seg.nrrd holds two label layers), five meshes of
about 500,000 triangles each (tori with float64 vertices), three measurements and a
source record of 400 files.  Printed, with a warm page cache:

- save: ``save_project`` (the file fsynced, the previous one kept as .bak);
- read: ``read_project`` (every member checked against its SHA-256, decoded);
- open without DICOM: ``read_project`` + the segment editor + ``show_contents`` (what
  opening adds to loading the DICOM and hashing it);
- hashing: SHA-256 of a generated 400-file series (512x512 int16 slices) on disk;
- the file size.  Targets: save and open within 1 s each, hashing aside.

Run: .venv/bin/python tests/benchmarks/bench_project.py [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from workstation.core.measurements import Measurement  # noqa: E402
from workstation.core.mesh import Mesh  # noqa: E402
from workstation.core.segmentation import Segmentation  # noqa: E402
from workstation.core.volume import Volume  # noqa: E402
from workstation.io.source_files import SourceFile, SourceSeries, hash_locations  # noqa: E402
from workstation.services.project import (  # noqa: E402
    ProjectContents,
    SavedModel,
    read_project,
    save_project,
    show_contents,
)
from workstation.services.segment_editor import SegmentEditor  # noqa: E402
from workstation.services.session import Session  # noqa: E402

SHAPE = (400, 512, 512)
AFFINE = np.array(
    [[0.625, 0, 0, -120.0], [0, 0.488, 0, -125.0], [0, 0, 0.488, -80.0], [0, 0, 0, 1.0]]
)


def torus(triangles: int, seed: int) -> Mesh:
    """A closed torus of about ``triangles`` triangles with float64 (noisy) vertices."""
    n = int(np.sqrt(triangles / 2))
    u, v = np.meshgrid(
        np.linspace(0, 2 * np.pi, n, endpoint=False),
        np.linspace(0, 2 * np.pi, n, endpoint=False),
        indexing="ij",
    )
    big, small = 60.0, 20.0
    points = np.stack(
        [
            (big + small * np.cos(v)) * np.cos(u),
            (big + small * np.cos(v)) * np.sin(u),
            small * np.sin(v),
        ],
        axis=-1,
    ).reshape(-1, 3)
    points += np.random.default_rng(seed).normal(scale=0.01, size=points.shape)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a = (i * n + j).ravel()
    b = (((i + 1) % n) * n + j).ravel()
    c = (((i + 1) % n) * n + (j + 1) % n).ravel()
    d = (i * n + (j + 1) % n).ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return Mesh(points, faces, name=f"Torus {seed}")


def segmentation() -> Segmentation:
    """Five segments: three balls and two boxes, one box overlapping a ball."""
    result = Segmentation(SHAPE, AFFINE, "1.2.3.4")
    s, r, c = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    for number, (centre, radius) in enumerate(
        [((100, 150, 150), 60), ((200, 300, 350), 80), ((300, 250, 120), 50)]
    ):
        mask = (s - centre[0]) ** 2 + (r - centre[1]) ** 2 + (c - centre[2]) ** 2 <= radius**2
        result.add(f"Ball {number + 1}", mask=mask)
    for number, box in enumerate([(50, 120, 100, 200, 100, 220), (250, 380, 50, 450, 300, 480)]):
        mask = np.zeros(SHAPE, bool)
        mask[box[0] : box[1], box[2] : box[3], box[4] : box[5]] = True
        result.add(f"Box {number + 1}", mask=mask)
    return result


def write_slices(folder: Path, count: int) -> list[str]:
    """``count`` files of 512x512 int16 pixels plus a small header (what is hashed)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    paths = []
    for index in range(count):
        path = folder / f"IM{index:04d}.dcm"
        path.write_bytes(
            b"\0" * 128 + b"DICM" + rng.integers(-1000, 2000, (512, 512), np.int16).tobytes()
        )
        paths.append(str(path))
    return paths


def full_open(folder: Path, segments: Segmentation, meshes: list[Mesh], repeat: int) -> dict:
    """Open a saved case end to end from a real 400-file DICOM series: scan, hash, load, read.

    The same five segments and models on a synthetic 512x512x400 CT written as DICOM; the
    figure a user waits for when reopening a case (hashing included).
    """
    from tests.support.dicom_factory import write_series
    from workstation.io.dicom.load import load_stack
    from workstation.io.dicom.scan import scan_path
    from workstation.services.project import contents_from_session, open_project

    dicom = folder / "real-dicom"
    stored = np.zeros(SHAPE, np.int16)
    stored[100:300, 100:400, 100:400] = 1200
    write_series(dicom, stored, pixel_spacing=(0.488, 0.488), slice_step=0.625, frame_uid="1.2.3.4")
    scan = scan_path(str(dicom))
    stack = scan.stacks[0]
    volume = load_stack(stack)
    session = Session()
    session.set_scan(scan, str(dicom))
    grid = Segmentation(volume.shape, volume.affine, volume.source.frame_of_reference_uid)
    for segment in segments:
        grid.add(segment.name, segment.color, segment.mask)
    session.set_volume_with_editor(volume, stack, SegmentEditor(volume, grid))
    for mesh in meshes:
        session.add_model(mesh)
    target = folder / "REAL.wsproj"
    save_project(target, contents_from_session(session))
    open_s, opened = timed(lambda: open_project(target), repeat)
    hash_s, _ = timed(lambda: hash_locations(str(p) for p in sorted(dicom.iterdir())), repeat)
    assert opened.check.ok and len(opened.contents.models) == 5
    return {"open_full_s": round(open_s, 3), "of_which_hashing_s": round(hash_s, 3)}


def timed(function, repeat: int):
    """(best seconds of ``repeat`` runs, the last result); the previous result is freed first."""
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None
        began = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - began)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", help="folder to keep the files in (default: a temporary one)")
    parser.add_argument(
        "--full",
        action="store_true",
        help="also reopen end to end from a real 400-file DICOM series (writes 210 MB)",
    )
    args = parser.parse_args()
    folder = Path(args.keep or tempfile.mkdtemp(prefix="bench-project-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        began = time.perf_counter()
        volume = Volume(np.zeros(SHAPE, np.int16), AFFINE, units="HU")
        segments = segmentation()
        meshes = [torus(500_000, seed) for seed in range(5)]
        paths = write_slices(folder / "dicom", SHAPE[0])
        print(f"built the case in {time.perf_counter() - began:.1f} s")

        hashing, hashes = timed(lambda: hash_locations(paths), args.repeat)
        files = tuple(
            SourceFile(Path(p).name, hashes[p][0], hashes[p][1], (f"1.2.{i}",))
            for i, p in enumerate(paths)
        )
        series = SourceSeries(
            "1.2",
            "1.2.3",
            "1.2.3",
            "1.2.3.4",
            str(folder / "dicom"),
            tuple(f"1.2.{i}" for i in range(len(paths))),
            files,
            "CT",
        )
        models = [
            SavedModel(
                f"model-{n + 1}",
                mesh.name,
                (0.9, 0.8, 0.7),
                1.0,
                True,
                None,
                {"smooth_iterations": 20},
                {},
                mesh,
            )
            for n, mesh in enumerate(meshes)
        ]
        measurements = [
            Measurement(f"measurement-{n}", "distance", ((0, 0, 0), (n, 1, 0)), "axial", f"{n} mm")
            for n in range(3)
        ]
        contents = ProjectContents(
            [series], segments, [], models, measurements, [], {"layout": "four"}, []
        )
        target = folder / "CASE.wsproj"
        save_s, _ = timed(lambda: save_project(target, contents), args.repeat)
        read_s, read = timed(lambda: read_project(target), args.repeat)

        def open_without_dicom() -> Session:
            opened = read_project(target)
            editor = SegmentEditor(volume, opened.segmentation)
            editor.operations = list(opened.operations)
            session = Session()
            session.set_volume_with_editor(volume, None, editor)
            show_contents(session, opened)
            session.set_modified(False)
            return session

        open_s, session = timed(open_without_dicom, args.repeat)
        identical = all(
            np.array_equal(a.mask, b.mask) for a, b in zip(segments, read.segmentation, strict=True)
        ) and all(
            np.array_equal(a.vertices, b.mesh.vertices) and np.array_equal(a.faces, b.mesh.faces)
            for a, b in zip(meshes, read.models, strict=True)
        )
        assert identical and len(session.models) == 5
        figures = {
            "save_s": round(save_s, 3),
            "read_s": round(read_s, 3),
            "open_without_dicom_s": round(open_s, 3),
            "hash_400_files_s": round(hashing, 3),
            "hashed_mb": round(sum(h[1] for h in hashes.values()) / 1e6, 1),
            "file_mb": round(target.stat().st_size / 1e6, 1),
            "triangles": sum(mesh.n_faces for mesh in meshes),
            "label_layers": len(segments.layers()),
            "identical": identical,
        }
        if args.full:
            figures.update(full_open(folder, segments, meshes, args.repeat))
        print(json.dumps(figures, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
