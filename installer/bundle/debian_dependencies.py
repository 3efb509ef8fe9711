"""Print the Debian packages an application folder needs from the system, one per line.

Every ELF file in the folder is asked (with ``ldd``, the folder's own libraries first on
the search path) for the shared libraries it loads; those found outside the folder are
mapped to their Debian packages with ``dpkg -S``.  Libraries Qt, VTK and fontconfig open
at run time without linking (the Mesa OpenGL drivers, a font) are added by name.
Usage: python debian_dependencies.py APP_FOLDER
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Loaded with dlopen, so invisible to ldd: OpenGL/EGL drivers and a font for Qt and VTK.
RUNTIME_LOADED = ("libgl1-mesa-dri", "libegl-mesa0", "libglx-mesa0", "fonts-dejavu-core")
ELF_MAGIC = b"\x7fELF"


def elf_files(folder: Path) -> list[Path]:
    """Every ELF executable and shared library below ``folder``."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if handle.read(4) == ELF_MAGIC:
                    found.append(path)
    return found


def system_libraries(folder: Path, files: list[Path]) -> set[str]:
    """The real paths of the libraries outside ``folder`` that ``files`` load."""
    internal = folder / "_internal"
    search = f"{internal}:{os.environ.get('LD_LIBRARY_PATH', '')}"
    environment = dict(os.environ, LD_LIBRARY_PATH=search)
    outside: set[str] = set()
    for path in files:
        result = subprocess.run(
            ["ldd", str(path)], capture_output=True, text=True, env=environment, check=False
        )
        for line in result.stdout.splitlines():
            if "=>" not in line:
                continue
            target = line.split("=>", 1)[1].strip().split(" (", 1)[0].strip()
            if not target.startswith("/"):
                continue
            real = os.path.realpath(target)
            if not real.startswith(str(folder.resolve()) + os.sep):
                outside.add(real)
    return outside


def owning_packages(paths: set[str]) -> set[str]:
    """The Debian packages owning ``paths`` (usr-merged paths are looked up both ways)."""
    packages: set[str] = set()
    for path in sorted(paths):
        candidates = [path]
        if path.startswith("/usr/lib/"):
            candidates.append(path[len("/usr"):])
        elif path.startswith("/lib/"):
            candidates.append("/usr" + path)
        for candidate in candidates:
            result = subprocess.run(
                ["dpkg", "-S", candidate], capture_output=True, text=True, check=False
            )
            if result.returncode == 0:
                for line in result.stdout.splitlines():
                    names = line.split(":", 1)[0]
                    packages.update(name.strip() for name in names.split(","))
                break
        else:
            print(f"debian_dependencies: no package owns {path}", file=sys.stderr)
    return {name.split(":")[0] for name in packages}


def main(argv: list[str]) -> int:
    """Print the package names, sorted; exit 2 on a wrong argument."""
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: debian_dependencies.py APP_FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    packages = owning_packages(system_libraries(folder, elf_files(folder)))
    packages.update(RUNTIME_LOADED)
    for name in sorted(packages):
        print(name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
