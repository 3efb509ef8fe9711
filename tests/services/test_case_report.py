"""Case report content from a saved project and from a DICOM folder (with its dose report
and a QC rule file), written and read back."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.uid import generate_uid

from tests.io.report_cases import need_poppler, pdf_text
from tests.services.project_cases import VIEW, build_case, open_session, write_ct
from tests.support.dose_sr import Event, write_dose_sr
from workstation.core.errors import PlanError
from workstation.processing.mesh_statistics import mesh_statistics
from workstation.services.case_report import (
    REPORT_EXTENSIONS,
    content_from_project,
    content_from_source,
    write_report,
)
from workstation.services.loading import load_volume
from workstation.services.modeling import ModelOptions, make_model_from_volume
from workstation.services.project import contents_from_session, open_project, save_project

RULES = """
[[rules]]
name = "Synthetic CT"
[rules.match]
modality = "CT"
[rules.expect]
min_slices = 100
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A small tilted CT and, in the same study, a dose report of two events."""
    folder = tmp_path_factory.mktemp("study")
    study_uid = generate_uid()
    write_ct(folder / "dicom", study_uid=study_uid)
    write_dose_sr(folder / "dicom" / "dose.dcm", [Event(), Event(protocol="Head thin")],
                  total_dlp=1400.5, study_uid=study_uid)
    rules = folder / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    return {"folder": folder / "dicom", "study_uid": study_uid, "rules": rules}


@pytest.fixture(scope="module")
def project(study, tmp_path_factory):
    session = build_case(open_session(study["folder"]))
    path = tmp_path_factory.mktemp("project") / "case.wsproj"
    save_project(path, contents_from_session(session, VIEW))
    return {"path": path, "session": session}


def test_extensions_are_the_registry_formats():
    from workstation.io.writers import formats

    assert set(REPORT_EXTENSIONS) <= {extension for extension, _ in formats("report")}


def test_content_from_a_project_holds_its_case(project, tmp_path):
    opened = open_project(project["path"])
    content = content_from_project(opened, created="2026-12-02T00:00:00Z")
    session = project["session"]
    shown = [entry for entry in session.models.values() if entry.visible]
    assert [model.name for model in content.models] == [entry.name for entry in shown]
    bone = content.models[0]
    assert bone.statistics["volume_mm3"] == pytest.approx(
        mesh_statistics(shown[0].mesh).volume_mm3
    )
    assert bone.opacity == pytest.approx(0.6)
    assert [record["name"] for record in content.segment_statistics] == [
        "Bone", "Painted", "Hidden"]
    voxels = int(session.editor.segmentation.by_name("Bone").mask.sum())
    assert content.segment_statistics[0]["statistics"]["voxels"] == voxels
    assert [m.name or m.kind for m in content.measurements] == ["distance", "Gonial",
                                                                 "roi_ellipse"]
    assert content.provenance == session.provenance
    assert content.identity.patient_name == "Synthetic Patient"
    assert content.facts["Project"] == "case.wsproj"

    need_poppler()
    text = pdf_text(write_report(content, tmp_path / "case.pdf"))
    assert f"{bone.statistics['volume_mm3']:,.1f}" in text
    assert "Gonial" in text and "Painted" in text and "Synthetic Patient" in text
    assert f"{voxels:,}" in text


def test_content_from_a_folder_with_dose_and_qc(study, tmp_path):
    content = content_from_source(study["folder"], mesh_preset="bone", qc_rules=study["rules"])
    # the model is the one `workstation mesh --preset bone` makes
    loaded = load_volume(study["folder"], purpose="model")
    expected = make_model_from_volume(loaded.volume, ModelOptions(preset="bone"))
    assert content.models[0].statistics["volume_mm3"] == pytest.approx(
        expected.statistics.volume_mm3
    )
    assert np.allclose(content.volume.affine, loaded.volume.affine)
    # the dose report of the same study
    assert content.dose is not None and content.dose["study_uid"] == study["study_uid"]
    assert content.dose["total_dlp_mgycm"] == pytest.approx(1400.5)
    # 24 slices against at least 100
    assert content.qc is not None and content.qc["status"] == "fail"
    assert content.qc["rule"] == "Synthetic CT"

    need_poppler()
    text = pdf_text(write_report(content, tmp_path / "case.pdf"))
    assert "1,400.50" in text and "Head thin" in text
    assert "Synthetic CT" in text and "fail" in text


def test_without_a_dose_report_the_image_attributes_or_nothing(tmp_path):
    write_ct(tmp_path / "ct")
    content = content_from_source(tmp_path / "ct")
    assert content.models == [] and content.qc is None
    need_poppler()
    text = pdf_text(write_report(content, tmp_path / "case.pdf"))
    assert "Not available." in text  # QC


def test_a_bad_rule_file_stops_before_loading(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nname = 3\n", encoding="utf-8")
    with pytest.raises(PlanError) as caught:
        content_from_source(tmp_path / "missing-folder", qc_rules=bad)
    assert "\n" not in caught.value.message


@pytest.mark.slow
def test_a_real_tilted_head_ct_with_its_bone_model(tmp_path):
    from tests.support.shared_data import shared_data_path

    source = shared_data_path("ct_head_ge_gantry_tilt_dcmqa/dicom")
    content = content_from_source(source, mesh_preset="bone")
    assert content.identity.identity_removed  # the collection is de-identified
    volume = content.models[0].statistics["volume_mm3"]
    need_poppler()
    from tests.io.report_cases import pdf_pages

    path = write_report(content, tmp_path / "head.pdf")
    text = pdf_text(path)
    assert "De-identified" in text and f"{volume:,.1f}" in text
    assert "Gantry tilt" in text
    first = pdf_pages(path, tmp_path)[0].astype(int)
    # the bone model's colour in the 3D views (lower half of page 1)
    red, green, blue = (first[first.shape[0] // 2:, :, c] for c in range(3))
    bone = (red > 120) & (red > blue + 25) & (np.abs(red - green) < 30)
    assert bone.sum() > 2000
