"""Session: events, one segment editor per volume, models; Qt-free."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from workstation.core.mesh import Mesh
from workstation.core.volume import Volume
from workstation.io.dicom.model import ScanResult
from workstation.services import session as session_module
from workstation.services.session import Session


def _volume(shape=(6, 7, 8)) -> Volume:
    affine = np.diag([2.0, 0.5, 0.5, 1.0])
    affine[:3, 3] = (10.0, -20.0, 30.0)
    array = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    return Volume(array, affine, units="HU")


def _tetra() -> Mesh:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    return Mesh(vertices, faces, name="Bone")


class Recorder:
    def __init__(self, session: Session) -> None:
        self.events: list[tuple[str, object]] = []
        for name in session_module.EVENTS:
            session.subscribe(name, lambda payload, name=name: self.events.append((name, payload)))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


def test_set_volume_gives_a_new_editor_and_clears_models():
    session = Session()
    session.set_volume(_volume())
    first = session.editor
    first.apply({"op": "add_segment", "name": "Bone"})
    session.add_model(_tetra())
    recorder = Recorder(session)
    session.set_volume(_volume())
    assert session.editor is not first and len(session.editor.segmentation) == 0
    assert session.models == {}
    assert recorder.names() == ["model_removed", "volume", "editor", "modified"]
    assert recorder.events[-1] == ("modified", False)
    session.set_volume(None)
    assert session.editor is None


def test_edits_models_and_measurements_mark_the_case_modified():
    session = Session()
    session.set_volume(_volume())
    assert not session.modified
    session.editor.apply({"op": "add_segment", "name": "Bone"})
    assert session.modified
    session.set_modified(False)
    entry = session.add_model(_tetra())
    assert session.modified
    session.set_modified(False)
    session.update_model(entry.model_id, opacity=0.5)
    assert session.modified
    session.set_modified(False)
    session.measurements.add("distance", [(0, 0, 0), (3, 4, 0)], "axial", "5.0 mm")
    assert session.modified
    session.set_modified(False)
    session.editor.set_display(session.editor.segmentation.segments[0].segment_id, visible=False)
    assert session.modified
    old_editor = session.editor
    session.set_volume(_volume())
    assert not session.modified and len(session.measurements) == 0
    old_editor.apply({"op": "add_segment", "name": "Old"})  # the old editor no longer counts
    assert not session.modified


def test_unknown_event_is_refused():
    with pytest.raises(ValueError, match="unknown session event"):
        Session().subscribe("nonsense", print)


def test_model_entries_remember_their_segment_and_parameters():
    session = Session()
    session.set_volume(_volume())
    entry = session.add_model(_tetra(), segment_id="segment-1", parameters={"smooth": 20})
    assert entry.segment_id == "segment-1" and entry.parameters == {"smooth": 20}


def test_models_add_update_remove_with_events():
    session = Session()
    session.set_volume(_volume())
    recorder = Recorder(session)
    entry = session.add_model(_tetra(), {"triangles": 4})
    second = session.add_model(_tetra(), name="Skull", color=(1, 0, 0))
    assert entry.model_id != second.model_id
    assert entry.name == "Bone" and second.name == "Skull" and second.color == (1, 0, 0)
    assert entry.color != session.add_model(_tetra()).color
    session.update_model(entry.model_id, name="Pelvis", opacity=1.7, visible=False)
    assert entry.name == "Pelvis" and entry.mesh.name == "Pelvis"
    assert entry.opacity == 1.0 and entry.visible is False
    session.update_model(entry.model_id, name="   ")
    assert entry.name == "Pelvis"
    session.remove_model(entry.model_id)
    assert entry.model_id not in session.models
    assert [name for name in recorder.names() if name != "modified"] == [
        "model_added",
        "model_added",
        "model_added",
        "model_changed",
        "model_changed",
        "model_removed",
    ]
    with pytest.raises(KeyError):
        session.update_model("missing", opacity=0.5)


def test_scan_event_and_unsubscribe():
    session = Session()
    seen = []
    session.subscribe("scan", seen.append)
    scan = ScanResult(root="/data")
    session.set_scan(scan)
    assert seen == [scan] and session.source_path == "/data"
    session.unsubscribe("scan", seen.append)
    session.set_scan(None, "/other")
    assert len(seen) == 1 and session.source_path == "/other"


def test_services_and_cli_do_not_import_qt():
    code = (
        "import sys, workstation.services.session, workstation.cli.main as m; m.build_parser();"
        "print('PySide6' in sys.modules, 'vtkmodules.vtkRenderingCore' in sys.modules)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["False", "False"]
