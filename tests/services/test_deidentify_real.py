"""De-identifying real scans: the same stacks, affines and voxels; no original identity left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.services.deid_cases import leaks, output_bytes
from tests.support.shared_data import shared_data_path
from workstation.io.deid.keys import read_key
from workstation.io.deid.options import DEFAULT_OPTIONS
from workstation.io.deid.uid_map import deidentified_uid
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.scan import scan_path
from workstation.services.deidentify import deidentify_path

#: Values some inputs already hold instead of an identity (not PHI).
PLACEHOLDERS = {"REMOVED", "ANONYMOUS", "ANONYMIZED"}
CASES = [
    "ct_head_slicer_64px",
    "ct_head_ge_gantry_tilt_dcmqa",
    "mr_sag_t1_hfp_dcmqa_decubitus",
    "ct_abdomen_tcia_pancreas",
    "enhanced_mr_dcmqa_enh",
    "dicom2nifti_cases",
    "pylibjpeg_ct_codecs",
    "transfer_syntax_dcmqa_ts",
    "pydicom_data_store",
]


def _identity(folder: Path) -> set[str]:
    """Names, IDs and UIDs of the input (values of six or more characters)."""
    values: set[str] = set()
    for path in folder.rglob("*"):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:
            continue
        for keyword in (
            "PatientName",
            "PatientID",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "AccessionNumber",
            "InstitutionName",
        ):
            value = str(ds.get(keyword, "") or "").strip()
            if len(value) >= 6 and value.upper() not in PLACEHOLDERS:
                values.add(value)
    return values


# Some test files hold deliberately invalid values, which pydicom warns about when reading.
@pytest.mark.filterwarnings("ignore::UserWarning:pydicom.valuerep")
@pytest.mark.parametrize("name", CASES)
def test_real_series_keep_geometry_and_voxels(name: str, tmp_path: Path) -> None:
    source = shared_data_path(name)
    out = tmp_path / "out"
    report = deidentify_path(source, out, key_file=None, options=DEFAULT_OPTIONS)
    assert not report.failures
    key = read_key(report.key_path)
    original, copied = scan_path(source, workers=1).stacks, scan_path(out, workers=1).stacks

    def frames(stack, uid=lambda text: text) -> frozenset[tuple[str, int | None]]:
        return frozenset((uid(frame.sop_instance_uid), frame.frame_index) for frame in stack.frames)

    # Copies of one image (the same SOP Instance UID, e.g. in several transfer syntaxes) are
    # written once: their stacks become one.
    by_frames = {}
    for stack in original:
        by_frames.setdefault(frames(stack, lambda uid: deidentified_uid(key, uid)), stack)
    assert len(copied) == len(by_frames)
    for after in copied:
        before = by_frames[frames(after)]
        if len(frames(before)) < len(before.frames):
            continue  # it held copies of one image: now one frame each
        assert (before.kind, len(before.frames)) == (after.kind, len(after.frames))
        if before.kind != "volume":
            continue
        first, second = load_stack(before), load_stack(after)
        assert np.array_equal(first.affine, second.affine)
        assert np.array_equal(first.array, second.array)
    forbidden = _identity(source)
    # A file whose kept attributes still hold the name is marked for review, and says where.
    flagged = {
        result.output
        for result in report.files
        if any("still appears in" in reason for reason in result.reasons)
    }
    for relative, data in output_bytes(out).items():
        if relative not in flagged:
            assert leaks(relative.encode() + b"\n" + data, forbidden) == [], relative


def test_dicomdir_tree_is_walked_and_its_index_not_copied(tmp_path: Path) -> None:
    tree = shared_data_path("pydicom_test_files/dicomdirtests")
    out = tmp_path / "out"
    report = deidentify_path(tree / "DICOMDIR", out, key_file=None, options=DEFAULT_OPTIONS)
    indexes = [item for item in report.files if "DICOMDIR index" in " ".join(item.reasons)]
    assert any(item.source == "DICOMDIR" for item in indexes)
    assert all(not item.output and not item.failed for item in indexes)
    images = [item for item in report.files if item.output]
    assert len(images) > 10
    written = sorted(path for path in out.rglob("*.dcm"))
    assert len(written) == len(images)
    assert all(pydicom.dcmread(path).PatientIdentityRemoved == "YES" for path in written)
    assert not [path for path in out.rglob("*") if "DICOMDIR" in path.name.upper()]
