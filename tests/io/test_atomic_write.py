"""atomic_write: all or nothing, short temporary names, umask-honouring modes, stale clean-up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workstation.core.errors import ExportError
from workstation.io import atomic_write as aw
from workstation.io.atomic_write import (
    atomic_write,
    check_writable_path,
    remove_stale_temporaries,
    temporary_prefix,
)

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX modes, pids and pathconf")


def name_max(folder: Path) -> int:
    return os.pathconf(folder, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255


def test_replaces_only_when_complete(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    with atomic_write(target) as handle:
        handle.write(b"new content")
        assert target.read_bytes() == b"previous"  # nothing visible until the block ends
        (part,) = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        assert part.name.startswith(temporary_prefix(target))
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("error", [ValueError("bad data"), KeyboardInterrupt()])
def test_any_exception_keeps_the_previous_file(tmp_path, error):
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")
    with pytest.raises(type(error)), atomic_write(target) as handle:
        handle.write(b"partial")
        raise error
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_os_errors_become_export_errors(tmp_path):
    expected = r"Could not write .*out\.bin: No space left"
    with pytest.raises(ExportError, match=expected), atomic_write(tmp_path / "out.bin"):
        raise OSError(28, "No space left on device")
    assert os.listdir(tmp_path) == []


def test_longest_legal_name_works_and_one_more_byte_is_refused_up_front(tmp_path):
    limit = name_max(tmp_path)
    longest = tmp_path / ("n" * (limit - 4) + ".stl")
    with atomic_write(longest) as handle:
        handle.write(b"x")
    assert longest.read_bytes() == b"x"
    too_long = tmp_path / ("n" * (limit - 3) + ".stl")
    with pytest.raises(ExportError, match=f"{limit + 1} bytes long; this folder allows at most"):
        check_writable_path(too_long)
    assert sorted(os.listdir(tmp_path)) == [longest.name]


def test_multibyte_names_count_bytes(tmp_path):
    limit = name_max(tmp_path)
    name = "é" * ((limit - 4) // 2 + 1) + ".stl"  # fewer characters than the limit, more bytes
    assert len(name) <= limit < len(name.encode())
    with pytest.raises(ExportError, match="bytes long"):
        check_writable_path(tmp_path / name)


def test_path_length_and_bad_components_are_clear_errors(tmp_path):
    with pytest.raises(ExportError, match="path is too long"):
        check_writable_path(Path("/" + "d/" * 2100) / "x.stl")
    with pytest.raises(ExportError, match=r"Cannot write .*: File name too long"):
        check_writable_path(tmp_path / ("d" * 300) / "x.stl")  # a folder name over NAME_MAX
    with pytest.raises(ExportError, match="NUL character"):
        check_writable_path(tmp_path / "a\0b.stl")
    with pytest.raises(ExportError, match="it is a folder"):
        check_writable_path(tmp_path)


def test_long_paths_are_shortened_in_messages(tmp_path):
    with pytest.raises(ExportError) as caught:
        check_writable_path(tmp_path / ("n" * 400 + ".stl"))
    assert len(str(caught.value)) < 400 and "(" in str(caught.value)


@posix_only
@pytest.mark.parametrize("umask", [0o077, 0o027, 0o022, 0o002])
def test_mode_honours_the_umask(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_write(tmp_path / "out.bin") as handle:
            handle.write(b"patient data")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.bin").stat().st_mode & 0o777 == 0o666 & ~umask


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=30)
    return process.pid


def leftover(target: Path, owner: str, age_s: float = 0.0) -> Path:
    path = target.parent / f"{temporary_prefix(target)}{owner}-{os.urandom(3).hex()}.part"
    path.write_bytes(b"half a model")
    if age_s:
        when = time.time() - age_s
        os.utime(path, (when, when))
    return path


@posix_only
def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    target = tmp_path / "model.stl"
    host = aw._host_tag()
    dead = leftover(target, f"{host}-{dead_pid()}")
    live = leftover(target, f"{host}-{os.getppid()}")  # a live process: a concurrent writer
    mine = leftover(target, f"{host}-{os.getpid()}")
    foreign_fresh = leftover(target, f"ffff-{dead_pid()}")  # another machine: cannot check
    foreign_old = leftover(target, "ffff-12", age_s=aw.STALE_AFTER_S + 5)
    reused_pid = leftover(target, f"{host}-{os.getppid()}", age_s=aw.REUSED_PID_AFTER_S + 5)
    other_target = leftover(tmp_path / "other.stl", f"{host}-{dead_pid()}")
    user_file = tmp_path / ".ws-notes.part"
    user_file.write_text("not ours")
    removed = remove_stale_temporaries(target)
    assert sorted(removed) == sorted([dead, foreign_old, reused_pid])
    for kept in (live, mine, foreign_fresh, other_target, user_file):
        assert kept.exists(), kept.name


@posix_only
def test_next_write_removes_a_killed_writers_file(tmp_path):
    target = tmp_path / "model.stl"
    stale = leftover(target, f"{aw._host_tag()}-{dead_pid()}")
    with atomic_write(target) as handle:
        handle.write(b"solid")
    assert not stale.exists()
    assert os.listdir(tmp_path) == ["model.stl"]


@posix_only
def test_zombie_owner_counts_as_gone():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 30
        while not aw._process_is_gone(process.pid):  # exited, not yet reaped: a zombie
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert Path(f"/proc/{process.pid}").exists() or sys.platform != "linux"
    finally:
        process.wait(timeout=30)
    assert not aw._process_is_gone(os.getpid())
