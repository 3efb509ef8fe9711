"""One registry of output formats: which writer handles a kind of data at a file extension.

Each format module registers its writers when imported; this module imports the modules
named in ``WRITER_MODULES`` the first time a writer or the list of formats is asked for,
so a new format is one new module plus one line there.  Both front-ends choose writers
here and list ``formats`` in their file dialogs and ``--help``.

A writer is called ``write(data, path, **options)`` and returns the written path:
mesh writers take ``coords`` ("lps" or "ras"), segmentation writers ``progress`` and
``cancel``, report writers (a ``ReportContent``) ``pictures``, ``progress`` and ``cancel``.
A writer registered with ``needs_source=True`` (DICOM SEG, Encapsulated STL) also takes
``source``, the ``DicomSourceContext`` of the series the data was made from;
``source_options`` gives it only to those.  Every writer writes through ``atomic_write``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workstation.core.errors import ExportError
from workstation.io.format_registry import Format, FormatRegistry

#: Kinds of data a file can hold.
KINDS = ("mesh", "segmentation", "report")

#: Modules that register writers, imported on first use; their order is the menu order.
WRITER_MODULES = (
    "workstation.io.mesh_export",
    "workstation.io.encapsulated_stl",
    "workstation.io.segmentation_nrrd",
    "workstation.io.segmentation_nifti",
    "workstation.io.dicom_seg",
    "workstation.io.report_pdf",
    "workstation.io.report_html",
)


@dataclass(frozen=True)
class Writer(Format):
    """A writer of one kind of data: ``write(data, path, **options) -> Path``.

    ``needs_source``: the writer takes ``source=`` (a ``DicomSourceContext``) as well.
    """

    needs_source: bool = False

    @property
    def write(self) -> Callable[..., Path]:
        """The function that writes the data."""
        return self.handler


REGISTRY: FormatRegistry[Writer] = FormatRegistry(
    KINDS, WRITER_MODULES, Writer, "write", ExportError
)


def register_writer(
    kind: str,
    extensions: tuple[str, ...] | str,
    writer: Callable[..., Path],
    description: str,
    needs_source: bool = False,
) -> None:
    """Make ``writer`` the one for ``kind`` at each extension (a format module calls this)."""
    REGISTRY.register(kind, extensions, writer, description, needs_source=needs_source)


def source_options(writer: Writer, source: object | None) -> dict[str, object]:
    """``{"source": source}`` for a writer that needs its source series, else ``{}``."""
    return {"source": source} if writer.needs_source else {}


def formats(kind: str) -> list[tuple[str, str]]:
    """(extension, description) of every format of ``kind``, in menu order."""
    return REGISTRY.formats(kind)


def writer_for(kind: str, path: str | os.PathLike[str]) -> Writer:
    """The writer of ``kind`` for ``path``'s extension (the longest that matches wins)."""
    return REGISTRY.lookup(kind, path)
