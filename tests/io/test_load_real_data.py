"""Loading real public DICOM data: geometry against dcm2niix / dicom2nifti references."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tests.support.shared_data import SHARED_DATA, shared_data_path
from workstation.core.errors import DicomReadError, NotAVolumeError
from workstation.core.geometry import LPS_TO_RAS, corner_points, index_to_lps, lps_to_index
from workstation.core.volume import Volume
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.scan import scan_path
from workstation.services.loading import load_volume


def sitk_affine(image: sitk.Image) -> np.ndarray:
    """SimpleITK (i, j, k) index -> LPS affine of the first three axes."""
    dim = image.GetDimension()
    direction = np.array(image.GetDirection()).reshape(dim, dim)[:3, :3]
    affine = np.eye(4)
    affine[:3, :3] = direction * np.array(image.GetSpacing()[:3])
    affine[:3, 3] = image.GetOrigin()[:3]
    return affine


def reference_on_our_grid(volume: Volume, image: sitk.Image, array: np.ndarray) -> np.ndarray:
    """The reference voxels at our voxel centres; the grids must coincide up to axis order.

    ``array`` is the reference's 3D numpy array (k, j, i).  Asserts that every corner voxel
    centre of ours is a reference voxel centre within 0.1 mm.
    """
    reference_affine = sitk_affine(image)
    ours_to_theirs = np.linalg.inv(reference_affine) @ volume.affine
    permutation = np.round(ours_to_theirs)
    # Corner voxel centres land within 0.1 mm of reference voxel centres.
    corners = corner_points(volume.shape, volume.affine)
    corner_indices = np.array(
        [
            [s, r, c]
            for s in (0, volume.shape[0] - 1)
            for r in (0, volume.shape[1] - 1)
            for c in (0, volume.shape[2] - 1)
        ],
        dtype=float,
    )
    theirs = corner_indices @ permutation[:3, :3].T + permutation[:3, 3]
    their_world = theirs @ reference_affine[:3, :3].T + reference_affine[:3, 3]
    assert np.max(np.linalg.norm(their_world - corners, axis=1)) < 0.1
    indices = np.indices(volume.shape).reshape(3, -1)
    ijk = (permutation[:3, :3] @ indices + permutation[:3, 3:]).astype(np.int64)
    assert ijk.min() >= 0
    assert np.all(ijk.max(axis=1) < np.array(image.GetSize()[:3]))
    return array[ijk[2], ijk[1], ijk[0]].reshape(volume.shape)


@pytest.mark.parametrize(
    "case",
    [
        "ge",
        "philips",
        "siemens",
        "hitachi",
        "generic",
        "siemens_multiframe",
        "hyperfine",
        "philips_enhanced",
    ],
)
def test_dicom2nifti_cases_match_ground_truth(case):
    folder = shared_data_path(f"dicom2nifti_cases/{case}/anatomical/001")
    image = sitk.ReadImage(str(folder) + "_ground_truth.nii.gz")
    loaded = load_volume(folder)
    volume = loaded.volume
    theirs = reference_on_our_grid(volume, image, sitk.GetArrayFromImage(image))
    if case == "philips_enhanced":
        np.testing.assert_allclose(volume.array, theirs, rtol=1e-5, atol=1e-3)
    else:
        np.testing.assert_array_equal(volume.array, theirs)
    assert volume.warnings == []


def test_compressed_variants_give_identical_volumes():
    volumes = [
        load_volume(shared_data_path(f"dicom2nifti_cases/generic/compressed_{kind}/001")).volume
        for kind in ("j2k", "jpeg", "jpegls", "rle")
    ]
    for volume in volumes[1:]:
        np.testing.assert_array_equal(volume.array, volumes[0].array)
        np.testing.assert_allclose(volume.affine, volumes[0].affine, atol=1e-9)


def test_ct_abdomen_corners_match_dcm2niix_and_air_is_minus_1000():
    loaded = load_volume(shared_data_path("ct_abdomen_tcia_pancreas"))
    volume = loaded.volume
    assert volume.dims == (512, 512, 134)
    assert volume.units == "HU" and volume.array.dtype == np.int16
    # dcm2niix (MANIFEST): RAS affine of NIfTI index (i, j, k), rows flipped.
    nifti_ras = np.array(
        [[-1.0742, 0, 0, 275.0], [0, 1.0742, 0, -370.8258], [0, 0, 3.0, 85.91], [0, 0, 0, 1]]
    )
    nifti_lps = LPS_TO_RAS @ nifti_ras
    # Our index (s, r, c) is NIfTI (i = c, j = 511 - r, k = s).
    ours_to_nifti = np.array(
        [[0, 0, 1, 0], [0, -1, 0, 511], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float
    )
    expected_corners = corner_points(volume.shape, nifti_lps @ ours_to_nifti)
    # MANIFEST rounds the spacing to 4 decimals: 511 * 0.00005 mm at most.
    np.testing.assert_allclose(
        corner_points(volume.shape, volume.affine), expected_corners, atol=0.03
    )
    assert volume.orientation == "axial"
    air = volume.array[:, :40, :40]  # corners of the field of view, outside the body
    assert -1010 <= float(np.median(air)) <= -990
    assert volume.warnings == []


def test_ge_gantry_tilt_original_voxels_keep_their_world_positions():
    folder = shared_data_path("ct_head_ge_gantry_tilt_dcmqa/dicom")
    loaded = load_volume(folder)
    volume = loaded.volume
    datasets = [pydicom.dcmread(path) for path in sorted(folder.glob("*.dcm"))]
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    row_cos, col_cos = iop[:3], iop[3:]
    normal = np.cross(row_cos, col_cos)
    dy, dx = (float(v) for v in datasets[0].PixelSpacing)
    datasets.sort(key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, float), normal)))
    along = np.array([np.dot(np.array(ds.ImagePositionPatient, float), normal) for ds in datasets])
    extent = along[-1] - along[0]
    n_out = volume.shape[0]
    assert n_out == round(extent / np.median(np.diff(along))) + 1
    step = extent / (n_out - 1)
    for ds, position_along in zip(datasets, along, strict=True):
        ipp = np.array(ds.ImagePositionPatient, dtype=float)
        k = (position_along - along[0]) / step  # fractional output slice of this original
        for r, c in [(0, 0), (0, 511), (511, 0), (511, 511), (200, 300)]:
            expected = ipp + c * row_cos * dx + r * col_cos * dy
            np.testing.assert_allclose(
                index_to_lps(volume.affine, [k, r, c])[0], expected, atol=0.1
            )
            np.testing.assert_allclose(
                lps_to_index(volume.affine, expected)[0], [k, r, c], atol=1e-3
            )
    # First and last output slices coincide with the first and last original slices.
    for output, ds in ((0, datasets[0]), (n_out - 1, datasets[-1])):
        original = ds.pixel_array.astype(np.float32)
        real = original != -1500  # padding outside the reconstruction circle is replaced
        np.testing.assert_array_equal(volume.array[output][real], original[real])
        assert np.all(volume.array[output][~real] <= -1024)
    assert any("Gantry tilt of 18.5°" in w for w in volume.warnings)
    assert any("resampled to" in w for w in volume.warnings)


def test_mr_sagittal_hfp_affine_equals_dcm2niix():
    volume = load_volume(shared_data_path("mr_sag_t1_hfp_dcmqa_decubitus/dicom")).volume
    assert volume.dims == (256, 256, 35)
    nifti_ras = np.array(
        [[0, 0, 4.8, -81.5998], [-1.0156, 0, 0, 130.0], [0, 1.0156, 0, -128.9844], [0, 0, 0, 1]]
    )
    ours_to_nifti = np.array(
        [[0, 0, 1, 0], [0, -1, 0, 255], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float
    )
    expected = LPS_TO_RAS @ nifti_ras @ ours_to_nifti
    np.testing.assert_allclose(volume.affine[:3, :3], expected[:3, :3], atol=1e-4)
    np.testing.assert_allclose(volume.affine[:3, 3], expected[:3, 3], atol=0.01)
    assert volume.orientation == "sagittal"


def test_enhanced_philips_stacks_match_dcm2niix():
    scan = scan_path(shared_data_path("enhanced_mr_dcmqa_enh/dicom/Philips"))
    volumes = [load_stack(stack) for stack in scan.stacks]
    assert [v.shape for v in volumes] == [(32, 64, 64), (32, 64, 64)]
    ref = SHARED_DATA / "enhanced_mr_dcmqa_enh" / "ref"
    magnitude_image = sitk.ReadImage(str(ref / "Philips_WIP_B0_NS_801_e1.nii"))
    field_image = sitk.ReadImage(str(ref / "Philips_WIP_B0_NS_801_e2_fieldmaphz.nii"))
    field = next(v for v in volumes if v.array.min() < 0)
    magnitude = next(v for v in volumes if v is not field)
    theirs = reference_on_our_grid(field, field_image, sitk.GetArrayFromImage(field_image))
    np.testing.assert_allclose(field.array, theirs, atol=0.01)
    theirs = reference_on_our_grid(
        magnitude, magnitude_image, sitk.GetArrayFromImage(magnitude_image)
    )
    # dcm2niix stores Philips' floating-point values: proportional to the display values.
    inside = magnitude.array > 10
    ratio = theirs[inside] / magnitude.array[inside]
    assert np.ptp(ratio) < 1e-5 * np.median(ratio)


def test_enhanced_siemens_time_points_match_dcm2niix():
    scan = scan_path(shared_data_path("enhanced_mr_dcmqa_enh/dicom/Siemens_XA10"))
    image = sitk.ReadImage(
        str(SHARED_DATA / "enhanced_mr_dcmqa_enh/ref/Siemens_REST1_w_SMS_PF7-8_6.nii")
    )
    reference = sitk.GetArrayFromImage(image)  # (t, k, j, i)
    volumes = [load_stack(stack) for stack in scan.stacks]
    assert len(volumes) == reference.shape[0] == 4
    for time_point, volume in enumerate(volumes):
        theirs = reference_on_our_grid(volume, image, reference[time_point])
        np.testing.assert_array_equal(volume.array, theirs)


def test_gap_case_filled_and_named():
    volume = load_volume(shared_data_path("dicom2nifti_cases/failing/sliceincrement/001")).volume
    assert volume.shape[0] == 5
    assert any(w.startswith("Missing slice: gap of 10.0 mm") for w in volume.warnings)


def test_tilted_siemens_case_is_sheared_and_exact():
    folder = shared_data_path("dicom2nifti_cases/failing/gantrytilting/001")
    volume = load_volume(folder).volume
    assert any("Gantry tilt" in w for w in volume.warnings)
    # Every original IPP is the (0, 0) voxel of a whole-numbered slice of the sheared grid.
    found = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        ipp = np.array(pydicom.dcmread(path).ImagePositionPatient, dtype=float)
        index = lps_to_index(volume.affine, ipp)[0]
        np.testing.assert_allclose(index[1:], [0, 0], atol=1e-3)
        assert abs(index[0] - round(index[0])) < 1e-3
        found.append(round(index[0]))
    assert sorted(found) == list(range(volume.shape[0]))
    step, normal = volume.affine[:3, 0], np.cross(volume.affine[:3, 2], volume.affine[:3, 1])
    cosine = abs(step @ normal) / np.linalg.norm(step) / np.linalg.norm(normal)
    assert np.degrees(np.arccos(cosine)) > 1


def test_all_images_at_one_position_is_not_a_volume():
    with pytest.raises(NotAVolumeError):
        load_volume(shared_data_path("dicom2nifti_cases/failing/notavolume/001"))


def test_liver_deflate_is_a_segmentation_not_an_image_stack():
    # A DICOM SEG (deflated frames): listed as a result of its series, never loaded as images;
    # reading it as a SEG says why its frames cannot be decoded (tests/io/test_dicom_seg_real).
    path = shared_data_path("pydicom_data_store/liver_deflate.dcm")
    with pytest.raises(DicomReadError, match="it holds results made on other images: 1 DICOM SEG"):
        scan_path(path)


def test_routine_brain_parts_load_exactly_and_the_whole_is_refused():
    scan = scan_path(shared_data_path("pydicom_test_files/dicomdirtests"))
    lower, upper = (
        stack for stack in scan.stacks if stack.identity.series_description == "Routine Brain"
    )
    volume = load_stack(upper)
    datasets = sorted(
        (pydicom.dcmread(frame.location) for frame in upper.frames),
        key=lambda ds: float(ds.ImagePositionPatient[2]),
    )
    expected = np.stack(
        [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets]
    )
    assert volume.shape == expected.shape == (3, 16, 16)
    np.testing.assert_array_equal(volume.array, expected)
    first = np.array(datasets[0].ImagePositionPatient, dtype=float)
    np.testing.assert_allclose(volume.affine[:3, 3], first, atol=1e-4)
    np.testing.assert_allclose(volume.affine[:3, 0], (0.0, 0.0, 1.25), atol=1e-4)
    assert any(w.startswith("Series split at a gap of 202.5 mm") for w in volume.warnings)
    assert not any("interpolation" in w for w in volume.warnings)
    assert load_stack(lower).shape == (1, 16, 16)

    whole = replace(upper, stack_id=upper.identity.series_uid, frames=lower.frames + upper.frames)
    with pytest.raises(NotAVolumeError, match=r"Gap of 202\.5 mm \(about 161 missing slices\)"):
        load_stack(whole)
