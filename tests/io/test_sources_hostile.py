"""Hostile and broken input: every case ends in a clean result, never a hang or a blow-up.

Names with ``::``, zip bombs, lying zip directories, traversal names, pipes, devices,
symlink loops and unlistable folders, through ``scan_path`` and through the CLI.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import threading
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tests.support.cli import run_workstation
from tests.support.dicom_factory import write_series
from workstation.core.errors import DicomReadError
from workstation.io import zip_archive, zip_member
from workstation.io.dicom.detect import read_head
from workstation.io.dicom.load import load_stack
from workstation.io.dicom.scan import PARALLEL_MIN_FILES, scan_path
from workstation.io.sources import (
    display_name,
    is_zip_location,
    iter_locations,
    open_binary,
    split_zip_location,
)

GIB = 1 << 30


def _volume(slices: int = 4) -> np.ndarray:
    return np.arange(slices * 8 * 8, dtype=np.int16).reshape(slices, 8, 8)


def _zip_series(archive: Path, paths: list[Path], prefix: str = "DICOM/", **options) -> Path:
    with zipfile.ZipFile(archive, "w", **options) as handle:
        for path in paths:
            handle.write(path, f"{prefix}{path.name}")
    return archive


def _reasons(scan) -> dict[str, str]:
    return {Path(item.path).name: item.reason for item in scan.skipped}


# ------------------------------------------------------------- crafted (lying) zips


@dataclass
class Entry:
    """One member of a hand-made zip; sizes and CRC are whatever the test declares."""

    name: str
    payload: bytes
    file_size: int
    method: int = zipfile.ZIP_DEFLATED
    crc: int = 0
    compress_size: int | None = None
    flags: int = 0
    header_offset: int | None = None


def _deflate(data: bytes) -> bytes:
    engine = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return engine.compress(data) + engine.flush()


def _honest(name: str, data: bytes, method: int = zipfile.ZIP_DEFLATED) -> Entry:
    payload = _deflate(data) if method == zipfile.ZIP_DEFLATED else data
    return Entry(name, payload, len(data), method, zlib.crc32(data))


def _write_zip(path: Path, entries: list[Entry]) -> Path:
    """A zip written byte by byte, so its directory can claim anything (zip64 when needed)."""
    body, central = bytearray(), bytearray()
    for entry in entries:
        offset = len(body)
        name = entry.name.encode()
        compress_size = len(entry.payload) if entry.compress_size is None else entry.compress_size
        big = entry.file_size >= 0xFFFFFFFF or compress_size >= 0xFFFFFFFF
        extra = struct.pack("<HHQQ", 1, 16, entry.file_size, compress_size) if big else b""
        sizes = (0xFFFFFFFF, 0xFFFFFFFF) if big else (compress_size, entry.file_size)
        version = 45 if big else 20
        fields = (entry.flags, entry.method, 0, 0x21, entry.crc, *sizes, len(name), len(extra))
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", version, *fields) + name + extra
        body += entry.payload
        where = offset if entry.header_offset is None else entry.header_offset
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", version, version, *fields, 0, 0, 0, 0, where
        )
        central += name + extra
    count = len(entries)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    path.write_bytes(bytes(body + central + end))
    return path


def _dicom_bytes(tmp_path: Path) -> bytes:
    return write_series(tmp_path / "one", _volume(1))[0].read_bytes()


# ------------------------------------------------------------------- "::" in names


def test_double_colon_in_file_and_folder_names_is_not_a_zip(tmp_path: Path) -> None:
    folder = tmp_path / "patient::study"
    names = [f"IM::{index}" for index in range(4)]
    paths = write_series(folder, _volume(), file_names=names)
    assert not any(is_zip_location(str(path)) for path in paths)
    assert display_name(str(paths[0])) == "IM::0"
    with open_binary(str(paths[0])) as handle:
        assert handle.read() == paths[0].read_bytes()
    scan = scan_path(folder, workers=1)
    [stack] = scan.stacks
    assert stack.n_files == 4 and not scan.skipped
    volume = load_stack(stack)
    assert np.array_equal(volume.array, _volume())


def test_zip_whose_name_and_folder_contain_double_colons(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "series", _volume())
    folder = tmp_path / "a::b"
    folder.mkdir()
    archive = _zip_series(folder / "x::y.zip", paths, prefix="in::side/")
    location = f"{archive}::in::side/{paths[0].name}"
    assert is_zip_location(location)
    assert split_zip_location(location) == (str(archive), f"in::side/{paths[0].name}")
    assert display_name(location) == f"x::y.zip/in::side/{paths[0].name}"
    scan = scan_path(tmp_path / "a::b", workers=1)
    [stack] = scan.stacks
    assert all(frame.location.startswith(f"{archive}::in::side/") for frame in stack.frames)
    assert np.array_equal(load_stack(stack).array, _volume())
    with pytest.raises(ValueError, match="not a member of a zip archive"):
        split_zip_location(str(paths[0]))


def test_existing_file_wins_over_a_zip_reading(tmp_path: Path) -> None:
    paths = write_series(tmp_path, _volume(1))
    archive = _zip_series(tmp_path / "s.zip", paths, prefix="")
    sibling = Path(f"{archive}::notes")
    sibling.write_text("a plain file next to the zip")
    assert not is_zip_location(str(sibling))
    assert is_zip_location(f"{archive}::{paths[0].name}")
    assert not is_zip_location(f"{tmp_path}::{paths[0].name}")  # a folder is not a zip


# ---------------------------------------------------------------- zip bombs, limits


def test_member_declaring_six_gib_is_refused_before_inflating(tmp_path: Path) -> None:
    archive = _write_zip(
        tmp_path / "bomb.zip", [Entry("bomb.dcm", _deflate(bytes(1 << 20)), 6 * GIB)]
    )
    with pytest.raises(OSError, match=r"member bomb\.dcm is 6 GiB uncompressed \(limit 1 GiB"):
        open_binary(f"{archive}::bomb.dcm")


def test_absurd_compression_ratio_is_refused(tmp_path: Path) -> None:
    size = 900 << 20  # under the size limit, but 900 MiB from about 1 KiB
    archive = _write_zip(tmp_path / "ratio.zip", [Entry("r.dcm", _deflate(bytes(1 << 20)), size)])
    with pytest.raises(OSError, match=r"would inflate .* times .*likely zip bomb"):
        open_binary(f"{archive}::r.dcm")


def test_member_inflating_beyond_its_declared_size_is_damaged(tmp_path: Path) -> None:
    data = bytes(1 << 20)
    archive = _write_zip(tmp_path / "liar.zip", [Entry("m", _deflate(data), 1000)])
    with open_binary(f"{archive}::m") as handle:
        with pytest.raises(OSError, match="inflates beyond its declared 1000 bytes"):
            handle.read()  # reaching the declared end checks there is no more
        assert handle.raw.inflated == 1000  # never more than declared
        handle.raw.seek(0)
        assert handle.raw.read(999) == data[:999]
        with pytest.raises(OSError, match="inflates beyond"):
            handle.raw.read()  # and says so again


def test_bzip2_member_lying_about_its_size_stays_small(tmp_path: Path) -> None:
    """bzip2 inflates over 1,000,000 to 1: zipfile would allocate it all in one call."""
    import bz2
    import tracemalloc

    payload = bz2.compress(bytes(64 << 20), 9)  # 64 MiB of zeros in about 100 bytes
    entry = Entry("m", payload, 4096, zipfile.ZIP_BZIP2)
    archive = _write_zip(tmp_path / "bz.zip", [entry])
    tracemalloc.start()
    try:
        with open_binary(f"{archive}::m") as handle, pytest.raises(OSError, match="beyond"):
            handle.read()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_member_shorter_than_declared_or_with_bad_crc(tmp_path: Path) -> None:
    data = os.urandom(5000)
    short = Entry("short", _deflate(data), 6000, crc=zlib.crc32(data))
    bad_crc = Entry("crc", _deflate(data), 5000, crc=zlib.crc32(data) ^ 1)
    stored = Entry("stored", data[:100], 100, zipfile.ZIP_STORED, zlib.crc32(data[:100]))
    archive = _write_zip(tmp_path / "lies.zip", [short, bad_crc, stored])
    with open_binary(f"{archive}::short") as handle, pytest.raises(OSError, match="ends after"):
        handle.read()
    with open_binary(f"{archive}::crc") as handle, pytest.raises(OSError, match="CRC"):
        handle.read()
    with open_binary(f"{archive}::stored") as handle:
        assert handle.read() == data[:100]


def test_lying_offsets_encryption_and_odd_methods_are_clear_errors(tmp_path: Path) -> None:
    data = b"x" * 100
    archive = _write_zip(
        tmp_path / "odd.zip",
        [
            _honest("good", data),
            Entry("elsewhere", _deflate(data), 100, header_offset=7),
            Entry("beyond", _deflate(data), 100, compress_size=1 << 24),
            Entry("secret", _deflate(data), 100, flags=0x1),
            Entry("deflate64", _deflate(data), 100, method=9),
        ],
    )
    expected = {
        "elsewhere": "no file header where the directory says",
        "beyond": "runs past the end of the archive",
        "secret": "encrypted",
        "deflate64": "compression method 9, which is not supported",
        "missing": "no member missing in the archive",
    }
    for member, message in expected.items():
        with pytest.raises(OSError, match=message):
            open_binary(f"{archive}::{member}")
    with open_binary(f"{archive}::good") as handle:
        assert handle.read() == data


def test_hostile_directory_fields_never_escape_as_other_errors(tmp_path: Path) -> None:
    good = _write_zip(tmp_path / "good.zip", [_honest("a", b"abc")])
    data = bytearray(good.read_bytes())
    central = data.index(b"PK\x01\x02")
    broken = tmp_path / "broken.zip"
    for offset in range(central + 4, len(data) - 22):
        for value in (0x00, 0xFF):
            mutated = bytearray(data)
            mutated[offset] = value
            broken.write_bytes(bytes(mutated))
            zip_archive.clear_cache()
            try:
                locations = list(iter_locations(broken))
                for location in locations:
                    if is_zip_location(location):
                        with open_binary(location) as handle:
                            handle.read()
            except OSError:
                pass  # a clear, skippable error; anything else fails the test


def test_header_scan_inflates_only_the_head_and_seeks_are_free(tmp_path: Path) -> None:
    big = write_series(tmp_path / "big", np.zeros((1, 1024, 1024), dtype=np.int16))
    archive = _zip_series(tmp_path / "big.zip", big, compression=zipfile.ZIP_DEFLATED)
    location = f"{archive}::DICOM/{big[0].name}"
    original = big[0].read_bytes()
    with open_binary(location) as handle:
        head, size = read_head(handle)
        assert size == len(original) and head == original[: len(head)]
        assert handle.raw.inflated <= zip_member.INFLATE_STEP  # not the 2 MiB of pixels
        handle.seek(-10, os.SEEK_END)
        assert handle.read() == original[-10:]
        handle.seek(5)
        assert handle.read(7) == original[5:12]
        buffer = bytearray(20)
        handle.seek(len(original) - 5)
        assert handle.readinto(buffer) == 5 and bytes(buffer[:5]) == original[-5:]
        assert handle.read() == b""


@pytest.mark.parametrize(
    "method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)
def test_every_zip_method_reads_exactly(tmp_path: Path, method: int) -> None:
    paths = write_series(tmp_path / "s", _volume())
    archive = _zip_series(tmp_path / "s.zip", paths, compression=method)
    scan = scan_path(archive, workers=1)
    [stack] = scan.stacks
    assert np.array_equal(load_stack(stack).array, _volume())
    for path in paths:
        with open_binary(f"{archive}::DICOM/{path.name}") as handle:
            assert handle.read() == path.read_bytes()


# ------------------------------------------------------- traversal names, odd zips


def test_traversal_absolute_and_control_names_read_in_place(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "s", _volume())
    names = ["../../etc/passwd", "/abs/IM1", "line\nbreak", "..\\win\\IM2"]
    files = dict(zip(names, (path.read_bytes() for path in paths), strict=True))
    archive = _write_zip(tmp_path / "evil.zip", [_honest(n, data) for n, data in files.items()])
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    locations = list(iter_locations(archive))
    assert locations == [f"{archive}::{name}" for name in sorted(names)]
    for name, data in files.items():
        with open_binary(f"{archive}::{name}") as handle:
            assert handle.read() == data
    assert display_name(f"{archive}::../../etc/passwd") == "evil.zip/../../etc/passwd"
    assert display_name(f"{archive}::line\nbreak") == "evil.zip/line\\nbreak"
    scan = scan_path(archive, workers=1)
    assert [stack.n_files for stack in scan.stacks] == [4] and not scan.skipped
    assert np.array_equal(load_stack(scan.stacks[0]).array, _volume())
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before  # nothing extracted


def test_duplicate_member_names_are_listed_once(tmp_path: Path) -> None:
    data = _dicom_bytes(tmp_path)
    archive = _write_zip(tmp_path / "dup.zip", [_honest("IM", data), _honest("IM", data)])
    assert list(iter_locations(archive)) == [f"{archive}::IM"]


def test_empty_zip_has_no_files(tmp_path: Path) -> None:
    archive = tmp_path / "empty.zip"
    zipfile.ZipFile(archive, "w").close()
    assert list(iter_locations(archive)) == []
    with pytest.raises(DicomReadError, match="there are no files in it"):
        scan_path(archive, workers=1)


def test_zip_in_a_folder_with_a_bomb_and_a_series(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_series(root / "series", _volume())
    _zip_series(root / "other.zip", write_series(tmp_path / "zipped", _volume(3)))
    _write_zip(root / "bomb.zip", [Entry("bomb.dcm", _deflate(bytes(1 << 20)), 6 * GIB)])
    scan = scan_path(root, workers=1)
    assert sorted(stack.n_files for stack in scan.stacks) == [3, 4]
    [bomb] = scan.skipped
    assert bomb.path == f"{root / 'bomb.zip'}::bomb.dcm"
    assert bomb.reason.startswith("cannot open: member bomb.dcm is 6 GiB uncompressed")


# ------------------------------------------------------- archives kept open, shared


def test_a_zip_directory_is_parsed_once_per_scan(tmp_path: Path, monkeypatch) -> None:
    paths = write_series(tmp_path / "s", _volume(12))
    archive = _zip_series(tmp_path / "s.zip", paths)
    zip_archive.clear_cache()
    parsed = []
    real = zipfile.ZipFile
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: parsed.append(a) or real(*a, **k))
    scan = scan_path(archive, workers=1)
    assert scan.stacks[0].n_files == 12
    assert np.array_equal(load_stack(scan.stacks[0]).array, _volume(12))
    assert len(parsed) == 1  # was one per member (and per frame loaded)
    archive.write_bytes(archive.read_bytes())  # a new version (mtime) is parsed again
    os.utime(archive, ns=(1, 1))
    scan_path(archive, workers=1)
    assert len(parsed) == 2


def test_members_read_from_many_threads_and_forked_workers(tmp_path: Path) -> None:
    paths = write_series(tmp_path / "s", _volume(PARALLEL_MIN_FILES + 4), shuffle=True)
    archive = _zip_series(tmp_path / "s.zip", paths)
    expected = {f"{archive}::DICOM/{path.name}": path.read_bytes() for path in paths}
    zip_archive.clear_cache()
    failures: list[str] = []

    def read_all() -> None:
        for location, data in expected.items():
            with open_binary(location) as handle:
                handle.seek(0, os.SEEK_END)
                handle.seek(0)
                if handle.read() != data:
                    failures.append(location)

    threads = [threading.Thread(target=read_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures
    serial = scan_path(archive, workers=1)
    parallel = scan_path(archive, workers=2)  # forked workers inherit the parsed directory
    assert [s.frames for s in parallel.stacks] == [s.frames for s in serial.stacks]


# ------------------------------------------------------------- hostile filesystems


def test_devices_pipes_and_loops_inside_a_folder(tmp_path: Path) -> None:
    write_series(tmp_path / "series", _volume())
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "random.dcm").symlink_to("/dev/urandom")
    (tmp_path / "zero.zip").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "pipe.zip")  # a zip check that opens it would block forever
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    scan = _scan_in_thread(tmp_path)
    assert [stack.n_files for stack in scan.stacks] == [4]
    reasons = _reasons(scan)
    for name in ("zero", "random.dcm", "zero.zip", "pipe.zip"):
        assert reasons[name] == "not a regular file"
    assert reasons["loop"].startswith("cannot open: ")
    with pytest.raises(OSError, match="not a regular file"):
        open_binary(str(tmp_path / "pipe.zip"))  # does not block either


def _scan_in_thread(path: Path):
    """scan_path with a deadline: a hang fails the test instead of stalling the run."""
    result: dict[str, object] = {}
    thread = threading.Thread(
        target=lambda: result.setdefault("scan", scan_path(path, workers=1)), daemon=True
    )
    thread.start()
    thread.join(timeout=60)
    assert "scan" in result, "scan did not finish"
    return result["scan"]


def test_huge_sparse_files_are_examined_by_their_head(tmp_path: Path) -> None:
    write_series(tmp_path / "series", _volume())
    for name in ("huge.dcm", "huge.zip"):
        with open(tmp_path / name, "wb") as handle:
            handle.truncate(8 * GIB)  # sparse: no disk space used
    scan = _scan_in_thread(tmp_path)
    assert _reasons(scan) == {"huge.dcm": "not a DICOM file", "huge.zip": "not a DICOM file"}


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path: Path, monkeypatch) -> None:
    write_series(tmp_path / "series", _volume())
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "hidden.dcm").write_bytes(b"never listed")
    real_scandir = os.scandir

    def scandir(path=".") -> object:
        if os.fspath(path) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    locations = list(iter_locations(tmp_path))
    assert str(locked) in locations and not any("hidden" in item for item in locations)
    scan = scan_path(tmp_path, workers=1)
    assert [stack.n_files for stack in scan.stacks] == [4]
    assert [item.path for item in scan.skipped] == [str(locked)]


def test_a_file_that_cannot_be_opened_is_reported(tmp_path: Path, monkeypatch) -> None:
    write_series(tmp_path / "series", _volume())
    secret = tmp_path / "secret.dcm"
    secret.write_bytes(b"x")
    real_open = os.open

    def fake_open(path, flags, *args, **kwargs) -> int:
        if os.fspath(path) == str(secret):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    scan = scan_path(tmp_path, workers=1)
    assert [stack.n_files for stack in scan.stacks] == [4]
    assert _reasons(scan) == {"secret.dcm": "cannot open: Permission denied"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_and_folder_with_real_permissions(tmp_path: Path) -> None:
    write_series(tmp_path / "series", _volume())
    (tmp_path / "secret.dcm").write_bytes(b"x")
    (tmp_path / "secret.dcm").chmod(0)
    (tmp_path / "closed").mkdir(mode=0)
    try:
        scan = scan_path(tmp_path, workers=1)
    finally:
        (tmp_path / "closed").chmod(0o700)
    reasons = _reasons(scan)
    assert reasons["secret.dcm"] == "cannot open: Permission denied"
    assert "closed" in reasons


# ------------------------------------------------------------------ through the CLI


_cli = run_workstation


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    """A good series among a zip bomb, a lying zip, a FIFO .zip, device links and loops."""
    folder = tmp_path / "in::box"
    write_series(folder / "series::1", _volume())
    _write_zip(folder / "bomb.zip", [Entry("bomb.dcm", _deflate(bytes(1 << 20)), 6 * GIB)])
    _write_zip(folder / "liar.zip", [Entry("IM", _deflate(bytes(1 << 20)), 2000)])
    (folder / "cut.zip").write_bytes(b"PK\x03\x04" + bytes(100))
    os.mkfifo(folder / "pipe.zip")
    (folder / "zero").symlink_to("/dev/zero")
    (folder / "loop").symlink_to(folder / "loop")
    return folder


def test_cli_scan_json_and_info_on_a_hostile_folder(hostile_folder: Path) -> None:
    scan = _cli("scan", str(hostile_folder), "--json")
    assert scan.returncode == 0, scan.stderr
    record = json.loads(scan.stdout)
    assert [stack["n_files"] for stack in record["series"]] == [4]
    reasons = {Path(item["path"]).name: item["reason"] for item in record["skipped"]}
    assert reasons["bomb.zip::bomb.dcm"].startswith("cannot open: member bomb.dcm is 6 GiB")
    assert reasons["pipe.zip"] == reasons["zero"] == "not a regular file"
    assert set(reasons) == {
        "bomb.zip::bomb.dcm",
        "liar.zip::IM",
        "cut.zip",
        "pipe.zip",
        "zero",
        "loop",
    }
    info = _cli("info", str(hostile_folder))
    assert info.returncode == 0, info.stderr
    assert "Traceback" not in info.stderr


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda tmp: tmp / "nowhere", 2),
        (lambda tmp: zipfile.ZipFile(tmp / "empty.zip", "w").close() or tmp / "empty.zip", 3),
        (
            lambda tmp: _write_zip(
                tmp / "bomb.zip", [Entry("b", _deflate(bytes(1 << 20)), 6 * GIB)]
            ),
            3,
        ),
    ],
    ids=["missing", "empty-zip", "only-a-bomb"],
)
def test_cli_errors_are_one_line(tmp_path: Path, make, code: int) -> None:
    path = make(tmp_path)
    result = _cli("scan", str(path))
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workstation: error:"), result.stderr


def test_reader_is_a_proper_binary_file(tmp_path: Path) -> None:
    archive = _write_zip(tmp_path / "a.zip", [_honest("a", b"0123456789")])
    with open_binary(f"{archive}::a") as handle:
        assert handle.readable() and handle.seekable() and not handle.writable()
        assert handle.read(4) == b"0123" and handle.tell() == 4
        assert handle.seek(0, os.SEEK_END) == 10 and handle.read() == b""
    assert handle.closed and handle.raw.closed
    with pytest.raises(ValueError):
        handle.read()
