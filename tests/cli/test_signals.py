"""SIGTERM, SIGHUP and SIGKILL during a real `workstation mesh` export never lose data.

The export is made slow for real: an ASCII STL of a grid of small cubes (no smoothing or
decimation) takes a few tenths of a second to format.  The signal is sent once the
temporary file exists, i.e. mid-export.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.dicom_factory import write_series

pytest.importorskip("workstation.services.loading", reason="the DICOM loader is not available")
pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

REPO = Path(__file__).resolve().parents[2]
PREVIOUS = b"previous model, must survive"
SLOW = ["--threshold", "500", "--smooth", "0", "--decimate", "0", "--min-island", "0"]
SLOW += ["--keep-table", "--ascii"]


def cube_grid(size: int, period: int) -> np.ndarray:
    """Many separate cubes: lots of triangles from a small, quickly meshed volume."""
    inside = (np.arange(size) % period) < period - 2
    mask = inside[:, None, None] & inside[None, :, None] & inside[None, None, :]
    return np.where(mask, 1000, 0).astype(np.int16)


@pytest.fixture(scope="module")
def studies(tmp_path_factory) -> tuple[Path, Path]:
    """(slow study, fast study) as DICOM folders."""
    root = tmp_path_factory.mktemp("signals")
    write_series(root / "slow", cube_grid(56, 5))
    small = np.zeros((6, 16, 16), np.int16)
    small[2:4, 4:12, 4:12] = 1000
    write_series(root / "fast", small)
    return root / "slow", root / "fast"


def start_mesh(study: Path, output: Path, *options: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workstation", "mesh", str(study), "-o", str(output), *options],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def temporaries(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".part"))


def wait_for_temporary(process: subprocess.Popen, folder: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not temporaries(folder):
        if process.poll() is not None:
            pytest.fail(f"the export ended before it could be stopped: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("no temporary file appeared")
        time.sleep(0.005)


def stop_mid_export(study: Path, output: Path, signum: int) -> tuple[int, str, str]:
    process = start_mesh(study, output, *SLOW)
    try:
        wait_for_temporary(process, output.parent)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    return process.returncode, out, err


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["TERM", "HUP"]
)
def test_term_and_hup_clean_up_like_ctrl_c(studies, tmp_path, signum, code):
    output = tmp_path / "model.stl"
    output.write_bytes(PREVIOUS)
    returncode, out, err = stop_mid_export(studies[0], output, signum)
    assert returncode == code
    assert err == f"workstation: stopped by {signal.Signals(signum).name}.\n"
    assert out == ""
    assert output.read_bytes() == PREVIOUS
    assert os.listdir(tmp_path) == ["model.stl"]  # no temporary file left


def test_kill_keeps_the_old_file_and_the_next_run_removes_the_leftover(studies, tmp_path):
    output = tmp_path / "model.stl"
    output.write_bytes(PREVIOUS)
    returncode, _, _ = stop_mid_export(studies[0], output, signal.SIGKILL)
    assert returncode == -signal.SIGKILL
    assert output.read_bytes() == PREVIOUS
    (left,) = temporaries(tmp_path)  # SIGKILL cannot be handled: the next write cleans up
    assert left.startswith(".ws-") and len(left) < 50
    again = start_mesh(studies[1], output, "--threshold", "500")
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0 and err == ""
    assert output.read_bytes()[:9] == b"SPACE=LPS"
    assert sorted(os.listdir(tmp_path)) == ["model.provenance.json", "model.stl"]


def test_handlers_are_restored_after_a_command(studies, tmp_path, capsys):
    from workstation.cli.main import main

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    assert main(["mesh", str(studies[1]), "-o", str(tmp_path / "m.stl"), "--threshold", "500"]) == 0
    capsys.readouterr()
    assert {s: signal.getsignal(s) for s in before} == before


def test_signal_raises_the_stop_exception_in_process():
    from workstation.cli.signals import StoppedBySignal, stop_on_signals

    with pytest.raises(StoppedBySignal) as caught, stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this at once
    assert caught.value.exit_code == 143 and str(caught.value) == "stopped by SIGTERM"
    assert isinstance(caught.value, KeyboardInterrupt)  # Ctrl+C clean-up applies


def test_a_swallowed_stop_is_raised_again_when_the_block_ends():
    from workstation.cli.signals import StoppedBySignal, stop_on_signals

    with pytest.raises(StoppedBySignal) as caught, stop_on_signals():
        try:  # as Python does for exceptions in at-fork hooks and __del__
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(5)
        except StoppedBySignal:
            pass
    assert caught.value.exit_code == 129


def test_an_ignored_hangup_stays_ignored():
    from workstation.cli.signals import stop_on_signals

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with stop_on_signals():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)  # nothing happens
    finally:
        signal.signal(signal.SIGHUP, previous)
