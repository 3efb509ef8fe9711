"""mypy checks the Qt-free layers (core, io, processing, services) with typed definitions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKED = ("core", "io", "processing", "services")


def test_qt_free_layers_type_check(tmp_path) -> None:
    packages = [str(REPO / "workstation" / name) for name in CHECKED]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), *packages],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
