"""Session: events, undo/redo of label-map edits, models; Qt-free."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from workstation.core.mesh import Mesh
from workstation.core.volume import LabelMap, Volume
from workstation.io.dicom.model import ScanResult
from workstation.services import session as session_module
from workstation.services.session import Session


def _volume(shape=(6, 7, 8)) -> Volume:
    affine = np.diag([2.0, 0.5, 0.5, 1.0])
    affine[:3, 3] = (10.0, -20.0, 30.0)
    array = np.arange(np.prod(shape), dtype=np.int16).reshape(shape)
    return Volume(array, affine, units="HU")


def _label(volume: Volume, threshold: int, value: int = 1) -> LabelMap:
    return LabelMap(((volume.array >= threshold) * value).astype(np.uint8), volume.affine.copy())


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


def test_set_volume_emits_and_resets_label_history_and_models():
    session = Session()
    volume = _volume()
    session.set_volume(volume)
    session.set_label(_label(volume, 100), "Threshold")
    session.add_model(_tetra())
    recorder = Recorder(session)
    other = _volume((3, 4, 5))
    session.set_volume(other)
    assert session.volume is other
    assert session.label is None
    assert session.models == {}
    assert not session.can_undo and not session.can_redo
    assert recorder.names() == ["model_removed", "volume", "label", "history"]
    assert recorder.events[-1][1] == (False, False)


def test_undo_redo_restores_exact_label_arrays():
    session = Session()
    volume = _volume()
    session.set_volume(volume)
    first = _label(volume, 100)
    second = _label(volume, 200)
    session.set_label(first, "Threshold")
    session.set_label(second, "Keep largest island")
    assert session.undo_description() == "Keep largest island"
    assert session.undo()
    assert np.array_equal(session.label.array, first.array)
    assert np.allclose(session.label.affine, volume.affine)
    assert session.redo_description() == "Keep largest island"
    assert session.undo()
    assert session.label is None
    assert not session.undo()
    assert session.redo() and np.array_equal(session.label.array, first.array)
    assert session.redo() and np.array_equal(session.label.array, second.array)
    assert not session.redo()


def test_new_edit_clears_redo_and_multi_valued_labels_survive():
    session = Session()
    volume = _volume()
    session.set_volume(volume)
    multi = _label(volume, 50, value=3)
    session.set_label(multi, "Paint")
    session.set_label(_label(volume, 300), "Erode")
    session.undo()
    assert session.can_redo
    assert int(session.label.array.max()) == 3
    assert np.array_equal(session.label.array, multi.array)
    session.set_label(_label(volume, 10), "Dilate")
    assert not session.can_redo


def test_history_is_bounded_by_steps_and_bytes(monkeypatch):
    session = Session()
    volume = _volume((20, 20, 20))
    session.set_volume(volume)
    for step in range(session_module.HISTORY_MAX_STEPS + 5):
        session.set_label(_label(volume, step * 10), f"step {step}")
    assert len(session._undo) == session_module.HISTORY_MAX_STEPS
    # each packed 0/1 snapshot of 8000 voxels takes 1000 bytes
    monkeypatch.setattr(session_module, "HISTORY_BUDGET_BYTES", 3500)
    session.set_label(_label(volume, 5), "one more")
    assert session.history_bytes() <= 3500
    assert len(session._undo) >= 1


def test_label_on_another_grid_is_refused():
    session = Session()
    volume = _volume()
    session.set_volume(volume)
    wrong = LabelMap(np.zeros((2, 2, 2), np.uint8), volume.affine.copy())
    with pytest.raises(ValueError, match="grid"):
        session.set_label(wrong)
    with pytest.raises(ValueError, match="unknown session event"):
        session.subscribe("nonsense", print)


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
    assert recorder.names() == [
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
