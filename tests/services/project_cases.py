"""Cases for the project tests: a small tilted CT series on disk and a session with a case on it.

The session holds what a user makes in the window: segments (a threshold one, a painted
one that overlaps it, a hidden locked coded one), their operations, two models, three
measurements, a view state and a provenance record, so a round trip has everything to
lose.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.processing.spheres import ORIENTATIONS, ball_volume, grid_affine
from tests.support.dicom_factory import write_series
from workstation.core.mesh import Mesh
from workstation.services.loading import load_volume
from workstation.services.modeling import ModelOptions, make_segment_model
from workstation.services.session import Session

SHAPE = (24, 34, 36)
TILT = 10.0
#: small and in this process, so a case builds in well under a second
OPTIONS = ModelOptions(smooth_iterations=5, decimate_fraction=0.0, min_island_mm3=0.0, workers=0)

VIEW = {
    "layout": "four",
    "crosshair_lps": [12.5, -30.25, 45.125],
    "window": [40.0, 400.0],
    "selected_segment": "segment-2",
    "tool": "paint",
    "camera": {
        "position": [100.0, -200.0, 300.0],
        "focal_point": [12.0, -30.0, 45.0],
        "view_up": [0.0, 0.0, 1.0],
        "view_angle": 30.0,
        "parallel_scale": 87.5,
        "parallel_projection": False,
    },
    "volume_rendering": {"enabled": True, "preset": "CT bone"},
    "slice_views": {"axial": {"zoom": 1.5, "pan": [2.0, -3.0]}},
}

PROVENANCE = [{"model": "Bone.stl", "sha256": "ab" * 32, "options": {"smooth": 5}}]


def write_ct(folder: Path, **kwargs) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Two balls (1000 HU in -549 HU) on a tilted grid as a DICOM series: paths, voxels, affine."""
    affine = grid_affine("axial", SHAPE, tilt_degrees=TILT)
    volume, _ = ball_volume(affine, SHAPE, inside=1000, outside=-549)
    row, col = ORIENTATIONS["axial"]
    paths = write_series(
        folder,
        volume.array,
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.9, 0.8),
        positions=[affine[:3, 3] + i * affine[:3, 0] for i in range(SHAPE[0])],
        gantry_tilt=TILT,
        **kwargs,
    )
    return paths, volume.array, affine


def open_session(folder: Path) -> Session:
    """A session with ``folder``'s series loaded, as the window opens a study."""
    loaded = load_volume(folder, purpose="view")
    session = Session()
    session.set_scan(loaded.scan, str(folder))
    session.set_volume(loaded.volume, loaded.stack)
    return session


def _ring_mesh() -> Mesh:
    """A mesh with vertices that float32 would round (bit-identity is tested on it)."""
    rng = np.random.default_rng(7)
    vertices = rng.normal(scale=20.0, size=(60, 3)) + np.array([12.1, -30.3, 45.7])
    faces = np.array([[i, (i + 1) % 60, (i + 7) % 60] for i in range(60)])
    return Mesh(vertices, faces, name="Ring")


def build_case(session: Session) -> Session:
    """Segments, operations, models, measurements and records on ``session``'s volume."""
    editor = session.editor
    affine = session.volume.affine
    centre = affine[:3, :3] @ ((np.asarray(SHAPE) - 1) / 2) + affine[:3, 3]
    records = [
        {"op": "add_segment", "name": "Bone", "color": [0.9, 0.8, 0.55]},
        {"op": "threshold", "segment": "Bone", "lower": 226.0, "upper": 3071.0},
        {"op": "add_segment", "name": "Painted", "color": [0.123456789, 0.3, 0.7]},
        {
            "op": "paint",
            "segment": "Painted",
            "points_lps": [list(centre), list(centre + np.array([3.0, 1.0, 0.0]))],
            "radius_mm": 6.0,
        },
        {"op": "add_segment", "name": "Hidden", "color": [0.2, 0.6, 0.2]},
        {
            "op": "paint",
            "segment": "Hidden",
            "points_lps": [list(centre + np.array([-8.0, -4.0, 2.0]))],
            "radius_mm": 3.0,
        },
        {
            "op": "set_segment",
            "segment": "Hidden",
            "visible": False,
            "opacity": 0.35,
            "locked": True,
            "category": {"value": "85756007", "scheme": "SCT", "meaning": "Tissue"},
            "type": {"value": "272673000", "scheme": "SCT", "meaning": "Bone"},
        },
    ]
    for record in records:
        editor.apply(record)
    bone = editor.segmentation.by_name("Bone")
    result = make_segment_model(session.volume, bone, OPTIONS)
    entry = session.add_model(
        result.mesh,
        result.statistics.as_dict(),
        "Bone",
        (0.9, 0.85, 0.7),
        bone.segment_id,
        {"smooth_iterations": 5, "decimate_fraction": 0.0},
        operations=list(editor.operations[:2]),
    )
    session.update_model(entry.model_id, opacity=0.6)
    ring = session.add_model(_ring_mesh(), {}, "Ring", (0.1, 0.2, 0.3))
    session.update_model(ring.model_id, visible=False)
    session.measurements.add("distance", [(0, 0, 0), (3, 4, 0)], "axial", "5.0 mm", {"value": 5.0})
    session.measurements.add(
        "angle", [(1, 0, 0), (0, 0, 0), (0, 1, 0)], "coronal", "90.0°", {"value": 90.0}, "Gonial"
    )
    session.measurements.add(
        "roi_ellipse",
        [(-5, -5, 45), (5, 5, 45)],
        "axial",
        "mean 12 HU",
        {"mean": 12.25, "std": 3.5, "count": 77, "units": "HU"},
    )
    session.provenance = [dict(record) for record in PROVENANCE]
    return session
