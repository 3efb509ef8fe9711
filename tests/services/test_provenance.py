"""Provenance records of exported models: their contents against independent facts, the
record file beside each model, the record inside a 3MF file, and the check that catches a
changed model or a changed source file."""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import os
import shutil
import socket
import zipfile
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pydicom
import pytest
import trimesh

from tests.support.dicom_factory import sphere_array, write_series
from workstation import __version__
from workstation.core.errors import ExportError, InputPathError
from workstation.core.mesh import Mesh
from workstation.io.mesh_export import METADATA_NAMESPACE, MODEL_PART, export_mesh
from workstation.io.source_files import describe_sources
from workstation.services import export
from workstation.services.loading import load_volume
from workstation.services.modeling import ModelOptions
from workstation.services.provenance import (
    FORMAT,
    METADATA_NAME,
    check_provenance,
    file_entry,
    model_record,
    provenance_path,
    read_provenance,
    write_provenance,
)
from workstation.services.provenance_export import BackgroundSources, write_model

CORE = "{http://schemas.microsoft.com/3dmanufacturing/core/2015/02}"
SHAPE = (12, 24, 24)
SERIES_UID = "1.2.826.0.1.3680043.8.498.77"
OPERATIONS = [
    {"op": "add_segment", "name": "Ball", "color": [1.0, 0.0, 0.0]},
    {"op": "threshold", "segment": "Ball", "lower": 0.0, "upper": None},
    {"op": "logical", "segment": "Ball", "other": "Other", "operation": "union"},
]


def _voxel_to_lps(s, r, c):
    return (-12.0 + c, -12.0 + r, -11.0 + 2.0 * s)


@pytest.fixture
def study(tmp_path) -> Path:
    """A small CT series of one ball, in its own folder."""
    folder = tmp_path / "dicom"
    array = sphere_array(SHAPE, _voxel_to_lps, [(0.0, 0.0, 0.0)], [7.0], inside=300)
    write_series(folder, array, origin=(-12.0, -12.0, -11.0), slice_step=2.0, series_uid=SERIES_UID)
    return folder


def _ball_mesh() -> Mesh:
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=7.0)
    return Mesh(np.asarray(sphere.vertices), np.asarray(sphere.faces), name="Ball")


def _record(study: Path, **changes) -> dict:
    loaded = load_volume(study)
    sources = describe_sources(loaded.stack, loaded.volume, str(study))
    parts = {
        "sources": [sources],
        "operations": OPERATIONS,
        "segment_name": "Ball",
        "segment_id": "segment-1",
        "parameters": asdict(ModelOptions(smooth_iterations=3, seed_lps=(1.0, 2.0, 3.0))),
        "statistics": {"triangles": 320, "volume_mm3": np.float64(1402.5)},
        "model_name": "Ball",
    }
    parts.update(changes)
    return model_record(**parts)


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_record_holds_the_facts_of_the_model_and_its_sources(study, tmp_path):
    before = datetime.now().astimezone() - timedelta(milliseconds=1)
    record = _record(study)
    output = tmp_path / "out" / "Ball.stl"
    output.parent.mkdir()
    finished = write_model(_ball_mesh(), output, record, coords="ras")
    after = datetime.now().astimezone()

    written = json.loads((tmp_path / "out" / "Ball.provenance.json").read_text())
    assert written == json.loads(json.dumps(finished))
    assert written["format"] == FORMAT and written["version"] == 1
    (entry,) = written["files"]
    data = output.read_bytes()
    assert entry == {
        "name": "Ball.stl",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "format": "stl",
        "coords": "ras",
    }
    # every source file, hashed here from its bytes, with the SOP Instance UID it holds
    (series,) = written["sources"]
    assert series["series_instance_uid"] == SERIES_UID
    assert series["folder"] == str(study.absolute())
    on_disk = {path.name: path for path in study.iterdir()}
    assert sorted(item["name"] for item in series["files"]) == sorted(on_disk)
    for item in series["files"]:
        path = on_disk[item["name"]]
        assert item["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert item["size"] == path.stat().st_size
        assert item["sop_instance_uids"] == [pydicom.dcmread(path).SOPInstanceUID]
    assert written["operations"] == OPERATIONS
    assert written["segment"] == {"id": "segment-1", "name": "Ball"}
    assert written["model"] == {
        "name": "Ball",
        "statistics": {"triangles": 320, "volume_mm3": 1402.5},
    }
    parameters = asdict(ModelOptions(smooth_iterations=3, seed_lps=(1.0, 2.0, 3.0)))
    assert written["mesh_parameters"] == {**parameters, "seed_lps": [1.0, 2.0, 3.0]}
    assert before <= _iso(written["created"]) <= after
    assert written["user"] == getpass.getuser() and written["host"] == socket.gethostname()
    software = written["software"]
    assert software["version"] == __version__
    assert software["numpy"] == np.__version__ and software["pydicom"] == pydicom.__version__
    assert {"python", "vtk", "SimpleITK"} <= set(software)


def test_check_passes_then_catches_a_changed_model_file(study, tmp_path):
    output = tmp_path / "Ball.stl"
    write_model(_ball_mesh(), output, _record(study))
    check = check_provenance(output)
    assert check.ok and check.file_ok and check.differences == []
    assert check.record_path == tmp_path / "Ball.provenance.json"
    (report,) = check.sources
    assert report.found and report.folder == str(study.absolute())
    assert report.files == SHAPE[0] and not report.missing and not report.changed

    _flip_byte(output, 300)
    check = check_provenance(output)
    assert not check.ok and not check.file_ok
    (difference,) = check.differences
    assert difference.startswith("the SHA-256 of Ball.stl differs from its record")
    assert check.found_sha256 == hashlib.sha256(output.read_bytes()).hexdigest()
    assert check.expected_sha256 != check.found_sha256


def test_check_names_a_changed_and_a_missing_source_file(study, tmp_path):
    output = tmp_path / "Ball.ply"
    write_model(_ball_mesh(), output, _record(study))
    names = sorted(path.name for path in study.iterdir())
    _flip_byte(study / names[3], (study / names[3]).stat().st_size - 10)  # a pixel
    (study / names[5]).unlink()
    check = check_provenance(output)
    assert check.file_ok and not check.ok
    (report,) = check.sources
    assert report.changed == [names[3]] and report.missing == [names[5]]
    assert len(check.differences) == 2
    assert f"1 of {SHAPE[0]} source file(s) changed in {study}: {names[3]}" in check.differences[1]
    assert f"missing in {study}: {names[5]}" in check.differences[0]


def test_moved_sources_are_not_found_and_checked_again_where_the_user_says(study, tmp_path):
    output = tmp_path / "Ball.stl"
    write_model(_ball_mesh(), output, _record(study))
    moved = tmp_path / "elsewhere"
    shutil.move(study, moved)
    check = check_provenance(output)
    assert check.ok, "sources that cannot be found are not a mismatch"
    (report,) = check.sources
    assert not report.found
    (note,) = check.notes
    assert "not found: cannot check" in note and str(study) in note

    check = check_provenance(output, source=str(moved))
    assert check.ok and check.sources[0].folder == str(moved.absolute())
    # renamed files are found by their SOP Instance UIDs
    for number, path in enumerate(sorted(moved.iterdir())):
        path.rename(moved / f"renamed{number}.dcm")
    check = check_provenance(output, source=str(moved))
    assert check.ok and check.sources[0].found and not check.sources[0].missing
    _flip_byte(moved / "renamed2.dcm", (moved / "renamed2.dcm").stat().st_size - 4)
    check = check_provenance(output, source=str(moved))
    assert not check.ok and len(check.sources[0].changed) == 1
    with pytest.raises(InputPathError, match="No such source folder"):
        check_provenance(output, source=str(tmp_path / "absent"))


def test_formats_of_one_model_share_a_record_and_another_model_replaces_it(study, tmp_path):
    record = _record(study)
    write_model(_ball_mesh(), tmp_path / "Ball.stl", record)
    write_model(_ball_mesh(), tmp_path / "Ball.obj", record, coords="ras")
    write_model(_ball_mesh(), tmp_path / "Ball.stl", record)  # again: its entry replaced
    stored = read_provenance(tmp_path / "Ball.provenance.json")
    assert sorted(entry["name"] for entry in stored["files"]) == ["Ball.obj", "Ball.stl"]
    assert check_provenance(tmp_path / "Ball.stl").ok
    assert check_provenance(tmp_path / "Ball.obj").ok

    other = _record(study, parameters=asdict(ModelOptions(smooth_iterations=9)))
    write_model(_ball_mesh(), tmp_path / "Ball.ply", other)
    stored = read_provenance(tmp_path / "Ball.provenance.json")
    assert [entry["name"] for entry in stored["files"]] == ["Ball.ply"]
    assert stored["mesh_parameters"]["smooth_iterations"] == 9
    check = check_provenance(tmp_path / "Ball.stl")
    assert not check.ok
    assert (
        "Ball.stl is not listed in its provenance record Ball.provenance.json"
        in (check.differences[0])
    )


def _model_lines(path: Path) -> list[bytes]:
    with zipfile.ZipFile(path) as package:
        return package.read(MODEL_PART).splitlines(keepends=True)


def test_a_3mf_file_carries_its_record_and_is_checked_from_it_alone(study, tmp_path):
    output = tmp_path / "Ball.3mf"
    finished = write_model(_ball_mesh(), output, _record(study))
    # the record is core 3MF metadata under a namespace declared on <model>
    namespaces = dict(
        item
        for _, item in ElementTree.iterparse(
            io.BytesIO(b"".join(_model_lines(output))), events=("start-ns",)
        )
    )
    assert namespaces["sp"] == METADATA_NAMESPACE
    root = ElementTree.fromstring(b"".join(_model_lines(output)))
    metadata = {item.get("name"): item.text for item in root.findall(f"{CORE}metadata")}
    assert metadata["Designer"] == getpass.getuser()
    assert metadata["CreationDate"] == finished["created"][:10]
    assert metadata["Title"] == "Ball" and metadata["Description"].startswith("SPACE=LPS")
    inside = json.loads(metadata[METADATA_NAME])
    expected = {key: value for key, value in finished.items() if key != "files"}
    assert {key: value for key, value in inside.items() if key != "content_sha256"} == (
        json.loads(json.dumps(expected))
    )
    # the content digest: the model part without the record's own line
    kept = [line for line in _model_lines(output) if b'name="sp:provenance"' not in line]
    assert inside["content_sha256"] == hashlib.sha256(b"".join(kept)).hexdigest()
    assert finished["files"][0]["content_sha256"] == inside["content_sha256"]
    # still a valid 3MF for other readers
    loaded = trimesh.load(output, force="mesh")
    assert len(loaded.faces) == 320 and loaded.is_watertight

    (tmp_path / "Ball.provenance.json").unlink()
    check = check_provenance(output)
    assert check.ok and check.file_ok and check.record_path is None
    assert check.expected_content == check.found_content == inside["content_sha256"]
    assert check.sources[0].found

    # move one vertex: the model no longer matches the record inside it
    lines = _model_lines(output)
    number = next(i for i, line in enumerate(lines) if line.startswith(b"<vertex "))
    lines[number] = b'<vertex x="1" y="2" z="3"/>\n'
    with zipfile.ZipFile(output) as package:
        parts = {name: package.read(name) for name in package.namelist()}
    parts[MODEL_PART] = b"".join(lines)
    with zipfile.ZipFile(output, "w") as package:
        for name, data in parts.items():
            package.writestr(name, data)
    check = check_provenance(output)
    assert not check.ok
    assert check.differences[0].startswith("the model inside Ball.3mf differs from the record")


def test_missing_files_and_records_are_one_clear_error(study, tmp_path):
    with pytest.raises(InputPathError, match="No such model file"):
        check_provenance(tmp_path / "absent.stl")
    export_mesh(_ball_mesh(), tmp_path / "plain.stl")
    with pytest.raises(InputPathError) as raised:
        check_provenance(tmp_path / "plain.stl")
    assert str(raised.value) == "no provenance record beside plain.stl (plain.provenance.json)"
    export_mesh(_ball_mesh(), tmp_path / "plain.3mf")
    with pytest.raises(InputPathError, match=r"\(plain.provenance.json\) and none inside it"):
        check_provenance(tmp_path / "plain.3mf")
    (tmp_path / "plain.provenance.json").write_text("{not json")
    with pytest.raises(InputPathError, match="Cannot read the provenance record"):
        check_provenance(tmp_path / "plain.stl")
    # a damaged record is replaced by the next export
    write_model(_ball_mesh(), tmp_path / "plain.stl", _record(study))
    assert check_provenance(tmp_path / "plain.stl").ok


def test_record_names_fit_the_folder(tmp_path):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    first = tmp_path / ("a" * (limit - 4) + ".stl")
    second = tmp_path / ("a" * (limit - 5) + "b.stl")
    assert provenance_path(tmp_path / "Bone.stl") == tmp_path / "Bone.provenance.json"
    assert provenance_path(tmp_path / "a.b.3mf") == tmp_path / "a.b.provenance.json"
    names = {provenance_path(first).name, provenance_path(second).name}
    assert len(names) == 2 and all(len(name) <= limit for name in names)
    assert provenance_path(first) == provenance_path(first)  # found again by the check
    write_provenance(first, {"format": FORMAT, "files": []})
    assert provenance_path(first).is_file()


def test_export_models_writes_a_record_per_file_and_hands_them_back(study, tmp_path):
    base = [_record(study), _record(study, model_name="Ball 2")]
    items = [(_ball_mesh(), tmp_path / "Ball.stl"), (_ball_mesh(), tmp_path / "Ball 2.3mf")]
    records: list[dict] = []
    written = export.export_models(items, "lps", provenance=base, records=records)
    assert written == [tmp_path / "Ball.stl", tmp_path / "Ball 2.3mf"]
    assert [record["model"]["name"] for record in records] == ["Ball", "Ball 2"]
    for path, record in zip(written, records, strict=True):
        assert record["files"][0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert read_provenance(provenance_path(path)) == json.loads(json.dumps(record))
        assert check_provenance(path).ok
    with pytest.raises(ValueError, match="1 provenance records for 2 models"):
        export.export_models(items, provenance=base[:1])


def test_background_hashing_gives_the_same_record_or_names_the_unreadable_file(study):
    loaded = load_volume(study)
    hashing = BackgroundSources(loaded.stack, loaded.volume, str(study))
    assert hashing.result() == describe_sources(loaded.stack, loaded.volume, str(study))
    hashing.stop()
    assert hashing.seconds > 0
    victim = sorted(study.iterdir())[4]
    victim.unlink()
    hashing = BackgroundSources(loaded.stack, loaded.volume, str(study))
    try:
        with pytest.raises(ExportError, match=f"cannot read source file {victim.name}"):
            hashing.result()
    finally:
        hashing.stop()


def test_3mf_metadata_names_follow_the_core_specification(tmp_path):
    with pytest.raises(ValueError, match="neither a 3MF core name"):
        export_mesh(_ball_mesh(), tmp_path / "m.3mf", metadata={"Author": "x"})
    with pytest.raises(ValueError, match="neither a 3MF core name"):
        export_mesh(_ball_mesh(), tmp_path / "m.3mf", metadata={"other:thing": "x"})
    target = export_mesh(
        _ball_mesh(), tmp_path / "m.3mf", coords="ras", metadata={"Description": "a skull"}
    )
    root = ElementTree.fromstring(b"".join(_model_lines(target)))
    names = [item.get("name") for item in root.findall(f"{CORE}metadata")]
    assert len(names) == len(set(names)), "each name once"
    text = {item.get("name"): item.text for item in root.findall(f"{CORE}metadata")}
    assert text["Description"] == "SPACE=RAS: coordinates are patient RAS millimetres. a skull"
    # formats without metadata ignore it
    plain = export_mesh(_ball_mesh(), tmp_path / "m.stl", metadata={"Designer": "x"})
    assert plain.read_bytes() == export_mesh(_ball_mesh(), tmp_path / "n.stl").read_bytes()


def test_file_entry_is_of_the_bytes_on_disk(tmp_path):
    path = export_mesh(replace(_ball_mesh(), name="x"), tmp_path / "x.ply")
    entry = file_entry(path, "LPS")
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert entry["format"] == "ply" and entry["coords"] == "lps"


def test_a_sessions_parts_and_sources_for_its_records(study):
    from workstation.services.provenance_export import record_parts, session_sources
    from workstation.services.session import Session

    loaded = load_volume(study)
    session = Session()
    assert session_sources(session) == []  # nothing loaded: nothing to record
    session.set_scan(loaded.scan, str(study))
    session.set_volume(loaded.volume, loaded.stack)
    session.editor.apply({"op": "add_segment", "name": "Ball"})
    session.editor.apply({"op": "threshold", "segment": "Ball", "lower": 0.0, "upper": None})
    (segment,) = session.editor.segmentation.segments
    entry = session.add_model(
        _ball_mesh(), {"triangles": 320}, segment_id=segment.segment_id, parameters={"name": "B"}
    )
    parts = record_parts(entry, session.editor)
    assert parts["segment_name"] == "Ball" and parts["segment_id"] == segment.segment_id
    assert [record["op"] for record in parts["operations"]] == ["add_segment", "threshold"]
    session.editor.apply({"op": "remove_segment", "segment": "Ball"})
    assert record_parts(entry, session.editor)["segment_name"] == "B"  # the name it was built as
    assert parts["operations"] != session.editor.operations, "a copy taken at the time"
    (series,) = session_sources(session)
    assert series == describe_sources(loaded.stack, loaded.volume, str(study))
    assert session.sources is series
    session.sources = None
    sorted(study.iterdir())[0].unlink()
    with pytest.raises(ExportError, match="Cannot record where the models came from"):
        session_sources(session)
