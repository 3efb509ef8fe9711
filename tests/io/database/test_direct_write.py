"""Blobs written with direct I/O: exact content for every size, and the buffered fallback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from workstation.core.errors import DatabaseError
from workstation.io.database import direct_write, store

pytestmark = pytest.mark.skipif(not direct_write.O_DIRECT, reason="no O_DIRECT on this platform")


@pytest.fixture
def root(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / store.INCOMING).mkdir()
    monkeypatch.setattr(direct_write, "_refused", set())
    probe = tmp_path / "probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | direct_write.O_DIRECT, 0o644))
    except OSError as error:
        pytest.skip(f"the test folder's filesystem refuses O_DIRECT: {error}")
    probe.unlink()
    return tmp_path


def _payload(size: int) -> bytes:
    return bytes((index * 7 + index // 4099) % 251 for index in range(size))


@pytest.mark.parametrize(
    "size",
    [0, 1, 4095, direct_write.DIRECT_MIN_BYTES, 524_288 + 1_436, 3 * 4096, 9 * 4096 + 17],
)
def test_every_size_is_written_exactly(root: Path, monkeypatch, size: int) -> None:
    monkeypatch.setattr(direct_write, "BUFFER_BYTES", 4 * 4096)  # several rounds per file
    monkeypatch.setattr(direct_write, "DIRECT_MIN_BYTES", 4096)
    opened: list[bool] = []
    real_is_direct = direct_write.is_direct

    def is_direct(descriptor: int) -> bool:
        opened.append(real_is_direct(descriptor))
        return opened[-1]

    monkeypatch.setattr(direct_write, "is_direct", is_direct)
    data = _payload(size)
    staged = store.write_temporary_bytes(root, data, "t")
    assert staged.read_bytes() == data
    assert opened == [True]  # the file was opened for direct I/O
    assert not staged.stat().st_mode & 0o222


def test_a_refused_direct_write_is_redone_buffered(root: Path, monkeypatch) -> None:
    data = _payload(300_000)
    real_write = os.write

    def write(descriptor: int, chunk) -> int:
        if direct_write.is_direct(descriptor):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(descriptor, chunk)

    monkeypatch.setattr(os, "write", write)
    staged = store.write_temporary_bytes(root, data, "t")
    assert staged.read_bytes() == data
    assert str(root / store.INCOMING) in direct_write._refused
    assert direct_write.open_for_direct(str(root / store.INCOMING)) == 0  # not tried again


def test_a_filesystem_refusing_o_direct_at_open_gets_buffered_files(
    root: Path, monkeypatch
) -> None:
    real_open = os.open
    flags_seen: list[int] = []

    def open_(path, flags, mode=0o777):
        flags_seen.append(flags)
        if flags & direct_write.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, mode)

    monkeypatch.setattr(os, "open", open_)
    data = _payload(200_000)
    first = store.write_temporary_bytes(root, data, "t")
    second = store.write_temporary_bytes(root, data[::-1], "t")
    assert first.read_bytes() == data and second.read_bytes() == data[::-1]
    assert [bool(flags & direct_write.O_DIRECT) for flags in flags_seen] == [True, False, False]


def test_a_full_disk_during_a_direct_write_is_a_database_error(root: Path, monkeypatch) -> None:
    def write(descriptor: int, chunk) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(DatabaseError, match="No space left on device"):
        store.write_temporary_bytes(root, _payload(200_000), "t")
    assert not list((root / store.INCOMING).iterdir())  # the partial copy is gone
