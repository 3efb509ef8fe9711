"""What this copy of the workstation is: version, the commit it was built from, libraries.

``workstation --version`` and Help → About show the same text.  A bundle carries
``build-info.json`` in its resources (written by ``installer/build.sh``); a git checkout
asks git.  Library versions come from the installed distributions' metadata, so nothing
here imports Qt or VTK.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from workstation import __version__
from workstation.resources_path import resources_dir

BUILD_INFO_FILE = "build-info.json"
GIT_TIMEOUT_S = 5.0
#: (distribution, name shown); PySide6's wheels carry the Qt of their own version.
LIBRARIES = (
    ("PySide6-Essentials", "Qt"),
    ("vtk", "VTK"),
    ("pydicom", "pydicom"),
    ("SimpleITK", "SimpleITK"),
    ("numpy", "numpy"),
)


@dataclass(frozen=True)
class BuildInfo:
    """The version and where this copy came from; commit is '' when unknown."""

    version: str
    commit: str = ""
    dirty: bool = False
    commit_date: str = ""
    bundle: str | None = None


def build_info() -> BuildInfo:
    """The bundle's recorded build, else the checkout's git commit; never raises."""
    recorded = resources_dir() / BUILD_INFO_FILE
    if recorded.is_file():
        try:
            values = json.loads(recorded.read_text(encoding="utf-8"))
            return BuildInfo(
                version=str(values.get("version") or __version__),
                commit=str(values.get("commit") or ""),
                dirty=bool(values.get("dirty", False)),
                commit_date=str(values.get("commit_date") or ""),
                bundle=str(values["bundle"]) if values.get("bundle") else None,
            )
        except (OSError, ValueError, AttributeError):
            return BuildInfo(version=__version__)
    return _checkout_info()


def _checkout_info() -> BuildInfo:
    repository = Path(__file__).resolve().parents[2]
    if not (repository / ".git").exists():
        return BuildInfo(version=__version__)
    commit = _git(repository, "rev-parse", "HEAD")
    if not commit:
        return BuildInfo(version=__version__)
    changes = _git(repository, "status", "--porcelain", "--untracked-files=no")
    date = _git(repository, "log", "-1", "--format=%cI")
    return BuildInfo(__version__, commit, bool(changes), date or "")


def _git(repository: Path, *arguments: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(repository), *arguments],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def library_versions() -> list[tuple[str, str]]:
    """(name, version) of the main libraries, 'not installed' for a missing one."""
    versions = []
    for distribution, name in LIBRARIES:
        try:
            version = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            version = "not installed"
        versions.append((name, version))
    return versions


def version_lines(info: BuildInfo | None = None) -> list[str]:
    """The lines of ``version_text``."""
    info = info or build_info()
    lines = [f"workstation {info.version}"]
    if info.commit:
        date = f" ({info.commit_date})" if info.commit_date else ""
        local = " with local changes" if info.dirty else ""
        lines.append(f"commit {info.commit}{date}{local}")
    else:
        lines.append("commit unknown")
    if info.bundle:
        lines.append(f"bundle {info.bundle}")
    else:
        lines.append(f"running from source (Python {platform.python_version()}, {sys.executable})")
    for name, version in library_versions():
        lines.append(f"Qt {version} (PySide6 {version})" if name == "Qt" else f"{name} {version}")
    return lines


def version_text(info: BuildInfo | None = None) -> str:
    """What ``workstation --version`` prints and About shows."""
    return "\n".join(version_lines(info))
