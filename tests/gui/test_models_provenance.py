"""Exporting from the Models panel writes each file's provenance record beside it and keeps
the record in the session (which the project stores)."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.gui.test_panels_models import _create_model, _threshold, export_through_dialog
from tests.gui.test_panels_segmentation import open_panels
from workstation.io.mesh_export import read_3mf_metadata
from workstation.services.provenance import check_provenance

pytestmark = pytest.mark.gui


@pytest.fixture
def panels(qapp, qtbot, tmp_path, no_dangling_workers):
    """The segmentation and models panels on a fresh session for one test."""
    with open_panels(qapp, qtbot, tmp_path) as host:
        yield host


def _load(panels, path):
    """Open ``path`` as the window does: the scan (and its place) first, then the volume."""
    from workstation.services.loading import load_volume

    loaded = load_volume(path)
    panels.session.set_scan(loaded.scan, str(path))
    panels.session.set_volume(loaded.volume, loaded.stack)
    return loaded


def test_export_writes_the_record_and_adds_it_to_the_session(panels, synthetic_ct, tmp_path):
    loaded = _load(panels, synthetic_ct)
    segment = _threshold(panels, bounds=(100.0, 500.0))
    panels.segmentation.largest_button.click()
    panels.settle()
    panels.models.smooth_spin.setValue(0)
    entry = _create_model(panels)
    operations = [dict(record) for record in panels.editor.operations]
    assert [record["op"] for record in operations][-2:] == ["threshold", "islands"]
    panels.editor.apply({"op": "add_segment", "name": "Later"})  # after the model was built
    panels.settle()
    panels.session.set_modified(False)

    export_through_dialog(panels.qtbot, panels.models, panels.runner, tmp_path / "Ball.stl")
    assert not panels.errors, [error.message for error in panels.errors]
    written = tmp_path / "Ball.stl"
    sidecar = tmp_path / "Ball.provenance.json"
    assert panels.models.last_export == [written] and sidecar.is_file()
    (record,) = panels.session.provenance
    assert json.loads(sidecar.read_text()) == json.loads(json.dumps(record))
    assert panels.session.modified, "a new record is an unsaved change of the case"
    assert record["files"][0]["sha256"] == hashlib.sha256(written.read_bytes()).hexdigest()
    assert record["files"][0]["name"] == "Ball.stl" and record["files"][0]["coords"] == "lps"
    assert record["segment"] == {"id": segment.segment_id, "name": segment.name}
    assert record["operations"] == json.loads(json.dumps(operations))
    assert record["mesh_parameters"] == json.loads(json.dumps(entry.parameters))
    assert record["model"] == {"name": entry.name, "statistics": entry.statistics}
    (series,) = record["sources"]
    dicom_files = sorted(p for p in (synthetic_ct / "series").iterdir())
    assert series["series_instance_uid"] == loaded.volume.source.identity.series_uid
    assert {item["name"] for item in series["files"]} == {f"series/{p.name}" for p in dicom_files}
    for item in series["files"]:
        data = (synthetic_ct / item["name"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest()
    assert panels.session.sources is not None, "hashed once, kept for the next export"
    assert check_provenance(written).ok

    # a second export (3MF, RAS) adds its own record; the file holds it too
    export_through_dialog(
        panels.qtbot, panels.models, panels.runner, tmp_path / "Ball.3mf", ".3mf", "ras"
    )
    assert not panels.errors
    assert len(panels.session.provenance) == 2
    second = panels.session.provenance[1]
    inside = json.loads(read_3mf_metadata(tmp_path / "Ball.3mf")["sp:provenance"])
    assert inside["content_sha256"] == second["files"][0]["content_sha256"]
    assert inside["sources"] == second["sources"] == record["sources"]
    shared = json.loads(sidecar.read_text())
    assert sorted(item["name"] for item in shared["files"]) == ["Ball.3mf", "Ball.stl"]
    assert check_provenance(tmp_path / "Ball.3mf").ok and check_provenance(written).ok
