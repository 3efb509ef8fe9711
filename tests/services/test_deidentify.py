"""De-identifying a folder: geometry and voxels survive, no PHI survives, runs repeat exactly."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.services.deid_cases import leaks, output_bytes, write_case
from workstation.core.user_dirs import audit_log_file
from workstation.io.deid.options import DEFAULT_OPTIONS
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.scan import scan_path
from workstation.services.deid_report import REPORT_NAME
from workstation.services.deidentify import MARKER_NAME, default_key_path, deidentify_path


def _run(source: Path, output: Path, key: Path | None = None, options=DEFAULT_OPTIONS):
    return deidentify_path(source, output, key_file=key, options=frozenset(options))


@pytest.fixture
def case(tmp_path: Path):
    return write_case(tmp_path / "in")


def _by_series(folder: Path) -> dict[int, object]:
    stacks = scan_path(folder, workers=1).stacks
    return {int(stack.identity.series_number): stack for stack in stacks}


def _headers(folder: Path) -> dict[tuple[int, int], pydicom.Dataset]:
    found = {}
    for path in folder.rglob("*"):
        if path.suffix in (".txt", ".json") or not path.is_file():
            continue
        ds = pydicom.dcmread(path)
        found[(int(ds.SeriesNumber), int(ds.InstanceNumber))] = ds
    return found


def test_output_loads_to_the_same_geometry_and_voxels(case, tmp_path: Path) -> None:
    before = case.hashes()
    out = tmp_path / "out"
    report = _run(case.root, out)
    assert case.hashes() == before  # the input is never changed
    assert report.count("done") == len(case.files)
    assert report.studies == 3 and report.series == 3
    skipped = [item for item in report.files if item.status == "skipped"]
    assert [item.source for item in skipped] == ["Janette_Doeish/notes.txt"]
    original, copied = _by_series(case.root), _by_series(out)
    assert sorted(original) == sorted(copied) == [2, 3, 4]
    for number, stack in original.items():
        source_volume, output_volume = load_stack(stack), load_stack(copied[number])
        assert np.array_equal(source_volume.affine, output_volume.affine)
        assert np.array_equal(source_volume.array, output_volume.array)
    tilted = load_stack(copied[4]).affine
    assert abs(np.dot(tilted[:3, 0], tilted[:3, 1])) > 0.1  # the tilt stayed a sheared grid
    inputs, outputs = _headers(case.root), _headers(out)
    assert inputs.keys() == outputs.keys()
    for where, ds in inputs.items():
        assert outputs[where].PixelData == ds.PixelData
        assert outputs[where].PatientIdentityRemoved == "YES"


def test_no_input_phi_uid_or_name_in_any_output_byte_or_path(case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(case.root, out)
    names = {"Janette_Doeish", "Bobbert_Smithly", "study1", "oblique", "notes", "IM0003"}
    dates = {"20260105", "20260305"}
    forbidden = case.phi | case.uids | names | dates
    files = output_bytes(out)
    assert any(name.endswith(".dcm") for name in files)
    assert MARKER_NAME in files and REPORT_NAME in files
    for name, data in files.items():
        assert leaks(name.encode(), forbidden) == [], name
        assert leaks(data, forbidden) == [], name
    public = json.loads(files[REPORT_NAME])
    assert "source" not in json.dumps(public)
    assert len(public["files"]) == len(case.files)


def test_same_key_gives_byte_identical_files(case, tmp_path: Path) -> None:
    first = _run(case.root, tmp_path / "a")
    key = Path(first.key_path)
    assert key == default_key_path(tmp_path / "a") and key.exists() and first.key_created
    _run(case.root, tmp_path / "b", key=key)
    one, two = output_bytes(tmp_path / "a"), output_bytes(tmp_path / "b")
    dicom = sorted(name for name in one if name.endswith(".dcm"))
    assert dicom == sorted(name for name in two if name.endswith(".dcm"))
    assert all(one[name] == two[name] for name in dicom)
    third = _run(case.root, tmp_path / "c")  # a new key: other pseudonyms and names
    assert third.key_id != first.key_id
    assert not set(dicom) & set(output_bytes(tmp_path / "c"))


def _study_dates(folder: Path) -> dict[str, set[str]]:
    dates: dict[str, set[str]] = {}
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        dates.setdefault(str(ds.PatientID), set()).add(str(ds.StudyDate))
    return dates


def _day(text: str) -> date:
    return date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def test_dates_shift_by_one_offset_per_patient(case, tmp_path: Path) -> None:
    _run(case.root, tmp_path / "out")
    dates = _study_dates(tmp_path / "out")
    assert len(dates) == 2
    two = [sorted(values) for values in dates.values() if len(values) == 2]
    one = [sorted(values) for values in dates.values() if len(values) == 1]
    assert len(two) == 1 and len(one) == 1
    first, second = (_day(text) for text in two[0])
    assert (second - first).days == (date(2026, 3, 5) - date(2026, 1, 5)).days
    offset_a = (first - date(2026, 1, 5)).days
    offset_b = (_day(one[0][0]) - date(2026, 1, 5)).days
    assert offset_a < 0 and offset_b < 0 and offset_a != offset_b


def test_zip_input_and_second_run_into_the_same_folder(case, tmp_path: Path) -> None:
    archive = tmp_path / "case.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in case.files:
            handle.write(path, str(path.relative_to(case.root)))
    out = tmp_path / "out"
    report = _run(archive, out)
    assert report.count("done") == len(case.files)
    assert report.files[0].source.startswith("case.zip::")
    again = _run(archive, out)  # earlier output with the same key: allowed, same files
    assert not again.key_created
    assert any("reused" in note for note in again.notes)
    assert len(list(out.rglob("*.dcm"))) == len(case.files)


def test_audit_names_original_and_new_studies(case, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _run(case.root, out)
    log = audit_log_file().read_text(encoding="utf-8")
    originals = {str(pydicom.dcmread(path).StudyInstanceUID) for path in case.files}
    new = {str(pydicom.dcmread(path).StudyInstanceUID) for path in out.rglob("*.dcm")}
    assert len(originals) == len(new) == 3 and not originals & new
    assert all(uid in log for uid in originals | new)
    assert "deidentify" in log and "key-change" in log
    assert all(value not in log for value in case.phi)
