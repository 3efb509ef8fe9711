"""`workstation --version`: the build and library versions, without loading Qt or VTK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workstation import __version__

WORKSTATION = Path(sys.executable).with_name("workstation")


def test_version_prints_the_build_and_libraries():
    result = subprocess.run([str(WORKSTATION), "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"workstation {__version__}"
    assert lines[1].startswith("commit ")
    assert [line.split()[0] for line in lines[3:]] == ["Qt", "VTK", "pydicom", "SimpleITK", "numpy"]


def test_version_loads_neither_qt_nor_vtk():
    probe = (
        "import sys\n"
        "from workstation.cli.main import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'vtkmodules'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
