"""Projects: a whole case saved and reopened exactly (voxels, meshes, records, the editor)."""

from __future__ import annotations

import json
import zipfile

import nrrd
import numpy as np
import pytest

from tests.services.project_cases import PROVENANCE, VIEW, build_case, open_session, write_ct
from workstation.core.errors import ProjectError
from workstation.services import project
from workstation.services.project import (
    PROJECT_EXTENSION,
    SCHEMA_VERSION,
    apply_to_session,
    contents_from_session,
    open_project,
    read_project,
    save_project,
)
from workstation.services.session import Session


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    """A series on disk, a session with a full case on it, and the case saved once."""
    folder = tmp_path_factory.mktemp("case")
    paths, array, _ = write_ct(folder / "dicom")
    session = build_case(open_session(folder / "dicom"))
    path = save_project(folder / f"case{PROJECT_EXTENSION}", contents_from_session(session, VIEW))
    return {"folder": folder, "paths": paths, "array": array, "session": session, "path": path}


def _segments_equal(first, second) -> None:
    assert [s.segment_id for s in first] == [s.segment_id for s in second]
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.mask, b.mask), a.name
        assert a.properties() == b.properties()
        assert a.color == b.color  # exact floats, not the .seg.nrrd's 6 digits
        assert a.threshold_range == b.threshold_range


def test_read_project_gives_back_every_part_exactly(case):
    session = case["session"]
    contents = read_project(case["path"])
    segmentation = contents.segmentation
    assert segmentation.shape == session.volume.shape
    assert np.array_equal(segmentation.affine, session.volume.affine)
    _segments_equal(session.editor.segmentation.segments, segmentation.segments)
    # the overlapping segments need two label layers; the threshold survives
    assert segmentation.by_name("Bone").threshold_range == (226.0, 3071.0)
    hidden = segmentation.by_name("Hidden")
    assert (hidden.visible, hidden.opacity, hidden.locked) == (False, 0.35, True)
    assert hidden.type.meaning == "Bone" and hidden.category.value == "85756007"
    assert contents.operations == session.editor.operations
    assert [m.model_id for m in contents.models] == list(session.models)
    for saved, entry in zip(contents.models, session.models.values(), strict=True):
        assert saved.mesh.vertices.dtype == np.float64
        assert np.array_equal(saved.mesh.vertices, entry.mesh.vertices)
        assert np.array_equal(saved.mesh.faces, entry.mesh.faces)
        assert (saved.name, saved.color, saved.opacity, saved.visible) == (
            entry.name,
            entry.color,
            entry.opacity,
            entry.visible,
        )
        assert (saved.segment_id, saved.parameters) == (entry.segment_id, entry.parameters)
        assert saved.operations == entry.operations
        assert saved.statistics == json.loads(json.dumps(entry.statistics))
    assert contents.measurements == list(session.measurements.items)
    assert contents.view == VIEW
    assert contents.provenance == PROVENANCE
    assert contents.planning == []
    assert contents.sources == [session.sources]
    assert contents.manifest["schema_version"] == SCHEMA_VERSION == 1


def test_the_segmentation_member_is_a_slicer_seg_nrrd(case, tmp_path):
    with zipfile.ZipFile(case["path"]) as archive:
        assert archive.getinfo("segmentation.seg.nrrd").compress_type == zipfile.ZIP_STORED
        (tmp_path / "s.seg.nrrd").write_bytes(archive.read("segmentation.seg.nrrd"))
        manifest = json.loads(archive.read("manifest.json"))
    data, header = nrrd.read(str(tmp_path / "s.seg.nrrd"), index_order="C")
    assert header["space"] == "left-posterior-superior" and data.ndim == 4  # two layers
    names = {header[f"Segment{i}_Name"] for i in range(3)}
    assert names == {"Bone", "Painted", "Hidden"}
    # the manifest records the series, its folder and every file's SHA-256
    (series,) = manifest["sources"]
    assert series["folder"] == str((case["folder"] / "dicom").absolute())
    assert len(series["files"]) == len(case["paths"]) and all(
        len(item["sha256"]) == 64 for item in series["files"]
    )
    for name in ("segments.json", "operations.json", "models.json", "view.json"):
        assert len(manifest["members"][name]["sha256"]) == 64


def test_open_project_gives_the_case_exactly_as_saved(case):
    session = case["session"]
    opened = open_project(case["path"])
    assert not opened.read_only and opened.check.ok and opened.warnings == []
    assert np.array_equal(opened.volume.array, session.volume.array)
    assert np.array_equal(opened.volume.affine, session.volume.affine)
    assert np.array_equal(opened.volume.array, case["array"])
    _segments_equal(session.editor.segmentation.segments, opened.editor.segmentation.segments)
    assert opened.editor.operations == session.editor.operations
    assert not opened.editor.can_undo  # the history starts empty
    fresh = Session()
    fresh.add_model(session.models["model-1"].mesh)  # ids in use before are dropped
    apply_to_session(fresh, opened)
    assert list(fresh.models) == list(session.models)
    for model_id, entry in session.models.items():
        other = fresh.models[model_id]
        assert (other.name, other.color, other.opacity, other.visible) == (
            entry.name,
            entry.color,
            entry.opacity,
            entry.visible,
        )
        assert np.array_equal(other.mesh.vertices, entry.mesh.vertices)
        assert other.operations == entry.operations
    assert list(fresh.measurements.items) == list(session.measurements.items)
    assert fresh.provenance == PROVENANCE and fresh.project_path == str(case["path"])
    assert fresh.sources == session.sources and not fresh.read_only and not fresh.modified
    new = fresh.add_model(session.models["model-1"].mesh)
    assert new.model_id not in session.models  # a new model never takes a restored id


def test_resaving_keeps_the_creation_time_and_the_previous_version(case, tmp_path):
    path = tmp_path / "again.wsproj"
    contents = read_project(case["path"])
    contents.manifest = {}
    save_project(path, contents)
    first = project.read_manifest(path)
    contents.view = {"layout": "axial"}
    save_project(path, contents)
    second = project.read_manifest(path)
    assert second["created"] == first["created"]
    assert read_project(path.with_name("again.wsproj.bak")).view == VIEW
    assert read_project(path).view == {"layout": "axial"}
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_a_project_name_must_end_in_wsproj(case, tmp_path):
    with pytest.raises(ProjectError, match=r"\.wsproj"):
        save_project(tmp_path / "case.zip", read_project(case["path"]))


def test_a_case_without_a_volume_cannot_be_saved():
    with pytest.raises(ProjectError, match="no case"):
        contents_from_session(Session())


def test_a_cancelled_save_keeps_the_previous_file(case, tmp_path):
    from workstation.core.errors import Cancelled
    from workstation.core.progress import CancelToken

    path = tmp_path / "kept.wsproj"
    contents = read_project(case["path"])
    save_project(path, contents)
    before = path.read_bytes()
    token = CancelToken()

    def cancel_midway(fraction, text):
        if fraction > 0.2:
            token.cancel()

    contents.view = {"layout": "3d"}
    with pytest.raises(Cancelled):
        save_project(path, contents, progress=cancel_midway, cancel=token)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.wsproj"]
