"""A DICOM SEG found in a scan opens as segments on its series' loaded volume: the same
voxels, one undo step; on another series or without a volume it is refused."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from tests.io.dicom_seg_cases import series_case, two_segments
from tests.io.test_dicom_seg import TILTED, UNEVEN
from workstation.core.errors import SegmentationError
from workstation.io.dicom.scan import scan_path
from workstation.io.dicom_seg import segment_terms, write_dicom_seg
from workstation.services.derived_objects import open_seg_on_session
from workstation.services.session import Session


def _session(case) -> Session:
    session = Session()
    session.set_volume(case.volume, case.stack)
    return session


@pytest.mark.parametrize("positions", [TILTED, UNEVEN], ids=["tilted", "uneven"])
def test_open_seg_on_its_series(tmp_path, positions):
    case = series_case(tmp_path / "images", positions)
    segmentation = two_segments(case.volume)
    write_dicom_seg(segmentation, tmp_path / "images" / "seg.dcm", case.source)
    scan = scan_path(tmp_path / "images")
    (derived,) = scan.derived
    session = _session(case)
    names = open_seg_on_session(session, derived)
    assert names == ["Mandible bone", "Lesion"]
    opened = session.editor.segmentation.segments
    on_source = [
        round(
            np.linalg.solve(case.volume.affine[:3, :3], np.subtract(p, case.volume.affine[:3, 3]))[
                0
            ]
        )
        for p in positions
    ]
    for original, back in zip(segmentation.segments, opened, strict=False):
        np.testing.assert_array_equal(back.mask[on_source], original.mask[on_source])
        assert (back.category, back.type) == segment_terms(original)  # uncoded: Tissue
    assert session.editor.operations[-1]["op"] == "import_segmentation"
    assert session.editor.undo()
    assert session.editor.segmentation.segments == []


def test_open_seg_from_a_zip(tmp_path):
    case = series_case(tmp_path / "images", TILTED)
    segmentation = two_segments(case.volume)
    write_dicom_seg(segmentation, tmp_path / "images" / "seg.dcm", case.source)
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in (tmp_path / "images").iterdir():
            handle.write(path, path.name)
    scan = scan_path(archive)
    session = Session()
    session.set_volume(case.volume, scan.stacks[0])
    assert open_seg_on_session(session, scan.derived[0]) == ["Mandible bone", "Lesion"]
    np.testing.assert_array_equal(
        session.editor.segmentation.segments[0].mask, segmentation.segments[0].mask
    )


def test_open_seg_refuses_another_series(tmp_path):
    case = series_case(tmp_path / "images", TILTED)
    write_dicom_seg(two_segments(case.volume), tmp_path / "images" / "seg.dcm", case.source)
    (derived,) = scan_path(tmp_path / "images").derived
    with pytest.raises(SegmentationError, match="Load the series"):
        open_seg_on_session(Session(), derived)
    other = series_case(tmp_path / "other", TILTED)  # another study and Frame of Reference
    session = _session(other)
    with pytest.raises(SegmentationError, match="another Frame of Reference"):
        open_seg_on_session(session, derived)
    assert session.editor.segmentation.segments == []
