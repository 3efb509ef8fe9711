"""Reading DICOM SEG: refusals with a message, the reader registry, and a round trip through
a real PACS (Orthanc): stored, fetched back byte for byte, the same voxels."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from tests.io.dicom_seg_cases import series_case, two_segments
from tests.io.test_dicom_seg import TILTED
from workstation.core.errors import SegmentationError
from workstation.io.dicom_seg import write_dicom_seg
from workstation.io.dicom_seg_read import read_dicom_seg
from workstation.io.readers import formats, reader_for
from workstation.services.segmentation_import import import_segmentation


def test_the_reader_is_registered_for_dcm():
    assert reader_for("segmentation", "results/OUT.DCM").description == "DICOM Segmentation"
    assert (".dcm", "DICOM Segmentation") in formats("segmentation")


def test_a_dicom_image_is_not_a_segmentation(tmp_path):
    case = series_case(tmp_path / "series", TILTED)
    image = sorted((tmp_path / "series").iterdir())[0]
    target = tmp_path / "image.dcm"
    target.write_bytes(image.read_bytes())
    with pytest.raises(SegmentationError, match="is not a DICOM Segmentation") as caught:
        import_segmentation(target, case.volume)
    assert "\n" not in caught.value.message
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all" * 10)
    with pytest.raises(SegmentationError, match=r"junk\.dcm"):
        read_dicom_seg(junk)


def test_the_file_grid_is_built_from_the_frame_positions(tmp_path):
    case = series_case(tmp_path / "series", TILTED)
    path = write_dicom_seg(two_segments(case.volume), tmp_path / "out.dcm", case.source)
    imported = read_dicom_seg(path)
    # The frames cover source slices 1..6: the file's grid starts at slice 1, sheared like
    # the volume (same step, same in-plane axes), and is six slices deep.
    assert imported.shape == (6, 12, 14)
    np.testing.assert_allclose(imported.affine[:3, :3], case.volume.affine[:3, :3], atol=1e-6)
    np.testing.assert_allclose(imported.affine[:3, 3], TILTED[1], atol=1e-6)
    assert imported.warnings == []


def test_round_trip_through_orthanc(tmp_path, empty_orthanc):
    case = series_case(tmp_path / "series", TILTED)
    segmentation = two_segments(case.volume)
    path = write_dicom_seg(segmentation, tmp_path / "out.dcm", case.source)
    sop_uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
    empty_orthanc.upload_folder(tmp_path / "series")
    empty_orthanc.upload([path])
    assert empty_orthanc.instance_count() == len(TILTED) + 1
    assert empty_orthanc.study_uids() == [case.source.study_uid]
    fetched = tmp_path / "fetched.dcm"
    fetched.write_bytes(empty_orthanc.instance_file(sop_uid))
    result = import_segmentation(fetched, case.volume)
    assert [segment.name for segment in result.segments] == ["Mandible bone", "Lesion"]
    for original, back in zip(segmentation.segments, result.segments, strict=False):
        assert back.voxel_count == original.voxel_count > 0
        np.testing.assert_array_equal(back.mask, original.mask)


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_send_retrieve_reopen_through_the_pacs_service(tmp_path, empty_orthanc, protocol):
    """Send the series and its SEG, retrieve the whole study, scan it, open the SEG."""
    from workstation.io.dicom.scan import scan_path
    from workstation.services import pacs
    from workstation.services.derived_objects import open_seg_on_session
    from workstation.services.session import Session

    case = series_case(tmp_path / "series", TILTED)
    segmentation = two_segments(case.volume)
    path = write_dicom_seg(segmentation, tmp_path / "out.dcm", case.source)
    if protocol == "dimse":
        server = pacs.server_from_options(dimse=empty_orthanc.dimse)
    else:
        server = pacs.server_from_options(dicomweb=empty_orthanc.dicomweb_url)
    pacs.send(server, [tmp_path / "series", path])
    assert empty_orthanc.instance_count() == len(TILTED) + 1
    pacs.retrieve_to_folder(server, case.source.study_uid, None, tmp_path / "back")
    scan = scan_path(tmp_path / "back")
    (derived,) = scan.derived
    assert derived.referenced_series_uids == (case.series_uid,)
    session = Session()
    session.set_volume(case.volume, scan.find(case.series_uid))
    assert open_seg_on_session(session, derived) == ["Mandible bone", "Lesion"]
    for original, back in zip(segmentation.segments, session.editor.segmentation, strict=False):
        np.testing.assert_array_equal(back.mask, original.mask)
