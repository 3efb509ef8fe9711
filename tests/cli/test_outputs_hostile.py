"""Hostile output paths get a one-line answer up front; legal ones work; modes follow umask."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.dicom_factory import write_series
from workstation.cli.main import main

pytest.importorskip("workstation.services.loading", reason="the DICOM loader is not available")

FAST = ["--threshold", "500"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    stored = np.zeros((6, 16, 16), np.int16)
    stored[2:4, 4:12, 4:12] = 1000
    folder = tmp_path_factory.mktemp("hostile") / "study"
    write_series(folder, stored)
    return folder


def name_max(folder: Path) -> int:
    return os.pathconf(folder, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255


def refused(capsys, argv: list[str], text: str) -> str:
    """Run a command that must fail on its output path: exit 8, one stderr line, fast."""
    began = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - began
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 8, captured.err
    assert len(lines) == 1 and lines[0].startswith("workstation: error: Cannot write")
    assert text in lines[0] and captured.out == ""
    assert elapsed < 5.0  # checked before any loading or meshing
    return lines[0]


def test_longest_legal_name_is_written(study, tmp_path, capsys):
    output = tmp_path / ("m" * (name_max(tmp_path) - 4) + ".stl")
    assert main(["mesh", str(study), "-o", str(output), *FAST]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and output.read_bytes()[:9] == b"SPACE=LPS"
    # the provenance record beside it has a shortened name that fits too
    (record,) = set(os.listdir(tmp_path)) - {output.name}
    assert record.endswith(".provenance.json") and len(record) <= name_max(tmp_path)


def test_too_long_name_fails_before_loading(tmp_path, capsys):
    output = tmp_path / ("m" * (name_max(tmp_path) - 3) + ".stl")
    # the input does not even exist: the output is checked first, and named in the message
    line = refused(capsys, ["mesh", str(tmp_path / "absent"), "-o", str(output)], "bytes long")
    assert len(line) < 400  # the 256-character name is shortened in the message
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("output", "text"),
    [
        ("/" + "d/" * 2100 + "x.stl", "path is too long"),
        ("{tmp}/" + "d" * 300 + "/x.stl", "File name too long"),
        ("{tmp}/missing/x.stl", "does not exist"),
        ("{tmp}", "unknown mesh format"),
        ("{tmp}/folder.stl", "it is a folder"),
    ],
    ids=["path-max", "folder-name-max", "no-folder", "a-folder", "folder-with-suffix"],
)
def test_bad_output_paths_are_one_line(study, tmp_path, capsys, output, text):
    (tmp_path / "folder.stl").mkdir()
    refused(capsys, ["mesh", str(study), "-o", output.format(tmp=tmp_path)], text)
    assert os.listdir(tmp_path) == ["folder.stl"]


def test_screenshot_name_is_checked_before_the_window_opens(tmp_path, capsys):
    output = tmp_path / ("s" * (name_max(tmp_path) - 3) + ".png")
    refused(capsys, ["view", "--screenshot", str(output)], "bytes long")


@pytest.mark.skipif(not hasattr(os, "umask") or os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("umask", [0o077, 0o022])
def test_output_mode_follows_the_umask(study, tmp_path, capsys, umask):
    output = tmp_path / "model.stl"
    output.write_bytes(b"old")
    output.chmod(0o644)
    previous = os.umask(umask)
    try:
        assert main(["mesh", str(study), "-o", str(output), *FAST]) == 0
    finally:
        os.umask(previous)
    capsys.readouterr()
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask
