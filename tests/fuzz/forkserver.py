"""A process that imports the CLI once and forks one bounded child per request.

Protocol (one JSON object per line): a request ``{"argv", "cwd", "stdout", "stderr",
"timeout", "memory_bytes", "env"}`` on stdin; the server answers ``{"pid": N}`` when the
child starts and then the result ``{"exit", "signal", "timed_out", "seconds", "maxrss_kb"}``.
Each child runs in its own process group, which is killed after the run, so workers the
command started (mesh, decode or header pools) never outlive it.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import resource
import signal
import sys
import time
from typing import Any

PR_SET_CHILD_SUBREAPER = 36
POLL_SECONDS = 0.005


def _become_subreaper() -> None:
    """Adopt orphaned grandchildren so they can be reaped (Linux only; best effort)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _child(request: dict[str, Any], main) -> None:
    """Run ``main(argv)`` with limits and redirected output; never returns."""
    code = 71
    try:
        os.setpgid(0, 0)
        limit = int(request["memory_bytes"])
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(request["cwd"])
        os.environ.update(request.get("env", {}))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, key in ((1, "stdout"), (2, "stderr")):
            target = os.open(request[key], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(target, fd)
            os.close(target)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), write_through=True)
        code = int(main(request["argv"]) or 0)
    except SystemExit as error:
        code = error.code if isinstance(error.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _reap_orphans() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_request(request: dict[str, Any], main, reply) -> dict[str, Any]:
    """Fork, wait up to the timeout, kill the group, and describe how the child ended."""
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(request, main)
    reply({"pid": pid})
    deadline = start + float(request["timeout"])
    timed_out = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            timed_out = True
            _kill_group(pid)
            _, status, usage = os.wait4(pid, 0)
            break
        time.sleep(POLL_SECONDS)
    seconds = time.monotonic() - start
    _kill_group(pid)
    _reap_orphans()
    return {
        "exit": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        "timed_out": timed_out,
        "seconds": round(seconds, 4),
        "maxrss_kb": int(usage.ru_maxrss),
    }


def serve() -> None:
    """Answer requests from stdin until it closes."""
    from workstation.cli import info_cmd, main, mesh_cmd, scan_cmd  # noqa: F401 - preload

    _become_subreaper()
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)

    def reply(message: dict[str, Any]) -> None:
        protocol.write(json.dumps(message) + "\n")
        protocol.flush()

    with protocol:
        for line in sys.stdin:
            if line.strip():
                reply(run_request(json.loads(line), main.main, reply))


if __name__ == "__main__":
    serve()
