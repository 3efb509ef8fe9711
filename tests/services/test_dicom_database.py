"""The database service end to end: open a stored study, concurrent imports, one index."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from pydicom import dcmread

from tests.io.database.cases import blob_files
from tests.support.cli import REPO
from tests.support.dicom_factory import expected_affine, sphere_array, write_series
from workstation.core.dicom_query import StudyQuery
from workstation.services.dicom_database import DicomDatabase
from workstation.services.study import open_database_study, open_study

ROW, COL = (1.0, 0.0, 0.0), (0.0, 0.8, 0.6)  # an oblique stack


def _series(folder: Path, study_uid: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    spacing, step = (0.7, 0.9), np.array([0.0, -0.6, 0.8]) * 1.5
    affine = expected_affine(ROW, COL, spacing, (10.0, -20.0, 30.0), step)

    def to_lps(s, r, c):
        index = np.stack([s, r, c, np.ones_like(s)], axis=-1).astype(float)
        lps = index @ affine.T
        return lps[..., 0], lps[..., 1], lps[..., 2]

    centre = affine @ np.array([6, 8, 9, 1.0])
    data = sphere_array((12, 16, 18), to_lps, [centre[:3]], [5.0])
    write_series(
        folder,
        data,
        row_cosine=ROW,
        col_cosine=COL,
        pixel_spacing=spacing,
        origin=(10.0, -20.0, 30.0),
        slice_step=step,
        shuffle=True,
        study_uid=study_uid,
    )
    return data, affine


def test_a_stored_study_opens_exactly_as_its_folder(tmp_path: Path) -> None:
    data, affine = _series(tmp_path / "series")
    (tmp_path / "series" / "readme.txt").write_text("not an image")
    with DicomDatabase.open(tmp_path / "db") as database:
        report = database.import_path(tmp_path / "series")
        [study_uid] = report.study_uids
        opened = open_database_study(study_uid, database=database)
    folder = open_study(tmp_path / "series")
    assert opened.volume is not None and folder.volume is not None
    np.testing.assert_allclose(opened.volume.affine, affine, atol=1e-6)
    np.testing.assert_array_equal(opened.volume.array, data.astype(opened.volume.array.dtype))
    np.testing.assert_array_equal(opened.volume.array, folder.volume.array)
    assert opened.stack is not None and opened.stack.identity.study_uid == study_uid
    assert all(
        Path(frame.location).is_relative_to(tmp_path / "db" / "blobs")
        for frame in opened.stack.frames
    )
    assert opened.path == str(tmp_path / "db")


def test_open_database_study_scan_only_and_default_database(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("WORKSTATION_DATABASE", str(tmp_path / "default"))
    _series(tmp_path / "series")
    with DicomDatabase.open() as database:
        [study_uid] = database.import_path(tmp_path / "series").study_uids
    opened = open_database_study(study_uid, auto_load=False)
    assert opened.volume is None and len(opened.scan.stacks) == 1
    assert len(opened.scan.stacks[0].frames) == 12


def _uids(folder: Path) -> set[str]:
    return {
        str(dcmread(path, stop_before_pixels=True).SOPInstanceUID) for path in folder.rglob("IM*")
    }


def test_a_command_line_import_and_an_in_process_import_at_once(tmp_path: Path) -> None:
    """Two imports of overlapping folders into one database, in two processes at once."""
    shared = "1.2.826.0.1.3680043.8.498.1"
    for index in range(3):
        _series(tmp_path / "in" / f"s{index}", study_uid=shared)
    # imported first by the child only (sorted before s0..s2), so both run at once
    big = np.zeros((300, 32, 32), np.int16)
    write_series(tmp_path / "in" / "a_big", big, study_uid="1.2.826.0.1.3680043.8.498.2")
    # the subprocess gets all three series, this process the last two: they overlap
    location = tmp_path / "db"
    DicomDatabase.open(location).close()
    child = subprocess.Popen(
        [sys.executable, "-m", "workstation", "db", "import", str(tmp_path / "in"),
         "--database", str(location), "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    reports = []

    def here(name: str) -> None:
        with DicomDatabase.open(location) as database:
            reports.append(database.import_path(tmp_path / "in" / name))

    threads = [threading.Thread(target=here, args=(name,)) for name in ("s2", "s1")]
    with DicomDatabase.open(location) as watcher:  # start once the child has committed rows
        deadline = time.monotonic() + 60
        while not watcher._index.all_files() and time.monotonic() < deadline:
            time.sleep(0.005)
    assert child.poll() is None, "the command-line import ended before ours began"
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    import json

    theirs = json.loads(out)
    expected = _uids(tmp_path / "in")
    assert len(expected) == 336
    ours_added = sum(report.added for report in reports)
    assert theirs["added"] + ours_added == 336
    assert theirs["added"] + theirs["duplicates"] == 336
    assert sum(report.added + report.duplicates for report in reports) == 24
    with DicomDatabase.open(location) as database:
        rows = database._index.all_files()
        assert sorted(row.sop_instance_uid for row in rows) == sorted(expected)
        assert len(blob_files(location)) == 336
        study = database.search(StudyQuery(study_uid=shared))[0]
        assert (study.n_series, study.n_instances) == (3, 36)
        assert database.verify().ok
        assert not list((location / "incoming").iterdir())
