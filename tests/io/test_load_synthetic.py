"""Loading synthetic series with exactly known geometry and values into Volumes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from tests.support.dicom_factory import (
    expected_affine,
    normal_of,
    positions_along,
    rewrite_transfer_syntax,
    rotation,
    write_enhanced_ct,
    write_series,
)
from workstation.core.errors import Cancelled, DicomReadError, NotAVolumeError
from workstation.core.geometry import index_to_lps
from workstation.core.progress import CancelToken
from workstation.core.provenance import SeriesIdentity
from workstation.core.volume import Volume
from workstation.io.dicom.headers import frames_from_dataset, read_header
from workstation.io.dicom.load import MONOCHROME1_WARNING, load_stack
from workstation.io.dicom.model import Stack
from workstation.services.loading import load_volume

SHAPE = (6, 10, 12)  # slices, rows, columns
MARKER = (4, 3, 7)  # slice, row, column of the bright voxel, in written (spatial) order
MARKER_HU = 3000


OBLIQUE = rotation("x", 20) @ rotation("y", 20)
ORIENTATIONS = {
    "axial": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "coronal": ((1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, 1.0, 0.0), (0.0, 0.0, -1.0)),
    "double-oblique": (tuple(OBLIQUE[:, 0]), tuple(OBLIQUE[:, 1])),
}


def make_stack(paths: list[Path], modality: str = "CT") -> Stack:
    """A Stack of every frame in ``paths``, in the (arbitrary) order given."""
    frames = []
    for path in paths:
        frames.extend(frames_from_dataset(read_header(str(path)), str(path)))
    return Stack(
        stack_id="1.2.3",
        identity=SeriesIdentity(
            patient_id="SYNTH001",
            patient_name="Synthetic^Patient",
            study_uid="1.2",
            study_date="20260101",
            study_description="Study",
            series_uid="1.2.3",
            series_number="1",
            series_description="Series",
            modality=modality,
            frame_of_reference_uid="1.2.4",
        ),
        frames=frames,
        label="CT 1: Series",
    )


def hu_array(shape=SHAPE) -> np.ndarray:
    """HU values: each slice its own level (-900 + 20*slice) plus a row/column ramp, one marker."""
    s, r, c = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    values = -900 + 20 * s + r + 2 * c
    if shape[0] > MARKER[0]:
        values[MARKER] = MARKER_HU
    return values.astype(np.int16)


def marker_lps(positions, row_cosine, col_cosine, spacing, marker=MARKER) -> np.ndarray:
    """Independent LPS of the marker voxel: IPP + c * row cosine * dx + r * col cosine * dy."""
    s, r, c = marker
    return (
        np.asarray(positions[s], float)
        + c * np.asarray(row_cosine, float) * spacing[1]
        + r * np.asarray(col_cosine, float) * spacing[0]
    )


def assert_marker_at(volume: Volume, expected_lps: np.ndarray) -> None:
    index = np.unravel_index(int(np.argmax(volume.array)), volume.shape)
    np.testing.assert_allclose(
        index_to_lps(volume.affine, np.array(index))[0], expected_lps, atol=1e-6
    )


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_orientations_exact_affine_values_and_marker(tmp_path, name):
    row, col = ORIENTATIONS[name]
    spacing = (0.7, 0.9)
    origin = (-40.0, 25.5, 100.25)
    step = 2.5 * normal_of(row, col)
    hu = hu_array()
    paths = write_series(
        tmp_path,
        (hu + 1024).astype(np.uint16),
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=spacing,
        origin=origin,
        slice_step=2.5,
        rescale_intercept=-1024.0,
    )
    volume = load_stack(make_stack(paths))
    np.testing.assert_allclose(
        volume.affine, expected_affine(row, col, spacing, origin, step), atol=1e-6
    )
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, hu)
    assert volume.units == "HU"
    positions = positions_along(origin, 2.5, SHAPE[0], row, col)
    assert_marker_at(volume, marker_lps(positions, row, col, spacing))
    assert volume.warnings == []
    assert volume.window == (40.0, 400.0)
    assert volume.source.identity.series_uid == "1.2.3" and volume.source.n_files == SHAPE[0]


def test_shuffled_names_and_reversed_instance_numbers_sort_by_position(tmp_path):
    row, col = ORIENTATIONS["axial"]
    hu = hu_array()
    paths = write_series(
        tmp_path,
        hu,
        origin=(0, 0, -50),
        slice_step=3.0,
        shuffle=True,
        seed=7,
        instance_numbers=list(range(SHAPE[0], 0, -1)),
    )
    volume = load_stack(make_stack(sorted(paths)))
    np.testing.assert_array_equal(volume.array, hu)
    np.testing.assert_allclose(
        volume.affine, expected_affine(row, col, (1, 1), (0, 0, -50), (0, 0, 3)), atol=1e-6
    )
    assert_marker_at(volume, marker_lps(positions_along((0, 0, -50), 3.0, 6), row, col, (1, 1)))


def test_per_slice_rescale_with_different_slopes_gives_exact_float_hu(tmp_path):
    slopes = [1.0, 0.5, 2.0, 0.25, 1.5, 4.0]
    intercepts = [-1024.0, -1000.0, -2000.0, 0.0, -512.0, -100.0]
    hu = hu_array().astype(np.float64)
    # Choose HU so every slice's stored value is an exact integer.
    stored = np.empty(SHAPE, dtype=np.int16)
    for k in range(SHAPE[0]):
        stored[k] = np.round((hu[k] - intercepts[k]) / slopes[k]).astype(np.int16)
        hu[k] = stored[k] * slopes[k] + intercepts[k]
    paths = write_series(
        tmp_path, stored, rescale_slope=slopes, rescale_intercept=intercepts, shuffle=True
    )
    volume = load_stack(make_stack(paths))
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, hu.astype(np.float32))


def test_per_slice_integer_rescale_stays_int16(tmp_path):
    slopes = [1, 2, 1, 3, 1, 1]
    intercepts = [-1024, -10, 5, -3000, 0, -1]
    hu = np.empty(SHAPE, dtype=np.int64)
    stored = (np.arange(np.prod(SHAPE)).reshape(SHAPE) % 900).astype(np.int16)
    for k in range(SHAPE[0]):
        hu[k] = stored[k].astype(np.int64) * slopes[k] + intercepts[k]
    paths = write_series(tmp_path, stored, rescale_slope=slopes, rescale_intercept=intercepts)
    volume = load_stack(make_stack(paths))
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, hu)


@pytest.mark.parametrize("highest, dtype", [(33791, np.int16), (33792, np.float32)])
def test_unsigned_ct_with_an_intercept_is_exact_up_to_the_int16_bound(tmp_path, highest, dtype):
    """uint16 stored values + intercept -1024 (the usual CT): int16 while every value fits,
    exact float32 once one would be 32768."""
    stored = (np.arange(np.prod(SHAPE)).reshape(SHAPE) * 37 % 3000).astype(np.uint16)
    stored[1, 2, 3], stored[4, 0, 0] = 0, highest
    paths = write_series(tmp_path, stored, rescale_intercept=-1024.0, shuffle=True)
    volume = load_stack(make_stack(paths))
    assert volume.array.dtype == dtype
    np.testing.assert_array_equal(volume.array, stored.astype(np.int64) - 1024)


def test_32_bit_stored_values_with_an_odd_column_count_load_into_int16(tmp_path):
    """Stored values wider than the volume's int16 are decoded apart (no in-place view)."""
    stored = (np.arange(6 * 4 * 5).reshape(6, 4, 5) % 700).astype(np.int16)
    paths = write_series(tmp_path, stored, rescale_intercept=-1024.0)
    for path, plane in zip(paths, stored, strict=True):
        ds = pydicom.dcmread(path)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 32, 32, 31
        ds.PixelData = plane.astype("<i4").tobytes()
        ds.save_as(path, enforce_file_format=True)
    volume = load_stack(make_stack(paths))
    assert volume.array.dtype == np.int16
    np.testing.assert_array_equal(volume.array, stored.astype(np.int64) - 1024)


def test_values_beyond_int16_promote_to_float32(tmp_path):
    stored = np.full(SHAPE, 100, dtype=np.uint16)
    stored[2, 4, 5] = 60000
    paths = write_series(tmp_path, stored, modality="MR")
    volume = load_stack(make_stack(paths, "MR"))
    assert volume.array.dtype == np.float32
    np.testing.assert_array_equal(volume.array, stored.astype(np.float32))
    assert volume.units == "raw"


def test_gantry_tilt_sheared_affine(tmp_path):
    angle = np.radians(18.5)
    row, col = (1.0, 0.0, 0.0), (0.0, np.cos(angle), -np.sin(angle))
    positions = [(-30.0, -20.0, 10.0 + 4.0 * i) for i in range(SHAPE[0])]  # along z, not normal
    hu = hu_array()
    paths = write_series(
        tmp_path,
        hu,
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.5, 0.6),
        positions=positions,
        gantry_tilt=0.0,
        shuffle=True,
    )
    volume = load_stack(make_stack(paths))
    expected = expected_affine(row, col, (0.5, 0.6), positions[0], (0.0, 0.0, 4.0))
    np.testing.assert_allclose(volume.affine, expected, atol=1e-6)
    np.testing.assert_array_equal(volume.array, hu)
    assert_marker_at(volume, marker_lps(positions, row, col, (0.5, 0.6)))
    assert any("Gantry tilt of 18.5°" in warning for warning in volume.warnings)
    # Every original voxel sits where DICOM puts it.
    for s, position in enumerate(positions):
        r, c = 9, 11
        lps = np.asarray(position) + c * np.asarray(row) * 0.6 + r * np.asarray(col) * 0.5
        np.testing.assert_allclose(index_to_lps(volume.affine, [s, r, c])[0], lps, atol=1e-6)


def test_uneven_spacing_resampled_linearly(tmp_path):
    z = np.array([0.0, 1.0, 3.0, 6.0, 10.0, 15.0])
    positions = [(0.0, 0.0, v) for v in z]
    hu = hu_array()
    paths = write_series(tmp_path, hu, positions=positions, shuffle=True)
    volume = load_stack(make_stack(paths))
    median = float(np.median(np.diff(z)))
    n_out = round(15.0 / median) + 1
    step = 15.0 / (n_out - 1)
    np.testing.assert_allclose(
        volume.affine,
        expected_affine((1, 0, 0), (0, 1, 0), (1, 1), (0, 0, 0), (0, 0, step)),
        atol=1e-6,
    )
    assert volume.shape == (n_out, SHAPE[1], SHAPE[2])
    assert volume.array.dtype == np.float32
    targets = np.arange(n_out) * step
    for r, c in [(0, 0), (5, 6), (9, 11), (MARKER[1], MARKER[2])]:
        expected = np.interp(targets, z, hu[:, r, c].astype(np.float64))
        np.testing.assert_allclose(volume.array[:, r, c], expected, atol=1e-3)
    np.testing.assert_array_equal(volume.array[0], hu[0])
    np.testing.assert_array_equal(volume.array[-1], hu[-1])
    assert (
        f"Slice spacing varies between 1.00 and 5.00 mm; resampled to {n_out} slices of "
        f"{step:.2f} mm" in volume.warnings
    )


def test_missing_slice_filled_by_interpolation(tmp_path):
    z = [20.0, 25.0, 30.0, 35.0, 45.0, 50.0]
    hu = hu_array()
    paths = write_series(tmp_path, hu, positions=[(1.0, 2.0, v) for v in z])
    volume = load_stack(make_stack(paths))
    assert volume.shape == (7, SHAPE[1], SHAPE[2])
    np.testing.assert_allclose(
        volume.affine,
        expected_affine((1, 0, 0), (0, 1, 0), (1, 1), (1, 2, 20), (0, 0, 5)),
        atol=1e-6,
    )
    np.testing.assert_array_equal(volume.array[:4], hu[:4])
    np.testing.assert_array_equal(volume.array[5:], hu[4:])
    np.testing.assert_allclose(volume.array[4], (hu[3].astype(float) + hu[4]) / 2)
    # The marker (slice 4 of the input) lands at its written LPS position.
    assert_marker_at(volume, marker_lps([(1.0, 2.0, v) for v in z], (1, 0, 0), (0, 1, 0), (1, 1)))
    assert volume.warnings == [
        "Missing slice: gap of 10.0 mm after slice at 35.0 mm (expected 5.0 mm); "
        "filled by interpolation"
    ]


def test_enhanced_multiframe_out_of_order(tmp_path):
    row, col = ORIENTATIONS["double-oblique"]
    hu = hu_array()
    origin = (10.0, -20.0, 30.0)
    path = write_enhanced_ct(
        tmp_path / "enhanced.dcm",
        (hu + 1024).astype(np.int16),
        row_cosine=row,
        col_cosine=col,
        pixel_spacing=(0.8, 0.6),
        origin=origin,
        slice_step=1.25,
        frame_order=[3, 0, 5, 1, 4, 2],
    )
    volume = load_stack(make_stack([path]))
    step = 1.25 * normal_of(row, col)
    np.testing.assert_allclose(
        volume.affine, expected_affine(row, col, (0.8, 0.6), origin, step), atol=1e-6
    )
    np.testing.assert_array_equal(volume.array, hu)
    assert volume.units == "HU"
    assert_marker_at(
        volume, marker_lps(positions_along(origin, 1.25, 6, row, col), row, col, (0.8, 0.6))
    )


def test_single_slice_volume(tmp_path):
    row, col = ORIENTATIONS["coronal"]
    hu = hu_array((1, 10, 12))
    hu[0, 3, 7] = MARKER_HU
    paths = write_series(
        tmp_path, hu, row_cosine=row, col_cosine=col, pixel_spacing=(0.5, 0.5), origin=(3, 4, 5)
    )
    volume = load_stack(make_stack(paths))
    assert volume.shape == (1, 10, 12)
    step = normal_of(row, col) * 1.0  # the factory writes SliceThickness 1.0
    np.testing.assert_allclose(
        volume.affine, expected_affine(row, col, (0.5, 0.5), (3, 4, 5), step), atol=1e-6
    )
    np.testing.assert_array_equal(volume.array, hu)
    assert_marker_at(volume, marker_lps([(3, 4, 5)], row, col, (0.5, 0.5), (0, 3, 7)))
    assert volume.warnings == ["Single image: viewable in 2D, not usable for 3D models"]


def test_duplicate_positions_rejected(tmp_path):
    paths = write_series(tmp_path, hu_array(), positions=[(0, 0, 0)] * SHAPE[0])
    with pytest.raises(NotAVolumeError, match="share one position"):
        load_stack(make_stack(paths))


def _set(path: Path, **values) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.save_as(path)


def _set_padding(path: Path, value: int, vr: str) -> None:
    ds = pydicom.dcmread(path)
    ds.add_new(0x00280120, vr, value)
    ds.save_as(path)


def test_ct_padding_set_below_lowest_real_value(tmp_path):
    hu = hu_array()
    hu[:, 0, :] = -2000  # padding rows
    hu[1, 5, 5] = -1100  # lowest real value
    paths = write_series(tmp_path, hu)
    for path in paths:
        _set_padding(path, -2000, "SS")
    volume = load_stack(make_stack(paths))
    expected = hu.copy()
    expected[:, 0, :] = -1100
    np.testing.assert_array_equal(volume.array, expected)


def test_ct_padding_never_above_minus_1024(tmp_path):
    hu = hu_array()
    hu[:, :, 0] = -3000
    paths = write_series(tmp_path, (hu + 3000).astype(np.uint16), rescale_intercept=-3000.0)
    for path in paths:
        _set_padding(path, 0, "US")
    volume = load_stack(make_stack(paths))
    assert volume.array.dtype == np.int16
    assert np.all(volume.array[:, :, 0] == -1024)
    np.testing.assert_array_equal(volume.array[:, :, 1:], hu[:, :, 1:])


def test_monochrome1_inverted_for_mr_with_warning(tmp_path):
    stored = (np.arange(np.prod(SHAPE)).reshape(SHAPE) % 500 + 10).astype(np.uint16)
    paths = write_series(tmp_path, stored, modality="MR")
    for path in paths:
        _set(path, PhotometricInterpretation="MONOCHROME1")
    volume = load_stack(make_stack(paths, "MR"))
    low, high = int(stored.min()), int(stored.max())
    np.testing.assert_array_equal(volume.array, low + high - stored.astype(np.int32))
    assert MONOCHROME1_WARNING in volume.warnings
    assert volume.window == (low + high - 40.0, 400.0)  # factory window (40, 400) mirrored


def test_progress_reported_and_cancel_stops(tmp_path):
    paths = write_series(tmp_path, hu_array())
    reports: list[float] = []
    load_stack(make_stack(paths), progress=lambda fraction, text: reports.append(fraction))
    assert reports[-1] == 1.0
    assert reports == sorted(reports) and len(reports) >= SHAPE[0]
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        load_stack(make_stack(paths), cancel=token)


def test_stack_warnings_kept_without_duplicates(tmp_path):
    paths = write_series(tmp_path, hu_array())
    stack = make_stack(paths)
    stack.warnings = ["Scanner said hello", "Scanner said hello"]
    volume = load_stack(stack)
    assert volume.warnings == ["Scanner said hello"]


def test_series_inside_a_zip_loads_identically(tmp_path):
    hu = hu_array()
    paths = write_series(tmp_path / "series", hu, origin=(5, 6, 7), slice_step=1.5, shuffle=True)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in paths:
            handle.write(path, f"DICOM/{path.name}")
    loaded = load_volume(archive)
    np.testing.assert_array_equal(loaded.volume.array, hu)
    np.testing.assert_allclose(
        loaded.volume.affine,
        expected_affine((1, 0, 0), (0, 1, 0), (1, 1), (5, 6, 7), (0, 0, 1.5)),
        atol=1e-6,
    )
    assert loaded.chosen_automatically and loaded.reason == "it is the only image stack"


def _scan_single(folder: Path) -> Stack:
    from workstation.io.dicom.scan import scan_path

    [stack] = scan_path(folder, workers=1).stacks
    return stack


@pytest.mark.parametrize("change", ["deleted", "replaced-by-folder", "emptied"])
def test_file_changed_after_scan_is_a_clear_error(tmp_path, change):
    paths = write_series(tmp_path, hu_array())
    stack = _scan_single(tmp_path)
    victim = paths[3]
    victim.unlink()
    if change == "replaced-by-folder":
        victim.mkdir()
    elif change == "emptied":
        victim.write_bytes(b"")
    with pytest.raises(DicomReadError) as caught:
        load_stack(stack)
    message = str(caught.value)
    assert victim.name in message and "\n" not in message
    if change != "emptied":
        assert str(victim) in message and "since the scan" in message


def test_compressed_file_deleted_after_scan_is_a_clear_error(tmp_path):
    sources = write_series(tmp_path / "raw", hu_array())
    (tmp_path / "rle").mkdir()
    for index, path in enumerate(sources):
        rewrite_transfer_syntax(path, tmp_path / "rle" / f"R{index}", RLELossless)
    stack = _scan_single(tmp_path / "rle")
    (tmp_path / "rle" / "R2").unlink()
    with pytest.raises(DicomReadError, match=r"Cannot read .*R2: No such file .*since the scan"):
        load_stack(stack)


def test_zip_member_or_archive_gone_after_scan_is_a_clear_error(tmp_path):
    paths = write_series(tmp_path / "series", hu_array())
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in paths:
            handle.write(path, f"DICOM/{path.name}")
    stack = _scan_single(archive)
    with zipfile.ZipFile(archive, "w") as handle:  # rewritten without the last file
        for path in paths[:-1]:
            handle.write(path, f"DICOM/{path.name}")
    with pytest.raises(DicomReadError, match=rf"no member DICOM/{paths[-1].name} in the archive"):
        load_stack(stack)
    archive.unlink()
    with pytest.raises(DicomReadError, match="No such file or directory"):
        load_stack(stack)


def test_monochrome1_ct_keeps_its_hounsfield_units(tmp_path):
    """HU are physical values: MONOCHROME1 only changes how they are displayed."""
    hu = hu_array()
    paths = write_series(tmp_path, (hu + 1024).astype(np.uint16), rescale_intercept=-1024.0)
    for path in paths:
        _set(path, PhotometricInterpretation="MONOCHROME1")
    volume = load_stack(make_stack(paths))
    np.testing.assert_array_equal(volume.array, hu)
    assert volume.units == "HU" and MONOCHROME1_WARNING not in volume.warnings
    assert volume.window == (40.0, 400.0)
