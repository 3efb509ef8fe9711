"""A case report as a PDF file: the "report" writer for ``.pdf``.

The layout (``report_pdf_layout``, reportlab) is imported on first use.  The file is
written atomically; equal content and pictures give a byte-identical file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from workstation.core.case_report_content import ReportContent
from workstation.core.progress import CancelToken, ProgressCallback, no_progress
from workstation.io.atomic_write import atomic_write
from workstation.io.report_sections import ReportPictureLike
from workstation.io.writers import register_writer


def write_report_pdf(
    content: ReportContent,
    path: str | os.PathLike[str],
    pictures: Sequence[ReportPictureLike] = (),
    progress: ProgressCallback = no_progress,
    cancel: CancelToken | None = None,
) -> Path:
    """Write the report as a PDF at ``path`` (atomically); returns the path."""
    from workstation.io.report_pdf_layout import report_pdf_bytes

    target = Path(path)
    progress(0.0, f"Laying out {target.name}")
    data = report_pdf_bytes(content, pictures)
    if cancel is not None:
        cancel.raise_if_cancelled()
    with atomic_write(target) as handle:
        handle.write(data)
    progress(1.0, f"Wrote {target.name}")
    return target


register_writer("report", ".pdf", write_report_pdf, "PDF report")
