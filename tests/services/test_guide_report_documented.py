"""Every key of the guide's report is documented in the README's report table."""

from __future__ import annotations

import re
from pathlib import Path

from tests.services.guide_cases import REPORT_KEYS, write_case
from workstation.services.guides import generate_guide, load_bone, load_plan

README = Path(__file__).resolve().parents[2] / "README.md"


def _report_table() -> set[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index("#### The report (`--report REPORT.json`, `--json`)")
    end = text.index("\n#### ", start + 10)
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", text[start:end], flags=re.MULTILINE))


def test_every_report_key_has_a_row_in_the_readme(tmp_path: Path) -> None:
    plan = load_plan(write_case(tmp_path))
    report = generate_guide(plan, load_bone(plan)).report
    documented = _report_table()
    assert set(report) >= REPORT_KEYS
    missing = set(report) - documented
    assert not missing, f"report keys without a README row: {sorted(missing)}"
    text = README.read_text(encoding="utf-8")
    for key in report["clearance_mm"]:
        assert f"`{key}`" in text, key
