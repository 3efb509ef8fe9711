"""Benchmark: import 400 files into the local database vs scanning them; search 1,000 studies.

Run: ``.venv/bin/python tests/benchmarks/bench_database.py [--files 400] [--repeats 5]
[--studies 1000]``.  Prints the best and median time of a scan and of an import into an
empty database (warm file cache, both from the main thread, dirty pages flushed before
each timing) and their ratio, the time of a re-import (every file already there), and
the milliseconds per search of a database of ``--studies`` small synthetic studies
(index rows only, no pixel data).

Each attempt imports into a new database, and the databases are deleted only after
the last timing: deleting 400 files just before creating 400 others makes ext4 without
a journal skip the fresh free inodes one by one (``recently_deleted``), which would
time the clean-up of the previous attempt rather than the import.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.dicom_factory import write_series  # noqa: E402
from workstation.core.dicom_query import StudyQuery  # noqa: E402
from workstation.io.database.records import InstanceFields, StagedFile  # noqa: E402
from workstation.io.dicom.scan import scan_path  # noqa: E402
from workstation.services.dicom_database import DicomDatabase  # noqa: E402


def _best(times: list[float]) -> str:
    return f"best {min(times):.3f} s, median {statistics.median(times):.3f} s"


def _import_vs_scan(folder: Path, work: Path, repeats: int) -> None:
    scans, imports, again = [], [], []
    for attempt in range(repeats):
        os.sync()  # no writeback of earlier runs (or of writing the input) during the timing
        start = time.perf_counter()
        scan_path(folder)
        scans.append(time.perf_counter() - start)
        location = work / f"db{attempt}"
        with DicomDatabase.open(location) as database:
            os.sync()
            start = time.perf_counter()
            report = database.import_path(folder)
            imports.append(time.perf_counter() - start)
            assert report.added == len(list(folder.iterdir())), report
            start = time.perf_counter()
            database.import_path(folder)
            again.append(time.perf_counter() - start)
    for attempt in range(repeats):
        shutil.rmtree(work / f"db{attempt}")
    print(f"scan:      {_best(scans)}")
    print(f"import:    {_best(imports)}")
    print(f"re-import: {_best(again)}")
    print(f"import / scan (best times): {min(imports) / min(scans):.2f}")
    ratios = [imported / scanned for imported, scanned in zip(imports, scans, strict=True)]
    print(f"import / scan (median of the pairs): {statistics.median(ratios):.2f}")


def _fields(study: int, series: int, instance: int) -> InstanceFields:
    return InstanceFields(
        sop_instance_uid=f"2.25.{study}.{series}.{instance}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        study_uid=f"2.25.{study}",
        series_uid=f"2.25.{study}.{series}",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        patient_id=f"P{study % 300:04d}",
        patient_name=f"Patient{study % 300}^Test",
        study_date=f"20{10 + study % 15:02d}{1 + study % 12:02d}{1 + study % 28:02d}",
        study_description=f"Study {study} {'HEAD' if study % 3 else 'ABDOMEN'}",
        series_description=f"Series {series}",
        modality=("CT", "MR", "PT")[(study + series) % 3],
        instance_number=instance,
    )


def _search(work: Path, studies: int, repeats: int) -> None:
    from workstation.io.database.importer import commit_staged
    from workstation.io.database.records import ImportReport

    with DicomDatabase.open(work / "search") as database:
        start = time.perf_counter()
        staged = [
            StagedFile(f"row{s}.{e}.{i}", _fields(s, e, i), f"{s:060d}{e:02d}{i:02d}", 1, "x", True)
            for s in range(studies)
            for e in range(3)
            for i in range(10)
        ]
        for begin in range(0, len(staged), 2000):
            commit_staged(
                database.location, database._index, staged[begin : begin + 2000], "", ImportReport()
            )
        print(
            f"built an index of {studies} studies, {len(staged)} instances "
            f"in {time.perf_counter() - start:.1f} s (rows only)"
        )
        queries = {
            "all studies": StudyQuery(),
            "patient name 'patient1*'": StudyQuery(patient_name="patient1*"),
            "patient id": StudyQuery(patient_id="P0042"),
            "date range one year": StudyQuery(date_from="20150101", date_to="20151231"),
            "modality MR": StudyQuery(modality="MR"),
            "description 'abdomen'": StudyQuery(description="abdomen"),
            "series of one study": StudyQuery(level="series", study_uid="2.25.7"),
            "patients": StudyQuery(level="patient"),
        }
        for name, query in queries.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                found = database.search(query)
                times.append(time.perf_counter() - start)
            print(f"search {name:<28} {len(found):5d} matches  {min(times) * 1000:7.1f} ms")


def main() -> int:
    """Write the series, time scan and import, build the search index, time searches."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--studies", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        folder = work / "series"
        stored = np.zeros((args.files, 512, 512), dtype=np.int16)
        write_series(folder, stored, pixel_spacing=(0.7, 0.7), slice_step=1.25, shuffle=True)
        print(f"{args.files} files of 512x512 CT")
        _import_vs_scan(folder, work, args.repeats)
        _search(work, args.studies, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
