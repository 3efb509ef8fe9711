"""The header-only write with the original Pixel Data bytes equals the full re-encoding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from tests.support.dicom_factory import write_series
from tests.support.shared_data import shared_data_path
from workstation.io.deid.keys import new_key
from workstation.io.deid.options import DEFAULT_OPTIONS
from workstation.services import deid_files
from workstation.services.deid_files import FileJob, deidentify_file


def _outputs(files: list[Path], out: Path, key) -> dict[str, tuple[str, bytes]]:
    """Each input's (output name, output bytes), read from its staged temporary file."""
    result = {}
    for path in files:
        outcome = deidentify_file(FileJob(str(path), key, DEFAULT_OPTIONS, str(out)))
        data = Path(outcome.temporary).read_bytes() if outcome.temporary else b""
        if outcome.temporary:
            Path(outcome.temporary).unlink()
        result[str(path)] = (outcome.name, outcome.reasons, outcome.skip_reason, data)
    return result


def _compare(files: list[Path], tmp_path: Path, monkeypatch) -> int:
    """Outputs of the fast and the full path are identical; how many took the fast path."""
    key = new_key()
    taken = []
    real = deid_files._parse_header

    def counting(data: bytes):
        found = real(data)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(deid_files, "_parse_header", counting)
    fast = _outputs(files, tmp_path / "fast", key)
    monkeypatch.setattr(deid_files, "_parse_header", lambda data: None)
    full = _outputs(files, tmp_path / "full", key)
    for location, produced in fast.items():
        assert produced == full[location], location
    return sum(taken)


@pytest.mark.parametrize(
    ("syntax", "fast_expected"),
    [(ExplicitVRLittleEndian, True), (ImplicitVRLittleEndian, True), (ExplicitVRBigEndian, False)],
)
def test_fast_path_output_is_byte_identical(tmp_path: Path, monkeypatch, syntax, fast_expected):
    stored = np.random.default_rng(1).integers(-1000, 2000, size=(3, 12, 10), dtype=np.int16)
    files = write_series(tmp_path / "in", stored, transfer_syntax=syntax)
    taken = _compare(files, tmp_path, monkeypatch)
    assert taken == (len(files) if fast_expected else 0)
    ds = pydicom.dcmread(_first_output(files[0], tmp_path))
    original = pydicom.dcmread(files[0])
    assert np.array_equal(ds.pixel_array, original.pixel_array)
    assert str(ds.PatientID) != str(original.PatientID)
    assert ds.SOPInstanceUID != original.SOPInstanceUID


def _first_output(path: Path, tmp_path: Path) -> Path:
    outcome = deidentify_file(FileJob(str(path), new_key(), DEFAULT_OPTIONS, str(tmp_path / "o")))
    target = tmp_path / "o" / outcome.name
    Path(outcome.temporary).replace(target)
    return target


def test_elements_after_pixel_data_take_the_full_path(tmp_path: Path, monkeypatch) -> None:
    stored = np.arange(2 * 6 * 4, dtype=np.int16).reshape(2, 6, 4)
    files = write_series(tmp_path / "in", stored)
    ds = pydicom.dcmread(files[0])
    ds.add_new(0xFFFAFFFA, "SQ", [])  # Digital Signatures Sequence after the pixels
    ds.add_new(0x7FE10010, "OB", b"\1\2")  # a private element after the pixels
    ds.save_as(files[0], enforce_file_format=True)
    assert deid_files._parse_header(files[0].read_bytes()) is None
    assert deid_files._parse_header(files[1].read_bytes()) is not None
    assert _compare(files, tmp_path, monkeypatch) == 1


def test_truncated_pixel_data_takes_the_full_path(tmp_path: Path) -> None:
    stored = np.arange(2 * 6 * 4, dtype=np.int16).reshape(2, 6, 4)
    files = write_series(tmp_path / "in", stored)
    data = files[0].read_bytes()
    assert deid_files._parse_header(data) is not None
    assert deid_files._parse_header(data[:-2]) is None


# The shared collection holds a file with a deliberately invalid UID.
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_fast_path_matches_on_the_shared_collection(tmp_path: Path, monkeypatch) -> None:
    root = shared_data_path()
    files = sorted(path for path in root.rglob("*") if path.is_file() and path.suffix != ".json")
    files = [path for path in files if path.suffix not in {".nii", ".gz", ".md", ".txt", ".bval"}]
    taken = _compare(files[::5], tmp_path, monkeypatch)
    assert taken > 20
