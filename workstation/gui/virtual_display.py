"""Start a private Xvfb X server when there is no display (tests, screenshots).

Qt widgets with an embedded VTK view need a real X server (``QT_QPA_PLATFORM=xcb``);
the offscreen Qt platform does not work with VTK's OpenGL window.  Xvfb picks a free
display number itself (``-displayfd``), so parallel runs never collide.
"""

from __future__ import annotations

import ctypes
import os
import select
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass

from workstation.core.errors import WorkstationError

#: prctl option: signal the child when its parent dies (linux/prctl.h).
PR_SET_PDEATHSIG = 1

#: Seconds to wait for Xvfb to report its display number.
START_TIMEOUT_S = 15.0


class DisplayUnavailableError(WorkstationError):
    """No X display exists and none could be started."""

    exit_code = 9


@dataclass
class VirtualDisplay:
    """A running Xvfb process and the DISPLAY value that reaches it."""

    process: subprocess.Popen
    display: str

    def stop(self) -> None:
        """Terminate the X server now (idempotent).

        Only safe before any VTK window was created in this process; otherwise let the
        server end with the process (it gets SIGTERM when its parent exits).
        """
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def xvfb_available() -> bool:
    """True when the Xvfb program is installed."""
    return shutil.which("Xvfb") is not None


def start_xvfb(width: int = 1600, height: int = 1000, depth: int = 24) -> VirtualDisplay:
    """Start ``Xvfb -displayfd`` on a free display number; raise DisplayUnavailableError."""
    program = shutil.which("Xvfb")
    if program is None:
        raise DisplayUnavailableError(
            "No display and Xvfb is not installed: install the 'xvfb' package "
            "(installer/setup.sh does) or run under a desktop session."
        )
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            [
                program,
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                f"{width}x{height}x{depth}",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            pass_fds=(write_fd,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
    finally:
        os.close(write_fd)
    try:
        number = _read_display_number(read_fd, process)
    except DisplayUnavailableError:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)
        raise
    finally:
        os.close(read_fd)
    return VirtualDisplay(process, f":{number}")


def _die_with_parent() -> None:
    """In the child: ask Linux to send SIGTERM when the parent process ends.

    VTK's OpenGL windows keep their own X connections until the interpreter's very last
    clean-up; stopping the server earlier makes Xlib abort the process ("XIO fatal IO
    error").  So the server normally lives exactly as long as the process using it.
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _read_display_number(read_fd: int, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    data = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([read_fd], [], [], 0.1)
        if ready:
            chunk = os.read(read_fd, 64)
            data += chunk
            if b"\n" in data or not chunk:
                break
        elif process.poll() is not None:
            break
    text = data.decode(errors="replace").strip()
    if not text.isdigit():
        raise DisplayUnavailableError(
            f"Xvfb did not start (exit code {process.poll()}); cannot open a virtual display."
        )
    return int(text)


def ensure_display(width: int = 1600, height: int = 1000) -> VirtualDisplay | None:
    """Make sure Qt can open windows: start Xvfb when DISPLAY is unset.

    Sets ``DISPLAY`` and ``QT_QPA_PLATFORM=xcb`` in this process's environment.  Returns
    the started display, or None when a display already existed.  The server ends with
    this process.  Call before any QApplication exists.
    """
    started = None
    if not os.environ.get("DISPLAY"):
        started = start_xvfb(width, height)
        os.environ["DISPLAY"] = started.display
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    return started
