"""Source files of a volume: names, SHA-256, and the check that names missing or changed files."""

from __future__ import annotations

import hashlib
import shutil
import zipfile

import numpy as np
import pytest

from tests.support.dicom_factory import write_series
from workstation.core.errors import Cancelled
from workstation.core.progress import CancelToken
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.scan import scan_path
from workstation.io.source_files import (
    SourceSeries,
    check_sources,
    describe_sources,
    hash_locations,
    location_in,
    relative_name,
)
from workstation.services.session import Session


def _series(folder, slices=4):
    stored = np.arange(slices * 6 * 5, dtype=np.int16).reshape(slices, 6, 5)
    return write_series(folder / "sub", stored, series_uid="1.2.3.4", frame_uid="1.2.3.9")


def _described(root):
    scan = scan_path(str(root))
    stack = scan.stacks[0]
    volume = load_stack(stack)
    return stack, volume, describe_sources(stack, volume, str(root))


def test_record_names_every_file_with_its_sha256(tmp_path):
    files = _series(tmp_path)
    _, volume, record = _described(tmp_path)
    expected = {f"sub/{path.name}": hashlib.sha256(path.read_bytes()).hexdigest() for path in files}
    assert {item.name: item.sha256 for item in record.files} == expected
    assert all(item.size == (tmp_path / item.name).stat().st_size for item in record.files)
    assert record.series_uid == "1.2.3.4" and record.frame_of_reference_uid == "1.2.3.9"
    assert record.sop_instance_uids == volume.source.sop_instance_uids
    assert record.folder == str(tmp_path.absolute())
    assert SourceSeries.from_dict(record.to_dict()) == record
    assert check_sources(record).ok


def test_check_names_changed_and_missing_files(tmp_path):
    files = _series(tmp_path)
    _, _, record = _described(tmp_path)
    data = bytearray(files[1].read_bytes())
    data[-1] ^= 0xFF
    files[1].write_bytes(bytes(data))
    files[2].unlink()
    check = check_sources(record)
    assert check.changed == [f"sub/{files[1].name}"]
    assert check.missing == [f"sub/{files[2].name}"]
    assert not check.ok
    assert files[1].name in check.message() and files[2].name in check.message()


def test_moved_folder_is_checked_where_the_user_points(tmp_path):
    _series(tmp_path / "old")
    _, _, record = _described(tmp_path / "old")
    shutil.move(tmp_path / "old", tmp_path / "new")
    assert len(check_sources(record).missing) == len(record.files)
    assert check_sources(record, str(tmp_path / "new")).ok


def test_files_inside_a_zip_are_named_by_member(tmp_path):
    files = _series(tmp_path / "plain")
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in files:
            bundle.write(path, f"dicom/{path.name}")
    _, _, record = _described(archive)
    assert sorted(item.name for item in record.files) == sorted(f"dicom/{p.name}" for p in files)
    assert check_sources(record).ok
    assert location_in(str(archive), "dicom/a.dcm") == f"{archive}::dicom/a.dcm"


def test_single_file_root_names_the_file(tmp_path):
    path = tmp_path / "one.dcm"
    path.write_bytes(b"x")
    assert relative_name(str(path), str(path)) == "one.dcm"
    assert location_in(str(path), "one.dcm") == str(path)


def test_unreadable_location_hashes_to_none_and_cancel_stops(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    result = hash_locations([str(path), str(tmp_path / "gone.bin")])
    assert result[str(path)] == (hashlib.sha256(b"abc").hexdigest(), 3)
    assert result[str(tmp_path / "gone.bin")] is None
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        hash_locations([str(path)], cancel=token)


def test_session_hashes_once_and_forgets_with_a_new_volume(tmp_path):
    _series(tmp_path)
    scan = scan_path(str(tmp_path))
    session = Session()
    session.set_scan(scan, str(tmp_path))
    session.set_volume(load_stack(scan.stacks[0]), scan.stacks[0])
    first = session.ensure_sources()
    assert first is not None and session.ensure_sources() is first
    session.set_volume(load_stack(scan.stacks[0]), scan.stacks[0])
    assert session.sources is None
