"""The report's tables from JSON records: facts, nested lists of records, flagged rows."""

from __future__ import annotations

from tests.io.report_cases import report_content
from workstation.io.report_sections import record_tables, report_tables, sources_digest


def _by_title(tables):
    return {table.title: table for table in tables}


def test_dose_checks_flag_only_what_exceeds():
    tables = _by_title(report_tables(report_content()))
    checks = tables["Radiation dose: reference levels, checks"]
    assert checks.columns == ["Exam", "Quantity", "Value", "Level", "Unit", "Exceeded"]
    assert checks.flagged == {0}  # DLP 912.5 over 790; CTDIvol 18.25 under 20
    facts = tables["Radiation dose"]
    rows = {row[0]: row[1] for row in facts.rows}
    assert rows["Total DLP (mGy·cm)"] == "912.50"
    exceeded = [i for i, row in enumerate(facts.rows) if row[0] == "Exceeded"]
    assert exceeded and set(exceeded) <= facts.flagged


def test_a_guide_report_flags_blocked_sleeves_and_warnings():
    report = {
        "triangles": 1200, "min_wall_mm": 1.5,
        "clearance_mm": {"min": 0.1, "median": 0.3},
        "sleeves": [{"name": "Sleeve 1", "open": True}, {"name": "Sleeve 2", "open": False}],
        "slots": [],
        "warnings": ["Sleeve 2 is blocked along its axis"],
    }
    tables = _by_title(record_tables(report, "Guide printability", "Guide"))
    assert tables["Guide printability: sleeves"].flagged == {1}
    facts = tables["Guide printability"]
    rows = [row for row in facts.rows]
    assert ["Clearance (mm), min", "0.10"] in rows
    warning = rows.index(["Warnings", "Sleeve 2 is blocked along its axis"])
    assert warning in facts.flagged


def test_sections_without_data_say_so():
    content = report_content()
    content.dose = None
    content.qc = None
    content.models = []
    content.provenance = [{"model": "Bone.stl", "sources": "not a list"}]  # an odd record
    tables = _by_title(report_tables(content))
    assert tables["Radiation dose"].note == "Not available."
    assert tables["Protocol QC"].note == "Not available."
    assert tables["Models"].rows == [] and tables["Models"].note == "No models."


def test_the_sources_digest_does_not_depend_on_the_files_order():
    files = [{"name": "b.dcm", "sha256": "2" * 64}, {"name": "a.dcm", "sha256": "1" * 64}]
    assert sources_digest(files) == sources_digest(files[::-1])
    assert sources_digest(files) != sources_digest(files[:1])
