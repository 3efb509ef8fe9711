"""Scanning synthetic DICOM with known truth: headers, frames, grouping, splitting, warnings."""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.support.dicom_factory import positions_along, write_enhanced_ct, write_series
from workstation.core.errors import Cancelled, DicomReadError, InputPathError
from workstation.core.progress import CancelToken
from workstation.io.dicom.header_geometry import orientation_label, stack_geometry
from workstation.io.dicom.headers import frames_from_dataset, read_header
from workstation.io.dicom.scan import PARALLEL_MIN_FILES, scan_path

SMALL = (4, 8, 8)  # slices, rows, columns of most test series


def _volume(shape: tuple[int, int, int] = SMALL) -> np.ndarray:
    return np.arange(np.prod(shape), dtype=np.int16).reshape(shape)


def _edit(path: Path, **attributes: object) -> None:
    """Set (or delete, with None) top-level attributes of a written file."""
    ds = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)


def _shared_uids() -> dict[str, str]:
    """UIDs that make several write_series calls one DICOM series."""
    return {"series_uid": generate_uid(), "study_uid": generate_uid(), "frame_uid": generate_uid()}


def _only_stack(folder: Path):
    scan = scan_path(folder, workers=1)
    assert len(scan.stacks) == 1, [stack.label for stack in scan.stacks]
    return scan.stacks[0]


# ---------------------------------------------------------------- frames and headers


def test_classic_frame_fields(tmp_path: Path) -> None:
    paths = write_series(
        tmp_path,
        _volume(),
        pixel_spacing=(0.5, 0.75),
        origin=(10.0, -20.0, 30.0),
        slice_step=2.5,
        rescale_slope=2.0,
        rescale_intercept=-1024.0,
        window=(50.0, 350.0),
        instance_numbers=[7, 8, 9, 10],
    )
    ds = read_header(str(paths[1]))
    assert "PixelData" not in ds  # headers only
    [frame] = frames_from_dataset(ds, str(paths[1]))
    assert frame.location == str(paths[1])
    assert frame.frame_index is None
    assert frame.rows == 8 and frame.columns == 8
    assert frame.position == pytest.approx((10.0, -20.0, 32.5))
    assert frame.orientation == pytest.approx((1, 0, 0, 0, 1, 0))
    assert frame.pixel_spacing == pytest.approx((0.5, 0.75))
    assert (frame.rescale_slope, frame.rescale_intercept) == (2.0, -1024.0)
    assert frame.window == (50.0, 350.0)
    assert frame.instance_number == 8
    assert frame.transfer_syntax_uid == ExplicitVRLittleEndian
    assert frame.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert frame.sop_instance_uid == ds.SOPInstanceUID
    assert (frame.photometric, frame.samples_per_pixel) == ("MONOCHROME2", 1)
    assert (frame.bits_allocated, frame.bits_stored, frame.pixel_representation) == (16, 16, 1)
    assert frame.image_type == ("ORIGINAL", "PRIMARY", "AXIAL")
    assert frame.slice_thickness == 1.0


def test_enhanced_frames_use_per_frame_positions(tmp_path: Path) -> None:
    positions = positions_along((0.0, 0.0, -50.0), 3.0, 5)
    order = [3, 0, 4, 1, 2]  # frames stored out of spatial order
    path = write_enhanced_ct(
        tmp_path / "enh.dcm",
        _volume((5, 6, 7)),
        positions=positions,
        frame_order=order,
        pixel_spacing=(0.8, 0.9),
        rescale_intercept=-1000.0,
    )
    frames = frames_from_dataset(read_header(str(path)), str(path))
    assert [frame.frame_index for frame in frames] == [0, 1, 2, 3, 4]
    for frame, slice_index in zip(frames, order, strict=True):
        assert frame.position == pytest.approx(tuple(positions[slice_index]))
        assert frame.orientation == pytest.approx((1, 0, 0, 0, 1, 0))
        assert frame.pixel_spacing == pytest.approx((0.8, 0.9))
        assert (frame.rescale_slope, frame.rescale_intercept) == (1.0, -1000.0)
        assert frame.stack_id == "1"
        assert (frame.rows, frame.columns, frame.number_of_frames) == (6, 7, 5)
    stack = _only_stack(tmp_path)
    assert stack.kind == "volume"
    assert stack_geometry(stack.frames).spacing == pytest.approx((0.9, 0.8, 3.0))


def test_enhanced_per_frame_rescale_and_frame_type(tmp_path: Path) -> None:
    path = write_enhanced_ct(tmp_path / "enh.dcm", _volume((3, 4, 4)))
    ds = pydicom.dcmread(path)
    for index, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        transform = Dataset()
        transform.RescaleSlope = 1.0 + index
        transform.RescaleIntercept = -10.0 * index
        item.PixelValueTransformationSequence = DicomSequence([transform])
        frame_type = Dataset()
        frame_type.FrameType = ["DERIVED", "PRIMARY", "AXIAL", "NONE"]
        item.CTImageFrameTypeSequence = DicomSequence([frame_type])
    ds.save_as(path, enforce_file_format=True)
    frames = frames_from_dataset(read_header(str(path)), str(path))
    assert [(f.rescale_slope, f.rescale_intercept) for f in frames] == [
        (1.0, 0.0),
        (2.0, -10.0),
        (3.0, -20.0),
    ]
    assert all(frame.image_type[0] == "DERIVED" for frame in frames)
    stack = _only_stack(tmp_path)
    assert any("Rescale values differ" in warning for warning in stack.warnings)


def test_malformed_number_is_missing_with_warning(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _volume(), origin=(11.5, 22.5, 33.5), rescale_slope=7.25)
    # pydicom refuses to write invalid numbers, so corrupt the bytes (same lengths).
    data = paths[0].read_bytes()
    assert data.count(b"11.5\\22.5\\33.5") == 1 and data.count(b"7.25") == 1
    data = data.replace(b"11.5\\22.5", b"1a.5\\22.5").replace(b"7.25", b"x.25")
    paths[0].write_bytes(data)
    [frame] = frames_from_dataset(read_header(str(paths[0])), str(paths[0]))
    assert frame.position is None
    assert frame.rescale_slope == 1.0
    scan = scan_path(tmp_path, workers=1)
    warnings = [w for stack in scan.stacks for w in stack.warnings]
    assert any("malformed ImagePositionPatient" in w for w in warnings)
    assert any("malformed RescaleSlope" in w for w in warnings)


def test_missing_transfer_syntax_defaults_to_implicit_little_endian() -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.Rows, ds.Columns = 2, 2
    [frame] = frames_from_dataset(ds, "memory")
    assert frame.transfer_syntax_uid == "1.2.840.10008.1.2"


def test_classic_multiframe_frames_share_position(tmp_path: Path) -> None:
    [path] = write_series(tmp_path, _volume((1, 4, 4)))
    _edit(path, NumberOfFrames=3, PixelData=np.zeros((3, 4, 4), np.int16).tobytes())
    frames = frames_from_dataset(read_header(str(path)), str(path))
    assert [frame.frame_index for frame in frames] == [0, 1, 2]
    assert len({frame.position for frame in frames}) == 1
    stack = _only_stack(tmp_path)
    assert stack.kind == "unsupported"
    assert any("All 3 images share one position" in w for w in stack.warnings)


# ---------------------------------------------------------------- grouping


def test_plain_series_is_one_clean_stack(tmp_path: Path) -> None:
    series_uid = generate_uid()
    write_series(
        tmp_path,
        _volume((6, 8, 10)),
        pixel_spacing=(0.7, 0.6),
        slice_step=1.5,
        shuffle=True,
        series_uid=series_uid,
        series_number=3,
        series_description="ABDOMEN",
    )
    stack = _only_stack(tmp_path)
    assert stack.stack_id == series_uid == stack.identity.series_uid
    assert stack.kind == "volume" and stack.loadable_3d
    assert stack.warnings == []
    assert stack.label == "CT 3: ABDOMEN (10x8x6)"
    assert stack.n_files == 6 and len(stack.frames) == 6
    geometry = stack_geometry(stack.frames)
    assert geometry.dims == (10, 8, 6)
    assert geometry.spacing == pytest.approx((0.6, 0.7, 1.5))
    assert geometry.orientation == "axial"
    assert stack.confidence > 0.7


def test_per_slice_acquisition_numbers_do_not_split(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _volume())
    for number, path in enumerate(paths, start=1):
        _edit(path, AcquisitionNumber=number)
    stack = _only_stack(tmp_path)
    assert len(stack.frames) == 4 and stack.kind == "volume"


def test_gantry_tilt_reported_from_positions(tmp_path: Path) -> None:
    angle = 20.0
    step = (0.0, 2.0 * math.sin(math.radians(angle)), 2.0 * math.cos(math.radians(angle)))
    write_series(tmp_path, _volume((5, 8, 8)), slice_step=step, gantry_tilt=0.0)
    stack = _only_stack(tmp_path)
    [warning] = [w for w in stack.warnings if "tilt" in w]
    assert f"{angle:.1f}°" in warning
    # Spacing along the normal is the step projected onto it.
    expected = 2.0 * math.cos(math.radians(angle))
    assert stack_geometry(stack.frames).spacing[2] == pytest.approx(expected)


def test_missing_slice_warning_names_the_gap(tmp_path: Path) -> None:
    positions = [(0.0, 0.0, z) for z in (0.0, 5.0, 10.0, 20.0, 25.0)]
    write_series(tmp_path, _volume((5, 8, 8)), positions=positions)
    stack = _only_stack(tmp_path)
    [warning] = stack.warnings
    assert "gap of 10.00 mm after the slice at 10.00 mm" in warning
    assert "expected 5.00 mm" in warning
    assert stack.kind == "volume"


def test_uneven_spacing_lists_the_steps(tmp_path: Path) -> None:
    positions = [(0.0, 0.0, z) for z in (0.0, 1.0, 2.0, 3.5, 5.0, 6.5, 8.7)]
    write_series(tmp_path, _volume((7, 8, 8)), positions=positions)
    stack = _only_stack(tmp_path)
    [warning] = stack.warnings
    assert warning.startswith("Uneven slice spacing")
    assert "1.00, 1.50 and 2.20 mm" in warning


def test_two_orientations_split_into_two_stacks(tmp_path: Path) -> None:
    uids = _shared_uids()
    series_uid = uids["series_uid"]
    write_series(tmp_path / "a", _volume(), **uids)
    write_series(
        tmp_path / "b",
        _volume(),
        **uids,
        row_cosine=(0, 1, 0),
        col_cosine=(0, 0, -1),
    )
    scan = scan_path(tmp_path, workers=1)
    assert [stack.stack_id for stack in scan.stacks] == [f"{series_uid}.1", f"{series_uid}.2"]
    labels = {orientation_label(stack.frames[0].orientation) for stack in scan.stacks}
    assert labels == {"axial", "sagittal"}
    for stack in scan.stacks:
        assert stack.kind == "volume" and len(stack.frames) == 4
        assert any("several orientations" in w for w in stack.warnings)


def test_small_other_orientation_group_is_localizer(tmp_path: Path) -> None:
    uids = _shared_uids()
    write_series(tmp_path / "axial", _volume((12, 8, 8)), **uids)
    write_series(
        tmp_path / "scout",
        _volume((1, 8, 8)),
        **uids,
        row_cosine=(1, 0, 0),
        col_cosine=(0, 0, -1),
    )
    scan = scan_path(tmp_path, workers=1)
    kinds = sorted((stack.kind, len(stack.frames)) for stack in scan.stacks)
    assert kinds == [("localizer", 1), ("volume", 12)]
    assert scan.best_volume() is not None and len(scan.best_volume().frames) == 12


def test_localizer_image_type_is_separated(tmp_path: Path) -> None:
    uids = _shared_uids()
    write_series(tmp_path / "a", _volume(), **uids)
    write_series(
        tmp_path / "b",
        _volume((1, 8, 8)),
        **uids,
        image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"),
        origin=(0, 0, 100),
    )
    scan = scan_path(tmp_path, workers=1)
    localizer = next(stack for stack in scan.stacks if stack.kind == "localizer")
    volume = next(stack for stack in scan.stacks if stack.kind == "volume")
    assert len(localizer.frames) == 1 and len(volume.frames) == 4
    assert localizer.confidence < volume.confidence


def test_echoes_at_same_positions_split_by_echo_number(tmp_path: Path) -> None:
    uids = _shared_uids()
    for echo in (1, 2):
        paths = write_series(
            tmp_path,
            _volume(),
            **uids,
            modality="MR",
            file_names=[f"E{echo}_{i}" for i in range(4)],
        )
        for path in paths:
            _edit(path, EchoNumbers=echo)
    scan = scan_path(tmp_path, workers=1)
    assert len(scan.stacks) == 2
    for echo, stack in enumerate(scan.stacks, start=1):
        assert {frame.echo_number for frame in stack.frames} == {echo}
        assert f"echo {echo}" in stack.label
        assert stack.kind == "volume"


def test_duplicates_without_tags_split_by_count(tmp_path: Path) -> None:
    uids = _shared_uids()
    for copy in (1, 2):
        write_series(
            tmp_path,
            _volume(),
            **uids,
            file_names=[f"C{copy}_{i}" for i in range(4)],
            instance_numbers=[copy * 10 + i for i in range(4)],
        )
    scan = scan_path(tmp_path, workers=1)
    assert len(scan.stacks) == 2
    for copy, stack in enumerate(scan.stacks, start=1):
        assert sorted(frame.instance_number for frame in stack.frames) == [
            copy * 10 + i for i in range(4)
        ]
        assert any("2 images at every slice position" in w for w in stack.warnings)


def test_unequal_duplicates_are_reported_not_loaded(tmp_path: Path) -> None:
    uids = _shared_uids()
    write_series(tmp_path, _volume(), **uids, file_names=list("ABCD"))
    write_series(tmp_path, _volume((1, 8, 8)), **uids, file_names=["E"])
    stack = _only_stack(tmp_path)
    assert stack.kind == "unsupported" and not stack.loadable_3d
    assert any("Duplicate slice positions: 1 of 4 positions" in w for w in stack.warnings)


def test_all_frames_at_one_position_is_not_a_volume(tmp_path: Path) -> None:
    write_series(tmp_path, _volume(), positions=[(0.0, 0.0, 5.0)] * 4)
    stack = _only_stack(tmp_path)
    assert stack.kind == "unsupported"
    assert any("All 4 images share one position" in w for w in stack.warnings)


def test_mixed_rescale_warning(tmp_path: Path) -> None:
    write_series(tmp_path, _volume(), rescale_intercept=[-1024.0, -1024.0, -1000.0, -1024.0])
    stack = _only_stack(tmp_path)
    assert stack.kind == "volume"
    assert any("Rescale values differ" in w for w in stack.warnings)


def test_single_slice_kind(tmp_path: Path) -> None:
    write_series(tmp_path, _volume((1, 8, 8)))
    stack = _only_stack(tmp_path)
    assert stack.kind == "single-slice" and not stack.loadable_3d
    assert any("Single image" in w for w in stack.warnings)


def test_colour_mosaic_and_secondary_capture_kinds(tmp_path: Path) -> None:
    [rgb] = write_series(tmp_path / "rgb", _volume((1, 4, 4)))
    _edit(
        rgb,
        SamplesPerPixel=3,
        PhotometricInterpretation="RGB",
        PlanarConfiguration=0,
        BitsAllocated=8,
        BitsStored=8,
        HighBit=7,
        PixelRepresentation=0,
        PixelData=bytes(4 * 4 * 3),
    )
    mosaic = write_series(
        tmp_path / "mosaic",
        _volume((2, 8, 8)),
        modality="MR",
        image_type=("ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC"),
    )
    [sc] = write_series(tmp_path / "sc", _volume((1, 4, 4)))
    _edit(sc, SOPClassUID="1.2.840.10008.5.1.4.1.1.7")
    scan = scan_path(tmp_path, workers=1)
    by_folder = {Path(stack.frames[0].location).parent.name: stack for stack in scan.stacks}
    assert by_folder["rgb"].kind == "unsupported"
    assert any("Colour images (RGB)" in w for w in by_folder["rgb"].warnings)
    assert by_folder["mosaic"].kind == "unsupported"
    assert any("MOSAIC" in w for w in by_folder["mosaic"].warnings)
    assert all(frame.position is None for frame in by_folder["mosaic"].frames)
    assert len(mosaic) == 2
    assert by_folder["sc"].kind == "secondary-capture"


def test_stacks_sorted_by_series_number(tmp_path: Path) -> None:
    study = generate_uid()
    write_series(tmp_path / "x", _volume(), series_number=10, study_uid=study)
    write_series(tmp_path / "y", _volume(), series_number=2, study_uid=study)
    write_series(tmp_path / "z", _volume(), series_number=1, patient_id="ZZZ")
    scan = scan_path(tmp_path, workers=1)
    assert [stack.identity.series_number for stack in scan.stacks] == ["2", "10", "1"]


def test_files_without_series_uid_stand_alone(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _volume((2, 4, 4)))
    for path in paths:
        _edit(path, SeriesInstanceUID=None)
    scan = scan_path(tmp_path, workers=1)
    assert len(scan.stacks) == 2
    assert all(stack.kind == "single-slice" for stack in scan.stacks)
    assert len({stack.stack_id for stack in scan.stacks}) == 2


# ---------------------------------------------------------------- robustness


def _non_image(path: Path, sop_class: str) -> None:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def test_junk_is_skipped_with_reasons(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "series", _volume())
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty.dcm").write_bytes(b"")
    truncated = paths[0].read_bytes()[:700]
    (tmp_path / "truncated.dcm").write_bytes(truncated)
    _non_image(tmp_path / "rtstruct.dcm", "1.2.840.10008.5.1.4.1.1.481.3")
    _non_image(tmp_path / "DICOMDIR", "1.2.840.10008.1.3.10")
    os.mkfifo(tmp_path / "pipe")  # opening it for reading would block forever
    scan = scan_path(tmp_path, workers=1)
    assert len(scan.stacks) == 1 and len(scan.stacks[0].frames) == 4
    reasons = {Path(item.path).name: item.reason for item in scan.skipped}
    assert reasons["notes.txt"] == "not a DICOM file"
    assert reasons["empty.dcm"] == "not a DICOM file"
    assert reasons["rtstruct.dcm"] == "no image data (RT Structure Set)"
    assert reasons["DICOMDIR"] == "DICOMDIR index"
    assert reasons["truncated.dcm"].startswith("truncated header: ")
    assert reasons["pipe"] == "not a regular file"
    assert scan.n_files_examined == 10


def test_dicomdir_given_directly_scans_its_folder(tmp_path: Path) -> None:
    write_series(tmp_path / "IMAGES", _volume())
    _non_image(tmp_path / "DICOMDIR", "1.2.840.10008.1.3.10")
    scan = scan_path(tmp_path / "DICOMDIR", workers=1)
    assert scan.root == str(tmp_path)
    assert len(scan.stacks) == 1 and len(scan.stacks[0].frames) == 4


def test_zip_archive_is_scanned(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "series", _volume())
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in paths:
            handle.write(path, f"dicom/{path.name}")
    scan = scan_path(archive, workers=1)
    [stack] = scan.stacks
    assert len(stack.frames) == 4
    assert all(frame.location.startswith(f"{archive}::dicom/") for frame in stack.frames)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputPathError):
        scan_path(tmp_path / "nowhere")
    (tmp_path / "a.txt").write_text("x")
    message = r"No DICOM images found .* \(1 files examined, 1 skipped\)"
    with pytest.raises(DicomReadError, match=message):
        scan_path(tmp_path)


def test_progress_and_cancel(tmp_path: Path) -> None:
    write_series(tmp_path, _volume((6, 4, 4)))
    reports: list[tuple[float, str]] = []
    scan_path(tmp_path, progress=lambda f, t: reports.append((f, t)), workers=1)
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any("6/6" in text for _, text in reports)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        scan_path(tmp_path, cancel=token, workers=1)


def test_parallel_matches_serial(tmp_path: Path) -> None:
    count = PARALLEL_MIN_FILES + 4
    write_series(tmp_path / "a", _volume((count // 2, 4, 4)), shuffle=True)
    write_series(tmp_path / "b", _volume((count - count // 2, 4, 4)), series_number=2)
    (tmp_path / "junk.bin").write_bytes(b"junk" * 10)
    serial = scan_path(tmp_path, workers=1)
    parallel = scan_path(tmp_path, workers=2)
    assert [s.stack_id for s in parallel.stacks] == [s.stack_id for s in serial.stacks]
    assert [s.frames for s in parallel.stacks] == [s.frames for s in serial.stacks]
    assert parallel.skipped == serial.skipped


@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_during_scan(tmp_path: Path, workers: int) -> None:
    write_series(tmp_path, _volume((PARALLEL_MIN_FILES + 16, 4, 4)))
    token = CancelToken()
    seen: list[float] = []

    def progress(fraction: float, text: str) -> None:
        seen.append(fraction)
        if "headers" in text and fraction > 0.2:
            token.cancel()

    with pytest.raises(Cancelled):
        scan_path(tmp_path, progress=progress, cancel=token, workers=workers)
    assert max(seen) < 0.96  # stopped before grouping


def test_image_type_split_ignores_vendor_suffixes(tmp_path: Path) -> None:
    uids = _shared_uids()
    ct = np.zeros((2, 4, 4), np.int16)
    write_series(tmp_path / "a", ct, **uids, image_type=("ORIGINAL", "PRIMARY", "AXIAL", "ADD"))
    write_series(tmp_path / "b", ct, **uids, origin=(0, 0, 2), image_type=("ORIGINAL", "PRIMARY"))
    write_series(tmp_path / "c", ct, **uids, image_type=("DERIVED", "PRIMARY", "AXIAL"))
    scan = scan_path(tmp_path, workers=1)
    sizes = sorted((len(stack.frames), stack.frames[0].image_type[0]) for stack in scan.stacks)
    assert sizes == [(2, "DERIVED"), (4, "ORIGINAL")]
    assert all(stack.kind == "volume" for stack in scan.stacks)


def test_enhanced_dimension_index_separates_volumes(tmp_path: Path) -> None:
    positions = positions_along((0.0, 0.0, 0.0), 2.0, 3) * 2  # two volumes, same places
    path = write_enhanced_ct(tmp_path / "enh.dcm", _volume((6, 4, 4)), positions=positions)
    ds = pydicom.dcmread(path)
    pointers = ["StackID", "InStackPositionNumber", "EffectiveEchoTime"]
    ds.DimensionIndexSequence = DicomSequence([Dataset() for _ in pointers])
    for item, keyword in zip(ds.DimensionIndexSequence, pointers, strict=True):
        item.DimensionIndexPointer = pydicom.tag.Tag(keyword)
        item.FunctionalGroupPointer = pydicom.tag.Tag("FrameContentSequence")
    for index, item in enumerate(ds.PerFrameFunctionalGroupsSequence):
        content = item.FrameContentSequence[0]
        content.InStackPositionNumber = index % 3 + 1
        content.DimensionIndexValues = [1, index % 3 + 1, index // 3 + 1]
    ds.save_as(path, enforce_file_format=True)
    scan = scan_path(tmp_path, workers=1)
    assert [len(stack.frames) for stack in scan.stacks] == [3, 3]
    assert [sorted(f.frame_index for f in stack.frames) for stack in scan.stacks] == [
        [0, 1, 2],
        [3, 4, 5],
    ]
    assert [stack.label.rsplit(" [", 1)[1] for stack in scan.stacks] == [
        "dimension 1]",
        "dimension 2]",
    ]
    assert all(stack.kind == "volume" and not stack.warnings for stack in scan.stacks)


def test_binary_junk_and_symlink_loops_are_skipped(tmp_path: Path) -> None:
    write_series(tmp_path / "series", _volume())
    rng = np.random.default_rng(1)
    (tmp_path / "random.bin").write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    (tmp_path / "zero").write_bytes(b"")
    (tmp_path / "series" / "loop").symlink_to(tmp_path)  # a folder loop: never followed
    (tmp_path / "self").symlink_to(tmp_path / "self")  # a link to itself
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    scan = scan_path(tmp_path, workers=1)
    assert [len(stack.frames) for stack in scan.stacks] == [4]
    reasons = {Path(item.path).name: item.reason for item in scan.skipped}
    assert reasons["random.bin"] == reasons["zero"] == "not a DICOM file"
    assert reasons["self"].startswith("cannot open: ") and "symbolic links" in reasons["self"]
    assert reasons["dangling"] == "cannot open: No such file or directory"
    assert "loop" not in reasons
    assert scan.n_files_examined == 4 + 4


def test_truly_empty_folder_and_junk_only_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DicomReadError, match="there are no files in it"):
        scan_path(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DicomReadError, match=r"\(1 files examined, 1 skipped\)") as caught:
        scan_path(tmp_path / "notes.txt")
    assert caught.value.details == "Skipped: 1 not a DICOM file"


def test_damaged_zip_is_skipped_not_fatal(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "series", _volume())
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as handle:
        for path in paths:
            handle.write(path, path.name)
    data = good.read_bytes()
    (tmp_path / "damaged.zip").write_bytes(data[: len(data) // 2] + data[-22:])  # bad offsets
    (tmp_path / "cut.zip").write_bytes(data[:-30])  # no end-of-archive record
    scan = scan_path(tmp_path, workers=1)
    [stack] = scan.stacks  # series/ holds byte-identical copies of good.zip's members
    assert stack.n_files == 4
    assert all("good.zip::" in frame.location for frame in stack.frames)
    reasons = {Path(item.path).name: item.reason for item in scan.skipped}
    copies = {path.name: f"byte-identical copy of good.zip/{path.name}" for path in paths}
    assert reasons == {"damaged.zip": "not a DICOM file", "cut.zip": "not a DICOM file", **copies}


def test_worker_processes_from_a_thread_match_serial(tmp_path: Path, monkeypatch) -> None:
    import threading

    from workstation.io.dicom import scan as scan_module

    write_series(tmp_path, _volume((PARALLEL_MIN_FILES + 4, 4, 4)), shuffle=True)
    (tmp_path / "junk.bin").write_bytes(b"junk" * 10)
    monkeypatch.setattr(scan_module, "PARALLEL_MIN_FILES_SPAWNED", 0)
    started = []
    real = scan_module.start_process_pool
    monkeypatch.setattr(
        scan_module, "start_process_pool", lambda n: started.append(real(n)) or started[-1]
    )
    serial = scan_path(tmp_path, workers=1)
    result = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("scan", scan_path(tmp_path, workers=2))
    )
    thread.start()
    thread.join(timeout=120)
    assert len(started) == 1 and started[0] is not None  # a pool, not in-process reading
    assert [s.frames for s in result["scan"].stacks] == [s.frames for s in serial.stacks]
    assert result["scan"].skipped == serial.skipped


def test_fifo_given_as_path_is_reported_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(DicomReadError, match=r"\(1 files examined, 1 skipped\)") as caught:
        scan_path(tmp_path / "pipe")
    assert caught.value.details == "Skipped: 1 not a regular file"
