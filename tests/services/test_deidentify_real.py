"""De-identifying real scans: the same stacks, affines and voxels; no original identity left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.services.deid_cases import leaks, output_bytes
from tests.support.shared_data import shared_data_path
from workstation.io.deid.options import DEFAULT_OPTIONS
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.scan import scan_path
from workstation.services.deidentify import deidentify_path

#: Values some inputs already hold instead of an identity (not PHI).
PLACEHOLDERS = {"REMOVED", "ANONYMOUS", "ANONYMIZED"}
CASES = ["ct_head_slicer_64px", "ct_head_ge_gantry_tilt_dcmqa", "mr_sag_t1_hfp_dcmqa_decubitus"]


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


@pytest.mark.parametrize("name", CASES)
def test_real_series_keep_geometry_and_voxels(name: str, tmp_path: Path) -> None:
    source = shared_data_path(name)
    out = tmp_path / "out"
    report = deidentify_path(source, out, key_file=None, options=DEFAULT_OPTIONS)
    assert not report.failures
    original, copied = scan_path(source, workers=1).stacks, scan_path(out, workers=1).stacks
    assert len(original) == len(copied)
    key = lambda stack: (stack.identity.series_number, len(stack.frames), stack.kind)  # noqa: E731
    for before, after in zip(sorted(original, key=key), sorted(copied, key=key), strict=True):
        if before.kind != "volume":
            continue
        first, second = load_stack(before), load_stack(after)
        assert np.array_equal(first.affine, second.affine)
        assert np.array_equal(first.array, second.array)
    forbidden = _identity(source)
    for relative, data in output_bytes(out).items():
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
