"""The self-contained application: installer/build.sh builds it, and it runs with no Python.

One build for the module (a few minutes: marked slow).  The commands run from the
unpacked, installed folder in a clean environment — no ``.venv`` on ``PATH``, a fresh
``HOME``, no Python variables — and must give the same results as the virtual
environment: the same scan, the same decoded voxels of every compressed transfer
syntax, a byte-identical bone model, and a real screenshot of the window.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from tests.support.shared_data import shared_data_path
from workstation import __version__

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "resources" / "sample" / "dicom"
NAME = "surgical-planning-workstation"
VENV_WORKSTATION = Path(sys.executable).with_name("workstation")
BUILD_TIMEOUT_S = 1800
COMMAND_TIMEOUT_S = 300


def clean_environment(home: Path) -> dict[str, str]:
    """System PATH, a fresh HOME, a UTF-8 locale; no DISPLAY (``view`` starts its own Xvfb)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """The folder holding the tarball and the .deb that installer/build.sh made."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed (the bundle is built on Debian)")
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        ["bash", str(REPO / "installer" / "build.sh")],
        env=dict(os.environ, BUNDLE_DIST=str(dist)),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return dist


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> dict[str, Path]:
    """The tarball unpacked and installed with install.sh --prefix, as a user would."""
    root = tmp_path_factory.mktemp("bundle")
    tarball = built / f"{NAME}-{__version__}-linux-x86_64.tar.gz"
    with tarfile.open(tarball) as archive:
        archive.extractall(root / "unpacked", filter="tar")
    home = root / "home"
    home.mkdir()
    prefix = root / "prefix"
    unpacked = root / "unpacked" / f"{NAME}-{__version__}"
    result = subprocess.run(
        ["sh", str(unpacked / "install.sh"), "--prefix", str(prefix)],
        env=clean_environment(home),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return {"root": root, "home": home, "prefix": prefix, "unpacked": unpacked}


def run_bundle(installed, *arguments: str) -> subprocess.CompletedProcess:
    """The installed command (through its link in PREFIX/bin) in the clean environment."""
    return subprocess.run(
        [str(installed["prefix"] / "bin" / "workstation"), *arguments],
        env=clean_environment(installed["home"]),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def run_venv(*arguments: str) -> subprocess.CompletedProcess:
    """The same command from the virtual environment, for comparison."""
    return subprocess.run(
        [str(VENV_WORKSTATION), *arguments],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def test_the_tarball_holds_the_application_its_installer_and_desktop_entry(built):
    tarball = built / f"{NAME}-{__version__}-linux-x86_64.tar.gz"
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
        modes = {member.name: member.mode for member in archive.getmembers()}
    top = f"{NAME}-{__version__}"
    for required in (
        "workstation",
        "install.sh",
        "uninstall.sh",
        "LICENSE",
        "THIRD-PARTY-LICENSES.txt",
        f"share/{NAME}.desktop.in",
        f"share/{NAME}.png",
        "_internal/resources/sample/dicom",
        "_internal/resources/build-info.json",
    ):
        assert f"{top}/{required}" in names, required
    assert modes[f"{top}/workstation"] & 0o111
    sample = f"{top}/_internal/resources/sample/dicom/"
    sample_files = [name for name in names if name.startswith(sample)]
    assert len(sample_files) == len(list(SAMPLE.glob("*.dcm")))


def test_install_puts_the_command_and_a_valid_desktop_entry_in_place(installed):
    prefix = installed["prefix"]
    app = prefix / "opt" / NAME
    assert (app / "workstation").is_file()
    assert (prefix / "bin" / "workstation").resolve() == (app / "workstation").resolve()
    entry = (prefix / "share" / "applications" / f"{NAME}.desktop").read_text()
    assert f"Exec={app}/workstation view %f" in entry
    assert "MimeType=application/dicom;inode/directory;" in entry
    assert (prefix / "share" / "icons" / "hicolor" / "256x256" / "apps" / f"{NAME}.png").is_file()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(prefix / "share" / "applications" / f"{NAME}.desktop")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_version_names_the_build_commit_and_the_bundled_libraries(installed):
    result = run_bundle(installed, "--version")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"workstation {__version__}"
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if commit:
        assert lines[1].startswith(f"commit {commit}")
    assert "bundle linux-x86_64" in lines
    qt = metadata.version("PySide6-Essentials")
    assert f"Qt {qt} (PySide6 {qt})" in lines
    assert f"VTK {metadata.version('vtk')}" in lines
    assert f"pydicom {metadata.version('pydicom')}" in lines
    assert f"SimpleITK {metadata.version('SimpleITK')}" in lines


def test_scan_of_the_sample_study_matches_the_virtual_environment(installed):
    bundle = run_bundle(installed, "scan", str(SAMPLE), "--json")
    venv = run_venv("scan", str(SAMPLE), "--json")
    assert bundle.returncode == 0, bundle.stderr
    assert json.loads(bundle.stdout) == json.loads(venv.stdout)


@pytest.mark.parametrize("syntax", ["j2k", "jpeg", "jpegls", "rle"])
def test_every_compressed_transfer_syntax_decodes_in_the_bundle(installed, syntax):
    folder = shared_data_path(f"dicom2nifti_cases/generic/compressed_{syntax}/001")
    bundle = run_bundle(installed, "info", str(folder), "--json")
    venv = run_venv("info", str(folder), "--json")
    assert bundle.returncode == 0, bundle.stderr
    assert json.loads(bundle.stdout) == json.loads(venv.stdout)


def test_mesh_of_the_sample_study_is_byte_identical_to_the_virtual_environment(installed, tmp_path):
    # the same file name: the STL header names the model after its file
    (tmp_path / "bundle").mkdir()
    (tmp_path / "venv").mkdir()
    bundle_stl, venv_stl = tmp_path / "bundle" / "bone.stl", tmp_path / "venv" / "bone.stl"
    bundle = run_bundle(installed, "mesh", str(SAMPLE), "--preset", "bone", "-o", str(bundle_stl))
    assert bundle.returncode == 0, bundle.stderr
    venv = run_venv("mesh", str(SAMPLE), "--preset", "bone", "-o", str(venv_stl))
    assert venv.returncode == 0, venv.stderr
    digest = [hashlib.sha256(path.read_bytes()).hexdigest() for path in (bundle_stl, venv_stl)]
    assert digest[0] == digest[1]
    assert bundle_stl.stat().st_size > 1_000_000


def test_view_screenshot_renders_the_window_from_the_bundle(installed, tmp_path):
    from PIL import Image

    picture = tmp_path / "window.png"
    result = run_bundle(
        installed, "view", str(SAMPLE), "--screenshot", str(picture), "--size", "1200x800"
    )
    assert result.returncode == 0, result.stderr
    pixels = np.asarray(Image.open(picture).convert("L"), dtype=float)
    assert pixels.shape == (800, 1200)
    # the axial view of the sample is a CT: bright body inside dark air, not a blank window
    assert pixels.std() > 20


def test_uninstall_removes_everything_install_put_in_place(installed, tmp_path):
    prefix = tmp_path / "second"
    environment = clean_environment(installed["home"])
    subprocess.run(
        ["sh", str(installed["unpacked"] / "install.sh"), "--prefix", str(prefix)],
        env=environment,
        check=True,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    result = subprocess.run(
        ["sh", str(prefix / "opt" / NAME / "uninstall.sh")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # only the desktop's shared MIME cache may stay, and it no longer names the entry
    left = [path for path in prefix.rglob("*") if not path.is_dir()]
    assert [path.name for path in left if path.name != "mimeinfo.cache"] == []
    for cache in left:
        assert NAME not in cache.read_text()


def deb_field(deb: Path, field: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_debian_package_declares_its_system_libraries_and_installs(built):
    deb = built / f"{NAME}_{__version__}_amd64.deb"
    assert deb_field(deb, "Package") == NAME
    assert deb_field(deb, "Version") == __version__
    assert deb_field(deb, "Architecture") == "amd64"
    depends = {part.strip().split(" ")[0] for part in deb_field(deb, "Depends").split(",")}
    # Qt's X11 platform plug-in, OpenGL/EGL for VTK, fonts: the libraries it needs
    for package in (
        "libc6",
        "libgl1",
        "libegl1",
        "libxcb-cursor0",
        "libxkbcommon-x11-0",
        "libfontconfig1",
        "libgl1-mesa-dri",
        "fonts-dejavu-core",
    ):
        assert package in depends, package
    contents = subprocess.run(
        ["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True
    ).stdout
    assert f"./opt/{NAME}/workstation" in contents
    assert f"./usr/bin/workstation -> /opt/{NAME}/workstation" in contents
    assert f"./usr/share/applications/{NAME}.desktop" in contents
    if os.geteuid() == 0 and shutil.which("apt-get"):
        # apt resolves every declared dependency against Debian's archive and this system
        simulate = subprocess.run(
            ["apt-get", "install", "--simulate", "-q", str(deb)],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        assert simulate.returncode == 0, simulate.stdout[-3000:] + simulate.stderr[-3000:]
        assert f"Inst {NAME}" in simulate.stdout
