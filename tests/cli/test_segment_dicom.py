"""`workstation segment ... -o OUT.dcm`: a DICOM SEG whose every frame is its source image
thresholded, checked against the source files themselves; refused from a non-DICOM volume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.io.test_dicom_seg import dciodvfy_errors
from tests.support.cli import run_workstation
from tests.support.dicom_factory import sphere_array, write_series

SHAPE = (10, 24, 20)
SPACING = (0.9, 0.8)
STEP = (0.0, 0.7, 2.0)  # a tilted gantry: the slice step leaves the normal


@pytest.fixture(scope="module")
def tilted_ball(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tilted")

    def to_lps(s, r, c):
        return (c * SPACING[1], r * SPACING[0] + s * STEP[1], s * STEP[2])

    array = sphere_array(SHAPE, to_lps, [(8.0, 10.0, 9.0)], [6.0])
    positions = [tuple(i * np.asarray(STEP)) for i in range(SHAPE[0])]
    write_series(folder, array, positions=positions, pixel_spacing=SPACING, gantry_tilt=19.3)
    return folder


def test_threshold_to_dicom_seg(tilted_ball, tmp_path):
    out = tmp_path / "ball.dcm"
    result = run_workstation(
        "segment", str(tilted_ball), "-o", str(out), "--threshold", "0", "--name", "Ball", "--json"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["format"] == "dcm"
    assert dciodvfy_errors(out) == []
    sources = {}
    for path in tilted_ball.iterdir():
        ds = pydicom.dcmread(path)
        sources[str(ds.SOPInstanceUID)] = ds
    seg = pydicom.dcmread(out)
    assert seg.SegmentSequence[0].SegmentLabel == "Ball"
    assert seg.SegmentSequence[0].SegmentAlgorithmType == "SEMIAUTOMATIC"
    pixels = seg.pixel_array.reshape(-1, SHAPE[1], SHAPE[2]).astype(bool)
    covered = set()
    for number, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        uid = str(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
        source = sources[uid]
        np.testing.assert_allclose(
            [float(v) for v in item.PlanePositionSequence[0].ImagePositionPatient],
            [float(v) for v in source.ImagePositionPatient],
            rtol=0,
            atol=1e-9,
        )
        np.testing.assert_array_equal(pixels[number], source.pixel_array >= 0)
        covered.add(uid)
    with_ball = {uid for uid, ds in sources.items() if (ds.pixel_array >= 0).any()}
    assert covered == with_ball and len(with_ball) >= 5
    voxels = sum(int((ds.pixel_array >= 0).sum()) for ds in sources.values())
    assert summary["segments"][0]["statistics"]["voxels"] == voxels == int(pixels.sum())


def test_dicom_seg_from_a_volume_file_is_refused(tilted_ball, tmp_path):
    nrrd_out = tmp_path / "volume.nrrd"
    made = run_workstation("segment", str(tilted_ball), "-o", str(nrrd_out), "--threshold", "0")
    assert made.returncode == 0, made.stderr
    result = run_workstation(
        "segment", str(nrrd_out), "-o", str(tmp_path / "x.dcm"), "--threshold", "0"
    )
    assert result.returncode == 8  # ExportError
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "needs the DICOM series" in lines[0] and "volume.nrrd" in lines[0]
    assert not (tmp_path / "x.dcm").exists()


def test_empty_segment_is_refused_with_one_line(tilted_ball, tmp_path):
    result = run_workstation(
        "segment", str(tilted_ball), "-o", str(tmp_path / "none.dcm"), "--threshold", "5000"
    )
    assert result.returncode == 8
    assert "empty" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "none.dcm").exists()
