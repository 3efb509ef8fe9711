"""`workstation segment` and `workstation mesh --ops`: replayed operations on synthetic DICOM."""

from __future__ import annotations

import json
from pathlib import Path

import nrrd
import numpy as np
import pytest

from tests.processing.spheres import ORIENTATIONS, ball_volume, grid_affine
from tests.support.cli import run_workstation
from tests.support.dicom_factory import write_series
from workstation.core.geometry import index_to_lps

SHAPE = (30, 40, 44)


@pytest.fixture(scope="module")
def balls(tmp_path_factory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A tilted two-ball CT series on disk, with its voxels and exact affine."""
    folder = tmp_path_factory.mktemp("balls")
    affine = grid_affine("axial", SHAPE, tilt_degrees=12.0)
    volume, _ = ball_volume(affine, SHAPE)
    row, col = ORIENTATIONS["axial"]
    write_series(
        folder,
        volume.array,
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.9, 0.8),
        positions=[affine[:3, 3] + i * affine[:3, 0] for i in range(SHAPE[0])],
        gantry_tilt=12.0,
    )
    return folder, volume.array, affine


def _ops(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_threshold_flags_write_an_exact_nrrd(balls, tmp_path):
    folder, array, affine = balls
    out = tmp_path / "bone.nrrd"
    result = run_workstation("segment", str(folder), "-o", str(out), "--threshold", "0", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    data, header = nrrd.read(str(out), index_order="C")
    assert np.array_equal(data.astype(bool), array >= 0)
    assert header["space"] == "left-posterior-superior"
    # every corner voxel maps to the same LPS point as the series' own geometry
    directions = np.asarray(header["space directions"], float)
    origin = np.asarray(header["space origin"], float)
    corners = np.array([[s, r, c] for s in (0, 29) for r in (0, 39) for c in (0, 43)], float)
    from_file = origin + corners[:, ::-1] @ directions
    assert np.allclose(from_file, index_to_lps(affine, corners), atol=1e-4)
    (segment,) = summary["segments"]
    assert segment["name"] == "Threshold"
    assert segment["statistics"]["voxels"] == int((array >= 0).sum())


def test_ops_file_replays_the_same_voxels_as_flags(balls, tmp_path):
    folder, array, _ = balls
    ops = _ops(
        tmp_path / "ops.json",
        {
            "segments": [{"name": "Ball", "color": [1, 0, 0]}],
            "operations": [
                {"op": "threshold", "segment": "Ball", "lower": 0},
                {"op": "islands", "segment": "Ball", "mode": "keep_largest"},
            ],
        },
    )
    by_ops = tmp_path / "ops.nii.gz"
    by_flags = tmp_path / "flags.nii.gz"
    first = run_workstation("segment", str(folder), "-o", str(by_ops), "--ops", str(ops))
    second = run_workstation(
        "segment", str(folder), "-o", str(by_flags), "--threshold", "0", "--largest"
    )
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    import nibabel

    a = np.asarray(nibabel.load(str(by_ops)).dataobj)
    b = np.asarray(nibabel.load(str(by_flags)).dataobj)
    assert np.array_equal(a, b) and 0 < a.sum() < (array >= 0).sum()


@pytest.mark.parametrize(
    ("operations", "words"),
    [
        ([{"op": "threshold", "segment": "A", "lower": 0}, {"op": "melt"}], "operation 1"),
        ([{"op": "threshold", "segment": "Nope", "lower": 0}], "unknown segment 'Nope'"),
        (
            [{"op": "paint", "segment": "A", "points_lps": [[900, 0, 0]], "radius_mm": 2}],
            "outside the volume",
        ),
        ([{"op": "smooth", "segment": "A", "radius_mm": "wide"}], "radius_mm"),
    ],
)
def test_bad_operations_stop_with_one_line_and_no_file(balls, tmp_path, operations, words):
    folder, _, _ = balls
    ops = _ops(tmp_path / "ops.json", {"segments": [{"name": "A"}], "operations": operations})
    out = tmp_path / "out.nrrd"
    result = run_workstation("segment", str(folder), "-o", str(out), "--ops", str(ops))
    assert result.returncode == 6
    line = _one_error_line(result)
    assert words in line and "Traceback" not in result.stderr
    assert not out.exists()


def test_unreadable_ops_file_and_unknown_format(balls, tmp_path):
    folder, _, _ = balls
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    result = run_workstation(
        "segment", str(folder), "-o", str(tmp_path / "x.nrrd"), "--ops", str(broken)
    )
    assert result.returncode == 6 and "is not JSON" in _one_error_line(result)
    result = run_workstation(
        "segment", str(folder), "-o", str(tmp_path / "x.vtk"), "--threshold", "0"
    )
    assert result.returncode == 8 and ".nrrd" in _one_error_line(result)


def test_mesh_of_a_threshold_operation_equals_mesh_of_the_threshold(balls, tmp_path):
    folder, _, _ = balls
    ops = _ops(
        tmp_path / "ops.json",
        [{"op": "add_segment", "name": "Ball"}, {"op": "threshold", "segment": "Ball", "lower": 0}],
    )
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    common = ["--smooth", "5", "--decimate", "0.3", "--min-island", "0"]
    first = run_workstation(
        "mesh", str(folder), "-o", str(tmp_path / "a" / "Ball.stl"), "--ops", str(ops), *common
    )
    second = run_workstation(
        "mesh", str(folder), "-o", str(tmp_path / "b" / "Ball.stl"), "--threshold", "0", *common
    )
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (tmp_path / "a" / "Ball.stl").read_bytes() == (tmp_path / "b" / "Ball.stl").read_bytes()


def test_mesh_of_an_edited_segment_and_segment_choice(balls, tmp_path):
    folder, _, affine = balls
    centre = index_to_lps(affine, np.array([[15.0, 20.0, 22.0]]))[0].tolist()
    ops = _ops(
        tmp_path / "ops.json",
        [
            {"op": "add_segment", "name": "Ball"},
            {"op": "add_segment", "name": "Blob"},
            {"op": "threshold", "segment": "Ball", "lower": 0},
            {"op": "paint", "segment": "Blob", "points_lps": [centre], "radius_mm": 4},
        ],
    )
    out = tmp_path / "Blob.stl"
    ambiguous = run_workstation("mesh", str(folder), "-o", str(out), "--ops", str(ops))
    assert ambiguous.returncode == 6 and "--segment" in _one_error_line(ambiguous)
    result = run_workstation(
        "mesh",
        str(folder),
        "-o",
        str(out),
        "--ops",
        str(ops),
        "--segment",
        "Blob",
        "--min-island",
        "0",
        "--keep-table",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    statistics = json.loads(result.stdout)["statistics"]
    ball_mm3 = 4 / 3 * np.pi * 4**3
    assert statistics["watertight"] and abs(statistics["volume_mm3"] - ball_mm3) < 0.2 * ball_mm3


def test_sheared_grid_in_nifti_is_flagged(balls, tmp_path):
    folder, _, _ = balls
    out = tmp_path / "tilted.nii.gz"
    result = run_workstation("segment", str(folder), "-o", str(out), "--threshold", "0", "--json")
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert any("sheared" in line and ".nrrd" in line for line in warnings)
