"""Crash recovery files: one per running process, offered once that process is gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from workstation.core.segmentation import Segmentation
from workstation.services import recovery
from workstation.services.project import ProjectContents, read_project

REPO = Path(__file__).resolve().parents[2]

#: Autosaves a small case for CASE.wsproj, prints the file, then waits for a line on stdin.
AUTOSAVE = """
import sys
import numpy as np
from workstation.core.segmentation import Segmentation
from workstation.services.project import ProjectContents
from workstation.services.recovery import write_recovery
segmentation = Segmentation((4, 5, 6), np.eye(4))
segmentation.add("Bone", (1.0, 1.0, 1.0), np.ones((4, 5, 6), bool))
path = write_recovery(sys.argv[1], ProjectContents(segmentation=segmentation), "/cases/CASE.wsproj")
print(path, flush=True)
sys.stdin.readline()
"""


def _autosaving_child(folder: Path) -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen(
        [sys.executable, "-c", AUTOSAVE, str(folder)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return child, Path(child.stdout.readline().strip())


def test_the_folder_and_interval():
    assert recovery.AUTOSAVE_INTERVAL_S == 120
    assert recovery.recovery_folder("/home/u/.config/ws") == Path("/home/u/.config/ws/recovery")


def test_a_running_processes_file_is_not_offered_and_a_gone_ones_is(tmp_path):
    folder = recovery.recovery_folder(tmp_path)
    mine = recovery.write_recovery(folder, ProjectContents(view={"layout": "axial"}), None)
    assert mine.parent == folder and mine.suffix == ".wsproj"
    child, theirs = _autosaving_child(folder)
    try:
        assert theirs.is_file() and theirs != mine
        assert recovery.pending_recoveries(folder) == []  # both writers are alive
    finally:
        child.stdin.write("\n")
        child.stdin.close()
        child.wait(timeout=30)
    (pending,) = recovery.pending_recoveries(folder)  # the child ended without discarding
    assert pending.path == theirs
    assert pending.project_path == "/cases/CASE.wsproj"
    assert (
        pending.saved_at.endswith("Z") and pending.summary == "1 segment, 0 models, 0 measurements"
    )
    contents = read_project(pending.path)
    assert np.all(contents.segmentation.segments[0].mask)
    recovery.discard_recovery(pending.path)
    recovery.discard_recovery(pending.path)  # already gone: no error
    assert recovery.pending_recoveries(folder) == []
    assert mine.is_file()  # this process's own file is never offered


def test_each_autosave_replaces_the_last_and_leaves_no_backup(tmp_path):
    segmentation = Segmentation((2, 2, 2), np.eye(4))
    first = recovery.write_recovery(tmp_path, ProjectContents(segmentation=segmentation), "/a")
    second = recovery.write_recovery(tmp_path, ProjectContents(view={"n": 2}), "/a")
    assert first == second and read_project(second).view == {"n": 2}
    assert [p.name for p in tmp_path.iterdir()] == [second.name]


def test_a_killed_autosaves_temporary_file_is_removed(tmp_path):
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    gone = int(child.stdout)
    stale = tmp_path / f".ws-0123abcd-beef-{gone}-a1b2c3.part"
    stale.write_bytes(b"half a zip")
    assert recovery.pending_recoveries(tmp_path) == []
    assert not stale.exists()


def test_summary_counts_planning_objects_only_when_there_are_some() -> None:
    from workstation.core.planning import PlanningObject

    plans = [
        PlanningObject("point-1", "point", "Nasion", ((0.0, 0.0, 0.0),)),
        PlanningObject("line-2", "line", "Drill", ((0.0, 0.0, 0.0), (0.0, 0.0, 9.0))),
    ]
    assert recovery.summary_of(ProjectContents()) == "0 segments, 0 models, 0 measurements"
    assert recovery.summary_of(ProjectContents(planning=plans)).endswith(
        "0 measurements, 2 planning objects"
    )
    assert recovery.summary_of(ProjectContents(planning=plans[:1])).endswith(
        ", 1 planning object"
    )
