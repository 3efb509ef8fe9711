"""Layering rules: only workstation.gui may import Qt or VTK rendering."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QT_FREE_PACKAGES = ("core", "io", "processing", "services", "cli")
FORBIDDEN_PREFIXES = ("PySide6", "shiboken6", "vtkmodules.qt", "workstation.gui")
RENDERING_MODULES = ("vtkRenderingCore", "vtkRenderingOpenGL2", "vtkRenderingVolume")
#: The case report's 3D pictures are rendered off-screen (EGL, no window, no Qt) by this
#: one module, loaded only when a report is drawn; it may import VTK rendering, never Qt.
OFFSCREEN_RENDERER = Path("workstation/processing/report_images.py")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_layers_never_import_qt_or_vtk_rendering() -> None:
    offenders = []
    for package in QT_FREE_PACKAGES:
        for path in (REPO / "workstation" / package).rglob("*.py"):
            if package == "cli" and path.name == "view_cmd.py":
                continue  # the GUI launcher imports workstation.gui lazily inside run()
            for name in _imported_modules(path):
                rendering = any(part in name for part in RENDERING_MODULES)
                if path.relative_to(REPO) == OFFSCREEN_RENDERER:
                    rendering = False  # Qt (vtkmodules.qt included) stays forbidden
                top_level_imports = name.startswith(FORBIDDEN_PREFIXES) or rendering
                if top_level_imports:
                    offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_command_line_scan_and_info_path_does_not_load_qt() -> None:
    code = (
        "import sys\n"
        "import workstation.cli.main as m\n"
        "m.build_parser()\n"
        "import workstation.services.loading, workstation.io.dicom.scan\n"
        "bad = [n for n in sys.modules if n.startswith(('PySide6', 'shiboken6'))]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert result.stdout.strip() == "", f"Qt imported by the CLI: {result.stdout}"
