"""``workstation batch`` as a whole process: JSON, exit codes, Ctrl+C and resume, a real
``dask scheduler`` with two ``dask worker`` processes, and a PACS query."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.services.test_batch import stl_triangles, write_cohort
from tests.support.cli import REPO, run_workstation
from tests.support.orthanc import free_port

pytestmark = pytest.mark.slow

DASK = Path(sys.executable).with_name("dask")
WORKSTATION = (sys.executable, "-m", "workstation")


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({"name": "Bone, no dose", "dose": {"check": False}}))
    return path


def rows_of(outdir: Path) -> list[dict[str, str]]:
    with (outdir / "summary.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_json_summary_and_exit_code_with_a_failing_case(tmp_path, plan_file):
    write_cohort(tmp_path / "in", ("one", "two"), ("air",))
    out = tmp_path / "out"
    result = run_workstation(
        "batch", str(tmp_path / "in"), "-o", str(out), "--plan", str(plan_file), "--workers", "2",
        "--json",
    )  # fmt: skip
    assert result.returncode == 21, result.stderr
    summary = json.loads(result.stdout)  # one JSON object and nothing else
    assert summary["totals"]["done"] == 2 and summary["totals"]["failed"] == 1
    assert summary["plan_name"] == "Bone, no dose"
    assert result.stderr.count("\n") == 1 and "1 of 3 cases failed" in result.stderr
    rows = {row["case_id"].split("-")[0]: row for row in rows_of(out)}
    assert rows["air"]["status"] == "failed" and rows["air"]["reason"]
    for name in ("one", "two"):
        stl = out / "cases" / rows[name]["case_id"] / "bone.stl"
        assert int(rows[name]["triangles"]) == stl_triangles(stl)
    log = Path(os.environ["WORKSTATION_AUDIT_LOG"]).read_text()
    assert "batch into" in log and "2 done, 1 failed" in log


def _start_batch(inputs: Path, out: Path, plan: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WORKSTATION, "batch", str(inputs), "-o", str(out), "--plan", str(plan), "--workers", "1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


def test_ctrl_c_stops_cleanly_and_a_second_run_finishes_the_rest(tmp_path, plan_file):
    names = tuple(f"case{number:02d}" for number in range(10))
    write_cohort(tmp_path / "in", names)
    out = tmp_path / "out"
    process = _start_batch(tmp_path / "in", out, plan_file)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            cases = out / "cases"
            if cases.is_dir() and any(cases.iterdir()):
                break
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl+C reaches the whole group
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert stderr.strip() == "workstation: cancelled by the user."
    finished = sorted(path.name for path in (out / "cases").iterdir())
    assert 1 <= len(finished) < len(names)
    assert not list((out / ".partial").iterdir()) and not list((out / ".inputs").iterdir())
    for name in finished:
        assert (out / "cases" / name / "result.json").is_file()
        assert (out / "cases" / name / "bone.stl").is_file()
    statuses = {row["case_id"]: row["status"] for row in rows_of(out)}
    assert sorted(k for k, v in statuses.items() if v == "done") == finished
    assert list(statuses.values()).count("not run") == len(names) - len(finished)

    again = run_workstation(
        "batch", str(tmp_path / "in"), "-o", str(out), "--plan", str(plan_file),
        "--workers", "1", "--json",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    totals = json.loads(again.stdout)["totals"]
    assert totals["skipped"] == len(finished)
    assert totals["done"] == len(names) - len(finished) and totals["failed"] == 0
    assert {row["status"] for row in rows_of(out)} == {"done", "skipped"}
    assert len(list((out / "cases").iterdir())) == len(names)


@contextmanager
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and two ``dask worker`` processes on loopback."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "dask-logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str, environment: dict[str, str] | None = None) -> None:
        log = (logs / f"{name}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [str(DASK), *args],
                cwd=REPO,
                env={**os.environ, **(environment or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", str(port),
              "--no-dashboard")  # fmt: skip
        for number in (1, 2):  # the README's worker (may start pools) and a default one
            daemon = {"DASK_DISTRIBUTED__WORKER__DAEMON": "False"} if number == 1 else None
            start(f"worker{number}", "worker", address, "--nthreads", "1", "--nworkers", "1",
                  "--memory-limit", "2GB", "--no-dashboard", "--name", f"w{number}",
                  environment=daemon)  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            texts = [(logs / f"worker{n}.log").read_text(errors="replace") for n in (1, 2)]
            if all("Registered to" in text for text in texts):
                break
            if any(process.poll() is not None for process in processes):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the dask workers did not register within 60 s")
        yield address
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)


def test_a_batch_on_a_real_dask_scheduler_with_two_workers(tmp_path, plan_file):
    write_cohort(tmp_path / "in", ("a1", "a2", "a3", "a4"))
    out = tmp_path / "out"
    with dask_cluster(tmp_path) as address:
        result = run_workstation(
            "batch", str(tmp_path / "in"), "-o", str(out), "--plan", str(plan_file),
            "--scheduler", address, "--json",
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["totals"]["done"] == 4
    assert summary["cluster"]["address"] == address and not summary["cluster"]["local"]
    assert summary["cluster"]["workers"] == 2
    workers = {row["worker"] for row in summary["cases"]}
    assert len(workers) == 2 and all(w.startswith("tcp://127.0.0.1:") for w in workers)
    assert address not in workers  # the workers ran the cases, not the scheduler
    for row in summary["cases"]:
        assert (out / "cases" / row["case_id"] / "bone.stl").is_file()


def test_a_scheduler_out_of_reach_is_one_line(tmp_path, plan_file):
    write_cohort(tmp_path / "in", ("a",))
    address = f"tcp://127.0.0.1:{free_port()}"
    result = run_workstation(
        "batch", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--scheduler", address
    )
    assert result.returncode == 21
    assert result.stderr.count("\n") == 1
    assert f"Cannot reach the Dask scheduler at {address}" in result.stderr


def test_a_pacs_query_retrieves_each_study_before_its_case(tmp_path, plan_file, empty_orthanc):
    write_cohort(tmp_path / "in", ("p1", "p2"))
    empty_orthanc.upload_folder(tmp_path / "in")
    added = run_workstation("pacs", "add-server", "web", "--dicomweb", empty_orthanc.dicomweb_url)
    assert added.returncode == 0, added.stderr
    out = tmp_path / "out"
    result = run_workstation(
        "batch", "pacs:web?patient_id=PX001", "-o", str(out), "--plan", str(plan_file),
        "--workers", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["totals"] == {"cases": 1, "done": 1, "failed": 0, "skipped": 0, "not_run": 0}
    (row,) = summary["cases"]
    assert row["case_id"].startswith("web-") and "PX001" not in row["case_id"]
    assert stl_triangles(out / "cases" / row["case_id"] / "bone.stl") == row["triangles"][0]
    assert not list((out / ".inputs").iterdir())  # the retrieved study is gone again
    again = run_workstation(
        "batch", "pacs:web?patient_id=PX001", "-o", str(out), "--plan", str(plan_file),
        "--workers", "1", "--json",
    )  # fmt: skip
    assert json.loads(again.stdout)["totals"]["skipped"] == 1


def test_an_encrypted_project_is_a_plan_with_its_passphrase(tmp_path):
    """``--plan CASE.wsproj`` of an encrypted project opens with --passphrase-file; without
    it the batch stops before any case with one line."""
    write_cohort(tmp_path / "in", ("one",))
    series = tmp_path / "in" / "one"
    secret = tmp_path / "passphrase.txt"
    secret.write_text("correct horse battery staple\n")
    project = tmp_path / "case.wsproj"
    made = run_workstation(
        "segment", str(series), "--preset", "bone", "--name", "Bone", "-o", str(project),
        "--encrypt", "--passphrase-file", str(secret),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    out = tmp_path / "out"
    refused = run_workstation("batch", str(tmp_path / "in"), "-o", str(out), "--plan", str(project))
    assert refused.returncode == 19 and refused.stderr.count("\n") == 1, refused.stderr
    assert not (out / "cases").exists()
    result = run_workstation(
        "batch", str(tmp_path / "in"), "-o", str(out), "--plan", str(project),
        "--passphrase-file", str(secret), "--workers", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (row,) = json.loads(result.stdout)["cases"]
    assert row["status"] == "done"
    assert stl_triangles(out / "cases" / row["case_id"] / "Bone.stl") > 0
