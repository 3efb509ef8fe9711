"""run_batch on a real LocalCluster with the real case engine: records, summaries, resume."""

from __future__ import annotations

import csv
import json
import os
import struct
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.services.test_batch_inputs import cube
from tests.support.dicom_factory import write_series
from workstation.core.case_plan import default_plan, parse_plan
from workstation.services.batch import run_batch, run_case_task
from workstation.services.batch_cluster import ClusterSpec, local_size
from workstation.services.batch_inputs import expand_inputs

pytestmark = pytest.mark.slow

#: No dose check: these cases have no dose data and the tests are about the batch.
PLAN = {"dose": {"check": False}}


def write_cohort(root: Path, good: tuple[str, ...], bad: tuple[str, ...] = ()) -> None:
    """Good cases hold a bone cube; bad ones only air (the bone preset finds nothing)."""
    for number, name in enumerate(good + bad):
        array = cube() if name in good else np.full((20, 32, 32), -1000, np.int16)
        write_series(root / name, array, patient_id=f"PX{number:03d}", series_description="Head")


def stl_triangles(path: Path) -> int:
    """The triangle count a binary STL file states (its size must agree)."""
    data = path.read_bytes()
    (count,) = struct.unpack_from("<I", data, 80)
    assert len(data) == 84 + 50 * count
    return count


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as handle:
        return {row["case_id"]: row for row in csv.DictReader(handle)}


def test_batch_records_good_and_failing_cases_and_resumes_by_hash(tmp_path):
    write_cohort(tmp_path / "in", ("alpha", "beta"), ("gamma",))
    out = tmp_path / "out"
    plan = parse_plan(PLAN)
    cases = expand_inputs([str(tmp_path / "in")], plan)
    ids = {case.case_id.split("-")[0]: case.case_id for case in cases}
    spec = ClusterSpec(workers=2)
    summary = run_batch(plan, cases, out, cluster=spec)
    assert summary["totals"] == {"cases": 3, "done": 2, "failed": 1, "skipped": 0, "not_run": 0}
    assert summary["cluster"]["workers"] == 2 and summary["cluster"]["local"]
    rows = read_csv(out / "summary.csv")
    assert list(rows) == [case.case_id for case in cases]
    for name in ("alpha", "beta"):
        folder = out / "cases" / ids[name]
        record = json.loads((folder / "result.json").read_text())
        triangles = stl_triangles(folder / "bone.stl")
        assert record["status"] == "done" and record["case_hash"] and record["plan_digest"]
        assert record["statistics"]["models"]["bone"]["triangles"] == triangles
        assert record["worker"].startswith("tcp://127.0.0.1:")
        assert sorted(record["outputs"]) == sorted(
            p.name for p in folder.iterdir() if p.name != "result.json"
        )
        row = rows[ids[name]]
        assert row["status"] == "done" and int(row["triangles"]) == triangles
        assert row["model"] == "bone" and row["worker"] == record["worker"]
        # the cube is 8..24 x 8..24 x 4..16 voxels of 1 mm: 16*16*12 mm^3 (smoothing rounds it)
        assert float(row["volume_mm3"]) == pytest.approx(16 * 16 * 12, rel=0.1)
    failed = rows[ids["gamma"]]
    assert failed["status"] == "failed" and "\n" not in failed["reason"] and failed["reason"]
    assert os.listdir(out / "cases" / ids["gamma"]) == ["result.json"]
    assert not list((out / ".partial").iterdir())
    document = json.loads((out / "summary.json").read_text())
    assert [row["case_id"] for row in document["cases"]] == list(rows)
    assert document["plan_digest"] == plan.digest()

    # the same plan again: the done cases are skipped, the failed one runs again
    failed_record = out / "cases" / ids["gamma"] / "result.json"
    first_failure = json.loads(failed_record.read_text())["finished"]
    stl_before = (out / "cases" / ids["alpha"] / "bone.stl").stat().st_mtime_ns
    again = run_batch(plan, expand_inputs([str(tmp_path / "in")], plan), out, cluster=spec)
    assert again["totals"]["skipped"] == 2 and again["totals"]["failed"] == 1
    assert (out / "cases" / ids["alpha"] / "bone.stl").stat().st_mtime_ns == stl_before
    assert read_csv(out / "summary.csv")[ids["alpha"]]["status"] == "skipped"
    assert json.loads(failed_record.read_text())["finished"] >= first_failure

    # a changed plan runs every case again (fewer triangles kept: a new model)
    changed = parse_plan(
        {**PLAN, "models": [{"name": "bone", "options": {"decimate_fraction": 0.8}}]}
    )
    third = run_batch(changed, expand_inputs([str(tmp_path / "in")], changed), out, cluster=spec)
    assert third["totals"]["done"] == 2 and third["totals"]["skipped"] == 0
    new_triangles = stl_triangles(out / "cases" / ids["alpha"] / "bone.stl")
    assert new_triangles < int(rows[ids["alpha"]]["triangles"])


def dying_task(plan, request, folder, progress, cancel):
    """The case engine, except that one case kills its worker and one has a bug."""
    from workstation.services.case_run import run_case

    if request.case_id.startswith("die-"):
        os._exit(3)
    if request.case_id.startswith("oops-"):
        raise ValueError("an unexpected value")
    return run_case(plan, request, folder, progress, cancel)


def test_a_dead_worker_or_an_internal_error_fails_only_its_case(tmp_path):
    write_cohort(tmp_path / "in", ("die", "oops", "fine", "well"))
    for path in (tmp_path / "in" / "fine").iterdir():  # per-image CTDIvol (0018,9345)
        dataset = pydicom.dcmread(path)
        dataset.CTDIvol = 12.5
        dataset.save_as(path)
    plan = default_plan()  # what `workstation mesh` does, with the dose check
    cases = expand_inputs([str(tmp_path / "in")], plan)
    summary = run_batch(
        plan, cases, tmp_path / "out", cluster=ClusterSpec(workers=2), task=dying_task
    )
    reasons = {
        row["case_id"].split("-")[0]: (row["status"], row["reason"]) for row in summary["cases"]
    }
    assert reasons["fine"] == ("done", "") and reasons["well"] == ("done", "")
    assert reasons["die"][0] == "failed"
    assert reasons["die"][1].startswith("the worker running it stopped, probably out of memory")
    assert reasons["oops"] == ("failed", "internal error: ValueError: an unexpected value")
    rows = read_csv(tmp_path / "out" / "summary.csv")
    ctdivol = {case_id.split("-")[0]: row["ctdivol_mgy"] for case_id, row in rows.items()}
    assert ctdivol["fine"] == "12.5" and ctdivol["well"] == ""


def test_a_volume_over_its_share_of_the_worker_memory_fails_with_the_limit(tmp_path, monkeypatch):
    import workstation.services.batch as batch

    write_series(tmp_path / "big", cube(), series_description="Head")  # 32*32*20*2 = 40 kB
    (case,) = expand_inputs([str(tmp_path / "big")], parse_plan(PLAN))
    folder = tmp_path / "case"
    folder.mkdir()
    fields = {"case_id": case.case_id, "source": case.source, "series_uid": case.series_uid}
    monkeypatch.delenv("WORKSTATION_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(batch, "_this_worker", lambda: ("tcp://worker:1", 100_000))
    record = run_case_task(parse_plan(PLAN), fields, str(folder), "no-such-event")
    assert record["status"] == "failed" and record["worker"] == "tcp://worker:1"
    # a quarter of the worker's 100 kB
    assert "the limit is 25.0 kB" in record["reason"], record["reason"]
    assert "WORKSTATION_MEMORY_LIMIT" not in os.environ
    monkeypatch.setattr(batch, "_this_worker", lambda: ("tcp://worker:1", 1 << 30))
    assert run_case_task(parse_plan(PLAN), fields, str(folder), "none")["status"] == "done"


def test_local_size_follows_cores_and_memory(monkeypatch):
    import workstation.services.batch_cluster as cluster

    monkeypatch.setattr(cluster, "physical_memory", lambda: 10 << 30)
    monkeypatch.setattr(cluster, "available_cpus", lambda: 8)
    workers, per_worker = local_size(None, None)
    assert workers == int((10 << 30) * cluster.MACHINE_SHARE) // cluster.MIN_WORKER_BYTES == 4
    assert per_worker == int((10 << 30) * cluster.MACHINE_SHARE) // 4
    assert local_size(None, "4G") == (2, 4 << 30)
    assert local_size(3, None)[0] == 3


def test_workers_of_another_version_are_refused_by_address():
    from workstation import __version__
    from workstation.core.errors import BatchError
    from workstation.services.batch_cluster import check_workers

    class Client:
        def __init__(self, versions):
            self.versions = versions

        def run(self, function):
            return self.versions

    check_workers(Client({"tcp://10.0.0.5:4000": __version__}))
    with pytest.raises(BatchError, match=r"tcp://10\.0\.0\.6:4000 runs workstation 0\.0\.1"):
        check_workers(Client({"tcp://10.0.0.5:4000": __version__, "tcp://10.0.0.6:4000": "0.0.1"}))


def test_one_batch_at_a_time_per_output_folder(tmp_path):
    from workstation.core.errors import BatchError
    from workstation.services.batch_store import BatchStore

    (tmp_path / ".partial" / "old-case-1234").mkdir(parents=True)  # left by a killed batch
    with BatchStore(tmp_path).opened():
        assert not list((tmp_path / ".partial").iterdir())
        second = BatchStore(tmp_path)
        with pytest.raises(BatchError, match="Another batch is writing into"), second.opened():
            pass


def test_the_progress_names_the_local_dashboard_and_it_answers(tmp_path):
    """The Dask dashboard (bokeh) of the local cluster is on loopback, shown in the
    progress line and in the summary, and serves its status page while the batch runs."""
    import requests

    from workstation.services.batch import progress_text

    write_cohort(tmp_path / "in", ("alpha",))
    plan = parse_plan(PLAN)
    cases = expand_inputs([str(tmp_path / "in")], plan)
    answers: dict[str, int] = {}

    def watch(state) -> None:
        if state.dashboard and state.dashboard not in answers:
            answers[state.dashboard] = requests.get(state.dashboard, timeout=10).status_code
            assert state.dashboard in progress_text(state)

    summary = run_batch(plan, cases, tmp_path / "out", cluster=ClusterSpec(workers=1), events=watch)
    dashboard = summary["cluster"]["dashboard"]
    assert dashboard.startswith("http://127.0.0.1:") and dashboard.endswith("/status")
    assert answers == {dashboard: 200}
