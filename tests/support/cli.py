"""Run the ``workstation`` command in a fresh process, as a user would, with a time limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_workstation(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -m workstation ARGS`` from the repository root; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "workstation", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )
