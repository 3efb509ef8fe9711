"""One registry of output formats: which writer handles a kind of data at a file extension.

Each format module registers its writers when imported; this module imports the modules
named in ``WRITER_MODULES`` the first time a writer or the list of formats is asked for,
so a new format is one new module plus one line there.  Both front-ends choose writers
here and list ``formats`` in their file dialogs and ``--help``.

A writer is called ``write(data, path, **options)`` and returns the written path:
mesh writers take ``coords`` ("lps" or "ras"), segmentation writers ``progress`` and
``cancel``.  Every writer writes through ``atomic_write``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workstation.core.errors import ExportError

#: Kinds of data a file can hold.
KINDS = ("mesh", "segmentation")

#: Modules that register writers, imported on first use; their order is the menu order.
WRITER_MODULES = (
    "workstation.io.mesh_export",
    "workstation.io.segmentation_nrrd",
    "workstation.io.segmentation_nifti",
)


@dataclass(frozen=True)
class Writer:
    """A writer of one kind of data: ``write(data, path, **options) -> Path``."""

    kind: str
    extension: str
    write: Callable[..., Path]
    description: str


_registry: dict[str, dict[str, Writer]] = {kind: {} for kind in KINDS}
_loaded = False


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of data {kind!r}; known: {', '.join(KINDS)}")


def register_writer(
    kind: str, extensions: tuple[str, ...] | str, writer: Callable[..., Path], description: str
) -> None:
    """Make ``writer`` the one for ``kind`` at each extension (a format module calls this)."""
    _check_kind(kind)
    for extension in (extensions,) if isinstance(extensions, str) else extensions:
        key = extension.lower()
        if not key.startswith(".") or len(key) < 2:
            raise ValueError(f"an extension starts with a dot, got {extension!r}")
        _registry[kind][key] = Writer(kind, key, writer, description)


def _load_known_writers() -> None:
    global _loaded
    if not _loaded:
        for name in WRITER_MODULES:
            importlib.import_module(name)
        _loaded = True


def _menu_rank(writer: Writer) -> int:
    module = getattr(writer.write, "__module__", "")
    return WRITER_MODULES.index(module) if module in WRITER_MODULES else len(WRITER_MODULES)


def formats(kind: str) -> list[tuple[str, str]]:
    """(extension, description) of every format of ``kind``, in menu order."""
    _check_kind(kind)
    _load_known_writers()
    ordered = sorted(_registry[kind].values(), key=_menu_rank)  # stable: registration order
    return [(writer.extension, writer.description) for writer in ordered]


def writer_for(kind: str, path: str | os.PathLike[str]) -> Writer:
    """The writer of ``kind`` for ``path``'s extension (the longest that matches wins)."""
    _check_kind(kind)
    _load_known_writers()
    name = Path(path).name
    lowered = name.lower()
    matches = [
        writer
        for extension, writer in _registry[kind].items()
        if lowered.endswith(extension) and len(lowered) > len(extension)
    ]
    if matches:
        return max(matches, key=lambda writer: len(writer.extension))
    supported = ", ".join(extension for extension, _ in formats(kind))
    suffix = Path(name).suffix or "(none)"
    raise ExportError(
        f"Cannot write '{name}': unknown {kind} format '{suffix}'; use one of {supported}."
    )
