"""The third-party licence list: the run-time closure only, each with its licence text."""

from __future__ import annotations

import subprocess
import sys

from workstation.services.licences import licence_list_text, third_party_components


def test_the_list_holds_the_runtime_closure_and_not_the_test_tools():
    names = {component.name.lower().replace("_", "-") for component in third_party_components()}
    for needed in ("pydicom", "vtk", "numpy", "pyside6-essentials", "shiboken6", "python"):
        assert needed in names, needed
    assert "qt (libraries inside pyside6)" in names
    for test_tool in ("pytest", "ruff", "mypy", "import-linter", "pyinstaller"):
        assert test_tool not in names, test_tool


def test_every_component_names_a_licence_and_numpy_brings_its_text():
    components = third_party_components()
    assert all(component.licence for component in components)
    numpy = next(component for component in components if component.name == "numpy")
    assert any("Copyright" in text for _, text in numpy.texts)
    text = licence_list_text(components)
    assert "numpy" in text and "LGPL-3.0-only" in text


def test_the_command_writes_the_list_and_refuses_a_bad_path(tmp_path):
    target = tmp_path / "THIRD-PARTY-LICENSES.txt"
    done = subprocess.run(
        [sys.executable, "-m", "workstation.services.licences", str(target)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "pydicom" in target.read_text()
    refused = subprocess.run(
        [sys.executable, "-m", "workstation.services.licences", str(tmp_path / "no" / "x.txt")],
        capture_output=True, text=True,
    )
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr and "cannot write" in refused.stderr
