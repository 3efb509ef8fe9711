"""A save killed halfway (SIGKILL) leaves the previous project intact and its .bak untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from workstation.core.segmentation import Segmentation
from workstation.services.project import ProjectContents, read_project, save_project

REPO = Path(__file__).resolve().parents[2]

#: Re-saves the project with view {"version": 3}, slowly: every progress report sleeps.
SLOW_SAVE = """
import sys, time
from workstation.services.project import read_project, save_project
contents = read_project(sys.argv[1])
contents.view = {"version": 3}
def slow(fraction, text):
    print("progress", round(fraction, 3), text, flush=True)
    time.sleep(0.05)
save_project(sys.argv[1], contents, progress=slow)
print("saved", flush=True)
"""


def _contents(version: int) -> ProjectContents:
    segmentation = Segmentation((40, 16, 16), np.eye(4))
    mask = np.zeros((40, 16, 16), bool)
    mask[5:35, 4:12, 4:12] = True
    segmentation.add("Box", (1.0, 0.5, 0.0), mask)
    return ProjectContents(segmentation=segmentation, view={"version": version})


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_a_killed_save_keeps_the_previous_file_and_backup(tmp_path):
    path = tmp_path / "CASE.wsproj"
    save_project(path, _contents(1))
    save_project(path, _contents(2))
    backup = tmp_path / "CASE.wsproj.bak"
    assert read_project(backup).view == {"version": 1}
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_SAVE, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while len(lines) < 6 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert len(lines) == 6 and all(line.startswith("progress") for line in lines), (
            lines,
            child.stderr.read() if child.poll() is not None else "",
        )
        temporaries = [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
        assert temporaries, "the save should be writing its temporary file now"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    assert read_project(path).view == {"version": 2}
    assert read_project(backup).view == {"version": 1}
    # the next save clears the killed save's temporary file
    save_project(path, _contents(4))
    assert read_project(path).view == {"version": 4}
    assert read_project(backup).view == {"version": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CASE.wsproj", "CASE.wsproj.bak"]
