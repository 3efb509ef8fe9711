"""Benchmark: retrieve MB/s from Orthanc over loopback (WADO-RS, C-GET); QIDO-RS latency.

Run: ``.venv/bin/python tests/benchmarks/bench_pacs.py [--repeats 3] [--studies 1000]
[--searches 20]``.  Starts a private Orthanc, stores a 134-slice 512x512 CT (the TCIA
pancreas CT from the shared data when present, else a synthetic one) by STOW-RS, and
prints the STOW-RS rate, the best and median WADO-RS and C-GET retrieve rates (MB of
Part 10 files handed to the sink per second) and then, after storing ``--studies`` tiny
single-instance studies, the median milliseconds of ``--searches`` QIDO-RS study searches
(all studies, and one patient).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.dicom_factory import write_series  # noqa: E402
from tests.support.orthanc import running_orthanc  # noqa: E402
from workstation.core.dicom_query import StudyQuery  # noqa: E402
from workstation.io.pacs.client import DicomWebEndpoint, DimseEndpoint  # noqa: E402
from workstation.io.pacs.dicomweb import DicomWebClient  # noqa: E402

SHARED_CT = REPO.parent / "shared" / "data" / "ct_abdomen_tcia_pancreas"


def _ct_files(work: Path) -> tuple[list[Path], str]:
    if SHARED_CT.is_dir():
        return sorted(SHARED_CT.glob("*.dcm")), "TCIA pancreas CT (shared data)"
    stored = (np.random.default_rng(0).integers(0, 2000, (134, 512, 512))).astype(np.int16)
    return write_series(work / "ct", stored), "synthetic CT"


def _rate(outcome_bytes: int, seconds: float) -> float:
    return outcome_bytes / 1e6 / seconds


def _retrieve_rates(client: object, study_uid: str, repeats: int, expected: int) -> list[float]:
    rates = []
    for _ in range(repeats):
        sizes: list[int] = []

        def sink(data: bytes, sizes: list[int] = sizes) -> None:
            sizes.append(len(data))

        start = time.perf_counter()
        outcome = client.retrieve(study_uid, None, sink)  # type: ignore[attr-defined]
        seconds = time.perf_counter() - start
        assert outcome.complete and len(sizes) == expected, outcome.error
        rates.append(_rate(sum(sizes), seconds))
    return rates


def _summary(rates: list[float]) -> str:
    return f"best {max(rates):.1f} MB/s, median {statistics.median(rates):.1f} MB/s"


def _tiny_studies(work: Path, count: int) -> list[Path]:
    files = []
    pixels = np.zeros((1, 8, 8), np.int16)
    for index in range(count):
        files += write_series(
            work / f"s{index:04d}", pixels, patient_id=f"BENCH{index:04d}",
            series_description=f"tiny {index}",
        )
    return files


def _median_ms(call: object, searches: int) -> float:
    times = []
    for _ in range(searches):
        start = time.perf_counter()
        call()  # type: ignore[operator]
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, running_orthanc(Path(folder) / "o") as server:
        work = Path(folder)
        files, label = _ct_files(work)
        web = DicomWebClient(DicomWebEndpoint(server.dicomweb_url))
        sent = web.send(files)
        assert sent.complete, sent.failed
        print(f"{label}: {len(files)} files, {sent.bytes_sent / 1e6:.1f} MB")
        print(f"STOW-RS store:     {_rate(sent.bytes_sent, sent.seconds):.1f} MB/s")
        (study,) = server.study_uids()
        rates = _retrieve_rates(web, study, args.repeats, len(files))
        print(f"WADO-RS retrieve:  {_summary(rates)}")
        try:
            from workstation.io.pacs.dimse import DimseClient
        except ImportError:
            print("C-GET retrieve:    skipped (no DIMSE client)")
        else:
            dimse = DimseClient(DimseEndpoint(server.aet, "127.0.0.1", server.dicom_port))
            rates = _retrieve_rates(dimse, study, args.repeats, len(files))
            print(f"C-GET retrieve:    {_summary(rates)}")
        tiny = _tiny_studies(work / "tiny", args.studies)
        stored = web.send(tiny)
        assert stored.complete, stored.failed[:3]
        everything = web.find(StudyQuery())
        assert len(everything) == args.studies + 1, len(everything)
        print(f"{args.studies + 1} studies; QIDO-RS study search, median of {args.searches}:")
        all_ms = _median_ms(lambda: web.find(StudyQuery()), args.searches)
        print(f"  every study ({len(everything)} answers): {all_ms:.1f} ms")
        session = requests.Session()
        raw_ms = _median_ms(
            lambda: session.get(f"{server.dicomweb_url}/studies").content, args.searches
        )
        print(f"  (Orthanc alone, every study, no fields: {raw_ms:.1f} ms)")
        one = StudyQuery(patient_id=f"BENCH{args.studies // 2:04d}")
        assert len(web.find(one)) == 1
        one_ms = _median_ms(lambda: web.find(one), args.searches)
        print(f"  one patient (1 answer):      {one_ms:.1f} ms")
        limited = StudyQuery(patient_name="synth*", limit=100)
        print(
            f"  name wildcard, limit 100:    "
            f"{_median_ms(lambda: web.find(limited), args.searches):.1f} ms"
        )


if __name__ == "__main__":
    main()
