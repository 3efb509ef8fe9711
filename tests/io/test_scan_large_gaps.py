"""Gaps in a series: small ones are interpolated, large ones split the series at scan time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from tests.support.dicom_factory import expected_affine, write_series
from workstation.core.errors import NotAVolumeError
from workstation.core.provenance import SeriesIdentity
from workstation.io.dicom.headers import frames_from_dataset, read_header
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.model import Stack
from workstation.io.dicom.scan import scan_path

ROWS, COLS = 6, 7
ORIGIN_XY = (-12.5, 30.0)
SPACING = (0.8, 0.9)


def _slices(n: int) -> np.ndarray:
    """Stored values: slice i is 100 * i plus a row/column ramp, all distinct per slice."""
    s, r, c = np.meshgrid(np.arange(n), np.arange(ROWS), np.arange(COLS), indexing="ij")
    return (100 * s + 3 * r + c - 500).astype(np.int16)


def _write(folder: Path, z: list[float], uid: str | None = None) -> tuple[np.ndarray, str]:
    """One axial CT series at the given z (written shuffled); returns its values and UID."""
    stored = _slices(len(z))
    uid = uid or generate_uid()
    write_series(
        folder,
        stored,
        positions=[(*ORIGIN_XY, value) for value in z],
        pixel_spacing=SPACING,
        series_uid=uid,
        series_description="Head",
        shuffle=True,
    )
    return stored, uid


def _z(stack: Stack) -> list[float]:
    return sorted(frame.position[2] for frame in stack.frames)


def _affine(z0: float, step: float) -> np.ndarray:
    return expected_affine((1, 0, 0), (0, 1, 0), SPACING, (*ORIGIN_XY, z0), (0, 0, step))


@pytest.mark.parametrize("missing", [1, 3])
def test_small_gap_stays_one_stack_and_is_interpolated(tmp_path: Path, missing: int) -> None:
    # 1 mm slices; slices 5..5+missing-1 of a regular 0..(10+missing-1) mm run are absent.
    full = [float(value) for value in range(10 + missing)]
    z = full[:5] + full[5 + missing :]
    stored, uid = _write(tmp_path, z)
    [stack] = scan_path(tmp_path).stacks
    assert stack.stack_id == uid and stack.kind == "volume"
    assert "part" not in stack.label
    assert not any("split" in warning for warning in stack.warnings)
    volume = load_stack(stack)
    assert volume.shape == (len(full), ROWS, COLS)
    np.testing.assert_allclose(volume.affine, _affine(0.0, 1.0), atol=1e-9)
    np.testing.assert_array_equal(volume.array[:5], stored[:5])
    np.testing.assert_array_equal(volume.array[5 + missing :], stored[5:])
    below, above = stored[4].astype(float), stored[5].astype(float)
    for k in range(1, missing + 1):
        weight = k / (missing + 1)
        np.testing.assert_allclose(volume.array[4 + k], (1 - weight) * below + weight * above)
    what = "Missing slice" if missing == 1 else f"Missing {missing} slices"
    assert volume.warnings == [
        f"{what}: gap of {missing + 1:.1f} mm after slice at 4.0 mm (expected 1.0 mm); "
        "filled by interpolation"
    ]


def test_large_gap_splits_into_parts_that_load_exactly(tmp_path: Path) -> None:
    # 8 slices at 1 mm from z=-20, then 20 missing slices, then 6 slices from z=-20+7+21.
    lower = [-20.0 + i for i in range(8)]
    upper = [8.0 + i for i in range(6)]
    stored, uid = _write(tmp_path, lower + upper)
    scan = scan_path(tmp_path)
    first, second = scan.stacks
    assert (first.stack_id, second.stack_id) == (f"{uid}.1", f"{uid}.2")
    assert (len(first.frames), len(second.frames)) == (8, 6)
    assert (_z(first), _z(second)) == (lower, upper)
    assert first.label == f"CT 1: Head ({COLS}x{ROWS}x8) [part 1 of 2]"
    assert second.label == f"CT 1: Head ({COLS}x{ROWS}x6) [part 2 of 2]"
    message = (
        "Series split at a gap of 21.0 mm (about 20 missing slices) between slices at "
        "z=-13.0 and z=8.0 mm; each part loads as its own volume"
    )
    for stack in (first, second):
        assert stack.kind == "volume"
        assert message in stack.warnings
        assert not any(warning.startswith("Missing") for warning in stack.warnings)
    assert first.confidence > second.confidence
    assert scan.best_volume() is first
    assert scan.find(uid) is first

    for stack, values, z0 in ((first, stored[:8], -20.0), (second, stored[8:], 8.0)):
        volume = load_stack(stack)
        assert volume.array.dtype == np.int16  # no interpolation: the real values
        np.testing.assert_array_equal(volume.array, values)
        np.testing.assert_allclose(volume.affine, _affine(z0, 1.0), atol=1e-9)
        assert message in volume.warnings
        assert not any("interpolation" in warning for warning in volume.warnings)


def test_smaller_part_rated_below_larger_part_even_with_fewer_warnings(tmp_path: Path) -> None:
    # The larger (upper) part has a 1-slice gap of its own and so one warning more.
    lower = [0.0, 1.0, 2.0, 3.0]
    upper = [30.0 + i for i in range(9)] + [40.0]
    _write(tmp_path, lower + upper)
    small, large = scan_path(tmp_path).stacks
    assert (len(small.frames), len(large.frames)) == (4, 10)
    assert any(warning.startswith("Missing slice") for warning in large.warnings)
    assert large.confidence > small.confidence
    assert load_stack(large).shape[0] == 11  # the small gap is still filled


def test_loader_refuses_a_hand_built_stack_with_a_large_gap(tmp_path: Path) -> None:
    paths = write_series(
        tmp_path, _slices(6), positions=[(0.0, 0.0, z) for z in (0, 1, 2, 40, 41, 42)]
    )
    frames = [
        frame for path in paths for frame in frames_from_dataset(read_header(str(path)), str(path))
    ]
    identity = SeriesIdentity(
        patient_id="P",
        patient_name="P",
        study_uid="1.2",
        series_uid="1.2.3",
        series_number="1",
        series_description="Head",
        modality="CT",
        frame_of_reference_uid="1.2.4",
    )
    stack = Stack(stack_id="1.2.3", identity=identity, frames=frames)
    with pytest.raises(NotAVolumeError) as caught:
        load_stack(stack)
    message = str(caught.value)
    assert message.startswith(
        "Gap of 38.0 mm (about 37 missing slices) between slices at 2.0 and 40.0 mm"
    )
    assert "too large to fill by interpolation" in message
    assert "\n" not in message
