"""Loaded volumes remember their identity, Frame of Reference and each slice's source frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.support.dicom_factory import write_enhanced_ct, write_series
from workstation.core.provenance import SeriesIdentity, SliceSource, SourceFrame
from workstation.core.volume import SourceInfo, Volume
from workstation.io.dicom.scan import scan_path
from workstation.services.loading import load_volume

SHAPE = (6, 8, 9)


def _stored(n_slices: int = SHAPE[0]) -> np.ndarray:
    """Each slice holds its own value (100 * index), so the source of a slice is visible."""
    values = np.arange(n_slices, dtype=np.int16)[:, None, None] * 100
    return np.broadcast_to(values, (n_slices, *SHAPE[1:])).copy()


def _uid_at_z(paths: list[Path]) -> dict[float, str]:
    """SOP Instance UID of each written file by its z position."""
    result = {}
    for path in paths:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        result[float(ds.ImagePositionPatient[2])] = str(ds.SOPInstanceUID)
    return result


def test_single_frame_series_records_one_uid_per_slice_in_array_order(tmp_path: Path) -> None:
    paths = write_series(
        tmp_path,
        _stored(),
        origin=(0.0, 0.0, 10.0),
        slice_step=2.0,
        shuffle=True,
        instance_numbers=[6, 5, 4, 3, 2, 1],
        series_uid="1.2.826.0.1.3680043.8.498.10",
        frame_uid="1.2.826.0.1.3680043.8.498.11",
        series_description="Provenance",
    )
    volume = load_volume(tmp_path).volume
    by_z = _uid_at_z(paths)
    expected = tuple(by_z[z] for z in sorted(by_z))
    assert volume.source.sop_instance_uids == expected
    assert [s.frames for s in volume.source.slices] == [(SourceFrame(uid),) for uid in expected]
    assert all(not s.interpolated and s.weights == (1.0,) for s in volume.source.slices)
    identity = volume.source.identity
    assert identity.series_uid == "1.2.826.0.1.3680043.8.498.10"
    assert identity.frame_of_reference_uid == "1.2.826.0.1.3680043.8.498.11"
    assert volume.source.frame_of_reference_uid == identity.frame_of_reference_uid
    assert identity.series_description == "Provenance" and identity.modality == "CT"
    assert identity.patient_name == "Synthetic Patient" and identity.study_date == "20260101"


def test_multi_frame_slices_name_the_object_and_their_frame_numbers(tmp_path: Path) -> None:
    order = [3, 0, 5, 1, 4, 2]  # frame k holds spatial slice order[k]
    path = write_enhanced_ct(tmp_path / "enhanced.dcm", _stored(), frame_order=order)
    uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
    volume = load_volume(path).volume
    frame_of_slice = {slice_index: frame + 1 for frame, slice_index in enumerate(order)}
    assert [s.frames for s in volume.source.slices] == [
        (SourceFrame(uid, frame_of_slice[index]),) for index in range(SHAPE[0])
    ]
    assert volume.source.sop_instance_uids == (uid,) * SHAPE[0]
    np.testing.assert_array_equal(volume.array[:, 0, 0], np.arange(SHAPE[0]) * 100 - 1024)


def test_uneven_spacing_records_both_neighbours_of_interpolated_slices(tmp_path: Path) -> None:
    z = [0.0, 1.0, 2.0, 3.0, 4.5, 6.0]  # steps 1, 1, 1, 1.5, 1.5: resampled to 1 mm
    paths = write_series(tmp_path, _stored(), positions=[(0.0, 0.0, v) for v in z], shuffle=True)
    volume = load_volume(tmp_path).volume
    uid = _uid_at_z(paths)
    assert volume.shape[0] == 7
    slices = volume.source.slices
    for index in (0, 1, 2, 3):
        assert slices[index] == SliceSource((SourceFrame(uid[float(index)]),))
    assert slices[6] == SliceSource((SourceFrame(uid[6.0]),))
    for index, (low, high), weight in ((4, (3.0, 4.5), 2 / 3), (5, (4.5, 6.0), 1 / 3)):
        source = slices[index]
        assert source.interpolated
        assert source.sop_instance_uids == (uid[low], uid[high])
        np.testing.assert_allclose(source.weights, (1 - weight, weight))
        expected_value = (1 - weight) * z.index(low) * 100 + weight * z.index(high) * 100
        np.testing.assert_allclose(volume.array[index, 0, 0], expected_value, atol=1e-3)
    assert volume.source.sop_instance_uids[4] == uid[4.5]  # the nearer neighbour
    assert volume.source.sop_instance_uids[5] == uid[4.5]


def test_a_filled_missing_slice_is_interpolated_half_way(tmp_path: Path) -> None:
    z = [0.0, 1.0, 2.0, 4.0, 5.0]
    paths = write_series(tmp_path, _stored(5), positions=[(0.0, 0.0, v) for v in z])
    volume = load_volume(tmp_path).volume
    uid = _uid_at_z(paths)
    missing = volume.source.slices[3]
    assert missing.sop_instance_uids == (uid[2.0], uid[4.0])
    assert missing.weights == (0.5, 0.5)
    assert missing.nearest == SourceFrame(uid[2.0])  # a tie names the first
    assert [s.interpolated for s in volume.source.slices] == [False] * 3 + [True, False, False]


def test_stacks_and_file_headers_share_one_identity(tmp_path: Path) -> None:
    write_series(tmp_path, _stored(), series_number=7, series_description="Shared")
    stack = scan_path(tmp_path).stacks[0]
    assert isinstance(stack.identity, SeriesIdentity)
    assert (stack.identity.series_number, stack.identity.series_description) == ("7", "Shared")
    assert stack.stack_id == stack.identity.series_uid


def test_volume_refuses_slice_sources_that_do_not_match_its_slices() -> None:
    sources = (SliceSource((SourceFrame("1.2.3"),)),) * 2
    with pytest.raises(ValueError, match="2 slice sources for 3 slices"):
        Volume(np.zeros((3, 2, 2)), np.eye(4), source=SourceInfo(slices=sources))
    with pytest.raises(ValueError, match="one weight per frame"):
        SliceSource((SourceFrame("1"), SourceFrame("2")), (1.0,))
