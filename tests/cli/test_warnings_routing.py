"""Library warnings never reach stderr: -v shows them after the result or in the JSON record.

The study is real DICOM that makes pydicom warn when the loader reads it: a Rescale Type
(VR LO, at most 64 characters) of 70 characters, and a Frame of Reference UID that is
not a valid UID.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.support.cli import run_workstation
from tests.support.dicom_factory import write_series
from workstation.cli.main import main
from workstation.core.warning_capture import capture_library_warnings

pytest.importorskip("workstation.services.loading", reason="the DICOM loader is not available")

LO_WARNING = "The value length (70) exceeds the maximum length of 64 allowed for VR LO."
UI_WARNING = "Invalid value for VR UI: '1.2.abc.x'."


def check_lines(lines: list[str], indent: str = "") -> None:
    """The two pydicom warnings, once each (the UI one counted per file read)."""
    assert len(lines) == 2, lines
    assert f"{indent}pydicom: {LO_WARNING}" in lines
    assert any(line.startswith(f"{indent}pydicom: {UI_WARNING}") for line in lines)


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("warn") / "study"
    stored = np.zeros((6, 16, 16), np.int16)
    stored[2:4, 4:12, 4:12] = 1000
    for path in write_series(folder, stored):
        ds = pydicom.dcmread(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns while we set the bad values
            ds.RescaleType = "H" * 70
            ds.FrameOfReferenceUID = "1.2.abc.x"
        ds.save_as(path, enforce_file_format=False)
    return folder


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_success_prints_nothing_on_stderr(study, tmp_path, capsys):
    for argv in (
        ["info", str(study)],
        ["info", str(study), "--json"],
        ["scan", str(study)],
        ["mesh", str(study), "-o", str(tmp_path / "m.stl"), "--threshold", "500"],
        ["mesh", str(study), "-o", str(tmp_path / "m.stl"), "--threshold", "500", "--json"],
    ):
        code, out, err = run(capsys, *argv)
        assert code == 0 and err == "", argv
        if "--json" in argv:
            assert "library_warnings" not in json.loads(out)  # only with -v
        elif argv[0] != "scan":
            assert out.endswith("2 library warning(s) (use -v to show them)\n")


def test_verbose_text_lists_them_after_the_result(study, tmp_path, capsys):
    code, out, err = run(capsys, "info", str(study), "-v")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[-3] == "Library warnings (2):"
    check_lines(lines[-2:], "    ")
    code, out, err = run(
        capsys, "mesh", str(study), "-o", str(tmp_path / "m.stl"), "--threshold", "500", "-v"
    )
    assert code == 0 and err == ""
    assert out.startswith("Wrote ")
    check_lines(out.splitlines()[-2:], "    ")


def test_verbose_json_carries_them(study, tmp_path, capsys):
    output = str(tmp_path / "m.stl")
    argv = ["mesh", str(study), "-o", output, "--threshold", "500", "--json", "-v"]
    code, out, err = run(capsys, *argv)
    assert code == 0 and err == ""
    check_lines(json.loads(out)["library_warnings"])
    code, out, err = run(capsys, "info", str(study), "--json", "-v")
    assert code == 0 and err == ""
    check_lines(json.loads(out)["library_warnings"])


def test_an_error_is_one_line_and_verbose_adds_the_warnings_under_it(study, tmp_path, capsys):
    argv = ["mesh", str(study), "-o", str(tmp_path / "m.stl"), "--threshold", "5000"]
    code, out, err = run(capsys, *argv)
    assert code == 6 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("workstation: error: ")
    code, out, err = run(capsys, *argv, "-v")
    lines = err.splitlines()
    assert code == 6 and lines[0].startswith("workstation: error: ")
    check_lines(lines[1:], "    ")


def test_real_console_stderr_is_empty(study, tmp_path):
    """The same in a fresh process, as a user sees it (no pytest warning filters)."""
    result = run_workstation("info", str(study))
    assert result.returncode == 0 and result.stderr == ""
    assert "Dimensions:" in result.stdout


def test_numpy_and_logging_warnings_are_collected_not_printed(capsys):
    with capture_library_warnings() as collected:
        np.float32(3e38) * np.float32(10)  # numpy: RuntimeWarning overflow
        logging.getLogger("pydicom.valuerep").warning("odd value %s", "X")
        logging.getLogger("some_library").warning("no handler: would print via lastResort")
        logging.getLogger("some_library").info("below WARNING: ignored")
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert collected.lines() == [
        "RuntimeWarning: overflow encountered in scalar multiply",
        "pydicom: odd value X",
        "some_library: no handler: would print via lastResort",
    ]


def test_repeats_are_counted_once_per_text_and_filters_still_apply():
    with capture_library_warnings() as collected:
        for _ in range(3):
            logging.getLogger("pydicom").warning("same text")
            warnings.warn("same text", UserWarning, stacklevel=1)
    assert collected.lines() == ["pydicom: same text (3 times)"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # like -W error or pytest's filters
        with pytest.raises(UserWarning), capture_library_warnings():
            warnings.warn("raised, not collected", UserWarning, stacklevel=1)
