"""A generated guide as a slicer sees it: PrusaSlicer reads it as one manifold part.

PrusaSlicer (Debian's ``prusa-slicer``, installed by the test command) is a real client
of the file: ``--info`` prints whether the mesh is manifold, its parts, size and volume,
and ``--export-gcode`` slices it for printing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.guide_cases import write_case

PRUSA = shutil.which("prusa-slicer")
pytestmark = pytest.mark.skipif(
    PRUSA is None, reason="prusa-slicer is not installed (bash installer/test.sh installs it)"
)


def _info(path: Path) -> dict[str, str]:
    result = subprocess.run(
        [PRUSA, "--info", str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    return dict(re.findall(r"^(\w+) = *(.+)$", result.stdout, flags=re.MULTILINE))


def test_prusa_slicer_reads_the_guide_as_one_manifold_part_and_slices_it(tmp_path: Path) -> None:
    plan = write_case(tmp_path)
    guide, report = tmp_path / "GUIDE.stl", tmp_path / "REPORT.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workstation",
            "guide",
            str(plan),
            "-o",
            str(guide),
            "--report",
            str(report),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(report.read_text())

    info = _info(guide)
    assert info["manifold"] == "yes"
    assert int(info["number_of_parts"]) == 1 == figures["components"]
    assert int(info["number_of_facets"]) == figures["triangles"]
    # PrusaSlicer computes the volume in single precision from the STL's float32 vertices.
    assert float(info["volume"]) == pytest.approx(figures["volume_mm3"], rel=1e-3)
    low, high = (figures["bounds_lps"][0], figures["bounds_lps"][1])
    for axis, name in enumerate("xyz"):
        assert float(info[f"size_{name}"]) == pytest.approx(high[axis] - low[axis], abs=1e-3)

    gcode = tmp_path / "GUIDE.gcode"
    subprocess.run(
        [PRUSA, "--export-gcode", "--center", "125,105", str(guide), "--output", str(gcode)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    layers = gcode.read_text(errors="replace").count(";LAYER_CHANGE")
    assert layers > 10  # sliced into printable layers, not an empty file
