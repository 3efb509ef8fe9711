"""Compile the workstation's modules to cached bytecode before whole-process timings.

An installed workstation runs from cached bytecode (pip and the bundle compile it; a
checkout writes it on the first run).  Where PYTHONDONTWRITEBYTECODE is set, as on some
CI and container images, every process would compile about 60 modules again (about
0.05 s for ``info``) and the timing would measure the compiler, not the workstation.
"""

from __future__ import annotations

import compileall
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "workstation"


def compile_bytecode() -> None:
    """Write ``__pycache__`` for every module of the package (quietly; idempotent)."""
    compileall.compile_dir(str(PACKAGE), quiet=1)
