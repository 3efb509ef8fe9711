"""The open case as report content: header, models, segment figures, snapshots, dose."""

from __future__ import annotations

import subprocess
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.services.case_cases import LEFT, cube_centre, cube_voxels, phantom
from tests.support.dicom_factory import write_series
from workstation.core.errors import ReportError
from workstation.services.loading import load_volume
from workstation.services.modeling import ModelOptions, make_segment_model, segment_model_options
from workstation.services.report_session import (
    add_segment_statistics,
    content_from_session,
    session_content,
    session_dose,
)
from workstation.services.session import Session

OPTIONS = ModelOptions(smooth_iterations=4, decimate_fraction=0.0, workers=0)
CTDIVOL = 12.5


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    """The bone cubes, each image stating its CTDIvol (0018,9345)."""
    folder = tmp_path_factory.mktemp("cubes") / "dicom"
    for path in write_series(folder, phantom(), series_description="Bone cubes"):
        dataset = pydicom.dcmread(path)
        dataset.CTDIvol = CTDIVOL
        dataset.save_as(path)
    return folder


def case(series: Path) -> Session:
    """A session with a Left segment (threshold + island at the seed), its model, a hidden
    second model, one measurement and one planning point."""
    loaded = load_volume(series)
    session = Session()
    session.set_scan(loaded.scan, str(series))
    session.set_volume(loaded.volume, loaded.stack)
    editor = session.editor
    editor.apply({"op": "add_segment", "name": "Left"})
    editor.apply({"op": "threshold", "segment": "Left", "lower": 226.0})
    editor.apply(
        {"op": "islands", "segment": "Left", "mode": "keep_seed", "seed_lps": cube_centre(LEFT)}
    )
    segment = editor.segmentation.by_name("Left")
    result = make_segment_model(session.volume, segment, OPTIONS)
    for name in ("Left bone", "Hidden copy"):
        entry = session.add_model(
            result.mesh,
            result.statistics.as_dict(),
            name=name,
            color=(0.2, 0.4, 0.6),
            segment_id=segment.segment_id,
            parameters=asdict(segment_model_options(segment, OPTIONS)),
        )
    session.update_model(entry.model_id, visible=False, opacity=0.5)
    session.measurements.add(
        "distance", [[10.0, 15.0, 10.0], [20.0, 15.0, 10.0]], "axial", "10.0 mm",
        {"distance_mm": 10.0},
    )  # fmt: skip
    session.planning.add("point", [[14.0, 16.0, 15.0]], name="Entry")
    session.provenance = [
        {"model": {"name": "Left bone"}, "files": [{"name": "Left_bone.stl"}]},
        {"model": {"name": "Left bone"}, "files": [{"name": "Left_bone.3mf"}]},
    ]
    return session


def test_content_holds_the_case(series):
    session = case(series)
    content = content_from_session(session, created="2026-01-02T03:04:05Z")
    assert content.title == "Case report: Synthetic study"  # the study description
    assert content.identity == session.volume.source.identity
    assert content.volume is session.volume
    assert content.created == "2026-01-02T03:04:05Z"
    (model,) = content.models  # the hidden one is not shown
    assert model.name == "Left bone" and model.color == (0.2, 0.4, 0.6)
    assert model.files == ["Left_bone.stl", "Left_bone.3mf"]
    assert model.statistics == next(iter(session.models.values())).statistics
    (segment,) = content.segment_statistics
    assert segment["name"] == "Left"
    assert segment["statistics"]["voxels"] == cube_voxels(LEFT)
    assert segment["statistics"]["volume_mm3"] == pytest.approx(cube_voxels(LEFT))
    assert [(m.kind, m.text) for m in content.measurements] == [("distance", "10.0 mm")]
    assert [p.name for p in content.planning] == ["Entry"]
    assert content.provenance == session.provenance and content.provenance is not session.provenance
    assert content.dose is None and content.qc is None


def test_content_is_a_snapshot_the_window_may_go_on_editing(series):
    session = case(series)
    content = session_content(session)
    assert content.segment_statistics == []
    before = content.segmentation.by_name("Left").mask.copy()
    session.editor.apply(
        {"op": "morphology", "segment": "Left", "operation": "erode", "radius_mm": 1.0}
    )
    session.update_model(next(iter(session.models)), name="Renamed")
    assert np.array_equal(content.segmentation.by_name("Left").mask, before)
    assert content.models[0].name == "Left bone"
    add_segment_statistics(content)
    assert content.segment_statistics[0]["statistics"]["voxels"] == cube_voxels(LEFT)


def test_a_saved_case_is_titled_by_its_project(series, tmp_path):
    session = case(series)
    session.project_path = str(tmp_path / "Knee plan.wsproj")
    content = session_content(session)
    assert content.title == "Case report: Knee plan"
    assert content.facts == {"Project": "Knee plan.wsproj"}


def test_the_dose_comes_from_the_scanned_images(series):
    session = case(series)
    dose = session_dose(session)
    assert dose is not None
    assert dose["study_uid"] == session.volume.source.identity.study_uid
    (figures,) = dose["series"]
    assert figures["ctdivol_mgy"] == pytest.approx(CTDIVOL)
    assert figures["ctdivol_from"] == "images"
    content = content_from_session(session, dose=dose)
    assert content.dose == dose and content.dose is not dose


def test_nothing_loaded(series):
    with pytest.raises(ReportError, match="Load a series"):
        content_from_session(Session())
    assert session_dose(Session()) is None


def test_the_written_report_names_the_model(series, tmp_path):
    """Equal content → byte-identical PDF; its text names the model and the segment."""
    from workstation.services.case_report import write_report

    session = case(series)
    first = write_report(content_from_session(session, created="2026-01-02T03:04:05Z"),
                         tmp_path / "a.pdf")  # fmt: skip
    second = write_report(content_from_session(session, created="2026-01-02T03:04:05Z"),
                          tmp_path / "b.pdf")  # fmt: skip
    assert first.read_bytes() == second.read_bytes()
    text = subprocess.run(
        ["pdftotext", str(first), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Left bone" in text and "Hidden copy" not in text
