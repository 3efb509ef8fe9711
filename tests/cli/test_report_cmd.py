"""``workstation report`` in a fresh process: DICOM and project inputs, --json, one-line
errors with exit 22, a de-identified study shows no original name."""

from __future__ import annotations

import json

import pytest
from pydicom.uid import generate_uid

from tests.io.report_cases import need_poppler, pdf_pages, pdf_text
from tests.services.project_cases import VIEW, build_case, open_session, write_ct
from tests.support.cli import run_workstation
from tests.support.dose_sr import Event, write_dose_sr
from workstation.services.project import contents_from_session, save_project


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    folder = tmp_path_factory.mktemp("study") / "dicom"
    study_uid = generate_uid()
    write_ct(folder, study_uid=study_uid)
    write_dose_sr(folder / "dose.dcm", [Event(dlp=5000.0)], total_dlp=5000.0,
                  study_uid=study_uid)
    return folder


@pytest.mark.slow
def test_a_dicom_folder_with_a_bone_model(study, tmp_path):
    out = tmp_path / "case.pdf"
    result = run_workstation("report", str(study), "-o", str(out), "--mesh-preset", "bone",
                             "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["output"] == str(out) and summary["format"] == "pdf"
    assert summary["bytes"] == out.stat().st_size
    model = summary["models"][0]
    assert model["watertight"] is True and model["volume_mm3"] > 0
    assert summary["dose"]["exceeded"] and summary["qc"] is None
    need_poppler()
    text = pdf_text(out)
    assert f"{model['volume_mm3']:,.1f}" in text
    assert "5,000.00" in text and "Synthetic Patient" in text
    pages = pdf_pages(out, tmp_path)
    assert len(pages) >= 2


def test_unknown_extension_is_one_line_with_exit_22(study, tmp_path):
    result = run_workstation("report", str(study), "-o", str(tmp_path / "case.txt"))
    assert result.returncode == 22
    assert result.stderr.count("\n") == 1 and ".pdf or .html" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_flags_that_do_not_fit_the_input(study, tmp_path):
    project = run_workstation("report", str(tmp_path / "x.wsproj"), "-o",
                              str(tmp_path / "a.pdf"), "--mesh-preset", "bone")
    assert project.returncode == 22 and "--mesh-preset" in project.stderr
    preset = run_workstation("report", str(study), "-o", str(tmp_path / "a.pdf"),
                             "--mesh-preset", "granite")
    assert preset.returncode == 22 and "granite" in preset.stderr


@pytest.mark.slow
def test_a_project_as_html_with_qc(study, tmp_path):
    session = build_case(open_session(study))
    project = save_project(tmp_path / "case.wsproj", contents_from_session(session, VIEW))
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rules]]\nname = "Any CT"\n[rules.match]\nmodality = "CT"\n'
                     "[rules.expect]\nmin_slices = 10\n", encoding="utf-8")
    out = tmp_path / "case.html"
    result = run_workstation("report", str(project), "-o", str(out), "--qc-rules", str(rules),
                             "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["qc"] == {"status": "pass", "rule": "Any CT"}  # 24 slices, 10 needed
    assert summary["measurements"] == 3 and summary["segments"] == 3
    assert [m["name"] for m in summary["models"]] == ["Bone"]  # the hidden Ring left out
    text = out.read_text(encoding="utf-8")
    assert "Gonial" in text and "Any CT" in text
    # DLP 5000 mGy·cm is over the bundled table's head level
    assert any("EXCEEDED" in line for line in summary["dose"]["exceeded"])
    assert '<tr class="flag"><th>Exceeded</th>' in text


@pytest.mark.slow
def test_a_deidentified_study_shows_no_original_name(study, tmp_path):
    anonymous = tmp_path / "anonymous"
    done = run_workstation("deidentify", str(study), "-o", str(anonymous), "--json")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "anonymous.pdf"
    result = run_workstation("report", str(anonymous), "-o", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["deidentified"] is True
    need_poppler()
    text = pdf_text(out)
    assert "De-identified" in text
    for original in ("Synthetic Patient", "Synthetic", "SYNTH001"):
        assert original not in text
