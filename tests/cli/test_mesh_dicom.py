"""`workstation mesh SERIES -o OUT.dcm`: an Encapsulated STL in the source study, via Orthanc."""

from __future__ import annotations

import json
import shutil
import subprocess

import pydicom
import pytest

from tests.support.cli import run_workstation
from tests.support.dicom_factory import sphere_array, write_series
from workstation.io.encapsulated_stl import ENCAPSULATED_STL_SOP_CLASS, read_encapsulated_stl
from workstation.services.provenance import provenance_path

STUDY = "1.2.826.0.1.3680043.8.498.300"
SERIES = "1.2.826.0.1.3680043.8.498.301"
FRAME = "1.2.826.0.1.3680043.8.498.302"
FAST = ["--threshold", "0", "--smooth", "5", "--decimate", "0", "--min-island", "0"]


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A synthetic CT of two balls (known UIDs)."""
    folder = tmp_path_factory.mktemp("ct")
    array = sphere_array(
        (18, 24, 24), lambda s, r, c: (c, r, s), [(8, 8, 8), (16, 15, 9)], [4, 3.5]
    )
    write_series(folder, array, study_uid=STUDY, series_uid=SERIES, frame_uid=FRAME)
    return folder


def test_mesh_to_dcm_is_the_stl_in_the_source_study(tmp_path, series):
    (tmp_path / "dcm").mkdir()
    (tmp_path / "stl").mkdir()
    out_dcm, out_stl = tmp_path / "dcm" / "bone.dcm", tmp_path / "stl" / "bone.stl"
    done = run_workstation("mesh", str(series), "-o", str(out_dcm), *FAST, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["format"] == "dcm" and summary["series_uid"] == SERIES
    assert run_workstation("mesh", str(series), "-o", str(out_stl), *FAST).returncode == 0
    model = read_encapsulated_stl(out_dcm)
    assert model.stl_bytes == out_stl.read_bytes()
    assert (model.study_uid, model.frame_of_reference_uid) == (STUDY, FRAME)
    assert model.referenced_series_uids == (SERIES,)
    assert model.mesh.n_faces == summary["statistics"]["triangles"]
    record = json.loads(provenance_path(out_dcm).read_text())
    assert record["files"][0]["name"] == "bone.dcm" and record["files"][0]["format"] == "dcm"
    checked = run_workstation("provenance", str(out_dcm))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if shutil.which("dciodvfy"):
        result = subprocess.run(
            ["dciodvfy", str(out_dcm)], capture_output=True, text=True, timeout=60, check=False
        )
        lines = (result.stdout + result.stderr).splitlines()
        assert [line for line in lines if line.startswith("Error")] == []


def test_dcm_options_refused_before_work(tmp_path, series):
    done = run_workstation("mesh", str(series), "-o", str(tmp_path / "x.dcm"), "--ascii")
    assert done.returncode == 6 and "drop --ascii" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "x.dcm").exists()
    done = run_workstation(
        "mesh", str(series), "-o", str(tmp_path / "x.dcm"), "--coords", "ras", *FAST
    )
    assert done.returncode == 6 and "LPS" in done.stderr


def test_round_trip_through_orthanc_keeps_the_stl_bytes(tmp_path, series, empty_orthanc):
    out = tmp_path / "bone.dcm"
    done = run_workstation("mesh", str(series), "-o", str(out), *FAST)
    assert done.returncode == 0, done.stderr
    sent = read_encapsulated_stl(out)
    empty_orthanc.upload_folder(series)
    empty_orthanc.upload([out])
    assert empty_orthanc.study_uids() == [STUDY]  # the model joined the images' study
    assert empty_orthanc.instance_count() == 18 + 1
    back = tmp_path / "back.dcm"
    back.write_bytes(empty_orthanc.instance_file(sent.sop_instance_uid))
    assert pydicom.dcmread(back).SOPClassUID == ENCAPSULATED_STL_SOP_CLASS
    returned = read_encapsulated_stl(back)
    assert returned.stl_bytes == sent.stl_bytes
    assert returned.frame_of_reference_uid == FRAME
    assert returned.referenced_series_uids == (SERIES,)


@pytest.mark.parametrize("protocol", ["dimse", "dicomweb"])
def test_send_retrieve_and_reopen_as_a_model(tmp_path, series, empty_orthanc, protocol):
    """C-STORE/STOW the model, C-GET/WADO the study back, scan it: the STL opens unchanged."""
    pacs = pytest.importorskip("workstation.services.pacs")
    from workstation.io.dicom.scan import scan_path
    from workstation.services.derived_objects import open_stl_on_session
    from workstation.services.loading import load_volume
    from workstation.services.session import Session

    out = tmp_path / "bone.dcm"
    assert run_workstation("mesh", str(series), "-o", str(out), *FAST).returncode == 0
    sent = read_encapsulated_stl(out)
    if protocol == "dimse":
        server = pacs.server_from_options(dimse=empty_orthanc.dimse, timeout_s=10)
    else:
        server = pacs.server_from_options(dicomweb=empty_orthanc.dicomweb_url, timeout_s=10)
    pacs.send(server, [series, out])
    assert empty_orthanc.instance_count() == 18 + 1
    pacs.retrieve_to_folder(server, STUDY, None, tmp_path / "back")
    [back] = [
        path
        for path in (tmp_path / "back").rglob("*.dcm")
        if pydicom.dcmread(path, stop_before_pixels=True).SOPClassUID == ENCAPSULATED_STL_SOP_CLASS
    ]
    assert read_encapsulated_stl(back).stl_bytes == sent.stl_bytes
    [derived] = scan_path(tmp_path / "back").derived
    loaded = load_volume(str(tmp_path / "back"), None, purpose="model")
    assert loaded.stack.identity.series_uid == SERIES
    session = Session()
    session.set_volume(loaded.volume, loaded.stack)
    [name] = open_stl_on_session(session, derived)
    [entry] = session.models.values()
    assert entry.name == name == "bone" and entry.mesh.n_faces == sent.mesh.n_faces
