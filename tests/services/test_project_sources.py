"""Opening a project against its sources: moved, renamed, changed, missing and embedded files."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.services.project_cases import VIEW, build_case, open_session, write_ct
from workstation.core.errors import ProjectError
from workstation.services.project import (
    contents_from_session,
    open_project,
    read_project,
    save_project,
)
from workstation.services.project_sources import SourcesNotFound


@pytest.fixture()
def case(tmp_path, monkeypatch):
    """A fresh series and project per test (the tests move and change the files)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    paths, array, _ = write_ct(tmp_path / "dicom")
    session = build_case(open_session(tmp_path / "dicom"))
    path = save_project(tmp_path / "case.wsproj", contents_from_session(session, VIEW))
    masks = [segment.mask.copy() for segment in session.editor.segmentation]
    return {"tmp": tmp_path, "paths": paths, "array": array, "path": path, "masks": masks}


def _same_voxels(opened, case) -> None:
    assert np.array_equal(opened.volume.array, case["array"])
    for segment, mask in zip(opened.editor.segmentation, case["masks"], strict=True):
        assert np.array_equal(segment.mask, mask)


def test_a_moved_folder_is_asked_for_then_found_with_source(case):
    moved = case["tmp"] / "elsewhere"
    (case["tmp"] / "dicom").rename(moved)
    with pytest.raises(SourcesNotFound) as raised:
        open_project(case["path"])
    error = raised.value
    assert error.recorded_folder == str(case["tmp"] / "dicom")
    assert sorted(error.names_missing) == sorted(p.name for p in case["paths"])
    assert "--source" in str(error) and "\n" not in str(error)
    opened = open_project(case["path"], source=str(moved))
    assert opened.source_root == str(moved) and opened.check.ok and not opened.read_only
    _same_voxels(opened, case)
    assert opened.series.folder == str(moved)


def test_renamed_files_are_found_by_their_sop_instance_uids(case):
    folder = case["tmp"] / "dicom"
    for number, path in enumerate(reversed(case["paths"])):
        path.rename(folder / f"renamed_{number:03d}.dcm")
    opened = open_project(case["path"])
    assert opened.check.ok and not opened.read_only
    _same_voxels(opened, case)
    names = sorted(item.name for item in opened.series.files)
    assert names == sorted(f"renamed_{n:03d}.dcm" for n in range(len(case["paths"])))


def test_a_changed_file_opens_read_only_naming_it(case):
    target = case["paths"][5]
    data = bytearray(target.read_bytes())
    data[-2] ^= 0x01  # one pixel's low byte: the file still reads
    target.write_bytes(bytes(data))
    opened = open_project(case["path"])
    assert opened.read_only and opened.check.changed == [target.name]
    assert any(target.name in warning and "read-only" in warning for warning in opened.warnings)


def test_a_missing_file_is_refused_naming_it(case):
    gone = case["paths"][3]
    gone.unlink()
    with pytest.raises(ProjectError) as raised:
        open_project(case["path"])
    assert gone.name in str(raised.value) and "missing" in str(raised.value)
    assert raised.value.names_missing == [gone.name]


def test_embedded_sources_open_when_the_folder_is_gone(case):
    contents = read_project(case["path"])
    embedded = save_project(case["tmp"] / "sent.wsproj", contents, embed_sources=True)
    manifest = read_project(embedded).manifest
    assert manifest["embedded_sources"][0]["members"]
    shutil.rmtree(case["tmp"] / "dicom")
    opened = open_project(embedded)
    assert opened.check.ok and not opened.read_only
    cache = case["tmp"] / "cache" / "surgical-planning-workstation" / "embedded"
    assert opened.source_root == str(cache / manifest["manifest_sha256"])
    assert any("embedded" in warning for warning in opened.warnings)
    _same_voxels(opened, case)
    with pytest.raises(SourcesNotFound):
        open_project(case["path"])  # the project without the copy has nowhere to look


def test_a_changed_folder_gives_way_to_an_intact_embedded_copy(case):
    contents = read_project(case["path"])
    embedded = save_project(case["tmp"] / "sent.wsproj", contents, embed_sources=True)
    target = case["paths"][0]
    data = bytearray(target.read_bytes())
    data[-2] ^= 0x01
    target.write_bytes(bytes(data))
    opened = open_project(embedded)
    assert not opened.read_only and opened.check.ok
    assert any(target.name in warning for warning in opened.warnings)
    _same_voxels(opened, case)


def test_embedding_refuses_a_file_that_changed_since_it_was_hashed(case):
    contents = read_project(case["path"])
    case["paths"][2].write_bytes(case["paths"][2].read_bytes() + b"\0")
    with pytest.raises(ProjectError, match=case["paths"][2].name):
        save_project(case["tmp"] / "sent.wsproj", contents, embed_sources=True)
    assert not (case["tmp"] / "sent.wsproj").exists()


def test_other_images_under_the_same_names_are_not_taken(case):
    shutil.rmtree(case["tmp"] / "dicom")
    other = case["tmp"] / "other"
    write_ct(other)  # the same names and voxels, other UIDs
    with pytest.raises(SourcesNotFound, match="not in"):
        open_project(case["path"], source=str(other))
