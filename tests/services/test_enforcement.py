"""The policy enforced in the services (so the window and the command line alike): refusals
come before any work, are audited, and leave nothing written; the allowed paths still work."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.support.dicom_factory import write_series
from workstation.cli.main import main
from workstation.core.errors import PermissionDenied
from workstation.core.user_dirs import audit_log_file, policy_file
from workstation.io.audit.chain_log import iter_records

POLICY = """\
[roles.viewer]
permissions = ["view-identified"]

[roles.student]
permissions = ["export-deidentified"]

[roles.surgeon]
permissions = ["view-identified", "export-identified", "send-to-pacs"]

[users]
vera = "viewer"
bob = "student"
alice = "surgeon"
"""

SHAPE = (12, 24, 24)


def cube_series(folder: Path, deidentified: bool = False) -> list[Path]:
    """A CT series with a bright cube (a model to build); optionally marked de-identified."""
    stored = np.full(SHAPE, -1000, dtype=np.int16)
    stored[3:9, 6:18, 6:18] = 1000
    paths = write_series(folder, stored, pixel_spacing=(1.0, 1.0))
    if deidentified:
        for path in paths:
            ds = pydicom.dcmread(path)
            ds.PatientIdentityRemoved = "YES"
            ds.PatientName = "Anonymous"
            ds.save_as(path)
    return paths


def records() -> list[dict]:
    log = audit_log_file()
    return list(iter_records(log)) if log.exists() else []


@pytest.fixture
def restrictive(monkeypatch: pytest.MonkeyPatch):
    """The restrictive policy in force; returns a function choosing the acting user."""
    policy_file().write_text(POLICY, encoding="utf-8")

    def act_as(user: str) -> None:
        monkeypatch.setenv("WORKSTATION_USER", user)

    return act_as


MESH = ["--threshold", "0", "--smooth", "0", "--decimate", "0", "--min-island", "0"]


def test_mesh_of_identified_images_refused_without_export_identified(
    tmp_path: Path, restrictive, capsys
) -> None:
    restrictive("vera")  # may view identified images, may not export them
    cube_series(tmp_path / "ct")
    output = tmp_path / "out" / "model.stl"
    output.parent.mkdir()
    code = main(["mesh", str(tmp_path / "ct"), "-o", str(output), *MESH])
    err = capsys.readouterr().err
    assert code == 18
    assert "'export-identified'" in err and "role 'viewer'" in err
    assert len(err.strip().splitlines()) == 1
    assert list(output.parent.iterdir()) == []  # no model, no record, no temporary
    actions = [(r["action"], r["outcome"]) for r in records()]
    assert actions == [("open-study", "success"), ("refused", "refused")]
    refused = records()[-1]
    assert refused["user"] == "vera" and "export-identified" in refused["detail"]
    study = next(item for item in refused["objects"] if item["kind"] == "study")
    first = pydicom.dcmread(next((tmp_path / "ct").iterdir()))
    assert study["identifier"] == str(first.StudyInstanceUID)


def test_opening_identified_images_refused_without_view_identified(
    tmp_path: Path, restrictive, capsys
) -> None:
    restrictive("bob")
    cube_series(tmp_path / "ct")
    output = tmp_path / "model.stl"
    assert main(["mesh", str(tmp_path / "ct"), "-o", str(output), *MESH]) == 18
    assert "'view-identified'" in capsys.readouterr().err
    assert not output.exists()
    from workstation.services.study import open_study

    with pytest.raises(PermissionDenied, match="Opening identified images needs"):
        open_study(tmp_path / "ct")
    assert [r["action"] for r in records()] == ["refused", "refused"]


def test_deidentified_case_exported_with_export_deidentified(
    tmp_path: Path, restrictive, capsys
) -> None:
    restrictive("bob")  # no view-identified, only export-deidentified
    paths = cube_series(tmp_path / "ct", deidentified=True)
    output = tmp_path / "model.stl"
    code = main(["mesh", str(tmp_path / "ct"), "-o", str(output), *MESH])
    assert code == 0, capsys.readouterr().err
    assert output.is_file()
    import hashlib

    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    opened, exported = records()
    assert (opened["action"], exported["action"]) == ("open-study", "export")
    assert exported["user"] == "bob" and exported["outcome"] == "success"
    files = [item for item in exported["objects"] if item["kind"] == "file"]
    assert files == [{"kind": "file", "identifier": digest, "label": "model.stl"}]
    series = str(pydicom.dcmread(paths[0]).SeriesInstanceUID)
    assert {"series"} <= {item["kind"] for item in exported["objects"]}
    assert series in {item["identifier"] for item in exported["objects"]}


def test_segmentation_export_follows_the_same_rule(tmp_path: Path, restrictive, capsys) -> None:
    restrictive("vera")
    cube_series(tmp_path / "ct")
    output = tmp_path / "seg.nrrd"
    args = ["segment", str(tmp_path / "ct"), "-o", str(output), "--threshold", "0"]
    assert main(args) == 18
    assert "'export-identified'" in capsys.readouterr().err
    assert not output.exists()
    restrictive("alice")
    assert main(args) == 0, capsys.readouterr().err
    assert output.is_file()
    assert records()[-1]["action"] == "export" and records()[-1]["outcome"] == "success"


def test_pacs_send_refused_before_connecting(
    tmp_path: Path, restrictive, capsys, monkeypatch
) -> None:
    restrictive("vera")
    cube_series(tmp_path / "ct")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    from workstation.services import pacs

    def no_connection(*_args, **_kwargs):
        raise AssertionError("the server was contacted")

    monkeypatch.setattr(pacs, "connect", no_connection)
    code = main(["pacs", "send", str(tmp_path / "ct"), "--dimse", f"ORTHANC@127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 18 and "'send-to-pacs'" in err and "Sending to a PACS" in err
    with pytest.raises(TimeoutError):
        listener.accept()  # nobody knocked
    listener.close()
    (refused,) = records()
    assert refused["action"] == "refused" and "send-to-pacs" in refused["detail"]
    assert refused["objects"][0]["kind"] == "server"


def test_pacs_send_allowed_reaches_the_server(tmp_path: Path, restrictive, monkeypatch) -> None:
    restrictive("alice")
    cube_series(tmp_path / "ct")
    from workstation.services import pacs
    from workstation.services.pacs_servers import ServerConfig

    reached = threading.Event()

    def connect(_server):
        reached.set()
        raise pacs.PacsError("no PACS in this test")

    monkeypatch.setattr(pacs, "connect", connect)
    server = ServerConfig(name="test", ae_title="X", host="127.0.0.1", port=1)
    with pytest.raises(pacs.PacsError):
        pacs.send(server, [tmp_path / "ct"])
    assert reached.is_set()
    (sent,) = records()
    assert (sent["action"], sent["outcome"]) == ("send", "failure")


def test_default_single_user_is_unchanged_but_audited(tmp_path: Path, capsys) -> None:
    assert not policy_file().exists()
    cube_series(tmp_path / "ct")
    output = tmp_path / "model.stl"
    assert main(["mesh", str(tmp_path / "ct"), "-o", str(output), *MESH]) == 0
    assert output.is_file()
    assert [(r["action"], r["role"]) for r in records()] == [
        ("open-study", "owner"),
        ("export", "owner"),
    ]


def test_database_import_and_delete_are_audited(tmp_path: Path) -> None:
    from workstation.services.dicom_database import DicomDatabase

    paths = cube_series(tmp_path / "ct")
    study = str(pydicom.dcmread(paths[0]).StudyInstanceUID)
    with DicomDatabase.open() as database:
        database.import_path(tmp_path / "ct")
        database.delete_study(study)
    imported, deleted = records()
    assert imported["action"] == "import" and deleted["action"] == "delete"
    assert {"kind": "study", "identifier": study, "label": ""} in imported["objects"]
    assert deleted["objects"] == [{"kind": "study", "identifier": study, "label": ""}]


def test_broken_policy_refuses_the_database_import(tmp_path: Path, capsys) -> None:
    policy_file().write_text('[users]\nalice = "surgeon"\n', encoding="utf-8")
    cube_series(tmp_path / "ct")
    assert main(["db", "import", str(tmp_path / "ct")]) == 18
    err = capsys.readouterr().err
    assert "line 2, setting users.alice: unknown role 'surgeon'" in err


def test_deidentify_refused_without_the_permission(tmp_path: Path, restrictive, capsys) -> None:
    pytest.importorskip("workstation.services.deidentify", reason="no de-identification service")
    restrictive("vera")
    cube_series(tmp_path / "ct")
    code = main(["deidentify", str(tmp_path / "ct"), "-o", str(tmp_path / "anon")])
    assert code == 18
    assert "'deidentify'" in capsys.readouterr().err
    assert not (tmp_path / "anon").exists() or not any((tmp_path / "anon").iterdir())
    assert records()[-1]["action"] == "refused"
