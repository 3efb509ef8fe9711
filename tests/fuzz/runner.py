"""Run one CLI command of one fuzz case in a bounded child of a preloaded fork server."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TIMEOUT = 20.0
DEFAULT_MEMORY = 4 << 30
#: The reader refuses loads needing more than this (issue 14).
READER_MEMORY_LIMIT = "1G"
#: One numeric thread per child: the machine is shared and results must not depend on it.
THREAD_ENV = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "VTK_SMP_MAX_THREADS",
    )
}
SERVER_GRACE = 15.0


@dataclass(frozen=True)
class RunResult:
    """How one command ended and what it printed."""

    argv: tuple[str, ...]
    exit_code: int | None
    signal: int | None
    timed_out: bool
    seconds: float
    maxrss_kb: int
    stdout: str
    stderr: str


class ServerDied(RuntimeError):
    """The fork server stopped answering; the runner restarts it."""


class ForkRunner:
    """Starts ``tests.fuzz.forkserver`` once and runs commands through it, each bounded."""

    def __init__(
        self,
        scratch: Path,
        timeout: float = DEFAULT_TIMEOUT,
        memory_bytes: int = DEFAULT_MEMORY,
    ) -> None:
        self.scratch = Path(scratch)
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self._server: subprocess.Popen | None = None
        self._runs = 0

    def __enter__(self) -> ForkRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen:
        env = {**os.environ, **THREAD_ENV, "PYTHONHASHSEED": "0"}
        env.pop("WORKSTATION_MEMORY_LIMIT", None)
        return subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.forkserver"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def _read(self, timeout: float) -> dict:
        server = self._server
        ready, _, _ = select.select([server.stdout], [], [], timeout)
        line = server.stdout.readline() if ready else ""
        if not line:
            raise ServerDied("fork server did not answer")
        return json.loads(line)

    def run(self, argv: list[str], cwd: Path) -> RunResult:
        """Run ``workstation argv`` in ``cwd``; output goes to files in the scratch folder."""
        if self._server is None or self._server.poll() is not None:
            self._server = self._start()
        self._runs += 1
        out = self.scratch / f"run{self._runs}.out"
        err = self.scratch / f"run{self._runs}.err"
        request = {
            "argv": list(argv),
            "cwd": str(cwd),
            "stdout": str(out),
            "stderr": str(err),
            "timeout": self.timeout,
            "memory_bytes": self.memory_bytes,
            "env": {"WORKSTATION_MEMORY_LIMIT": READER_MEMORY_LIMIT},
        }
        child = None
        try:
            self._server.stdin.write(json.dumps(request) + "\n")
            self._server.stdin.flush()
            child = self._read(SERVER_GRACE)["pid"]
            answer = self._read(self.timeout + SERVER_GRACE)
        except (ServerDied, BrokenPipeError, OSError):
            if child is not None:
                _kill_group(child)
            self.close()
            answer = {
                "exit": None,
                "signal": None,
                "timed_out": True,
                "seconds": self.timeout,
                "maxrss_kb": 0,
            }
        result = RunResult(
            tuple(argv),
            answer["exit"],
            answer["signal"],
            answer["timed_out"],
            answer["seconds"],
            answer["maxrss_kb"],
            _read_text(out),
            _read_text(err),
        )
        out.unlink(missing_ok=True)
        err.unlink(missing_ok=True)
        return result

    def close(self) -> None:
        """Stop the server (its children are already gone)."""
        server, self._server = self._server, None
        if server is None:
            return
        try:
            server.stdin.close()
            server.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            _kill_group(server.pid)
            server.wait()
        finally:
            server.stdout.close()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read_text(path: Path, limit: int = 1 << 20) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(limit).decode("utf-8", "replace")
    except FileNotFoundError:
        return ""
