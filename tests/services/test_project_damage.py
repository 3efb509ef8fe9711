"""Damaged, foreign, hostile and other-version project files: one clear line, bounded work."""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from workstation.core.errors import ProjectError
from workstation.core.mesh import Mesh
from workstation.core.segmentation import Segmentation
from workstation.io import project_archive
from workstation.io.source_files import SourceFile, SourceSeries
from workstation.services import project_migrations, project_reading
from workstation.services.project import ProjectContents, SavedModel, read_project, save_project

AFFINE = np.array([[1.5, 0, 0, 10.0], [0, 0.75, 0.1, -20.0], [0, 0, 0.75, 30.0], [0, 0, 0, 1]])


def _contents() -> ProjectContents:
    segmentation = Segmentation((6, 8, 10), AFFINE, "1.2.3.4")
    mask = np.zeros((6, 8, 10), bool)
    mask[1:4, 2:6, 3:9] = True
    segmentation.add("Bone", (0.9, 0.8, 0.6), mask)
    mesh = Mesh(np.random.default_rng(1).normal(size=(8, 3)), [[0, 1, 2], [2, 3, 4], [5, 6, 7]])
    model = SavedModel("model-1", "Bone", (0.9, 0.8, 0.6), 1.0, True, None, {}, {}, mesh)
    series = SourceSeries(
        "1.2", "1.2.3", "1.2.3", "1.2.3.4", "/nowhere", ("9.1",), (SourceFile("a", "0" * 64, 1),)
    )
    return ProjectContents([series], segmentation, [], [model], view={"layout": "four"})


@pytest.fixture()
def saved(tmp_path) -> Path:
    return save_project(tmp_path / "case.wsproj", _contents())


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rebuild(path: Path, target: Path, members: dict[str, bytes], rehash: bool = False) -> Path:
    """Write ``members`` as a zip; ``rehash`` makes the manifest's hashes match them."""
    if rehash:
        manifest = json.loads(members["manifest.json"])
        manifest["members"] = {
            name: {"sha256": project_archive.sha256_hex(data), "size": len(data)}
            for name, data in members.items()
            if name != "manifest.json"
        }
        members = {**members, "manifest.json": json.dumps(manifest).encode()}
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _one_line(error: pytest.ExceptionInfo) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


def test_a_truncated_project_is_refused(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        short = tmp_path / "short.wsproj"
        short.write_bytes(data[:cut])
        with pytest.raises(ProjectError) as error:
            read_project(short)
        assert _one_line(error).startswith("short.wsproj is not a workstation project")


@pytest.mark.parametrize("member", ["models/model-1.ply", "view.json", "segmentation.seg.nrrd"])
def test_a_changed_member_is_named(saved, tmp_path, member):
    members = _members(saved)
    changed = bytearray(members[member])
    changed[len(changed) // 2] ^= 0x20
    broken = _rebuild(saved, tmp_path / "broken.wsproj", {**members, member: bytes(changed)})
    with pytest.raises(ProjectError) as error:
        read_project(broken)
    assert _one_line(error) == (
        f"broken.wsproj is damaged: the member {member} does not match its SHA-256"
    )


def test_files_that_are_not_projects(tmp_path):
    junk = tmp_path / "junk.wsproj"
    junk.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with pytest.raises(ProjectError, match="not a workstation project"):
        read_project(junk)
    plain = tmp_path / "plain.wsproj"
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ProjectError, match=r"has no manifest\.json"):
        read_project(plain)
    foreign = _rebuild(plain, tmp_path / "foreign.wsproj", {"manifest.json": b'{"a": 1}'})
    with pytest.raises(ProjectError, match="not a project manifest"):
        read_project(foreign)


def test_a_path_traversal_name_is_refused(saved, tmp_path):
    members = {**_members(saved), "../../evil.sh": b"rm -rf /"}
    hostile = _rebuild(saved, tmp_path / "hostile.wsproj", members)
    with pytest.raises(ProjectError, match=re.escape("unsafe name '../../evil.sh'")):
        read_project(hostile)
    assert not (tmp_path.parent / "evil.sh").exists()


def test_a_zip_bomb_member_is_refused_before_inflating(saved, tmp_path):
    bomb = b" " * (64 << 20)  # inflates ~1000 times: refused from the sizes alone
    members = {**_members(saved), "view.json": bomb}
    hostile = _rebuild(saved, tmp_path / "bomb.wsproj", members, rehash=True)
    with pytest.raises(ProjectError, match="zip bomb"):
        read_project(hostile)


def test_a_voxel_stream_longer_than_its_header_says_stops_there(saved, tmp_path):
    members = _members(saved)
    data = members["segmentation.seg.nrrd"]
    header = data[: data.index(b"\n\n") + 2]
    body = zlib.compressobj(1, zlib.DEFLATED, 31)
    stream = body.compress(b"\0" * (1 << 26)) + body.flush()  # 64 MiB for a 480-voxel grid
    members["segmentation.seg.nrrd"] = header + stream
    hostile = _rebuild(saved, tmp_path / "gz.wsproj", members, rehash=True)
    with pytest.raises(ProjectError, match="holds more than the 480 bytes"):
        read_project(hostile)


def test_too_many_members_are_refused_before_parsing(saved, monkeypatch):
    monkeypatch.setattr(project_archive, "MAX_MEMBERS", 3)
    with pytest.raises(ProjectError, match="lists 10 members"):
        read_project(saved)


def test_a_member_over_its_limit_is_refused(saved, monkeypatch):
    monkeypatch.setattr(project_reading, "MAX_BINARY", 100)
    with pytest.raises(ProjectError, match=r"seg.nrrd is too large \(\d+ bytes; at most 100 bytes"):
        read_project(saved)


def test_a_newer_project_gives_one_line_naming_its_format(saved, tmp_path):
    members = _members(saved)
    manifest = json.loads(members["manifest.json"])
    manifest["schema_version"] = 3
    newer = _rebuild(
        saved, tmp_path / "CASE.wsproj", {**members, "manifest.json": json.dumps(manifest).encode()}
    )
    with pytest.raises(ProjectError) as error:
        read_project(newer)
    assert _one_line(error) == (
        "CASE.wsproj was saved by a newer workstation (project format 3; this one reads up "
        "to 1): update the workstation to open it."
    )


def _format_zero(saved: Path, target: Path) -> Path:
    """The project as a (made-up) format 0 that called view.json "state.json"."""
    members = _members(saved)
    manifest = json.loads(members["manifest.json"])
    manifest["schema_version"] = 0
    manifest["members"]["state.json"] = manifest["members"].pop("view.json")
    manifest.pop("software")
    members["state.json"] = members.pop("view.json")
    members["manifest.json"] = json.dumps(manifest).encode()
    return _rebuild(saved, target, members)


def test_an_older_project_is_migrated_through_the_chain(saved, tmp_path, monkeypatch):
    old = _format_zero(saved, tmp_path / "old.wsproj")
    with pytest.raises(ProjectError, match="project format 0, which this workstation cannot"):
        read_project(old)
    seen = []

    def zero_to_one(document):
        seen.append(document["manifest"]["schema_version"])
        document["members"]["view.json"] = document["members"].pop("state.json")
        document["manifest"]["software"] = "surgical planning workstation (migrated)"
        return document

    monkeypatch.setitem(project_migrations.MIGRATIONS, 0, zero_to_one)
    contents = read_project(old)
    assert seen == [0]
    assert contents.view == {"layout": "four"}
    assert contents.manifest["schema_version"] == 1
    assert contents.manifest["software"].endswith("(migrated)")
    expected = _contents().segmentation.segments[0].mask
    assert np.array_equal(contents.segmentation.segments[0].mask, expected)


def _declare_size(path: Path, member: str, size: int) -> None:
    """Make the zip claim ``member`` inflates to ``size`` bytes (local and central headers)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(member).header_offset
    data[offset + 22 : offset + 26] = size.to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(member)] != member.encode():
        central = data.index(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_a_member_that_lies_about_its_size_inflates_no_further(saved, tmp_path):
    import tracemalloc

    members = {**_members(saved), "view.json": b" " * (32 << 20)}
    hostile = _rebuild(saved, tmp_path / "liar.wsproj", members, rehash=True)
    _declare_size(hostile, "view.json", 2)
    tracemalloc.start()
    try:
        with pytest.raises(ProjectError, match=r"view\.json"):
            read_project(hostile)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20  # the 32 MiB it really holds were never inflated
