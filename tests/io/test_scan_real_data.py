"""Scanning the real public DICOM data in ../shared/data (see its MANIFEST.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.shared_data import SHARED_DATA
from workstation.io.dicom.header_geometry import stack_geometry
from workstation.io.dicom.model import ScanResult, Stack
from workstation.io.dicom.scan import scan_path

pytestmark = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"real test data not available at {SHARED_DATA}"
)

_CACHE: dict[str, ScanResult] = {}


def _scan(relative: str) -> ScanResult:
    if relative not in _CACHE:
        _CACHE[relative] = scan_path(SHARED_DATA / relative)
    return _CACHE[relative]


def _volumes(scan: ScanResult) -> list[Stack]:
    return [stack for stack in scan.stacks if stack.kind == "volume"]


def test_every_file_of_every_folder_scans() -> None:
    scan = _scan(".")
    assert scan.n_files_examined == len(scan.skipped) + len(scan.derived) + len(
        {frame.location for stack in scan.stacks for frame in stack.frames}
    )
    reasons = {Path(item.path).name: item.reason for item in scan.skipped}
    assert reasons["no_meta.dcm"] == "not a DICOM file"
    assert reasons["MANIFEST.md"] == "not a DICOM file"
    assert reasons["rtstruct.dcm"] == "no image data (RT Structure Set)"
    assert reasons["reportsi.dcm"] == "no image data (Basic Text SR)"
    assert reasons["DICOMDIR"] == "DICOMDIR index"
    assert reasons["rtplan_truncated.dcm"].startswith("truncated header: ")
    # badVR.dcm (NumberOfFrames "1A") is read with a warning, not skipped.
    bad = [s for s in scan.stacks if any(f.location.endswith("badVR.dcm") for f in s.frames)]
    assert bad and any("malformed NumberOfFrames" in w for w in bad[0].warnings)


def test_ct_abdomen_is_one_clean_axial_volume() -> None:
    [stack] = _scan("ct_abdomen_tcia_pancreas").stacks
    assert stack.kind == "volume" and len(stack.frames) == 134
    geometry = stack_geometry(stack.frames)
    assert geometry.dims == (512, 512, 134)
    assert geometry.spacing == pytest.approx((1.0742, 1.0742, 3.0), abs=1e-4)
    assert geometry.orientation == "axial"
    assert stack.warnings == []
    assert {(f.rescale_slope, f.rescale_intercept) for f in stack.frames} == {(1.0, -1000.0)}
    assert stack.label == "CT 201: PANCREAS DI, iDose (3) (512x512x134)"


def test_gantry_tilt_head_warns_tilt_and_spacing() -> None:
    [stack] = _scan("ct_head_ge_gantry_tilt_dcmqa").stacks
    assert stack.kind == "volume" and len(stack.frames) == 28
    [tilt] = [w for w in stack.warnings if "tilt" in w.lower()]
    assert "18.5°" in tilt
    [uneven] = [w for w in stack.warnings if "Uneven slice spacing" in w]
    assert "1.08" in uneven and "4.00" in uneven and "7.00" in uneven


def test_not_a_volume_all_at_one_position() -> None:
    [stack] = _scan("dicom2nifti_cases/failing/notavolume/001").stacks
    assert stack.kind == "unsupported" and not stack.loadable_3d
    assert any("All 4 images share one position" in w for w in stack.warnings)


def test_two_orientations_in_one_series_give_two_stacks() -> None:
    scan = _scan("dicom2nifti_cases/failing/sliceorientation/001")
    assert len(scan.stacks) == 2
    assert len({stack.identity.series_uid for stack in scan.stacks}) == 1
    assert {stack.stack_id for stack in scan.stacks} == {
        f"{scan.stacks[0].identity.series_uid}.1",
        f"{scan.stacks[0].identity.series_uid}.2",
    }
    normals = [stack.frames[0].normal for stack in scan.stacks]
    assert abs(float(np.dot(normals[0], normals[1]))) < 0.9


def test_slice_increment_gap_is_named() -> None:
    [stack] = _scan("dicom2nifti_cases/failing/sliceincrement/001").stacks
    [gap] = [w for w in stack.warnings if "gap" in w]
    assert "gap of 10.00 mm" in gap and "expected 5.00 mm" in gap


def test_mosaic_copies_are_not_a_volume() -> None:
    scan = _scan("transfer_syntax_dcmqa_ts")
    assert not _volumes(scan)
    assert scan.best_volume() is None
    frames = [frame for stack in scan.stacks for frame in stack.frames]
    assert len(frames) == 9
    assert all(stack.kind == "unsupported" for stack in scan.stacks)
    assert any("MOSAIC" in w for stack in scan.stacks for w in stack.warnings)


def test_philips_enhanced_splits_magnitude_and_field_map() -> None:
    scan = _scan("enhanced_mr_dcmqa_enh/dicom/Philips")
    assert [len(stack.frames) for stack in scan.stacks] == [32, 32]
    assert all(stack.kind == "volume" for stack in scan.stacks)
    kinds = [{frame.image_type[3] for frame in stack.frames} for stack in scan.stacks]
    assert kinds == [{"M"}, {"FIELD_MAP"}]
    indices = sorted(frame.frame_index for stack in scan.stacks for frame in stack.frames)
    assert indices == list(range(64))


def test_siemens_xa10_time_points_are_separate_stacks() -> None:
    scan = _scan("enhanced_mr_dcmqa_enh/dicom/Siemens_XA10")
    assert [len(stack.frames) for stack in scan.stacks] == [6, 6, 6, 6]
    for time, stack in enumerate(scan.stacks, start=1):
        assert stack.kind == "volume"
        assert {frame.temporal_position for frame in stack.frames} == {time}
        assert stack.warnings == []
        assert stack_geometry(stack.frames).spacing[2] == pytest.approx(2.4, abs=1e-3)


@pytest.mark.parametrize(
    ("case", "first_position", "step"),
    [
        ("siemens_multiframe", (-117.018, -101.63, -100.577), (-0.0365, -0.0197, 0.8991)),
        (
            "philips_enhanced",
            (100.293579101562, -150.60459327697, 116.949243545532),
            (-1.2, 0.0, 0.0),
        ),
        ("hyperfine", (0.0, 0.0, -175.0), (0.0, 0.0, 5.0)),
    ],
)
def test_enhanced_single_file_cases_have_per_frame_positions(
    case: str, first_position: tuple[float, ...], step: tuple[float, ...]
) -> None:
    [stack] = _scan(f"dicom2nifti_cases/{case}/anatomical/001").stacks
    assert stack.kind == "volume" and len(stack.frames) == 8 and stack.n_files == 1
    by_index = sorted(stack.frames, key=lambda frame: frame.frame_index)
    positions = np.array([frame.position for frame in by_index])
    assert positions[0] == pytest.approx(first_position, abs=1e-3)
    assert np.diff(positions, axis=0) == pytest.approx(np.tile(step, (7, 1)), abs=2e-3)
    assert len({frame.position for frame in stack.frames}) == 8


def test_toshiba_pair_at_one_position_is_not_a_volume() -> None:
    scan = _scan("pylibjpeg_ct_codecs")
    toshiba = [
        stack
        for stack in scan.stacks
        if any("TOSHIBA_J2K_SIZ" in frame.location for frame in stack.frames)
    ]
    assert len(toshiba) == 1 and len(toshiba[0].frames) == 2
    assert toshiba[0].kind == "unsupported" and not toshiba[0].loadable_3d
    assert not _volumes(scan)


def test_sagittal_and_tiny_head_series() -> None:
    [sagittal] = _scan("mr_sag_t1_hfp_dcmqa_decubitus").stacks
    geometry = stack_geometry(sagittal.frames)
    assert (geometry.orientation, geometry.dims) == ("sagittal", (256, 256, 35))
    assert geometry.spacing[2] == pytest.approx(4.8, abs=1e-3)
    [head] = _scan("ct_head_slicer_64px").stacks
    assert stack_geometry(head.frames).spacing == pytest.approx((3.2, 3.2, 1.5), abs=1e-4)
    assert head.warnings == []


def test_routine_brain_is_split_at_its_202_mm_gap() -> None:
    scan = _scan("pydicom_test_files/dicomdirtests")
    parts = [stack for stack in scan.stacks if stack.identity.series_description == "Routine Brain"]
    assert [len(stack.frames) for stack in parts] == [1, 3]
    uid = parts[0].identity.series_uid
    assert [stack.stack_id for stack in parts] == [f"{uid}.1", f"{uid}.2"]
    assert [stack.kind for stack in parts] == ["single-slice", "volume"]
    assert parts[0].label.endswith("[part 1 of 2]") and parts[1].label.endswith("[part 2 of 2]")
    # The manifest-independent truth: the positions in the files (z -99.48, then 103.02 up).
    assert [round(frame.position[2], 2) for frame in parts[0].frames] == [-99.48]
    assert sorted(round(frame.position[2], 2) for frame in parts[1].frames) == [
        103.02,
        104.27,
        105.52,
    ]
    message = (
        "Series split at a gap of 202.5 mm (about 161 missing slices) between slices at "
        "z=-99.5 and z=103.0 mm; each part loads as its own volume"
    )
    for stack in parts:
        assert message in stack.warnings
        assert not any(warning.startswith("Missing slices") for warning in stack.warnings)
    assert scan.find(uid) is parts[1]
    assert parts[1].confidence > parts[0].confidence
