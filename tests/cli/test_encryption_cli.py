"""`segment -o CASE.wsproj --encrypt`, `project info`/`mesh` with the key, `keys create|info`."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import trimesh

from tests.services.project_cases import write_ct
from tests.support import memory_keyring as keyring_support
from workstation.cli.main import main
from workstation.io.encryption import KeySource, is_encrypted
from workstation.services.project import read_project

ENCRYPTION_EXIT = 19


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    write_ct(folder / "dicom")
    phrase = folder / "phrase.txt"
    phrase.write_text("the right passphrase\n")
    wrong = folder / "wrong.txt"
    wrong.write_text("a wrong passphrase\n")
    return {"dicom": folder / "dicom", "phrase": phrase, "wrong": wrong, "folder": folder}


@pytest.fixture(scope="module")
def sealed(series):
    """A project written by `workstation segment --encrypt --passphrase-file`."""
    project = series["folder"] / "CASE.wsproj"
    code = main(
        [
            "segment", str(series["dicom"]), "--threshold", "0", "--name", "Bone",
            "-o", str(project), "--encrypt", "--passphrase-file", str(series["phrase"]),
        ]
    )  # fmt: skip
    assert code == 0
    return project


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_segment_writes_an_encrypted_project(sealed, series):
    assert is_encrypted(sealed)
    contents = read_project(sealed, key=KeySource.passphrase("the right passphrase"))
    (bone,) = contents.segmentation.segments
    assert bone.name == "Bone" and bone.mask.any()


def test_project_info_needs_the_key(capsys, sealed, series):
    code, out, err = _run(capsys, "project", "info", str(sealed), "--json")
    assert code == ENCRYPTION_EXIT and "This project is encrypted" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = _run(
        capsys, "project", "info", str(sealed), "--json", "--passphrase-file", str(series["wrong"])
    )
    assert code == ENCRYPTION_EXIT and f"Wrong passphrase or key for {sealed.name}" in err
    code, out, err = _run(
        capsys, "project", "info", str(sealed), "--json", "--passphrase-file", str(series["phrase"])
    )
    assert code == 0, err
    assert json.loads(out)["project"] == str(sealed)


def test_the_passphrase_file_may_come_from_the_environment(capsys, sealed, series, monkeypatch):
    monkeypatch.setenv("WORKSTATION_PASSPHRASE_FILE", str(series["phrase"]))
    code, _, err = _run(capsys, "project", "info", str(sealed))
    assert code == 0, err


def test_mesh_of_an_encrypted_project(capsys, sealed, series, tmp_path):
    out = tmp_path / "bone.stl"
    argv = ["mesh", str(sealed), "-o", str(out), "--smooth", "0", "--decimate", "0"]
    code, _, err = _run(capsys, *argv)
    assert code == ENCRYPTION_EXIT and not out.exists()
    code, _, err = _run(capsys, *argv, "--passphrase-file", str(series["phrase"]))
    assert code == 0, err
    mesh = trimesh.load(out)
    assert mesh.is_watertight and np.isfinite(mesh.vertices).all()


def test_encrypt_needs_a_key_and_a_project(capsys, series, tmp_path, monkeypatch):
    monkeypatch.delenv("WORKSTATION_PASSPHRASE_FILE", raising=False)
    project = tmp_path / "x.wsproj"
    base = ["segment", str(series["dicom"]), "--threshold", "0"]
    code, _, err = _run(capsys, *base, "-o", str(project), "--encrypt")
    assert code == ENCRYPTION_EXIT and "--encrypt needs a key" in err
    code, _, err = _run(
        capsys, *base, "-o", str(tmp_path / "x.nrrd"), "--encrypt",
        "--passphrase-file", str(series["phrase"]),
    )  # fmt: skip
    assert code == ENCRYPTION_EXIT and "goes with a project" in err
    assert os.listdir(tmp_path) == []


def test_keys_create_and_info(capsys, series, tmp_path):
    with keyring_support.installed() as backend:
        code, out, err = _run(capsys, "keys", "create", "theatre")
        assert code == 0, err
        assert len(backend.entries) == 1
        code, _, err = _run(capsys, "keys", "create", "theatre")
        assert code == ENCRYPTION_EXIT and "already holds" in err
        project = tmp_path / "K.wsproj"
        code, _, err = _run(
            capsys, "segment", str(series["dicom"]), "--threshold", "0", "-o", str(project),
            "--encrypt", "--keyring", "theatre",
        )  # fmt: skip
        assert code == 0, err
        code, out, _ = _run(capsys, "keys", "info", str(project), "--json")
        info = json.loads(out)
        assert info["encrypted"] and info["key"] == {"name": "keyring", "entry": "theatre"}
        code, out, _ = _run(capsys, "project", "info", str(project), "--keyring", "theatre")
        assert code == 0
    code, out, _ = _run(capsys, "keys", "info", str(series["phrase"]))
    assert code == 0 and "not encrypted" in out
