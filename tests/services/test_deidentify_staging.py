"""Outputs are staged as complete temporary files and made durable per batch."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.support.dicom_factory import write_series
from workstation.core.errors import Cancelled, ExportError
from workstation.core.progress import CancelToken
from workstation.io.deid.keys import new_key, write_key
from workstation.io.deid.options import DEFAULT_OPTIONS
from workstation.services import deid_files
from workstation.services.deid_files import StagedOutputs
from workstation.services.deidentify import PARALLEL_MIN_FILES, deidentify_path


def _series(folder: Path, count: int) -> tuple[list[Path], np.ndarray]:
    stored = np.random.default_rng(3).integers(-500, 900, size=(count, 8, 6), dtype=np.int16)
    return write_series(folder, stored), stored


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*.dcm"))
    }


def _temporaries(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.name.endswith(".part")]


def test_without_syncfs_every_file_is_fsynced_and_bytes_are_the_same(tmp_path, monkeypatch):
    files, stored = _series(tmp_path / "in", PARALLEL_MIN_FILES + 4)
    key = tmp_path / "k.key"
    write_key(new_key(), key)
    deidentify_path(tmp_path / "in", tmp_path / "a", key_file=key, options=DEFAULT_OPTIONS)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(deid_files, "sync_filesystem", lambda folder: False)
    monkeypatch.setattr(deid_files.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    monkeypatch.setattr("workstation.services.deidentify.PARALLEL_MIN_FILES", 10_000)
    deidentify_path(tmp_path / "in", tmp_path / "b", key_file=key, options=DEFAULT_OPTIONS)
    first, second = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert len(first) == len(files) and first == second
    assert len(synced) >= len(files) + 1  # each file, then its folder
    assert not _temporaries(tmp_path / "a") and not _temporaries(tmp_path / "b")
    pixels = sorted(pydicom.dcmread(tmp_path / "a" / name).pixel_array.sum() for name in first)
    assert pixels == sorted(int(image.sum()) for image in stored)


def test_cancel_in_worker_processes_leaves_only_complete_files(tmp_path: Path) -> None:
    _series(tmp_path / "in", 3 * PARALLEL_MIN_FILES)
    token = CancelToken()

    def progress(fraction: float, text: str) -> None:
        if text.startswith("De-identifying 5/"):
            token.cancel()

    out = tmp_path / "out"
    with pytest.raises(Cancelled, match="Cancelled after 5 of"):
        deidentify_path(
            tmp_path / "in",
            out,
            key_file=None,
            options=DEFAULT_OPTIONS,
            progress=progress,
            cancel=token,
        )
    written = list(out.rglob("*.dcm"))
    assert len(written) == 5
    assert not _temporaries(out)
    for path in written:
        assert pydicom.dcmread(path).PatientIdentityRemoved == "YES"


def test_failed_commit_removes_the_temporaries_and_says_so(tmp_path, monkeypatch) -> None:
    target = tmp_path / "out" / "a" / "x.dcm"
    staged = StagedOutputs(tmp_path / "out")
    temporary = deid_files.stage_output(target, [b"abc", memoryview(b"def")])
    assert Path(temporary).read_bytes() == b"abcdef" and not target.exists()

    def refuse(source, destination):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(deid_files.os, "replace", refuse)
    staged.add(temporary, target)
    with pytest.raises(ExportError, match="No space left"):
        staged.commit()
    assert not target.exists() and not Path(temporary).exists()


def test_batch_commits_when_full_and_skips_unchanged_output(tmp_path: Path) -> None:
    root = tmp_path / "out"
    staged = StagedOutputs(root, batch=2)
    targets = [root / f"{index}.dcm" for index in range(3)]
    for index, target in enumerate(targets):
        staged.add(deid_files.stage_output(target, [bytes([index]) * 4]), target)
    assert [target.exists() for target in targets] == [True, True, False]
    staged.commit()
    assert targets[2].read_bytes() == b"\2" * 4
    assert deid_files.stage_output(targets[2], [b"\2", memoryview(b"\2" * 3)]) == ""
    changed = deid_files.stage_output(targets[2], [b"\2" * 3, b"\3"])
    assert changed and Path(changed).read_bytes() == b"\2\2\2\3"
    os.unlink(changed)
    assert not _temporaries(root)
