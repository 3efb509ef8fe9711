"""A table of file formats: which handler serves a kind of data at a file extension.

The writers and the readers registries are each one ``FormatRegistry``.  Format modules
register their handlers when imported; the registry imports its modules the first time
a handler or the list of formats is asked for, so a new format is one new module plus
one line in the registry's module list.  The longest matching extension wins, so
``.seg.nrrd`` and ``.nii.gz`` count whole.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from workstation.core.errors import WorkstationError


@dataclass(frozen=True)
class Format:
    """One format of a kind of data: its extension, its handler and a description."""

    kind: str
    extension: str
    handler: Callable[..., Any]
    description: str


FormatType = TypeVar("FormatType", bound=Format)


class FormatRegistry(Generic[FormatType]):
    """Formats by kind and extension, filled by the modules listed in ``modules``.

    ``verb`` ("write", "read") and ``error`` (the WorkstationError subclass) phrase the
    one-line message for a name no format matches.
    """

    def __init__(
        self,
        kinds: tuple[str, ...],
        modules: tuple[str, ...],
        entry: type[FormatType],
        verb: str,
        error: type[WorkstationError],
    ) -> None:
        self.kinds = kinds
        self.modules = modules
        self._entry = entry
        self._verb = verb
        self._error = error
        self.entries: dict[str, dict[str, FormatType]] = {kind: {} for kind in kinds}
        self._loaded = False

    def _check_kind(self, kind: str) -> None:
        if kind not in self.kinds:
            raise ValueError(f"unknown kind of data {kind!r}; known: {', '.join(self.kinds)}")

    def register(
        self,
        kind: str,
        extensions: tuple[str, ...] | str,
        handler: Callable[..., Any],
        description: str,
        **facts: Any,
    ) -> None:
        """Make ``handler`` the one for ``kind`` at each extension (a format module calls this).

        ``facts`` are further fields of the registry's entry type (a writer's ``needs_source``).
        """
        self._check_kind(kind)
        for extension in (extensions,) if isinstance(extensions, str) else extensions:
            key = extension.lower()
            if not key.startswith(".") or len(key) < 2:
                raise ValueError(f"an extension starts with a dot, got {extension!r}")
            self.entries[kind][key] = self._entry(kind, key, handler, description, **facts)

    def _load_modules(self) -> None:
        if not self._loaded:
            for name in self.modules:
                importlib.import_module(name)
            self._loaded = True

    def _menu_rank(self, entry: FormatType) -> int:
        module = getattr(entry.handler, "__module__", "")
        return self.modules.index(module) if module in self.modules else len(self.modules)

    def formats(self, kind: str) -> list[tuple[str, str]]:
        """(extension, description) of every format of ``kind``, in menu order."""
        self._check_kind(kind)
        self._load_modules()
        ordered = sorted(self.entries[kind].values(), key=self._menu_rank)  # stable
        return [(entry.extension, entry.description) for entry in ordered]

    def lookup(self, kind: str, path: str | os.PathLike[str]) -> FormatType:
        """The format of ``kind`` for ``path``'s extension; the registry's error otherwise."""
        self._check_kind(kind)
        self._load_modules()
        name = Path(path).name
        lowered = name.lower()
        matches = [
            entry
            for extension, entry in self.entries[kind].items()
            if lowered.endswith(extension) and len(lowered) > len(extension)
        ]
        if matches:
            return max(matches, key=lambda entry: len(entry.extension))
        supported = ", ".join(extension for extension, _ in self.formats(kind))
        suffix = Path(name).suffix or "(none)"
        raise self._error(
            f"Cannot {self._verb} '{name}': unknown {kind} format '{suffix}'; "
            f"use one of {supported}."
        )
