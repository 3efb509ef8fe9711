"""A bone model takes the stack fit for it: CT, thin slices, a bone or sharp kernel."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import generate_uid

from tests.support.dicom_factory import write_enhanced_ct, write_series
from workstation.cli.main import main
from workstation.io.dicom.scan import scan_path
from workstation.io.dicom.stack_fitness import slice_mm
from workstation.services.loading import choose_stack, load_volume

ROWS = COLS = 12


def _cube(slices: int) -> np.ndarray:
    """Air with a bone-bright block in the middle of every slice."""
    array = np.full((slices, ROWS, COLS), -1000, dtype=np.int16)
    array[1:-1, 3:9, 3:9] = 1000
    return array


def write_ct(
    folder: Path,
    study_uid: str,
    *,
    slices: int,
    step_mm: float,
    kernel: str | list[str],
    number: int,
    modality: str = "CT",
) -> str:
    """One CT (or MR) series with its kernel and slice thickness; returns its series UID."""
    series_uid = generate_uid()
    paths = write_series(
        folder,
        _cube(slices),
        slice_step=step_mm,
        modality=modality,
        series_uid=series_uid,
        study_uid=study_uid,
        series_number=number,
        series_description=f"Series {number}",
    )
    for path in paths:
        ds = pydicom.dcmread(path)
        ds.SliceThickness = step_mm
        if kernel:
            ds.ConvolutionKernel = kernel
        ds.save_as(path)
    return series_uid


@pytest.fixture
def study_uid() -> str:
    return generate_uid()


def test_bone_series_is_chosen_over_the_soft_tissue_one(tmp_path: Path, study_uid: str) -> None:
    soft = write_ct(tmp_path / "soft", study_uid, slices=12, step_mm=5.0, kernel="B30f", number=2)
    bone = write_ct(tmp_path / "bone", study_uid, slices=40, step_mm=0.6, kernel="B70f", number=3)
    scan = scan_path(tmp_path)
    assert {stack.identity.series_uid for stack in scan.stacks} == {soft, bone}
    stack, automatic, reason = choose_stack(scan, None, tmp_path)
    assert stack.identity.series_uid == bone and automatic
    assert reason == (
        "chosen for a bone model: 0.6 mm slices, bone kernel B70f "
        "(also found: 1 soft-tissue stack of 5 mm slices)"
    )
    assert scan.best_volume() is stack


def test_viewing_keeps_the_most_likely_diagnostic_volume(tmp_path: Path, study_uid: str) -> None:
    soft = write_ct(tmp_path / "soft", study_uid, slices=30, step_mm=5.0, kernel="B30f", number=2)
    bone = write_ct(tmp_path / "bone", study_uid, slices=20, step_mm=0.6, kernel="H70h", number=3)
    scan = scan_path(tmp_path)
    viewed, _, reason = choose_stack(scan, None, tmp_path, purpose="view")
    assert viewed.identity.series_uid == soft
    assert reason.startswith("most likely 3D volume of 2 stacks (30 images, confidence")
    assert scan.best_volume("model").identity.series_uid == bone


def test_thin_slices_come_before_the_kernel(tmp_path: Path, study_uid: str) -> None:
    write_ct(tmp_path / "thick", study_uid, slices=10, step_mm=3.0, kernel="B70f", number=2)
    thin = write_ct(tmp_path / "thin", study_uid, slices=30, step_mm=1.0, kernel="B30f", number=3)
    stack, _, reason = choose_stack(scan_path(tmp_path), None, tmp_path)
    assert stack.identity.series_uid == thin
    assert reason == (
        "chosen for a bone model: 1 mm slices, soft-tissue kernel B30f "
        "(also found: 1 bone stack of 3 mm slices)"
    )


def test_among_thin_stacks_the_bone_kernel_wins(tmp_path: Path, study_uid: str) -> None:
    write_ct(tmp_path / "std", study_uid, slices=24, step_mm=0.625, kernel="STANDARD", number=2)
    bone = write_ct(tmp_path / "bone", study_uid, slices=12, step_mm=1.25, kernel="BONE", number=3)
    lung = write_ct(tmp_path / "lung", study_uid, slices=24, step_mm=0.625, kernel="LUNG", number=4)
    stack, _, reason = choose_stack(scan_path(tmp_path), None, tmp_path)
    assert stack.identity.series_uid == bone
    assert reason == (
        "chosen for a bone model: 1.25 mm slices, bone kernel BONE (also found: "
        "1 soft-tissue stack of 0.625 mm slices and 1 sharp-kernel stack of 0.625 mm slices)"
    )
    shutil.rmtree(tmp_path / "bone")  # without the bone kernel, the sharp one comes next
    assert choose_stack(scan_path(tmp_path), None, tmp_path)[0].identity.series_uid == lung


def test_ct_comes_before_thinner_mr(tmp_path: Path, study_uid: str) -> None:
    ct = write_ct(tmp_path / "ct", study_uid, slices=10, step_mm=2.0, kernel="", number=2)
    write_ct(tmp_path / "mr", study_uid, slices=30, step_mm=0.8, kernel="", number=3, modality="MR")
    stack, _, reason = choose_stack(scan_path(tmp_path), None, tmp_path)
    assert stack.identity.series_uid == ct
    assert (
        reason == "chosen for a bone model: 2 mm slices (also found: 1 MR stack of 0.8 mm slices)"
    )


def test_kernel_values_from_classic_and_enhanced_headers(tmp_path: Path, study_uid: str) -> None:
    write_ct(tmp_path / "siemens", study_uid, slices=4, step_mm=1.0, kernel=["Br64", "3"], number=2)
    path = write_enhanced_ct(tmp_path / "enhanced" / "ct.dcm", _cube(5), slice_step=0.5)
    ds = pydicom.dcmread(path)
    reconstruction = Dataset()
    reconstruction.ConvolutionKernel = "FC30"
    ds.SharedFunctionalGroupsSequence[0].CTReconstructionSequence = DicomSequence([reconstruction])
    ds.save_as(path)
    by_kernel = {stack.convolution_kernel: stack for stack in scan_path(tmp_path).stacks}
    assert set(by_kernel) == {"Br64\\3", "FC30"}
    assert slice_mm(by_kernel["FC30"]) == pytest.approx(1.0)  # thickness 1 mm, spacing 0.5


def test_requested_series_and_single_stacks_keep_their_reasons(
    tmp_path: Path, study_uid: str
) -> None:
    soft = write_ct(tmp_path / "soft", study_uid, slices=12, step_mm=5.0, kernel="B30f", number=2)
    loaded = load_volume(tmp_path)
    assert loaded.reason == "it is the only image stack"
    write_ct(tmp_path / "bone", study_uid, slices=20, step_mm=0.6, kernel="B70f", number=3)
    stack, automatic, reason = choose_stack(scan_path(tmp_path), soft, tmp_path)
    assert stack.identity.series_uid == soft and not automatic
    assert reason == f"series {soft} was requested"


def test_the_mesh_command_models_the_bone_series(
    tmp_path: Path, study_uid: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_ct(tmp_path / "soft", study_uid, slices=30, step_mm=5.0, kernel="B30f", number=2)
    bone = write_ct(tmp_path / "bone", study_uid, slices=20, step_mm=0.6, kernel="B70f", number=3)
    output = tmp_path / "bone.stl"
    options = ["--threshold", "300", "--min-island", "0", "--smooth", "0", "--json"]
    assert main(["mesh", str(tmp_path), "-o", str(output), *options]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["series_uid"] == summary["stack_id"] == bone
    assert output.is_file()
