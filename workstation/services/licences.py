"""The third-party licence list: every component the workstation runs with, and its licence.

The list is the transitive closure of the installed ``surgical-planning-workstation``'s
run-time requirements (never its test extras), plus Python itself and the Qt libraries
inside PySide6, each with its licence and the licence texts its distribution ships.
The bundle build writes it as ``THIRD-PARTY-LICENSES.txt``; About shows it.
Command: ``python -m workstation.services.licences OUTFILE``.
"""

from __future__ import annotations

import re
import sys
import sysconfig
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from workstation.io.atomic_write import atomic_write

PRODUCT = "surgical-planning-workstation"
LICENCE_FILE = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|COPYRIGHT)", re.IGNORECASE)
QT_LICENCE = "LGPL-3.0-only"
QT_HOMEPAGE = "https://www.qt.io/licensing/open-source-lgpl-obligations"


@dataclass(frozen=True)
class Component:
    """One bundled component: its name, version, licence and licence texts."""

    name: str
    version: str
    licence: str
    homepage: str = ""
    texts: tuple[tuple[str, str], ...] = field(default=())


def _normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirement(line: str) -> str | None:
    """The distribution a requirement line names when it applies at run time, else None.

    Markers are evaluated with ``packaging`` when it is importable (no extra selected);
    without it a requirement with an ``extra`` marker is left out and any other is kept.
    """
    try:
        from packaging.markers import default_environment
        from packaging.requirements import InvalidRequirement, Requirement
    except ImportError:
        name = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        marker = line.partition(";")[2]
        if name is None or re.search(r"\bextra\b", marker):
            return None
        return name.group(1)
    try:
        requirement = Requirement(line)
    except InvalidRequirement:
        return None
    environment = {key: str(value) for key, value in default_environment().items()}
    if requirement.marker and not requirement.marker.evaluate({**environment, "extra": ""}):
        return None
    return requirement.name


def runtime_distributions(product: str = PRODUCT) -> list[metadata.Distribution]:
    """The installed distributions ``product`` needs at run time, ``product`` excluded."""
    seen: dict[str, metadata.Distribution] = {}
    pending = [product]
    while pending:
        name = pending.pop()
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for line in distribution.requires or []:
            wanted = runtime_requirement(line)
            if wanted is None:
                continue
            key = _normalised(wanted)
            if key not in seen and key != _normalised(product):
                try:
                    seen[key] = metadata.distribution(wanted)
                except metadata.PackageNotFoundError:
                    continue
                pending.append(wanted)
    return list(seen.values())


def _field(fields: metadata.PackageMetadata, name: str) -> str:
    """One metadata field's first value, '' when absent."""
    values = fields.get_all(name) or []
    return str(values[0]) if values else ""


def _licence_of(distribution: metadata.Distribution) -> str:
    fields = distribution.metadata
    expression = _field(fields, "License-Expression").strip()
    if expression:
        return expression
    text = _field(fields, "License").strip()
    if text and "\n" not in text and len(text) <= 80 and not LICENCE_FILE.match(text):
        return text
    classifiers = [
        value.split("::")[-1].strip()
        for value in fields.get_all("Classifier") or []
        if value.startswith("License ::")
    ]
    if classifiers:
        return " / ".join(dict.fromkeys(classifiers))
    return "see the licence text below" if text else "not stated by the distribution"


def _homepage_of(distribution: metadata.Distribution) -> str:
    fields = distribution.metadata
    homepage = _field(fields, "Home-page")
    if homepage:
        return homepage
    for value in fields.get_all("Project-URL") or []:
        label, _, url = value.partition(",")
        if label.strip().lower() in {"homepage", "home", "source", "repository", "source code"}:
            return url.strip()
    return ""


def _licence_texts(distribution: metadata.Distribution) -> tuple[tuple[str, str], ...]:
    texts = []
    for path in distribution.files or []:
        parts = path.parts
        if not parts or not parts[0].endswith(".dist-info"):
            continue
        if "licenses" in parts[1:-1] or (len(parts) == 2 and LICENCE_FILE.match(parts[1])):
            try:
                texts.append(("/".join(parts[1:]), path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError):
                continue
    if not texts:
        text = _field(distribution.metadata, "License").strip()
        if "\n" in text or len(text) > 80:
            texts.append(("License (from the package metadata)", text))
    return tuple(texts)


def _python_component() -> Component:
    version = ".".join(str(part) for part in sys.version_info[:3])
    texts: tuple[tuple[str, str], ...] = ()
    licence_file = Path(sysconfig.get_paths()["stdlib"]) / "LICENSE.txt"
    if licence_file.is_file():
        texts = (("LICENSE.txt", licence_file.read_text(encoding="utf-8", errors="replace")),)
    return Component("Python", version, "PSF-2.0", "https://www.python.org", texts)


def third_party_components() -> list[Component]:
    """Every run-time component with its licence, sorted by name (case-insensitive)."""
    components = [_python_component()]
    for distribution in runtime_distributions():
        name = distribution.metadata["Name"]
        components.append(
            Component(
                name,
                distribution.version,
                _licence_of(distribution),
                _homepage_of(distribution),
                _licence_texts(distribution),
            )
        )
        if _normalised(name) == "pyside6-essentials":
            components.append(Component("Qt (libraries inside PySide6)", distribution.version,
                                        QT_LICENCE, QT_HOMEPAGE))
    return sorted(components, key=lambda component: component.name.lower())


def licence_list_text(components: list[Component] | None = None) -> str:
    """The plain-text licence list: a table of components, then every licence text."""
    components = third_party_components() if components is None else components
    width = max(len(component.name) for component in components)
    lines = [
        "Third-party components of the Surgical Planning Workstation",
        "",
        "The workstation itself is under the BSD-3-Clause licence (LICENSE). It runs with",
        "the components below, each under its own licence; their licence texts follow.",
        "Qt is used under the LGPL-3.0 as shared libraries that can be replaced.",
        "",
    ]
    for component in components:
        lines.append(f"{component.name:<{width}}  {component.version:<12}  {component.licence}")
    for component in components:
        lines += ["", "=" * 78, f"{component.name} {component.version}: {component.licence}"]
        if component.homepage:
            lines.append(component.homepage)
        for title, text in component.texts:
            lines += ["", f"--- {title} ---", text.rstrip()]
    return "\n".join(lines) + "\n"


def write_licence_list(path: Path) -> None:
    """Write the licence list to ``path`` atomically."""
    text = licence_list_text()
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))


def main(argv: list[str]) -> int:
    """``python -m workstation.services.licences OUTFILE``; 0 when written, 2 otherwise."""
    if len(argv) != 1:
        print("usage: python -m workstation.services.licences OUTFILE", file=sys.stderr)
        return 2
    try:
        write_licence_list(Path(argv[0]))
    except Exception as error:  # a clear line, never a traceback
        print(f"licences: cannot write {argv[0]}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
