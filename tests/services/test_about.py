"""Version and build information: the bundle's record, the checkout's git commit, libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from workstation import __version__
from workstation.services import about

REPO = Path(__file__).resolve().parents[2]


def test_a_bundle_reports_the_build_it_records(tmp_path, monkeypatch):
    record = {
        "version": "9.8.7",
        "commit": "a" * 40,
        "dirty": True,
        "commit_date": "2026-12-02T07:00:00+00:00",
        "bundle": "linux-x86_64",
    }
    (tmp_path / "build-info.json").write_text(json.dumps(record))
    monkeypatch.setattr(about, "resources_dir", lambda: tmp_path)
    info = about.build_info()
    assert info == about.BuildInfo("9.8.7", "a" * 40, True, record["commit_date"], "linux-x86_64")
    lines = about.version_text(info).splitlines()
    assert lines[:3] == [
        "workstation 9.8.7",
        f"commit {'a' * 40} (2026-12-02T07:00:00+00:00) with local changes",
        "bundle linux-x86_64",
    ]


def test_a_broken_record_still_gives_the_version(tmp_path, monkeypatch):
    (tmp_path / "build-info.json").write_text("{not json")
    monkeypatch.setattr(about, "resources_dir", lambda: tmp_path)
    assert about.build_info() == about.BuildInfo(__version__)
    assert about.version_text().splitlines()[1] == "commit unknown"


def test_a_checkout_reports_its_git_commit():
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    info = about.build_info()
    assert info.commit == commit and info.bundle is None
    assert f"running from source (Python {sys.version.split()[0]}" in about.version_text()


def test_library_versions_are_the_installed_distributions():
    versions = dict(about.library_versions())
    assert versions["VTK"] == metadata.version("vtk")
    assert versions["pydicom"] == metadata.version("pydicom")
    assert versions["SimpleITK"] == metadata.version("SimpleITK")
    qt = metadata.version("PySide6-Essentials")
    assert f"Qt {qt} (PySide6 {qt})" in about.version_text().splitlines()
